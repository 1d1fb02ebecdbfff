//! [`RedisQueue`]: jobs in Redis, shared by every sender process (feature `redis`).
//!
//! The layout, Cluster, time, wake-ups and the persistence Redis needs are on the type's docs; the scripts are
//! the `redis/*.lua` files beside this one, `lib.lua` describing every key.

mod codec;
mod wake;

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RetryMethod, Script, ScriptInvocation, Value};
use bytes::Bytes;

use self::codec::{array, corrupt, count, int, member, next_n, text, time};
use self::wake::Wake;
use super::{
    DeadLetterFilter, DeadLetterPage, EndpointState, Job, JobId, JobRecord, LeaseBatch,
    LeaseHandle, LeaseOptions, LeaseToken, Leased, NewJob, Page, Progress, Queue, QueueError,
    QueueStats, TimeSource, Transition,
};
use crate::Timestamp;
use crate::queue::Cursor;

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| Script::new(concat!(include_str!("redis/lib.lua"), include_str!($file))))
    };
}

static ENQUEUE_MANY: LazyLock<Script> = script!("redis/enqueue_many.lua");
static LEASE: LazyLock<Script> = script!("redis/lease.lua");
static CONCLUDE: LazyLock<Script> = script!("redis/conclude.lua");
static EXTEND: LazyLock<Script> = script!("redis/extend.lua");
static REAP: LazyLock<Script> = script!("redis/reap.lua");
static EXPIRE: LazyLock<Script> = script!("redis/expire.lua");
static PRUNE: LazyLock<Script> = script!("redis/prune.lua");
static GET: LazyLock<Script> = script!("redis/get.lua");
static DEAD_LETTERS: LazyLock<Script> = script!("redis/dead_letters.lua");
static REPLAY: LazyLock<Script> = script!("redis/replay.lua");
static REPLAY_ALL: LazyLock<Script> = script!("redis/replay_all.lua");
static PURGE: LazyLock<Script> = script!("redis/purge.lua");
static STATS: LazyLock<Script> = script!("redis/stats.lua");
static ENDPOINT_STATS: LazyLock<Script> = script!("redis/endpoint_stats.lua");
static ENDPOINT_STATES: LazyLock<Script> = script!("redis/endpoint_states.lua");
static SET_ENDPOINT_STATE: LazyLock<Script> = script!("redis/set_endpoint_state.lua");

/// A durable queue in Redis, shared by every sender process that uses the same prefix.
///
/// Each [`Queue`] call is one Lua script (`EVALSHA`, loaded on first use and again after `NOSCRIPT`): atomic,
/// one round trip, its attempt recorded beside the move it causes. The scripts are `queue/redis/*.lua`, one
/// per transition, with the layout of every key described in `lib.lua`:
///
/// - a **due sorted set per endpoint** (members are job ids zero-padded to 20 digits, so jobs due at one
///   instant sort by id: FIFO), and a **ready set** holding one member per endpoint with scheduled jobs,
///   scored by its earliest due job. Leasing walks the ready set, so an excluded or capped-out endpoint costs
///   one step however long its backlog, and takes round-robin from the first endpoints that may give;
/// - an **in-flight set** scored by lease deadline (the reaper's index), sets of **delivered** jobs (for
///   pruning) and of scheduled jobs by creation (for `max_age`), the **dead-letter** sets by dead-letter time
///   (global and per endpoint, for keyset pagination and filters);
/// - one hash per job, one list per job for its **attempts**, the **event-id index** `(endpoint, event id) →
///   job` covering every state (dead included) until the job is pruned or purged, and a hash per **endpoint
///   state**. Job ids come from `INCR`.
///
/// # Keys, Cluster and scale
/// Every key starts with `{prefix}:` (default prefix `hookguard:queue`): the braces make the prefix a
/// **hash tag**, so a whole queue lives in one Redis Cluster slot and every script touches one node. The
/// scripts build their key names from the root they are given as `KEYS[1]` (as BullMQ's do), which Cluster
/// accepts because all of them hash to that slot. The price: **one queue is one shard**. A Cluster spreads
/// several queues (several prefixes, e.g. one per tenant or per group of endpoints), not one queue's load;
/// one queue scales as far as one Redis primary does. This type talks to one server through a
/// [`ConnectionManager`] (standalone Redis, or the primary a URL names); it does not follow Cluster
/// redirections (`MOVED` is reported as [`QueueError::Unavailable`]), so against a Cluster point it at the
/// primary that owns the queue's slot (`CLUSTER KEYSLOT {prefix}`).
///
/// # Time
/// Deadlines are compared on the **server's clock** by default (`redis.call('TIME')` in each script): a lease
/// taken by one process and reaped by another is judged on one clock, however skewed theirs are. Absolute
/// times a caller computed from its own clock (a retry's due time, an extended lease deadline) are moved by
/// the difference between its `now` and the server's, so relative delays are kept; a new job is due as long
/// after the server's now as its due time is after its creation. Creation and delivery times stay the
/// enqueuer's and the worker's (`max_age` and pruning compare them with the caller's `now`).
/// [`TimeSource::Caller`] uses the `now` passed to each call instead: for tests that drive a
/// [`TestClock`](crate::TestClock), or processes whose clocks agree to well within a lease.
///
/// # Wake-ups
/// [`wait_for_work`](Queue::wait_for_work) returns early when another process makes work due: the scripts
/// `PUBLISH` on `{prefix}:wake`, and each `RedisQueue` (with its clones) runs one subscriber on a dedicated
/// connection, started on the first wait, reconnecting with backoff. The deadline passed in is the fallback.
///
/// # Persistence: what a crash can lose
/// An enqueue is acknowledged once Redis has applied it in memory. What survives a crash of the Redis host is
/// what its persistence wrote:
/// - `appendonly yes` + `appendfsync always`: every acknowledged write is on disk before the reply; nothing
///   acknowledged is lost. The slowest setting (one fsync per write batch).
/// - `appendonly yes` + `appendfsync everysec` (Redis's default for AOF): up to about **one second of
///   acknowledged enqueues and transitions** can be lost if the host (not just the process) crashes; after a
///   loss, a delivered job may be delivered again (receivers deduplicate by event id) and a job enqueued in
///   that second is gone.
/// - RDB snapshots only, or no persistence: everything since the last snapshot, or everything.
///
/// With replication, a failover can lose what the old primary had not yet sent to its replicas (`WAIT` is not
/// used). Run Redis with **`maxmemory-policy noeviction`**: under an eviction policy Redis silently deletes
/// keys when memory is short, which for a queue means lost jobs or a corrupt index. [`RedisQueue::new`] reads
/// the policy with `CONFIG GET` and logs a warning if it is another one (and carries on if the server refuses
/// to say, as managed services often do). With `noeviction`, a full Redis refuses writes: enqueues fail with
/// [`QueueError::Unavailable`] instead of losing jobs.
///
/// # Many processes
/// Any number of sender processes may share one queue: leases are exclusive, dedupe and endpoint state are
/// shared. The circuit breaker, the rate limit and `max_in_flight` are **per process**: N processes on one
/// queue allow up to N× each endpoint's rate and concurrency.
///
/// ```no_run
/// use hookguard_sender::{RedisQueue, Sender};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = RedisQueue::connect("redis://127.0.0.1:6379").await?.prefix("billing:webhooks")?;
/// let sender = Sender::builder(queue).build()?;
/// # let _ = sender;
/// # Ok(()) }
/// ```
///
/// # Calls and errors
/// Cloning is cheap: clones share the connection and the wake-up subscriber. Every call has a timeout
/// (default 5 s) after which it fails with [`QueueError::Unavailable`]; connection failures, `READONLY`
/// after a failover, `LOADING`, `BUSY` and out-of-memory refusals are `Unavailable` too (retried by the
/// sender with backoff), while a script error or data the scripts did not write is [`QueueError::Backend`].
#[derive(Clone)]
pub struct RedisQueue {
    client: ::redis::Client,
    conn: ConnectionManager,
    /// `{prefix}`: every key and the channel start with it.
    root: Arc<str>,
    time: TimeSource,
    timeout: Duration,
    wake: Arc<Wake>,
}

impl fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("root", &self.root)
            .field("time", &self.time)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A duration in milliseconds, at most 2^52 (Lua numbers are doubles: exact below 2^53, and a deadline of
/// `now` plus this still is).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .min(1 << 52)
}

/// `usize` as a Lua-safe integer (doubles are exact below 2^53).
fn lua_count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX).min(1 << 52)
}

/// A Redis failure as the queue's error: transient ones (connection, timeouts, failover, loading, busy, out
/// of memory) are `Unavailable`, the rest `Backend`.
fn from_redis(error: ::redis::RedisError) -> QueueError {
    let transient = !matches!(error.retry_method(), RetryMethod::NoRetry)
        || error.is_io_error()
        || error.is_connection_dropped()
        || error.is_timeout()
        || matches!(
            error.code(),
            Some(
                "OOM" | "BUSY" | "LOADING" | "READONLY" | "MASTERDOWN" | "NOREPLICAS" | "TRYAGAIN"
            )
        );
    if transient {
        QueueError::Unavailable(Box::new(error))
    } else {
        QueueError::Backend(Box::new(error))
    }
}

fn unavailable(message: &'static str) -> QueueError {
    QueueError::Unavailable(message.into())
}

/// An endpoint filter for the scripts: `''` for every endpoint, `=` and the id for one.
fn endpoint_arg(endpoint_id: Option<&str>) -> String {
    endpoint_id.map_or_else(String::new, |ep| format!("={ep}"))
}

/// A reason filter for the scripts: '' for any, or `=` and the reason's text (as `kill` stores it).
fn reason_arg(filter: &DeadLetterFilter) -> String {
    filter
        .reason
        .map_or_else(String::new, |reason| format!("={reason}"))
}

fn ms(t: Timestamp) -> i64 {
    t.as_unix_millis()
}

/// The score range of a dead-letter filter: `(min, max)` in Redis range syntax, `min` raised to `after`'s
/// time.
fn dead_range(filter: &DeadLetterFilter, after: Option<Cursor>) -> (String, String) {
    let min = match (filter.since, after) {
        (Some(s), Some(c)) => Some(s.max(c.dead_at)),
        (s, c) => s.or(c.map(|c| c.dead_at)),
    };
    (
        min.map_or_else(|| "-inf".to_owned(), |t| ms(t).to_string()),
        filter
            .before
            .map_or_else(|| "+inf".to_owned(), |t| format!("({}", ms(t))),
    )
}

impl RedisQueue {
    /// The default key prefix (keys are `{hookguard:queue}:…`).
    pub const DEFAULT_PREFIX: &str = "hookguard:queue";
    /// The default timeout of each call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// At most this many jobs per [`lease`](Queue::lease) call (a larger `max` gets this many and `next_due`
    /// says more is due), so one script never holds Redis for long.
    pub const MAX_LEASE: usize = 1024;
    /// At most this many items per bounded call ([`reap`](Queue::reap), [`expire`](Queue::expire),
    /// [`prune`](Queue::prune), [`replay_all`](Queue::replay_all), [`purge`](Queue::purge), a dead-letter
    /// page); a larger `limit` handles this many and reports that more are left.
    pub const MAX_BULK: usize = 10_000;

    /// Connects to the Redis at `url` (`redis://[:password@]host:port/db`, `rediss://` needs the `redis`
    /// crate's TLS features) through a reconnecting [`ConnectionManager`], and checks the server's eviction
    /// policy (see [persistence](Self#persistence-what-a-crash-can-lose)).
    ///
    /// # Errors
    /// [`QueueError::InvalidConfig`] if the URL does not parse (the error does not quote it: it may hold a
    /// password); [`QueueError::Unavailable`] if the server cannot be reached within the default timeout.
    pub async fn connect(url: &str) -> Result<Self, QueueError> {
        let client = ::redis::Client::open(url)
            .map_err(|_| QueueError::InvalidConfig("invalid Redis URL".into()))?;
        // The queue's own per-call timeout governs; the manager's default 500 ms would cut a long script.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(Self::DEFAULT_TIMEOUT));
        let manager = tokio::time::timeout(
            Self::DEFAULT_TIMEOUT,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unavailable("timed out connecting to Redis"))?
        .map_err(from_redis)?;
        Ok(Self::new(client, manager).await)
    }

    /// A queue on the caller's own connection manager; `client` opens the dedicated wake-up connection
    /// (give the one `manager` was built from). Checks the server's eviction policy.
    ///
    /// A manager built with the `redis` crate's defaults times out responses after 500 ms, which then
    /// surface as [`QueueError::Unavailable`]; [`connect`](Self::connect) turns that off in favour of the
    /// queue's own [`timeout`](Self::timeout).
    pub async fn new(client: ::redis::Client, manager: ConnectionManager) -> Self {
        let queue = Self {
            client,
            conn: manager,
            root: Self::root_of(Self::DEFAULT_PREFIX),
            time: TimeSource::Server,
            timeout: Self::DEFAULT_TIMEOUT,
            wake: Wake::new(),
        };
        queue.check_eviction_policy().await;
        queue
    }

    fn root_of(prefix: &str) -> Arc<str> {
        Arc::from(format!("{{{prefix}}}"))
    }

    /// Keeps the queue under `prefix` instead of `hookguard:queue`: its keys are `{prefix}:…`, one hash tag.
    /// Processes share a queue by using the same prefix; different prefixes are independent queues.
    ///
    /// # Errors
    /// [`QueueError::InvalidConfig`] if `prefix` is empty, over 200 bytes, or has braces or control
    /// characters.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, QueueError> {
        if prefix.is_empty()
            || prefix.len() > 200
            || prefix
                .chars()
                .any(|c| c == '{' || c == '}' || c.is_control())
        {
            return Err(QueueError::InvalidConfig(
                "invalid Redis queue prefix: it must be 1–200 bytes without braces or control characters"
                    .into(),
            ));
        }
        self.root = Self::root_of(prefix);
        // Another channel: a subscriber of the old prefix would wake nobody.
        self.wake = Wake::new();
        Ok(self)
    }

    /// Whose clock deadlines are compared on (default [`TimeSource::Server`]).
    #[must_use]
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How long a call may take before it fails with [`QueueError::Unavailable`] (default 5 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The start of every key of this queue, `{prefix}` (for operators: `SCAN 0 MATCH {prefix}:*`).
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.root
    }

    /// The pub/sub channel the scripts publish wake-ups on, `{prefix}:wake`.
    #[must_use]
    pub fn channel(&self) -> String {
        format!("{}:wake", self.root)
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
                    "Redis may evict queued jobs under this maxmemory-policy; set it to noeviction"
                ),
                None => tracing::debug!("Redis did not report its maxmemory-policy"),
            },
            Ok(Err(error)) => {
                tracing::debug!(%error, "could not read Redis's maxmemory-policy (CONFIG may be disabled)");
            }
            Err(_) => tracing::debug!("timed out reading Redis's maxmemory-policy"),
        }
    }

    /// Whose clock a script uses: `c` the caller's, `s` the server's.
    const fn mode(&self) -> &'static str {
        match self.time {
            TimeSource::Caller => "c",
            TimeSource::Server => "s",
        }
    }

    /// The time arguments of a script: the caller's `now` and whose clock to use.
    const fn clock(&self, now: Timestamp) -> (i64, &'static str) {
        (now.as_unix_millis(), self.mode())
    }

    fn call(&self, script: &'static Script) -> ScriptInvocation<'static> {
        script.key(&*self.root)
    }

    async fn run(&self, invocation: &ScriptInvocation<'static>) -> Result<Value, QueueError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(from_redis(error)),
            Err(_) => Err(unavailable("the Redis call timed out")),
        }
    }

    /// Runs a bounded script whose reply is `{n, more}`.
    async fn progress(
        &self,
        invocation: &ScriptInvocation<'static>,
    ) -> Result<Progress, QueueError> {
        let reply = array(self.run(invocation).await?)?;
        let [n, more] = next_n::<2>(&mut reply.into_iter())?;
        let n = usize::try_from(count(&n)?).map_err(|_| corrupt("a count"))?;
        Ok((n, int(&more)? == 1))
    }

    /// [`Queue::lease`], also returning how many ready-set and due-set members the script visited (not a
    /// stable API: tests use it to show that a held-back endpoint's backlog is never scanned).
    #[doc(hidden)]
    pub async fn lease_counting_visits(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &LeaseOptions,
    ) -> Result<(LeaseBatch, u64), QueueError> {
        let max = max.min(Self::MAX_LEASE);
        let tokens: Vec<LeaseToken> = (0..max).map(|_| LeaseToken::random()).collect();
        let mut token_bytes = Vec::with_capacity(max * 16);
        for t in &tokens {
            token_bytes.extend_from_slice(t.as_bytes());
        }
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&LEASE);
        call.arg(now_ms)
            .arg(mode)
            .arg(max)
            .arg(millis(lease_for))
            .arg(&token_bytes[..]);
        if options.default_cap == usize::MAX {
            call.arg(-1);
        } else {
            call.arg(lua_count(options.default_cap));
        }
        call.arg(options.exclude.len());
        for ep in &options.exclude {
            call.arg(ep.as_str());
        }
        call.arg(options.caps.len());
        for (ep, cap) in &options.caps {
            call.arg(ep.as_str()).arg(lua_count(*cap));
        }
        let mut it = array(self.run(&call).await?)?.into_iter();
        let [has_next, next, visited] = next_n::<3>(&mut it)?;
        let next_due = (int(&has_next)? == 1).then(|| time(&next)).transpose()?;
        let mut jobs = Vec::new();
        let mut tokens = tokens.into_iter();
        while let Some(id) = it.next() {
            let [ep, ev, ty, payload, created, attempts] = next_n::<6>(&mut it)?;
            let id = JobId(count(&id)?);
            let attempts =
                u32::try_from(count(&attempts)?).map_err(|_| corrupt("an attempt count"))?;
            let token = tokens
                .next()
                .ok_or_else(|| corrupt("more leased jobs than tokens"))?;
            jobs.push(Leased {
                handle: LeaseHandle { id, token },
                job: Job {
                    id,
                    endpoint_id: text(ep)?,
                    event_id: text(ev)?,
                    event_type: text(ty)?,
                    payload: Bytes::from(codec::bytes(payload)?),
                    created_at: time(&created)?,
                    attempts,
                },
                attempt: attempts.saturating_add(1),
            });
        }
        Ok((LeaseBatch { jobs, next_due }, count(&visited)?))
    }
}

impl Queue for RedisQueue {
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, QueueError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let n = jobs.len();
        let mut call = self.call(&ENQUEUE_MANY);
        call.arg(self.mode()).arg(n);
        for job in jobs {
            let (endpoint_id, event_id, event_type, payload, created_at, due_at) = job.into_parts();
            call.arg(endpoint_id)
                .arg(event_id)
                .arg(event_type)
                .arg(&payload[..])
                .arg(ms(created_at))
                .arg(ms(due_at));
        }
        let ids = array(self.run(&call).await?)?
            .iter()
            .map(|v| count(v).map(JobId))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.len() != n {
            return Err(corrupt("an enqueue reply of the wrong length"));
        }
        self.wake.notify();
        Ok(ids)
    }

    async fn lease(
        &self,
        now: Timestamp,
        max: usize,
        lease_for: Duration,
        options: &LeaseOptions,
    ) -> Result<LeaseBatch, QueueError> {
        Ok(self
            .lease_counting_visits(now, max, lease_for, options)
            .await?
            .0)
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
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&CONCLUDE);
        call.arg(now_ms).arg(mode).arg(n);
        let mut released = false;
        for (handle, transition) in &batch {
            let (kind, at, attempt, reason, disable) = match transition {
                Transition::Ack { attempt } => ("a", ms(attempt.at), Some(attempt), None, false),
                Transition::RetryAt { at, attempt } => ("r", ms(*at), Some(attempt), None, false),
                Transition::Defer { at } => ("f", ms(*at), None, None, false),
                Transition::DeadLetter {
                    reason,
                    attempt,
                    disable_endpoint,
                } => ("d", 0, attempt.as_ref(), Some(reason), *disable_endpoint),
                Transition::Release => {
                    released = true;
                    ("l", 0, None, None, false)
                }
            };
            call.arg(member(handle.id))
                .arg(&handle.token.as_bytes()[..])
                .arg(kind)
                .arg(at)
                .arg(attempt.map(codec::encode_attempt).unwrap_or_default())
                .arg(reason.map(ToString::to_string).unwrap_or_default())
                .arg(if disable { "1" } else { "0" });
        }
        let results = array(self.run(&call).await?)?
            .iter()
            .map(|v| match int(v)? {
                1 => Ok(Ok(())),
                0 => Ok(Err(QueueError::LeaseLost)),
                _ => Err(corrupt("a conclude result")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if results.len() != n {
            return Err(corrupt("a conclude reply of the wrong length"));
        }
        if released {
            self.wake.notify();
        }
        Ok(results)
    }

    async fn extend(
        &self,
        handle: &LeaseHandle,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<(), QueueError> {
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&EXTEND);
        call.arg(now_ms)
            .arg(mode)
            .arg(member(handle.id))
            .arg(&handle.token.as_bytes()[..])
            .arg(ms(until));
        match int(&self.run(&call).await?)? {
            1 => Ok(()),
            _ => Err(QueueError::LeaseLost),
        }
    }

    async fn reap(
        &self,
        now: Timestamp,
        max_lapses: u32,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&REAP);
        call.arg(now_ms)
            .arg(mode)
            .arg(max_lapses)
            .arg(limit.min(Self::MAX_BULK));
        let progress = self.progress(&call).await?;
        if progress.0 > 0 {
            self.wake.notify();
        }
        Ok(progress)
    }

    async fn expire(
        &self,
        created_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&EXPIRE);
        call.arg(ms(created_before))
            .arg(now_ms)
            .arg(mode)
            .arg(limit.min(Self::MAX_BULK));
        self.progress(&call).await
    }

    async fn wait_for_work(&self, now: Timestamp, until: Timestamp) {
        let notified = self.wake.notified();
        tokio::pin!(notified);
        // Registered before the subscriber may run: a wake-up from here on is not missed.
        notified.as_mut().enable();
        self.wake.start(&self.client, self.channel(), self.timeout);
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(until.saturating_duration_since(now)) => {}
        }
    }

    async fn prune(&self, older_than: Timestamp, limit: usize) -> Result<Progress, QueueError> {
        let mut call = self.call(&PRUNE);
        call.arg(ms(older_than)).arg(limit.min(Self::MAX_BULK));
        self.progress(&call).await
    }

    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, QueueError> {
        let mut call = self.call(&GET);
        call.arg(member(id));
        match self.run(&call).await? {
            Value::Array(items) if items.is_empty() => Ok(None),
            v => codec::record(v).map(Some),
        }
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
        let limit = page.limit.min(Self::MAX_BULK);
        let (min, max) = dead_range(filter, page.after);
        let mut call = self.call(&DEAD_LETTERS);
        call.arg(endpoint_arg(filter.endpoint_id.as_deref()))
            .arg(min)
            .arg(max);
        match page.after {
            Some(c) => call.arg(ms(c.dead_at)).arg(member(c.id)),
            None => call.arg("").arg(""),
        };
        call.arg(limit).arg(reason_arg(filter));
        let mut it = array(self.run(&call).await?)?.into_iter();
        let [more] = next_n::<1>(&mut it)?;
        let items = it.map(codec::record).collect::<Result<Vec<_>, _>>()?;
        // `next` only when another item exists: an exactly full last page says it is the last.
        let next = if int(&more)? == 1 {
            let last = items
                .last()
                .ok_or_else(|| corrupt("an empty page with more"))?;
            let crate::JobState::Dead { at, .. } = last.state else {
                return Err(corrupt("a dead letter that is not dead"));
            };
            Some(Cursor {
                dead_at: at,
                id: last.job.id,
            })
        } else {
            None
        };
        Ok(DeadLetterPage { items, next })
    }

    async fn replay(&self, id: JobId, now: Timestamp) -> Result<(), QueueError> {
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&REPLAY);
        call.arg(member(id)).arg(now_ms).arg(mode);
        let mut it = array(self.run(&call).await?)?.into_iter();
        let [code] = next_n::<1>(&mut it)?;
        match int(&code)? {
            1 => {
                self.wake.notify();
                Ok(())
            }
            0 => Err(QueueError::NotFound(id)),
            2 => {
                let [ep] = next_n::<1>(&mut it)?;
                Err(QueueError::EndpointDisabled(text(ep)?))
            }
            _ => Err(corrupt("a replay result")),
        }
    }

    async fn replay_all(
        &self,
        filter: &DeadLetterFilter,
        now: Timestamp,
        limit: usize,
    ) -> Result<Progress, QueueError> {
        let (min, max) = dead_range(filter, None);
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&REPLAY_ALL);
        call.arg(endpoint_arg(filter.endpoint_id.as_deref()))
            .arg(min)
            .arg(max)
            .arg(now_ms)
            .arg(mode)
            .arg(limit.min(Self::MAX_BULK))
            .arg(reason_arg(filter));
        let reply = array(self.run(&call).await?)?;
        if reply.first().map(int).transpose()? == Some(-1) {
            return Err(QueueError::EndpointDisabled(
                filter.endpoint_id.clone().unwrap_or_default(),
            ));
        }
        let [n, more] = next_n::<2>(&mut reply.into_iter())?;
        let n = usize::try_from(count(&n)?).map_err(|_| corrupt("a count"))?;
        if n > 0 {
            self.wake.notify();
        }
        Ok((n, int(&more)? == 1))
    }

    async fn purge(&self, filter: &DeadLetterFilter, limit: usize) -> Result<Progress, QueueError> {
        let (min, max) = dead_range(filter, None);
        let mut call = self.call(&PURGE);
        call.arg(endpoint_arg(filter.endpoint_id.as_deref()))
            .arg(min)
            .arg(max)
            .arg(limit.min(Self::MAX_BULK))
            .arg(reason_arg(filter));
        self.progress(&call).await
    }

    async fn stats(&self, now: Timestamp) -> Result<QueueStats, QueueError> {
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&STATS);
        call.arg(now_ms).arg(mode);
        codec::stats(&mut array(self.run(&call).await?)?.into_iter())
    }

    async fn endpoint_stats(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, QueueStats)>, QueueError> {
        let (now_ms, mode) = self.clock(now);
        let mut call = self.call(&ENDPOINT_STATS);
        call.arg(now_ms).arg(mode);
        let mut all = Vec::new();
        for row in array(self.run(&call).await?)? {
            let mut it = array(row)?.into_iter();
            let [endpoint] = next_n::<1>(&mut it)?;
            let stats = codec::stats(&mut it)?;
            if stats != QueueStats::default() {
                all.push((text(endpoint)?, stats));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    async fn endpoint_state(&self, endpoint_id: &str) -> Result<EndpointState, QueueError> {
        let mut call = self.call(&ENDPOINT_STATES);
        call.arg(endpoint_arg(Some(endpoint_id)));
        let rows = array(self.run(&call).await?)?;
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| corrupt("no endpoint state row"))?;
        Ok(codec::endpoint_state(row)?.1)
    }

    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>, QueueError> {
        let mut call = self.call(&ENDPOINT_STATES);
        call.arg(endpoint_arg(None));
        let mut all = array(self.run(&call).await?)?
            .into_iter()
            .map(codec::endpoint_state)
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    async fn set_endpoint_state(
        &self,
        endpoint_id: &str,
        state: EndpointState,
    ) -> Result<(), QueueError> {
        let opt = |t: Option<Timestamp>| t.map(|t| ms(t).to_string()).unwrap_or_default();
        let mut call = self.call(&SET_ENDPOINT_STATE);
        call.arg(endpoint_id)
            .arg(if state.enabled { "1" } else { "0" })
            .arg(opt(state.paused_until))
            .arg(state.reason.as_deref().unwrap_or(""))
            .arg(opt(state.changed_at))
            .arg(if state.reason.is_some() { "1" } else { "0" });
        self.run(&call).await?;
        // A re-enabled or unpaused endpoint's jobs may be due now.
        self.wake.notify();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_filters_become_score_ranges() {
        let t = Timestamp::from_unix_millis;
        assert_eq!(
            dead_range(&DeadLetterFilter::all(), None),
            ("-inf".to_owned(), "+inf".to_owned())
        );
        let window = DeadLetterFilter {
            endpoint_id: None,
            since: Some(t(1_000)),
            before: Some(t(5_000)),
            reason: None,
        };
        assert_eq!(
            dead_range(&window, None),
            ("1000".to_owned(), "(5000".to_owned()),
            "since inclusive, before exclusive"
        );
        let cursor = |ms| Cursor {
            dead_at: t(ms),
            id: JobId(7),
        };
        assert_eq!(dead_range(&window, Some(cursor(3_000))).0, "3000");
        assert_eq!(dead_range(&window, Some(cursor(500))).0, "1000");
        assert_eq!(
            dead_range(&DeadLetterFilter::all(), Some(cursor(500))).0,
            "500"
        );
    }

    #[test]
    fn connection_failures_are_transient_and_misuse_is_not() {
        let io =
            ::redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(from_redis(io).is_transient());
        let refused =
            ::redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(from_redis(refused).is_transient());
        let misuse = ::redis::RedisError::from((::redis::ErrorKind::Client, "bad call"));
        assert!(matches!(from_redis(misuse), QueueError::Backend(_)));
    }
}
