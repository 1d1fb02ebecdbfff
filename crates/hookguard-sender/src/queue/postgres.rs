//! [`PostgresQueue`]: jobs in PostgreSQL, shared by every sender process (feature `postgres`).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use hookguard::postgres_migrations::{self, Migration};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::{Notify, watch};

use super::{
    Attempt, AttemptErrorKind, AttemptResult, Cursor, DeadLetterFilter, DeadLetterPage,
    DeadLetterReason, EndpointState, Job, JobId, JobRecord, JobState, LeaseBatch, LeaseHandle,
    LeaseOptions, LeaseToken, Leased, NewJob, Page, Progress, Queue, QueueError, QueueStats,
    TimeSource, Transition,
};
use crate::Timestamp;

/// The numbered migrations, in order; `{schema}` stands for the queue's schema.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "jobs",
    sql: include_str!("postgres/migrations/0001_jobs.sql"),
}];

/// A durable job queue in PostgreSQL, for several sender processes on several machines sharing one queue.
///
/// # Layout
///
/// The tables live in the queue's own schema (default `hookguard_queue`), created by
/// [`migrate`](Self::migrate) with the runner the idempotency store uses
/// ([`hookguard::postgres_migrations`]: numbered SQL files, versions in `{schema}.migrations`, an advisory
/// lock so replicas starting together migrate once), so the store and the queue can share a database:
///
/// - `jobs`: every job in one table with a `state` column (`scheduled`, `in_flight`, `delivered`, `dead`),
///   so dedupe by `(endpoint_id, event_id)` is one unique index across every state, dead letters included;
///   a partial index `(endpoint_id, due_at, id) WHERE state = 'scheduled'` serves leasing, and finished
///   jobs, however many, are never in it;
/// - `attempts` and `dead_letters`: the attempt history and the dead-letter details, beside their job;
/// - `endpoints`: the endpoint state every process shares (enabled, paused until, reason). Every endpoint
///   with a job has a row (the enqueue statement inserts it), and leasing is driven from this table: each
///   lease probes the partial index once or twice per endpoint row that is not excluded, so rows of
///   endpoints long gone cost a probe each (they are kept, as their state may be set).
///
/// ```sql
#[doc = include_str!("postgres/migrations/0001_jobs.sql")]
/// ```
///
/// # One statement per call
///
/// Each [`Queue`] call is one SQL statement (data-modifying `WITH` queries), so a dropped future took effect
/// wholly or not at all, and each is one round trip. Leasing picks, per endpoint the caller allows, at most
/// its cap of due jobs through the partial index with `FOR UPDATE SKIP LOCKED` (concurrent leasers in other
/// processes skip each other's rows instead of waiting), deals them round-robin across endpoints ordered by
/// their oldest due job, and leases them with fresh tokens:
///
/// ```sql
#[doc = include_str!("postgres/lease.sql")]
/// ```
///
/// [`conclude`](Queue::conclude) ends a whole batch in one statement: every item moves its job iff the job
/// is still in flight under the item's token, records its attempt and dead letter beside the move, and the
/// items that did not move come back as [`QueueError::LeaseLost`]:
///
/// ```sql
#[doc = include_str!("postgres/conclude.sql")]
/// ```
///
/// # Time
///
/// Deadlines (lease deadlines, due times) are compared on the server's clock (`clock_timestamp()`) by
/// default, and the times a caller gives are kept as the same distance from it, so sender processes with
/// skewed clocks agree; [`TimeSource::Caller`] uses each call's `now` (for tests driving a
/// [`TestClock`](crate::TestClock)). Records (created, delivered, dead-lettered, attempted) keep the caller's
/// times.
///
/// # Waking workers
///
/// A statement that makes a job due at once (an enqueue of a due job, a replay, a release, a reap) sends at
/// most one `NOTIFY` on a channel named after the schema; PostgreSQL delivers it when the transaction
/// commits (never for a rolled-back [`enqueue_in`](Self::enqueue_in)). Each `PostgresQueue` (and its clones)
/// keeps one dedicated listening connection, started on the first [`wait_for_work`](Queue::wait_for_work)
/// (or by [`listen`](Self::listen)), reconnected with backoff when it drops, and fans notifications out to
/// its waiters through a [`Notify`]. Polling stays the fallback: a waiter always wakes at its `until`.
/// PostgreSQL orders notifying commits with a database-wide lock held through the commit's flush, so
/// enqueues of due jobs commit one at a time: enqueue in batches ([`enqueue_many`](Queue::enqueue_many),
/// one `NOTIFY` per batch) when the rate matters. Leasing and acks never notify.
///
/// # Transactional outbox
///
/// [`enqueue_in`](Self::enqueue_in) runs the enqueue statement on the application's own connection or
/// transaction, so a business change and the webhooks announcing it commit together or not at all (with
/// [`Sender::jobs_for`](crate::Sender::jobs_for) to build the jobs).
///
/// # Durability and errors
///
/// A job is durable once its statement commits: keep PostgreSQL's `synchronous_commit = on` (the default);
/// with `off`, a server crash can lose the last few hundred milliseconds of enqueues and acks (an acked job
/// may then be delivered again, an enqueued one lost). Every call has a timeout (default 5 s) after which it
/// fails with [`QueueError::Unavailable`], as do lost connections, serialization failures and deadlocks
/// (`40001`, `40P01`), a read-only server after a failover, and a server shutting down: the sender retries
/// those with backoff. Permanent failures (a missing table, a corrupt row) are [`QueueError::Backend`].
///
/// # Several processes
///
/// The queue, dedupe and endpoint state are shared by every process on it, and each job is leased by one
/// process at a time. Circuit breakers, rate limits and `max_in_flight` are kept per process: N sender
/// processes on one queue send up to N× an endpoint's `max_in_flight` and rate limit.
///
/// ```no_run
/// use hookguard_sender::{Endpoint, Event, PostgresQueue, Sender};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = PostgresQueue::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// queue.migrate().await?;
/// let sender = Sender::builder(queue.clone())
///     .endpoint(Endpoint::new("billing", "https://billing.example.com/hooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
///     .build()?;
///
/// // The business change and its webhooks in one transaction.
/// let mut tx = queue.pool().begin().await?;
/// sqlx::query("UPDATE invoices SET paid = true WHERE id = $1").bind(42_i64).execute(&mut *tx).await?;
/// let jobs = sender.jobs_for(&Event::new("invoice.paid", r#"{"invoice":42}"#))?;
/// queue.enqueue_in(&mut tx, jobs).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresQueue {
    pool: PgPool,
    schema: Arc<str>,
    sql: Arc<Statements>,
    time: TimeSource,
    timeout: Duration,
    wake: Arc<Wake>,
}

/// The statements with the schema filled in.
struct Statements {
    enqueue: Arc<str>,
    lease: Arc<str>,
    conclude: Arc<str>,
    extend: Arc<str>,
    reap: Arc<str>,
    expire: Arc<str>,
    prune: Arc<str>,
    get: Arc<str>,
    dead_letters: Arc<str>,
    replay: Arc<str>,
    replay_all: Arc<str>,
    purge: Arc<str>,
    stats: Arc<str>,
    endpoint_stats: Arc<str>,
    endpoint_state: Arc<str>,
    endpoint_states: Arc<str>,
    set_endpoint_state: Arc<str>,
}

impl Statements {
    fn for_schema(schema: &str) -> Self {
        let fill = |sql: &str| Arc::from(sql.replace("{schema}", schema));
        Self {
            enqueue: fill(include_str!("postgres/enqueue.sql")),
            lease: fill(include_str!("postgres/lease.sql")),
            conclude: fill(include_str!("postgres/conclude.sql")),
            extend: fill(include_str!("postgres/extend.sql")),
            reap: fill(include_str!("postgres/reap.sql")),
            expire: fill(include_str!("postgres/expire.sql")),
            prune: fill(include_str!("postgres/prune.sql")),
            get: fill(include_str!("postgres/get.sql")),
            dead_letters: fill(include_str!("postgres/dead_letters.sql")),
            replay: fill(include_str!("postgres/replay.sql")),
            replay_all: fill(include_str!("postgres/replay_all.sql")),
            purge: fill(include_str!("postgres/purge.sql")),
            stats: fill(include_str!("postgres/stats.sql")),
            endpoint_stats: fill(include_str!("postgres/endpoint_stats.sql")),
            endpoint_state: fill(include_str!("postgres/endpoint_state.sql")),
            endpoint_states: fill(include_str!("postgres/endpoint_states.sql")),
            set_endpoint_state: fill(include_str!("postgres/set_endpoint_state.sql")),
        }
    }
}

/// The wake-up side: one listening connection per queue (and its clones), started on first use.
struct Wake {
    pool: PgPool,
    channel: String,
    notify: Arc<Notify>,
    listening: watch::Sender<bool>,
    task: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Wake {
    fn new(pool: PgPool, channel: &str) -> Self {
        Self {
            pool,
            channel: channel.to_owned(),
            notify: Arc::new(Notify::new()),
            listening: watch::Sender::new(false),
            task: OnceLock::new(),
        }
    }

    /// Starts the listener task unless it runs already.
    fn start(&self) {
        self.task.get_or_init(|| {
            let (pool, channel, notify, listening) = (
                self.pool.clone(),
                self.channel.clone(),
                Arc::clone(&self.notify),
                self.listening.clone(),
            );
            tokio::spawn(listen_forever(pool, channel, notify, listening))
        });
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// Listens on `channel` on a connection of its own (a one-connection pool with the main pool's options),
/// waking every waiter on each notification and after each reconnection (notifications sent meanwhile are
/// lost); reconnects with jittered exponential backoff.
async fn listen_forever(
    pool: PgPool,
    channel: String,
    notify: Arc<Notify>,
    listening: watch::Sender<bool>,
) {
    let options: PgConnectOptions = (*pool.connect_options()).clone();
    let own = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    let mut failures: u32 = 0;
    loop {
        let error = match PgListener::connect_with(&own).await {
            Ok(mut listener) => {
                listener.ignore_pool_close_event(true);
                match listener.listen(&channel).await {
                    Ok(()) => {
                        listening.send_replace(true);
                        failures = 0;
                        // Anything announced while nobody listened is found by the next lease.
                        notify.notify_waiters();
                        let error = loop {
                            match listener.try_recv().await {
                                // `None`: the connection dropped and was re-established (LISTEN again).
                                Ok(_) => notify.notify_waiters(),
                                Err(error) => break error,
                            }
                        };
                        listening.send_replace(false);
                        error
                    }
                    Err(error) => error,
                }
            }
            Err(error) => error,
        };
        failures = failures.saturating_add(1);
        let base = Duration::from_millis(100).saturating_mul(1 << failures.min(6));
        let pause = base
            .min(Duration::from_secs(5))
            .mul_f64(0.5 + rand::random::<f64>() / 2.0);
        tracing::warn!(%error, ?pause, "queue listener lost its connection; reconnecting");
        tokio::time::sleep(pause).await;
    }
}

impl PostgresQueue {
    /// The default schema.
    pub const DEFAULT_SCHEMA: &str = "hookguard_queue";
    /// The default timeout of each call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Connects a pool of up to 16 connections to the database at `url`, whose sessions time statements
    /// out after the default timeout (5 s) and run without JIT compilation: with a backlog of a few hundred
    /// thousand jobs the planner's cost estimate for the lease passes `jit_above_cost`, and compiling it
    /// takes ~30 ms against ~1 ms to run it (measured with `benches/load/queue_backends.sh`, `PG_JIT=on`). A
    /// pool of your own ([`new`](Self::new)) should set `jit=off` the same way.
    ///
    /// # Errors
    /// [`QueueError::InvalidConfig`] if the URL is invalid, [`QueueError::Unavailable`] if the server cannot
    /// be reached; the error never carries the URL's password.
    pub async fn connect(url: &str) -> Result<Self, QueueError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|_| QueueError::InvalidConfig("invalid PostgreSQL URL".into()))?;
        let timeout_ms = Self::DEFAULT_TIMEOUT.as_millis().to_string();
        let options = options
            .application_name("hookguard-queue")
            .options([("statement_timeout", timeout_ms.as_str()), ("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Self::DEFAULT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(classify)?;
        Ok(Self::new(pool))
    }

    /// A queue on the caller's own pool (set its `acquire_timeout`, and `statement_timeout` in its connect
    /// options, to bound how long a call may hold a connection). The listening connection is opened with
    /// the pool's connect options, outside the pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            wake: Arc::new(Wake::new(pool.clone(), Self::DEFAULT_SCHEMA)),
            pool,
            schema: Arc::from(Self::DEFAULT_SCHEMA),
            sql: Arc::new(Statements::for_schema(Self::DEFAULT_SCHEMA)),
            time: TimeSource::Server,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Keeps the queue in `schema` instead of `hookguard_queue` (its NOTIFY channel has the same name).
    ///
    /// # Errors
    /// [`QueueError::InvalidConfig`] unless the name is a plain lower-case identifier (letters, digits and
    /// `_`, not starting with a digit, at most 63 bytes): it is spliced into the statements.
    pub fn schema(mut self, schema: &str) -> Result<Self, QueueError> {
        if !postgres_migrations::is_plain_identifier(schema) {
            return Err(QueueError::InvalidConfig(format!(
                "{schema:?} is not a plain lower-case schema name"
            )));
        }
        self.schema = Arc::from(schema);
        self.sql = Arc::new(Statements::for_schema(schema));
        self.wake = Arc::new(Wake::new(self.pool.clone(), schema));
        Ok(self)
    }

    /// Whose clock deadlines are compared on (default [`TimeSource::Server`]).
    #[must_use]
    pub const fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How long a call may take in all before it fails with [`QueueError::Unavailable`] (default 5 s).
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pool, for the application's own queries and transactions.
    #[must_use]
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the queue lives in.
    #[must_use]
    pub fn schema_name(&self) -> &str {
        &self.schema
    }

    /// Creates the schema and applies the migrations it does not have yet; safe to run from several
    /// processes at once.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] or [`QueueError::Backend`] if the database refuses.
    pub async fn migrate(&self) -> Result<(), QueueError> {
        postgres_migrations::migrate(&self.pool, "queue", &self.schema, MIGRATIONS)
            .await
            .map_err(classify)
    }

    /// Starts the listening connection now (instead of on the first
    /// [`wait_for_work`](Queue::wait_for_work)) and waits until it listens, so that notifications sent from
    /// now on wake this queue's waiters.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] if it does not listen within the queue's timeout (it keeps trying in the
    /// background).
    pub async fn listen(&self) -> Result<(), QueueError> {
        self.wake.start();
        let mut listening = self.wake.listening.subscribe();
        match tokio::time::timeout(self.timeout, listening.wait_for(|l| *l)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(QueueError::Unavailable(
                "the queue's listening connection is not up".into(),
            )),
        }
    }

    /// Stores jobs on the caller's connection, typically inside the application's transaction (a
    /// transactional outbox): they exist, and workers hear of them, iff that transaction commits. Otherwise
    /// like [`enqueue_many`](Queue::enqueue_many): all or none, ids in order, deduplicated by `(endpoint_id,
    /// event_id)` across every state.
    ///
    /// ```no_run
    /// # async fn demo(queue: hookguard_sender::PostgresQueue, jobs: Vec<hookguard_sender::NewJob>) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = queue.pool().begin().await?;
    /// // … the business change on `&mut *tx` …
    /// let ids = queue.enqueue_in(&mut tx, jobs).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] or [`QueueError::Backend`]. Roll the transaction back on any error: after
    /// a failed statement PostgreSQL refuses further ones in it, and after a timeout the statement may still
    /// have run in it.
    pub async fn enqueue_in(
        &self,
        conn: &mut PgConnection,
        jobs: Vec<NewJob>,
    ) -> Result<Vec<JobId>, QueueError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let n = jobs.len();
        let (mut endpoints, mut events, mut types, mut payloads, mut created, mut due) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for job in jobs {
            let (endpoint_id, event_id, event_type, payload, created_at, due_at) = job.into_parts();
            endpoints.push(endpoint_id);
            events.push(event_id);
            types.push(event_type);
            payloads.push(Vec::from(payload));
            created.push(created_at.as_unix_millis());
            due.push(due_at.as_unix_millis());
        }
        let query = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.enqueue)))
            .bind(endpoints)
            .bind(events)
            .bind(types)
            .bind(payloads)
            .bind(created)
            .bind(due)
            .bind(self.time == TimeSource::Server);
        let row = self.timed(query.fetch_one(conn)).await?;
        let ids: Vec<i64> = get(&row, "ids")?;
        if ids.len() != n {
            return Err(corrupt(
                "the enqueue statement returned the wrong number of ids",
            ));
        }
        Ok(ids.into_iter().map(job_id).collect())
    }

    /// The deadline clock's `now` for a statement: the caller's, or `NULL` for the server's.
    fn clock(&self, now: Timestamp) -> Option<i64> {
        match self.time {
            TimeSource::Caller => Some(now.as_unix_millis()),
            TimeSource::Server => None,
        }
    }

    /// Runs `call` under the queue's timeout.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, QueueError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(classify(error)),
            Err(_) => Err(QueueError::Unavailable(
                format!("the PostgreSQL call timed out after {:?}", self.timeout).into(),
            )),
        }
    }

    fn query<'q>(
        &self,
        sql: &Arc<str>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        sqlx::query(AssertSqlSafe(Arc::clone(sql)))
    }

    async fn one(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<PgRow, QueueError> {
        self.timed(query.fetch_one(&self.pool)).await
    }

    async fn progress(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Progress, QueueError> {
        let row = self.one(query).await?;
        Ok((count(get(&row, "n")?), get(&row, "more")?))
    }
}

impl fmt::Debug for PostgresQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresQueue")
            .field("schema", &self.schema)
            .field("time", &self.time)
            .field("timeout", &self.timeout)
            .field("listening", &*self.wake.listening.borrow())
            .finish_non_exhaustive()
    }
}

/// Maps a sqlx error: what a retry may cure is [`QueueError::Unavailable`], the rest [`QueueError::Backend`].
fn classify(error: sqlx::Error) -> QueueError {
    let transient = match &error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 40001 serialization failure; 40P01 deadlock; 25006 read-only
            // transaction (a replica promoted or demoted); 53: insufficient resources (too many
            // connections); 55P03 lock not available; 57014 statement timeout; 57P01–57P03 the server
            // shutting down, crashed, or not yet accepting connections.
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    &*code,
                    "40001" | "40P01" | "25006" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
                )
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        _ => false,
    };
    if transient {
        QueueError::Unavailable(Box::new(error))
    } else {
        QueueError::Backend(Box::new(error))
    }
}

fn corrupt(what: &str) -> QueueError {
    QueueError::Backend(what.to_owned().into())
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    column: &str,
) -> Result<T, QueueError> {
    row.try_get(column).map_err(classify)
}

fn job_id(id: i64) -> JobId {
    JobId(u64::try_from(id).unwrap_or_default())
}

/// A job id as stored; an id no row can have (over `i64::MAX`) matches nothing.
fn db_id(id: JobId) -> i64 {
    i64::try_from(id.0).unwrap_or(-1)
}

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn as_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn millis_opt(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::as_unix_millis)
}

/// The filter's reason as the dead-letter table stores it.
fn reason_text(filter: &DeadLetterFilter) -> Option<String> {
    filter.reason.map(|r| r.to_string())
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

/// The columns of one item of a [`conclude`](Queue::conclude) batch, as parallel arrays.
#[derive(Default)]
struct Batch {
    ids: Vec<i64>,
    tokens: Vec<Vec<u8>>,
    kinds: Vec<&'static str>,
    ats: Vec<Option<i64>>,
    reasons: Vec<Option<String>>,
    disable: Vec<bool>,
    numbers: Vec<Option<i32>>,
    attempt_ats: Vec<Option<i64>>,
    statuses: Vec<Option<i32>>,
    error_kinds: Vec<Option<&'static str>>,
    error_messages: Vec<Option<String>>,
    latencies: Vec<Option<i64>>,
    bodies: Vec<Option<String>>,
}

impl Batch {
    fn push(&mut self, handle: LeaseHandle, transition: Transition) {
        let (kind, at, reason, disable, attempt) = match transition {
            Transition::Ack { attempt } => ("ack", None, None, false, Some(attempt)),
            Transition::RetryAt { at, attempt } => ("retry", Some(at), None, false, Some(attempt)),
            Transition::Defer { at } => ("defer", Some(at), None, false, None),
            Transition::DeadLetter {
                reason,
                attempt,
                disable_endpoint,
            } => (
                "dead",
                None,
                Some(reason.to_string()),
                disable_endpoint,
                attempt,
            ),
            Transition::Release => ("release", None, None, false, None),
        };
        self.ids.push(db_id(handle.id));
        self.tokens.push(handle.token.as_bytes().to_vec());
        self.kinds.push(kind);
        self.ats.push(millis_opt(at));
        self.reasons.push(reason);
        self.disable.push(disable);
        match attempt {
            Some(a) => {
                self.numbers
                    .push(Some(i32::try_from(a.number).unwrap_or(i32::MAX)));
                self.attempt_ats.push(Some(a.at.as_unix_millis()));
                let (status, kind, message) = match a.result {
                    AttemptResult::Status(s) => (Some(i32::from(s)), None, None),
                    AttemptResult::Error { kind, message } => {
                        (None, Some(kind.as_str()), Some(message))
                    }
                };
                self.statuses.push(status);
                self.error_kinds.push(kind);
                self.error_messages.push(message);
                self.latencies.push(Some(
                    i64::try_from(a.latency.as_nanos()).unwrap_or(i64::MAX),
                ));
                self.bodies.push(Some(a.response_body));
            }
            None => {
                self.numbers.push(None);
                self.attempt_ats.push(None);
                self.statuses.push(None);
                self.error_kinds.push(None);
                self.error_messages.push(None);
                self.latencies.push(None);
                self.bodies.push(None);
            }
        }
    }
}

/// A job record from a row of `get.sql` or `dead_letters.sql`.
fn read_record(row: &PgRow) -> Result<JobRecord, QueueError> {
    let attempts: i32 = get(row, "attempts")?;
    let payload: Vec<u8> = get(row, "payload")?;
    let job = Job {
        id: job_id(get(row, "id")?),
        endpoint_id: get(row, "endpoint_id")?,
        event_id: get(row, "event_id")?,
        event_type: get(row, "event_type")?,
        payload: Bytes::from(payload),
        created_at: ts(get(row, "created_at")?),
        attempts: u32::try_from(attempts).unwrap_or_default(),
    };
    let state: String = get(row, "state")?;
    let at = |column: &str| -> Result<Timestamp, QueueError> {
        let value: Option<i64> = get(row, column)?;
        value
            .map(ts)
            .ok_or_else(|| corrupt(&format!("a {state} job without {column}")))
    };
    let state = match state.as_str() {
        "scheduled" => JobState::Scheduled {
            due_at: at("due_at")?,
        },
        "in_flight" => JobState::InFlight {
            until: at("lease_until")?,
        },
        "delivered" => JobState::Delivered {
            at: at("finished_at")?,
        },
        "dead" => {
            let reason: Option<String> = get(row, "reason")?;
            JobState::Dead {
                at: at("dead_at")?,
                reason: reason
                    .as_deref()
                    .and_then(DeadLetterReason::parse)
                    .ok_or_else(|| corrupt("a dead letter with an unknown reason"))?,
            }
        }
        other => return Err(corrupt(&format!("a job in the unknown state {other:?}"))),
    };
    let numbers: Vec<i32> = get(row, "numbers")?;
    let ats: Vec<i64> = get(row, "ats")?;
    let statuses: Vec<Option<i32>> = get(row, "statuses")?;
    let kinds: Vec<Option<String>> = get(row, "error_kinds")?;
    let messages: Vec<Option<String>> = get(row, "error_messages")?;
    let latencies: Vec<i64> = get(row, "latencies")?;
    let bodies: Vec<String> = get(row, "bodies")?;
    let n = numbers.len();
    if [
        ats.len(),
        statuses.len(),
        kinds.len(),
        messages.len(),
        latencies.len(),
        bodies.len(),
    ]
    .iter()
    .any(|len| *len != n)
    {
        return Err(corrupt("attempt columns of unequal length"));
    }
    let mut history = Vec::with_capacity(n);
    let columns = numbers
        .into_iter()
        .zip(ats)
        .zip(statuses)
        .zip(kinds.into_iter().zip(messages))
        .zip(latencies.into_iter().zip(bodies));
    for ((((number, at), status), (kind, message)), (latency, body)) in columns {
        let result = match status {
            Some(s) => AttemptResult::Status(
                u16::try_from(s).map_err(|_| corrupt("an attempt with an impossible status"))?,
            ),
            None => AttemptResult::Error {
                kind: kind
                    .as_deref()
                    .and_then(AttemptErrorKind::parse)
                    .ok_or_else(|| corrupt("an attempt with an unknown error kind"))?,
                message: message.unwrap_or_default(),
            },
        };
        history.push(Attempt {
            number: u32::try_from(number).unwrap_or_default(),
            at: ts(at),
            result,
            latency: Duration::from_nanos(u64::try_from(latency).unwrap_or_default()),
            response_body: body,
        });
    }
    Ok(JobRecord {
        job,
        state,
        attempts: history,
    })
}

fn read_endpoint_state(row: &PgRow) -> Result<EndpointState, QueueError> {
    let paused: Option<i64> = get(row, "paused_until")?;
    let changed: Option<i64> = get(row, "changed_at")?;
    Ok(EndpointState {
        enabled: get(row, "enabled")?,
        paused_until: paused.map(ts),
        reason: get(row, "reason")?,
        changed_at: changed.map(ts),
    })
}

/// The `due`, `scheduled`, `in_flight` and `dead` counts of a stats row.
fn read_stats(row: &PgRow) -> Result<QueueStats, QueueError> {
    let n = |column: &str| -> Result<u64, QueueError> {
        let value: i64 = get(row, column)?;
        Ok(u64::try_from(value).unwrap_or_default())
    };
    Ok(QueueStats {
        due: n("due")?,
        scheduled: n("scheduled")?,
        in_flight: n("in_flight")?,
        dead: n("dead")?,
    })
}

impl Queue for PostgresQueue {
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, QueueError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.timed(self.pool.acquire()).await?;
        self.enqueue_in(&mut conn, jobs).await
    }

    async fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &LeaseOptions,
    ) -> Result<LeaseBatch, QueueError> {
        let excluded: Vec<&str> = options.exclude.iter().map(String::as_str).collect();
        let (capped, caps): (Vec<&str>, Vec<i64>) = options
            .caps
            .iter()
            .map(|(endpoint, cap)| (endpoint.as_str(), as_limit(*cap)))
            .unzip();
        let query = self
            .query(&self.sql.lease)
            .bind(now.as_unix_millis())
            .bind(self.clock(now))
            .bind(as_limit(max))
            .bind(i64::try_from(lease_for.as_millis()).unwrap_or(i64::MAX))
            .bind(excluded)
            .bind(capped)
            .bind(caps)
            .bind(as_limit(options.default_cap));
        let rows = self.timed(query.fetch_all(&self.pool)).await?;
        let mut batch = LeaseBatch::default();
        for row in &rows {
            let next_due: Option<i64> = get(row, "next_due")?;
            batch.next_due = next_due.map(ts);
            let Some(id) = get::<Option<i64>>(row, "id")? else {
                continue;
            };
            let token: Vec<u8> = get(row, "token")?;
            let token: [u8; 16] = token
                .try_into()
                .map_err(|_| corrupt("a lease token that is not 16 bytes"))?;
            let attempts: i32 = get(row, "attempts")?;
            let payload: Vec<u8> = get(row, "payload")?;
            let job = Job {
                id: job_id(id),
                endpoint_id: get(row, "endpoint_id")?,
                event_id: get(row, "event_id")?,
                event_type: get(row, "event_type")?,
                payload: Bytes::from(payload),
                created_at: ts(get(row, "created_at")?),
                attempts: u32::try_from(attempts).unwrap_or_default(),
            };
            batch.jobs.push(Leased {
                handle: LeaseHandle {
                    id: job.id,
                    token: LeaseToken::from_bytes(token),
                },
                attempt: job.attempts.saturating_add(1),
                job,
            });
        }
        Ok(batch)
    }

    async fn conclude(
        &self,
        now: Timestamp,
        batch: Vec<(LeaseHandle, Transition)>,
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let n = batch.len();
        let mut columns = Batch::default();
        for (handle, transition) in batch {
            columns.push(handle, transition);
        }
        let query = self
            .query(&self.sql.conclude)
            .bind(now.as_unix_millis())
            .bind(self.clock(now))
            .bind(columns.ids)
            .bind(columns.tokens)
            .bind(columns.kinds)
            .bind(columns.ats)
            .bind(columns.reasons)
            .bind(columns.disable)
            .bind(columns.numbers)
            .bind(columns.attempt_ats)
            .bind(columns.statuses)
            .bind(columns.error_kinds)
            .bind(columns.error_messages)
            .bind(columns.latencies)
            .bind(columns.bodies);
        let row = self.one(query).await?;
        let done: Vec<i64> = get(&row, "done")?;
        let mut results: Vec<Result<(), QueueError>> =
            (0..n).map(|_| Err(QueueError::LeaseLost)).collect();
        for ord in done {
            let slot = usize::try_from(ord)
                .ok()
                .and_then(|o| o.checked_sub(1))
                .and_then(|i| results.get_mut(i))
                .ok_or_else(|| corrupt("the conclude statement named an unknown item"))?;
            *slot = Ok(());
        }
        Ok(results)
    }

    async fn extend(
        &self,
        handle: &LeaseHandle,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<(), QueueError> {
        let query = self
            .query(&self.sql.extend)
            .bind(now.as_unix_millis())
            .bind(self.clock(now))
            .bind(db_id(handle.id))
            .bind(&handle.token.as_bytes()[..])
            .bind(until.as_unix_millis());
        let done = self.timed(query.execute(&self.pool)).await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(QueueError::LeaseLost)
        }
    }

    async fn reap(
        &self,
        now: Timestamp,
        max_lapses: u32,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let query = self
            .query(&self.sql.reap)
            .bind(now.as_unix_millis())
            .bind(self.clock(now))
            .bind(i32::try_from(max_lapses).unwrap_or(i32::MAX))
            .bind(as_limit(limit));
        self.progress(query).await
    }

    async fn expire(
        &self,
        created_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let query = self
            .query(&self.sql.expire)
            .bind(now.as_unix_millis())
            .bind(created_before.as_unix_millis())
            .bind(as_limit(limit));
        self.progress(query).await
    }

    async fn wait_for_work(&self, now: Timestamp, until: Timestamp) {
        self.wake.start();
        let woken = self.wake.notify.notified();
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(until.saturating_duration_since(now)) => {}
        }
    }

    async fn prune(&self, older_than: Timestamp, limit: usize) -> Result<Progress, QueueError> {
        let query = self
            .query(&self.sql.prune)
            .bind(older_than.as_unix_millis())
            .bind(as_limit(limit));
        self.progress(query).await
    }

    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, QueueError> {
        let query = self.query(&self.sql.get).bind(db_id(id));
        let row = self.timed(query.fetch_optional(&self.pool)).await?;
        row.as_ref().map(read_record).transpose()
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> Result<DeadLetterPage, QueueError> {
        if page.limit == 0 {
            return Ok(DeadLetterPage {
                items: Vec::new(),
                next: None,
            });
        }
        let query = self
            .query(&self.sql.dead_letters)
            .bind(filter.endpoint_id.as_deref())
            .bind(millis_opt(filter.since))
            .bind(millis_opt(filter.before))
            .bind(millis_opt(page.after.map(|c| c.dead_at)))
            .bind(page.after.map(|c| db_id(c.id)))
            .bind(as_limit(page.limit).saturating_add(1))
            .bind(reason_text(filter));
        let rows = self.timed(query.fetch_all(&self.pool)).await?;
        let more = rows.len() > page.limit;
        let mut items = Vec::with_capacity(rows.len().min(page.limit));
        for row in rows.iter().take(page.limit) {
            items.push(read_record(row)?);
        }
        let next = match items.last() {
            Some(JobRecord {
                job,
                state: JobState::Dead { at, .. },
                ..
            }) if more => Some(Cursor {
                dead_at: *at,
                id: job.id,
            }),
            _ => None,
        };
        Ok(DeadLetterPage { items, next })
    }

    async fn replay(&self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        let query = self
            .query(&self.sql.replay)
            .bind(now.as_unix_millis())
            .bind(self.clock(now))
            .bind(db_id(id));
        let row = self.timed(query.fetch_optional(&self.pool)).await?;
        let Some(row) = row else {
            return Err(QueueError::NotFound(id));
        };
        if get(&row, "enabled")? {
            Ok(())
        } else {
            Err(QueueError::EndpointDisabled(get(&row, "endpoint_id")?))
        }
    }

    async fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let query = self
            .query(&self.sql.replay_all)
            .bind(now.as_unix_millis())
            .bind(self.clock(now))
            .bind(filter.endpoint_id.as_deref())
            .bind(millis_opt(filter.since))
            .bind(millis_opt(filter.before))
            .bind(as_limit(limit))
            .bind(reason_text(filter));
        let row = self.one(query).await?;
        if get(&row, "disabled")? {
            return Err(QueueError::EndpointDisabled(
                filter.endpoint_id.clone().unwrap_or_default(),
            ));
        }
        Ok((count(get(&row, "n")?), get(&row, "more")?))
    }

    async fn purge(&self, filter: &DeadLetterFilter, limit: usize) -> Result<Progress, QueueError> {
        let query = self
            .query(&self.sql.purge)
            .bind(filter.endpoint_id.as_deref())
            .bind(millis_opt(filter.since))
            .bind(millis_opt(filter.before))
            .bind(as_limit(limit))
            .bind(reason_text(filter));
        self.progress(query).await
    }

    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        let query = self.query(&self.sql.stats).bind(self.clock(now));
        read_stats(&self.one(query).await?)
    }

    async fn endpoint_stats(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, QueueStats)>, QueueError> {
        let query = self.query(&self.sql.endpoint_stats).bind(self.clock(now));
        let rows = self.timed(query.fetch_all(&self.pool)).await?;
        rows.iter()
            .map(|row| Ok((get(row, "endpoint_id")?, read_stats(row)?)))
            .collect()
    }

    async fn endpoint_state(&self, endpoint_id: &str) -> Result<EndpointState, QueueError> {
        let query = self.query(&self.sql.endpoint_state).bind(endpoint_id);
        let row = self.timed(query.fetch_optional(&self.pool)).await?;
        row.as_ref()
            .map_or_else(|| Ok(EndpointState::default()), read_endpoint_state)
    }

    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>, QueueError> {
        let query = self.query(&self.sql.endpoint_states);
        let rows = self.timed(query.fetch_all(&self.pool)).await?;
        rows.iter()
            .map(|row| Ok((get(row, "id")?, read_endpoint_state(row)?)))
            .collect()
    }

    async fn set_endpoint_state(
        &self,
        endpoint_id: &str,
        state: EndpointState,
    ) -> Result<(), QueueError> {
        let query = self
            .query(&self.sql.set_endpoint_state)
            .bind(endpoint_id)
            .bind(state.enabled)
            .bind(millis_opt(state.paused_until))
            .bind(state.reason)
            .bind(millis_opt(state.changed_at));
        self.one(query).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_retry_may_cure_is_unavailable() {
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ] {
            assert!(classify(error).is_transient());
        }
        for error in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("state".into()),
        ] {
            assert!(matches!(classify(error), QueueError::Backend(_)));
        }
    }

    #[test]
    fn every_statement_names_the_schema_it_was_built_for() {
        let sql = Statements::for_schema("queue_x");
        for statement in [
            &sql.enqueue,
            &sql.lease,
            &sql.conclude,
            &sql.reap,
            &sql.stats,
        ] {
            assert!(statement.contains("queue_x."), "{statement}");
            assert!(!statement.contains("{schema}"), "{statement}");
        }
        assert!(
            sql.enqueue.contains("pg_notify('queue_x'"),
            "the channel is the schema's name"
        );
    }

    #[test]
    fn ids_that_no_row_can_have_match_nothing() {
        assert_eq!(db_id(JobId(u64::MAX)), -1);
        assert_eq!(job_id(-5), JobId(0));
        assert_eq!(as_limit(usize::MAX), i64::MAX);
    }
}
