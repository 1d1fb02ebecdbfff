//! [`PostgresStore`]: idempotency records in PostgreSQL, shared by every replica (feature `postgres`).

mod connections;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hookguard::Timestamp;
use hookguard::postgres_migrations::{self, Migration};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Row};

use self::connections::{Connections, IDLE_PING, RunError};

use super::{
    Claim, IdempotencyKey, IdempotencyStore, RECORD_VERSION, StoreError, StoredResponse,
    TimeSource, Token,
};
use crate::metrics;

/// The numbered migrations, in order; `{schema}` stands for the store's schema.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "records",
    sql: include_str!("postgres/migrations/0001_records.sql"),
}];

/// The claim's `now`: the caller's (`$6`), or the server's clock read once for the whole statement. A single
/// `INSERT … VALUES` with this inline costs the server less than reading the clock once in a CTE (measured
/// with pgbench: about 10 % more claims per second).
const NOW: &str =
    "coalesce($6::bigint, (extract(epoch FROM statement_timestamp()) * 1000)::bigint)";

/// When a row no longer counts: a lapsed lease, a completed record past its retention, an unknown state.
/// `excluded.lease_until - $4` is the claim's `now`.
const DEAD: &str = "((r.state = 1 AND r.lease_until <= excluded.lease_until - $4) \
    OR (r.state = 2 AND r.expires_at <= excluded.lease_until - $4) OR r.state NOT IN (1, 2))";

/// Idempotency records in PostgreSQL, for receivers with several replicas.
///
/// The records live in a table of the store's own schema (default `hookguard_idem`), created by
/// [`migrate`](Self::migrate): numbered SQL files applied in order under a transaction-level advisory lock,
/// with the applied versions in `{schema}.migrations`, so replicas starting together migrate once.
///
/// Each call is one statement. A claim is an `INSERT … ON CONFLICT (key) DO UPDATE` that takes over a dead
/// row (lease lapsed, retention over) in place and otherwise writes the live row back unchanged, returning
/// the row as it now is: the claim acquired it iff the returned token is its own. Concurrent claims of one
/// key serialise on that row's lock, and each sees the row the winner committed (a separate `SELECT` could
/// read a snapshot from before it). Deadlines are compared on the server's clock by default
/// (`statement_timestamp()` in a claim, `clock_timestamp()` elsewhere); [`TimeSource::Caller`] uses each call's `now`.
///
/// Rows stay until [`purge_expired`](IdempotencyStore::purge_expired) deletes them, in batches that skip
/// rows other sessions hold; [`spawn_purger`](Self::spawn_purger) runs it in the background. Every call
/// has a timeout (default 1 s, and the session's `statement_timeout`) after which it fails with
/// [`StoreError::Unavailable`].
///
/// # Connections
///
/// Claims, completes, extends and releases run on connections the store keeps itself,
/// opened with the pool's connect options, up to the pool's maximum unless
/// [`connections`](Self::connections) says otherwise. sqlx's pool pings each connection as it comes back, a
/// second round trip per call; these come back as they are, and one whose call was cut short (a timeout,
/// a dropped future, a broken socket) is closed instead of reused. The pool serves
/// [`migrate`](Self::migrate), [`purge_expired`](IdempotencyStore::purge_expired) and the inbox's
/// transactions (`hookguard_tower::inbox`, with feature `axum`), so a handler holding a transaction never
/// keeps a claim waiting for a connection. Count both when sizing the server's `max_connections`.
///
/// ```sql
#[doc = include_str!("postgres/claim.sql")]
/// ```
///
/// ```no_run
/// use hookguard_tower::store::PostgresStore;
///
/// # async fn demo() -> Result<(), hookguard_tower::store::StoreError> {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// store.migrate().await?;
/// let _purger = store.spawn_purger(std::time::Duration::from_secs(60), 1_000);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    connections: Connections,
    schema: Arc<str>,
    sql: Arc<Statements>,
    time: TimeSource,
    timeout: Duration,
}

/// The statements with the schema filled in.
struct Statements {
    claim: Arc<str>,
    complete: Arc<str>,
    extend: Arc<str>,
    release: Arc<str>,
    purge: Arc<str>,
    forget_corrupt: Arc<str>,
}

impl Statements {
    fn for_schema(schema: &str) -> Self {
        let fill = |sql: &str| {
            Arc::from(
                sql.replace("{dead}", DEAD)
                    .replace("{now}", NOW)
                    .replace("{schema}", schema),
            )
        };
        Self {
            claim: fill(include_str!("postgres/claim.sql")),
            complete: fill(include_str!("postgres/complete.sql")),
            extend: fill(include_str!("postgres/extend.sql")),
            release: fill(include_str!("postgres/release.sql")),
            purge: fill(include_str!("postgres/purge.sql")),
            forget_corrupt: fill(include_str!("postgres/forget_corrupt.sql")),
        }
    }
}

impl PostgresStore {
    /// The default schema.
    pub const DEFAULT_SCHEMA: &str = "hookguard_idem";
    /// The default timeout of each call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Connects a pool of up to 16 connections to the database at `url`, whose sessions time statements
    /// out after the store's timeout; the store's own calls open up to 16 more as they need them (see
    /// [Connections](Self#connections)).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the URL is invalid or the server cannot be reached; the error never
    /// carries the URL's password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|_| unavailable("invalid PostgreSQL URL"))?;
        let timeout_ms = Self::DEFAULT_TIMEOUT.as_millis().to_string();
        let options = options
            .application_name("hookguard-idempotency")
            .options([("statement_timeout", timeout_ms.as_str())]);
        let pool = Self::pool_options()
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(Self::new(pool))
    }

    /// The pool settings [`connect`](Self::connect) uses, for a caller building the pool itself: up to 16
    /// connections, the store's timeout to acquire one, and a ping only for a connection that sat idle for
    /// a second or more.
    ///
    /// sqlx pings every connection it hands out by default: a round trip before each use, which cost the
    /// store about a fifth of its claims per second under load. A connection in use within the last second
    /// is almost always alive; if it died, the statement fails with [`StoreError::Unavailable`] and the
    /// pool drops the connection (sqlx checks each one as it is returned), so the next use gets a new one.
    /// The store's own connections follow the same rule.
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Self::DEFAULT_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
    }

    /// A store on the caller's own pool (set its `acquire_timeout`, and `statement_timeout` in its
    /// connect options, to bound how long a call may wait; [`pool_options`](Self::pool_options) is a
    /// starting point).
    pub fn new(pool: PgPool) -> Self {
        let max = usize::try_from(pool.options().get_max_connections()).unwrap_or(usize::MAX);
        Self {
            connections: Connections::new(pool.connect_options(), max),
            pool,
            schema: Arc::from(Self::DEFAULT_SCHEMA),
            sql: Arc::new(Statements::for_schema(Self::DEFAULT_SCHEMA)),
            time: TimeSource::Server,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Keeps the records in `schema` instead of `hookguard_idem`.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] unless the name is a plain lower-case identifier (letters, digits and
    /// `_`, not starting with a digit, at most 63 bytes): it is spliced into the statements.
    pub fn schema(mut self, schema: &str) -> Result<Self, StoreError> {
        if !postgres_migrations::is_plain_identifier(schema) {
            return Err(StoreError::InvalidConfig(format!(
                "{schema:?} is not a plain lower-case schema name"
            )));
        }
        self.schema = Arc::from(schema);
        self.sql = Arc::new(Statements::for_schema(schema));
        Ok(self)
    }

    /// Whose clock deadlines are compared on (default [`TimeSource::Server`]).
    #[must_use]
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How long a call may take in all before it fails with [`StoreError::Unavailable`] (default 1 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many connections of its own the store may hold for its calls (default: the pool's
    /// `max_connections`); a call waits for a free one within its timeout.
    #[must_use]
    pub fn connections(self, max: usize) -> Self {
        self.connections.resize(max);
        self
    }

    /// The pool, for the application's own queries (the store's calls run on connections of its own).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the schema and applies the migrations it does not have yet; safe to run from several
    /// replicas at once (the runner in [`hookguard::postgres_migrations`], shared with the sender's queue).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database refuses.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        postgres_migrations::migrate(&self.pool, "idempotency-store", &self.schema, MIGRATIONS)
            .await
            .map_err(unavailable)
    }

    /// Runs [`purge_expired`](IdempotencyStore::purge_expired) every `interval`, `limit` rows at a time until
    /// a batch comes back short; stops when the handle is dropped or aborted.
    pub fn spawn_purger(&self, interval: Duration, limit: usize) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                ticks.tick().await;
                loop {
                    match store.purge_expired(Timestamp::now(), limit).await {
                        Ok(n) if n == limit => continue,
                        Ok(_) => break,
                        Err(error) => {
                            tracing::warn!(%error, "could not purge expired idempotency records");
                            break;
                        }
                    }
                }
            }
        })
    }

    fn now_arg(&self, now: Timestamp) -> Option<i64> {
        match self.time {
            TimeSource::Caller => Some(now.as_unix_millis()),
            TimeSource::Server => None,
        }
    }

    /// Runs `call` under the store's timeout.
    async fn timed<T, E: Into<super::BoxError>>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(unavailable(error)),
            Err(_) => Err(unavailable("the PostgreSQL call timed out")),
        }
    }

    /// Runs `call` on one of the store's own connections, under the store's timeout.
    async fn on_connection<T>(
        &self,
        call: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        self.timed::<T, RunError>(self.connections.run(call)).await
    }

    async fn claim_row(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        token: Token,
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> Result<PgRow, StoreError> {
        let query = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.claim)))
            .bind(key.as_str())
            .bind(&fingerprint[..])
            .bind(&token.as_bytes()[..])
            .bind(millis(lease))
            .bind(millis(retention))
            .bind(self.now_arg(now));
        self.on_connection(async |conn| query.fetch_one(conn).await)
            .await
    }

    /// Deletes a completed row whose response does not decode, iff it still holds exactly that response.
    async fn forget_corrupt(
        &self,
        key: &IdempotencyKey,
        response: &[u8],
    ) -> Result<(), StoreError> {
        tracing::warn!(%key, "corrupt idempotency record in PostgreSQL; treated as absent");
        metrics::corrupt_record();
        let query = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.forget_corrupt)))
            .bind(key.as_str())
            .bind(response);
        self.on_connection(async |conn| query.execute(conn).await)
            .await
            .map(|_| ())
    }

    /// The statement completing the record: one row affected iff the token still held it.
    fn complete_query<'q>(
        &self,
        key: &'q IdempotencyKey,
        token: &'q Token,
        response: &StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<Query<'q, Postgres, PgArguments>, StoreError> {
        Ok(sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.complete)))
            .bind(key.as_str())
            .bind(&token.as_bytes()[..])
            .bind(encode_response(response)?)
            .bind(millis(retention))
            .bind(self.now_arg(now)))
    }

    /// Completes the record on `conn`, inside the inbox's transaction; whether the token still held it.
    pub(crate) async fn complete_in(
        &self,
        conn: &mut PgConnection,
        key: &IdempotencyKey,
        token: &Token,
        response: &StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let query = self.complete_query(key, token, response, retention, now)?;
        let done = self.timed(query.execute(conn)).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Runs the update `sql` with `bind`'s arguments on one of the store's connections; how many rows it
    /// changed.
    async fn update(
        &self,
        sql: &Arc<str>,
        bind: impl FnOnce(Query<'_, Postgres, PgArguments>) -> Query<'_, Postgres, PgArguments>,
    ) -> Result<u64, StoreError> {
        let query = bind(sqlx::query(AssertSqlSafe(Arc::clone(sql))));
        let done = self
            .on_connection(async |conn| query.execute(conn).await)
            .await?;
        Ok(done.rows_affected())
    }
}

/// What the claim statement returned, read as a [`Claim`]; `Err(response)` for a completed row whose
/// response does not decode.
fn read_claim(
    row: &PgRow,
    fingerprint: &[u8; 32],
    token: Token,
) -> Result<Result<Claim, Vec<u8>>, StoreError> {
    let state: i16 = row.try_get("state").map_err(unavailable)?;
    let held: Option<Vec<u8>> = row.try_get("token").map_err(unavailable)?;
    if held.as_deref() == Some(&token.as_bytes()[..]) {
        let took_over: bool = row.try_get("taken_over").map_err(unavailable)?;
        return Ok(Ok(Claim::Acquired { token, took_over }));
    }
    let theirs: Vec<u8> = row.try_get("fingerprint").map_err(unavailable)?;
    if theirs != fingerprint[..] {
        return Ok(Ok(Claim::Mismatch));
    }
    if state == 1 {
        let lease_until: i64 = row.try_get("lease_until").map_err(unavailable)?;
        let now: i64 = row.try_get("now").map_err(unavailable)?;
        return Ok(Ok(Claim::in_progress(
            Timestamp::from_unix_millis(lease_until),
            Timestamp::from_unix_millis(now),
        )));
    }
    let response: Option<Vec<u8>> = row.try_get("response").map_err(unavailable)?;
    let response = response.unwrap_or_default();
    Ok(decode_response(&response)
        .map(Claim::Completed)
        .ok_or(response))
}

/// The stored form of a response: the record version byte, then [`StoredResponse::encode`]'s bytes.
fn encode_response(response: &StoredResponse) -> Result<Vec<u8>, StoreError> {
    let mut out = BytesMut::with_capacity(1 + response.encoded_len());
    out.put_u8(RECORD_VERSION);
    response.encode(&mut out)?;
    Ok(out.to_vec())
}

fn decode_response(stored: &[u8]) -> Option<StoredResponse> {
    match stored.split_first() {
        Some((&RECORD_VERSION, rest)) => StoredResponse::decode(Bytes::copy_from_slice(rest)).ok(),
        _ => None,
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("time", &self.time)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore for PostgresStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let token = Token::random();
        let row = self
            .claim_row(key, fingerprint, token, lease, retention, now)
            .await?;
        match read_claim(&row, &fingerprint, token)? {
            Ok(claim) => Ok(claim),
            Err(corrupt) => {
                self.forget_corrupt(key, &corrupt).await?;
                let row = self
                    .claim_row(key, fingerprint, token, lease, retention, now)
                    .await?;
                Ok(read_claim(&row, &fingerprint, token)?.unwrap_or(Claim::Mismatch))
            }
        }
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let query = self.complete_query(key, token, &response, retention, now)?;
        let done = self
            .on_connection(async |conn| query.execute(conn).await)
            .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    async fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let now = self.now_arg(now);
        let done = self
            .update(&self.sql.extend, |q| {
                q.bind(key.as_str())
                    .bind(&token.as_bytes()[..])
                    .bind(millis(lease))
                    .bind(now)
            })
            .await?;
        if done == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        self.update(&self.sql.release, |q| {
            q.bind(key.as_str()).bind(&token.as_bytes()[..])
        })
        .await
        .map(|_| ())
    }

    async fn purge_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        let now = self.now_arg(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // On the pool: a batch of deletes should not hold one of the connections claims wait for.
        let query = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.purge)))
            .bind(now)
            .bind(limit);
        let done = self.timed(query.execute(&self.pool)).await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }
}

/// A failure of this backend, as [`StoreError::Unavailable`].
fn unavailable(source: impl Into<super::BoxError>) -> StoreError {
    StoreError::unavailable("postgresql", source)
}
