//! [`RedisStore`]: idempotency records in Redis, shared by every replica of a receiver (feature `redis`).

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{FromRedisValue, Script, ScriptInvocation};
use bytes::{Bytes, BytesMut};
use hookguard::Timestamp;

use super::{
    Claim, IdempotencyKey, IdempotencyStore, Record, StoreError, StoredResponse, TimeSource, Token,
};
use crate::metrics;

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| Script::new(concat!(include_str!("redis/lib.lua"), include_str!($file))))
    };
}

static CLAIM: LazyLock<Script> = script!("redis/claim.lua");
static COMPLETE: LazyLock<Script> = script!("redis/complete.lua");
static EXTEND: LazyLock<Script> = script!("redis/extend.lua");
static RELEASE: LazyLock<Script> = script!("redis/release.lua");

/// How much longer than its deadline a record's key lives: garbage collection only, so a generous margin
/// for clocks that disagree.
const TTL_SLACK: Duration = Duration::from_secs(300);

/// Idempotency records in Redis, for receivers with several replicas.
///
/// Each call is one Lua script (`EVALSHA`, loaded on first use and again after `NOSCRIPT`) on one key, so
/// it is atomic, one round trip, and safe on Redis Cluster (every script touches a single key). A record
/// is one value: the [`Record`] encoding. Liveness is decided on the deadlines in that value, compared on
/// the server's clock (`redis.call('TIME')`) by default, so replicas whose clocks disagree still agree on
/// who holds a lease; [`TimeSource::Caller`] uses the `now` of each call instead (what tests driving a
/// test clock need). The key's TTL is garbage collection only: lease + retention + 5 min at a claim (moved
/// along by each extension), retention + 5 min at completion, set relative with `PX`.
///
/// Keys are the idempotency key under a prefix (default `hookguard:idem:`). Every call has a timeout
/// (default 1 s) after which it fails with [`StoreError::Unavailable`], so a hung Redis gives 503s
/// (fail-closed), not hung requests.
///
/// # Redis configuration
/// Run Redis with `maxmemory-policy noeviction`: under an `allkeys-*` policy Redis silently drops records
/// when memory is short, and the events they stood for run again. [`RedisStore::new`] reads the policy with
/// `CONFIG GET` and logs a warning if it is another (and carries on if the server refuses to say). Persist
/// with AOF if a restart of Redis must not forget which events were handled.
///
/// ```no_run
/// use hookguard_tower::store::RedisStore;
///
/// # async fn demo() -> Result<(), hookguard_tower::store::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?.prefix("billing:idem:");
/// # let _ = store;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
    time: TimeSource,
    timeout: Duration,
}

impl RedisStore {
    /// The default key prefix.
    pub const DEFAULT_PREFIX: &str = "hookguard:idem:";
    /// The default timeout of each call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Connects to the Redis at `url` (`redis://host:port/db`) through a reconnecting
    /// [`ConnectionManager`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // The parse error is replaced: it might quote the URL, password included.
        let client = ::redis::Client::open(url).map_err(|_| unavailable("invalid Redis URL"))?;
        let conn = tokio::time::timeout(Self::DEFAULT_TIMEOUT * 5, client.get_connection_manager())
            .await
            .map_err(|_| unavailable("timed out connecting to Redis"))?
            .map_err(unavailable)?;
        Ok(Self::new(conn).await)
    }

    /// A store on the caller's own connection manager; checks the server's eviction policy (see the type's
    /// docs).
    pub async fn new(conn: ConnectionManager) -> Self {
        let store = Self {
            conn,
            prefix: Arc::from(Self::DEFAULT_PREFIX),
            time: TimeSource::Server,
            timeout: Self::DEFAULT_TIMEOUT,
        };
        store.check_eviction_policy().await;
        store
    }

    /// Keeps the records under `prefix` instead of `hookguard:idem:`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// Whose clock deadlines are compared on (default [`TimeSource::Server`]).
    #[must_use]
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How long a call may take before it fails with [`StoreError::Unavailable`] (default 1 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn check_eviction_policy(&self) {
        let mut conn = self.conn.clone();
        let mut config_get = ::redis::cmd("CONFIG");
        config_get.arg("GET").arg("maxmemory-policy");
        let asked = config_get.query_async::<Vec<String>>(&mut conn);
        match tokio::time::timeout(self.timeout, asked).await {
            Ok(Ok(reply)) => match reply.get(1).map(String::as_str) {
                Some("noeviction") => {}
                Some(policy) => tracing::warn!(
                    policy,
                    "Redis may evict idempotency records under this maxmemory-policy; set it to noeviction"
                ),
                None => tracing::debug!("Redis did not report its maxmemory-policy"),
            },
            Ok(Err(error)) => {
                tracing::debug!(%error, "could not read Redis's maxmemory-policy (CONFIG may be disabled)");
            }
            Err(_) => tracing::debug!("timed out reading Redis's maxmemory-policy"),
        }
    }

    fn key(&self, key: &IdempotencyKey) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.as_str().len());
        full.push_str(&self.prefix);
        full.push_str(key.as_str());
        full
    }

    /// The `now` argument of a script: the caller's time, or empty for the server's clock.
    fn now_arg(&self, now: Timestamp) -> String {
        match self.time {
            TimeSource::Caller => now.as_unix_millis().to_string(),
            TimeSource::Server => String::new(),
        }
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'static>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(unavailable(error)),
            Err(_) => Err(unavailable("the Redis call timed out")),
        }
    }

    async fn claim_once(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
        known_corrupt: &[u8],
    ) -> Result<(Claim, Option<Bytes>), StoreError> {
        let token = Token::random();
        let mut call = CLAIM.key(self.key(key));
        call.arg(&fingerprint[..])
            .arg(&token.as_bytes()[..])
            .arg(millis(lease))
            .arg(millis(retention))
            .arg(self.now_arg(now))
            .arg(millis(TTL_SLACK))
            .arg(known_corrupt);
        let (code, n, corrupt, value): (i64, i64, i64, Vec<u8>) = self.invoke(&call).await?;
        if corrupt == 1 {
            tracing::warn!(%key, "corrupt idempotency record in Redis; treated as absent");
            metrics::corrupt_record();
        }
        match code {
            0 => Ok((
                Claim::Acquired {
                    token,
                    took_over: n == 1,
                },
                None,
            )),
            1 => {
                let left = Duration::from_millis(u64::try_from(n).unwrap_or(0));
                Ok((Claim::in_progress_for(left), None))
            }
            2 => {
                let value = Bytes::from(value);
                match Record::decode(value.clone()) {
                    Ok(Record::Completed { response, .. }) => {
                        Ok((Claim::Completed(response), None))
                    }
                    _ => Ok((Claim::Mismatch, Some(value))),
                }
            }
            3 => Ok((Claim::Mismatch, None)),
            other => Err(unavailable(format!(
                "unexpected answer {other} from the claim script"
            ))),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore for RedisStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let (claim, corrupt) = self
            .claim_once(key, fingerprint, lease, retention, now, &[])
            .await?;
        let Some(corrupt) = corrupt else {
            return Ok(claim);
        };
        // The script could read the record's head but not its response: claim again, overwriting exactly
        // that value (a record written meanwhile by another claim is left alone). The second call counts it.
        let (claim, _) = self
            .claim_once(key, fingerprint, lease, retention, now, &corrupt)
            .await?;
        Ok(claim)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut encoded = BytesMut::new();
        response.encode(&mut encoded)?;
        let mut call = COMPLETE.key(self.key(key));
        call.arg(&token.as_bytes()[..])
            .arg(millis(retention))
            .arg(self.now_arg(now))
            .arg(millis(TTL_SLACK))
            .arg(&encoded[..]);
        match self.invoke::<i64>(&call).await? {
            1 => Ok(()),
            _ => Err(StoreError::LeaseLost),
        }
    }

    async fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut call = EXTEND.key(self.key(key));
        call.arg(&token.as_bytes()[..])
            .arg(millis(lease))
            .arg(self.now_arg(now))
            .arg(millis(TTL_SLACK));
        match self.invoke::<i64>(&call).await? {
            1 => Ok(()),
            _ => Err(StoreError::LeaseLost),
        }
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut call = RELEASE.key(self.key(key));
        call.arg(&token.as_bytes()[..]);
        self.invoke::<i64>(&call).await.map(|_| ())
    }

    /// Redis collects expired records itself, by their TTL: nothing to do.
    async fn purge_expired(&self, _now: Timestamp, _limit: usize) -> Result<usize, StoreError> {
        Ok(0)
    }
}

/// A failure of this backend, as [`StoreError::Unavailable`].
fn unavailable(source: impl Into<super::BoxError>) -> StoreError {
    StoreError::unavailable("redis", source)
}
