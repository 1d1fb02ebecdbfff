//! [`MemoryStore`]: idempotency records in this process's memory.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hookguard::{Clock, SystemClock};

use super::{Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse, Token};

const DEFAULT_CAPACITY: usize = 100_000;
const SHARDS: usize = 32;

/// Idempotency records in memory: sharded, bounded in records, expired by retention.
///
/// When a shard is full, its expired records (completed past their retention, in progress past their
/// lease) are dropped first; if it is still full the claim fails with [`StoreError::Full`] instead of the
/// store growing. Records live only as long as the process and are not shared between replicas: run several
/// instances behind a load balancer with a shared backend instead.
///
/// Time comes from a [`Clock`] in whole seconds (the system clock unless
/// [`with_clock`](Self::with_clock) says otherwise). A lease or retention is never shorter than asked: it
/// lasts its duration rounded up to whole seconds plus one, since "now" may be late in its second.
///
/// ```
/// use hookguard_tower::store::{Claim, IdempotencyStore, MemoryStore, StoredResponse};
/// use http::StatusCode;
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = "standard-webhooks:msg_1".into();
/// let Claim::Acquired(token) = store.claim(&key, [7; 32], Duration::from_secs(60)).await? else {
///     unreachable!("a fresh store holds no record");
/// };
/// let response = StoredResponse::new(StatusCode::OK, "done");
/// store.complete(&key, &token, response.clone(), Duration::from_secs(3600)).await?;
/// assert_eq!(store.claim(&key, [7; 32], Duration::from_secs(60)).await?, Claim::Completed(response));
/// # Ok::<_, hookguard_tower::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    shards: Arc<[Mutex<HashMap<IdempotencyKey, Record>>]>,
    hasher: RandomState,
    per_shard: usize,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Record {
    fingerprint: [u8; 32],
    state: State,
}

#[derive(Debug)]
enum State {
    InProgress {
        token: Token,
        lease_until: i64,
    },
    Completed {
        response: StoredResponse,
        expires_at: i64,
    },
}

impl Record {
    fn live(&self, now: i64) -> bool {
        match self.state {
            State::InProgress { lease_until, .. } => now < lease_until,
            State::Completed { expires_at, .. } => now < expires_at,
        }
    }
}

impl MemoryStore {
    /// A store for up to 100 000 records.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store for up to about `capacity` records (rounded up to a multiple of the shard count).
    pub fn with_capacity(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            per_shard,
            capacity: per_shard * SHARDS,
            clock: Arc::new(SystemClock),
        }
    }

    /// Takes "now" from `clock` (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The number of records held, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every expired record; returns how many were dropped.
    pub fn purge_expired(&self) -> usize {
        let now = self.clock.now_unix();
        self.shards
            .iter()
            .map(|s| {
                let mut shard = lock(s);
                let before = shard.len();
                shard.retain(|_, r| r.live(now));
                before - shard.len()
            })
            .sum()
    }

    fn shard(&self, key: &IdempotencyKey) -> MutexGuard<'_, HashMap<IdempotencyKey, Record>> {
        // The modulo keeps the index below SHARDS, so the cast cannot truncate a meaningful value.
        #[allow(clippy::cast_possible_truncation)]
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        lock(&self.shards[i])
    }

    fn claim_now(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let token = Token::random();
        let now = self.clock.now_unix();
        let mut shard = self.shard(key);
        let fresh = Record {
            fingerprint,
            state: State::InProgress {
                token,
                lease_until: deadline(now, lease),
            },
        };
        if let Some(record) = shard.get_mut(key) {
            if !record.live(now) {
                *record = fresh;
                return Ok(Claim::Acquired(token));
            }
            if record.fingerprint != fingerprint {
                return Ok(Claim::Mismatch);
            }
            return Ok(match &record.state {
                State::InProgress { lease_until, .. } => {
                    // Without `deadline`'s extra second: the hint is the lease as asked for.
                    let left = u64::try_from(lease_until.saturating_sub(now).saturating_sub(1))
                        .unwrap_or(1)
                        .max(1);
                    Claim::InProgress {
                        retry_after: Duration::from_secs(left),
                    }
                }
                State::Completed { response, .. } => Claim::Completed(response.clone()),
            });
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, r| r.live(now));
            if shard.len() >= self.per_shard {
                return Err(StoreError::Full {
                    capacity: self.capacity,
                });
            }
        }
        shard.insert(key.clone(), fresh);
        Ok(Claim::Acquired(token))
    }

    fn complete_now(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_unix();
        let mut shard = self.shard(key);
        match shard.get_mut(key) {
            Some(record) if matches!(record.state, State::InProgress { token: held, .. } if held == *token) =>
            {
                record.state = State::Completed {
                    response,
                    expires_at: deadline(now, retention),
                };
                Ok(())
            }
            _ => Err(StoreError::LeaseLost),
        }
    }

    fn release_now(&self, key: &IdempotencyKey, token: &Token) {
        let mut shard = self.shard(key);
        if shard.get(key).is_some_and(
            |r| matches!(r.state, State::InProgress { token: held, .. } if held == *token),
        ) {
            shard.remove(key);
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        self.claim_now(key, fingerprint, lease)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
    ) -> Result<(), StoreError> {
        self.complete_now(key, token, response, retention)
    }

    async fn release(&self, key: &IdempotencyKey, token: &Token) -> Result<(), StoreError> {
        self.release_now(key, token);
        Ok(())
    }
}

/// When something that lasts `d` from `now` (a whole second read off a clock) is over.
///
/// `now` may stand for any instant of its second, so one second more keeps a 1 s lease from lapsing at
/// once, and with it a second run of a handler that is still running.
fn deadline(now: i64, d: Duration) -> i64 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
        .saturating_add(1)
}

/// A poisoned shard still holds consistent records: every mutation is a single assignment.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
