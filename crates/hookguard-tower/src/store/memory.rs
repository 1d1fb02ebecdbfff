//! [`MemoryStore`]: idempotency records in this process's memory, bounded in bytes.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use foldhash::fast::RandomState;
use hashbrown::{HashTable, hash_table};
use hookguard::Timestamp;

use super::{
    Claim, IdempotencyKey, IdempotencyStore, Record, StoreError, StoredResponse, Token, deadline,
};
use crate::metrics;

const DEFAULT_MAX_BYTES: usize = 64 << 20;
const SHARDS: usize = 32;
/// What a record costs besides its key and value: its bucket and allocation, its index entry and the key's
/// `Arc`.
const ENTRY_OVERHEAD: usize = 128;
/// What a small completed record costs against the bound (a short key, a short JSON answer), to size the
/// tables up front: growing a table of a few hundred thousand records on the request path costs more than
/// the records themselves.
const TYPICAL_RECORD: usize = 256;
/// The most records a shard's table is sized for up front; the table's memory is only touched as it fills.
const MAX_PRESIZE: usize = 1 << 14;
/// A shard over its bound evicts down to this fraction of the bound below it (see `keep_within_bound`).
const EVICT_BATCH: usize = 128;
/// How many records of each expiry queue are read ahead of a batch eviction (a batch is about 75 records of
/// 200 bytes at the default bound).
const EVICT_TOUCH: usize = 96;
/// How many expired records a call collects on its way, so expiry never needs a scan.
const EXPIRE_PER_CALL: usize = 4;
/// The largest of the blocks completed records' values are written into, one after another (see `Queue`).
const SEGMENT: usize = 32 << 10;
/// The smallest such block: a queue of few records gets small ones, so that one long-lived record cannot
/// keep a large block alive.
const MIN_SEGMENT: usize = 1 << 10;
/// A value longer than this gets an allocation of its own rather than the rest of a segment.
const OWN_BLOCK: usize = SEGMENT / 8;

/// Idempotency records in memory: sharded, bounded in bytes, expired by their deadlines.
///
/// The bound (default 64 MiB, [`with_max_bytes`](Self::with_max_bytes)) counts each record's key, its
/// encoded value ([`Record`]) and a fixed overhead per record. When a shard passes its share of the bound,
/// the completed records expiring soonest are evicted, a batch at a time (to 1/128 below the bound; counted
/// in `hookguard_idempotency_evictions_total`): the store never refuses a claim for lack of room. An evicted
/// record's event is handled again if it is redelivered, which a full store would otherwise have answered
/// with 503 for every new event. In-progress records are never evicted: while many handlers run at once
/// the store may exceed its bound ([`MemoryStats::over_bound`] counts those times).
///
/// A completed record's value is written into a segment (up to 32 KiB) shared with the records completed
/// around it under the same retention, which is freed once its last record goes. The memory held can therefore
/// pass the bound by the segments only partly in use, at most two per shard and retention (2 MiB).
///
/// Expired records are collected a few at a time on every call, from an index ordered by deadline, and by
/// [`purge_expired`](IdempotencyStore::purge_expired): no call scans the store.
///
/// Records live only as long as the process and are not shared between replicas: behind a load balancer,
/// use a shared backend instead, or every replica runs the handler once.
///
/// ```
/// use hookguard::Timestamp;
/// use hookguard_tower::store::{Claim, IdempotencyStore, MemoryStore, StoredResponse};
/// use http::StatusCode;
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let (key, now) = ("standard-webhooks:msg_1".into(), Timestamp::now());
/// let (lease, retention) = (Duration::from_secs(60), Duration::from_secs(3600));
/// let Claim::Acquired { token, .. } = store.claim(&key, [7; 32], lease, retention, now).await? else {
///     unreachable!("a fresh store holds no record");
/// };
/// let response = StoredResponse::new(StatusCode::OK, "done");
/// store.complete(&key, &token, response.clone(), retention, now).await?;
/// assert_eq!(store.claim(&key, [7; 32], lease, retention, now).await?, Claim::Completed(response));
/// # Ok::<_, hookguard_tower::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// foldhash, seeded per store: several times cheaper than SipHash on a short key, and the keys come
    /// from verified deliveries (a signed id, or the fingerprint of a signed body), so an attacker cannot
    /// choose them to collide without the signing secret.
    hasher: RandomState,
    max_bytes: usize,
    per_shard: usize,
    evictions: AtomicU64,
    over_bound: AtomicU64,
    corrupt: AtomicU64,
}

/// A snapshot of a [`MemoryStore`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Records held, expired ones not yet collected included.
    pub records: usize,
    /// Bytes counted against the bound.
    pub bytes: usize,
    /// Completed records evicted before their retention ran out, to stay within the bound.
    pub evictions: u64,
    /// Times a shard stayed over its share of the bound because only in-progress records were left.
    pub over_bound: u64,
    /// Records that did not decode and were treated as absent.
    pub corrupt: u64,
}

struct Shard {
    /// The records, found by their key's hash, computed once per call.
    table: HashTable<Bucket>,
    /// In-progress records, by the time they may be collected (lease deadline + retention), with their
    /// key's hash. Only the handlers running now are in it, so it stays small. It always holds
    /// [`NEVER`] besides: a map that empties frees its node, and with one handler at a time every claim
    /// would allocate a node and every complete free it.
    held: BTreeMap<Slot, u64>,
    /// Completed records, one queue per retention.
    completed: Vec<Queue>,
    bytes: usize,
    seq: u64,
}

/// A position in a deadline index: the deadline, then the record's sequence number, which is unique.
type Slot = (i64, u64);

/// The held index's permanent entry: due after every record, and numbered as no record is.
const NEVER: Slot = (i64::MAX, u64::MAX);

/// Completed records of one retention, in the order they completed: their deadlines only grow, so the
/// front is the soonest to expire, for expiry and eviction alike. A removed or rewritten record's place is
/// left behind and skipped when it reaches the front (no bucket holds its sequence number any more).
///
/// Their values are written one after another into shared segments rather than allocated one by one
/// (a segment is [`SEGMENT`] bytes once the queue holds `SEGMENT / TYPICAL_RECORD` places, smaller before).
/// Records of one retention leave in the order they came, so a segment is freed whole once its last record
/// goes, and neither completing nor evicting a record calls the allocator (on a full store, a `malloc` and
/// a `free` of a cold block per request). A segment outlives its records only while a replayed response
/// still holds its body.
struct Queue {
    retention: Duration,
    places: VecDeque<Queued>,
    /// The rest of the segment being filled.
    segment: BytesMut,
}

impl Queue {
    fn new(retention: Duration) -> Self {
        Self {
            retention,
            places: VecDeque::new(),
            segment: BytesMut::new(),
        }
    }

    /// `key` followed by what `write` puts (`len` bytes), as one value.
    fn value(
        &mut self,
        key: &[u8],
        len: usize,
        write: impl FnOnce(&mut BytesMut) -> Result<(), StoreError>,
    ) -> Result<Bytes, StoreError> {
        let need = key.len() + len;
        if need > OWN_BLOCK {
            let mut own = BytesMut::with_capacity(need);
            own.put_slice(key);
            write(&mut own)?;
            return Ok(own.freeze());
        }
        if self.segment.capacity() < need {
            let size = (self.places.len() * TYPICAL_RECORD).clamp(MIN_SEGMENT, SEGMENT);
            self.segment = BytesMut::with_capacity(size.max(need));
        }
        self.segment.put_slice(key);
        match write(&mut self.segment) {
            Ok(()) => Ok(self.segment.split().freeze()),
            Err(error) => {
                self.segment.clear();
                Err(error)
            }
        }
    }
}

/// A completed record's place in its expiry queue: its deadline, its sequence number and its key's hash,
/// so that expiry and eviction find the record without reading any key.
type Queued = (i64, u64, u64);

/// A table slot: the key's hash and the record's sequence number beside the record, so that a probe reads a
/// key only when the hash matches, and an index entry is matched by number alone.
struct Bucket {
    hash: u64,
    seq: u64,
    entry: Entry,
}

impl Bucket {
    fn holds(&self, hash: u64, key: &IdempotencyKey) -> bool {
        self.hash == hash && self.entry.key() == key.as_str().as_bytes()
    }
}

/// A record as this store keeps it. A completed one is its key followed by its [`Record`] encoding, in one
/// value (in its queue's segment). An in-progress one is boxed: only the handlers running now are in
/// progress.
enum Entry {
    Held(Box<Held>),
    Done { value: Bytes, key_len: usize },
}

struct Held {
    key: IdempotencyKey,
    fingerprint: [u8; 32],
    token: Token,
    lease_until: Timestamp,
    /// The retention asked for at claim, so that an extension moves the collection time too.
    retention: Duration,
    /// When it may be collected: its place in the held index, with the bucket's sequence number.
    collect_at: i64,
}

/// What an in-progress entry counts against the bound besides its key: the fields of an encoded record.
const HELD_SIZE: usize = 58;

impl Entry {
    fn key(&self) -> &[u8] {
        match self {
            Self::Held(held) => held.key.as_str().as_bytes(),
            Self::Done { value, key_len } => value.get(..*key_len).unwrap_or_default(),
        }
    }

    fn size(&self) -> usize {
        ENTRY_OVERHEAD
            + match self {
                Self::Held(held) => held.key.as_str().len() + HELD_SIZE,
                Self::Done { value, .. } => value.len(),
            }
    }
}

impl MemoryStore {
    /// A store bounded to 64 MiB.
    pub fn new() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_BYTES)
    }

    /// A store bounded to about `max_bytes` (each of its shards to an equal share).
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS)
                    .map(|_| Mutex::new(Shard::with_room_for(max_bytes / SHARDS / TYPICAL_RECORD)))
                    .collect(),
                hasher: RandomState::default(),
                max_bytes,
                per_shard: max_bytes.div_ceil(SHARDS),
                evictions: AtomicU64::new(0),
                over_bound: AtomicU64::new(0),
                corrupt: AtomicU64::new(0),
            }),
        }
    }

    /// The store's counters.
    pub fn stats(&self) -> MemoryStats {
        let (records, bytes) = self.inner.shards.iter().fold((0, 0), |(n, b), s| {
            let shard = lock(s);
            (n + shard.table.len(), b + shard.bytes)
        });
        MemoryStats {
            records,
            bytes,
            evictions: self.inner.evictions.load(Ordering::Relaxed),
            over_bound: self.inner.over_bound.load(Ordering::Relaxed),
            corrupt: self.inner.corrupt.load(Ordering::Relaxed),
        }
    }

    /// Puts `value` under `key` as it is, for tests of what a store does with a value it cannot decode.
    #[cfg(feature = "conformance")]
    #[doc(hidden)]
    pub fn insert_raw(&self, key: &IdempotencyKey, value: Bytes, now: Timestamp) {
        let (mut shard, hash) = self.shard(key);
        let expires_at = now + Duration::from_secs(3600);
        let written =
            shard.insert_done(hash, key, expires_at, Duration::ZERO, value.len(), |out| {
                out.put_slice(&value);
                Ok(())
            });
        written.expect("writing raw bytes cannot fail");
    }

    /// The shard holding `key`, locked, and the key's hash, which the shard's table is probed with.
    fn shard(&self, key: &IdempotencyKey) -> (MutexGuard<'_, Shard>, u64) {
        let hash = self.inner.hasher.hash_one(key);
        // Bits the table uses neither for its bucket index (the low ones) nor for its tags (the top seven),
        // so that the records of one shard still spread over all of its buckets. The mask keeps the index
        // below SHARDS, so the cast cannot truncate a meaningful value.
        #[allow(clippy::cast_possible_truncation)]
        let i = ((hash >> 40) as usize) & (SHARDS - 1);
        (lock(&self.inner.shards[i]), hash)
    }

    /// The record under `key`; a completed value that does not decode is dropped and counted.
    fn read(&self, shard: &mut Shard, hash: u64, key: &IdempotencyKey) -> Option<Record> {
        let value = match &shard.find(hash, key)?.entry {
            Entry::Held(held) => {
                return Some(Record::InProgress {
                    fingerprint: held.fingerprint,
                    token: held.token,
                    lease_until: held.lease_until,
                });
            }
            Entry::Done { value, key_len } => value.slice(*key_len..),
        };
        match Record::decode(value) {
            Ok(record) => Some(record),
            Err(error) => {
                tracing::warn!(%key, %error, "corrupt idempotency record; treating it as absent");
                self.inner.corrupt.fetch_add(1, Ordering::Relaxed);
                metrics::corrupt_record();
                shard.remove(hash, key);
                None
            }
        }
    }

    fn claim_now(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let (mut shard, hash) = self.shard(key);
        shard.expire(now, EXPIRE_PER_CALL);
        let took_over = match self.read(&mut shard, hash, key) {
            Some(Record::InProgress { lease_until, .. }) if now >= lease_until => true,
            Some(Record::Completed { expires_at, .. }) if now >= expires_at => false,
            Some(record) if *record.fingerprint() != fingerprint => return Ok(Claim::Mismatch),
            Some(Record::InProgress { lease_until, .. }) => {
                return Ok(Claim::in_progress(lease_until, now));
            }
            Some(Record::Completed { response, .. }) => return Ok(Claim::Completed(response)),
            None => false,
        };
        let token = Token::random();
        shard.hold(
            hash,
            key,
            fingerprint,
            token,
            deadline(now, lease),
            retention,
        );
        self.keep_within_bound(&mut shard);
        Ok(Claim::Acquired { token, took_over })
    }

    /// The fingerprint and retention of the in-progress record under `key` iff `token` holds it (lapsed
    /// or not).
    fn held(
        shard: &Shard,
        hash: u64,
        key: &IdempotencyKey,
        token: &Token,
    ) -> Result<([u8; 32], Duration), StoreError> {
        match shard.find(hash, key).map(|b| &b.entry) {
            Some(Entry::Held(held)) if held.token == *token => {
                Ok((held.fingerprint, held.retention))
            }
            _ => Err(StoreError::LeaseLost),
        }
    }

    fn complete_now(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (mut shard, hash) = self.shard(key);
        shard.expire(now, EXPIRE_PER_CALL);
        let (fingerprint, _) = Self::held(&shard, hash, key, token)?;
        let expires_at = deadline(now, retention);
        let record = Record::Completed {
            fingerprint,
            expires_at,
            response,
        };
        shard.insert_done(
            hash,
            key,
            expires_at,
            retention,
            record.encoded_len(),
            |out| record.encode_into(out),
        )?;
        self.keep_within_bound(&mut shard);
        Ok(())
    }

    fn extend_now(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (mut shard, hash) = self.shard(key);
        let (fingerprint, retention) = Self::held(&shard, hash, key, token)?;
        shard.hold(
            hash,
            key,
            fingerprint,
            *token,
            deadline(now, lease),
            retention,
        );
        Ok(())
    }

    fn release_now(&self, key: &IdempotencyKey, token: &Token) {
        let (mut shard, hash) = self.shard(key);
        if Self::held(&shard, hash, key, token).is_ok() {
            shard.remove(hash, key);
        }
    }

    /// Once the shard passes its share of the bound, evicts the completed records expiring soonest until
    /// it is an [`EVICT_BATCH`]th below it. Every record evicted is cold in the cache; evicting a batch at a
    /// time lets the processor overlap their misses, which costs less per record than one eviction per new
    /// record.
    fn keep_within_bound(&self, shard: &mut Shard) {
        let bound = self.inner.per_shard;
        if shard.bytes <= bound {
            return;
        }
        let target = bound - bound / EVICT_BATCH;
        shard.touch_eviction_candidates(EVICT_TOUCH);
        let mut evicted = 0;
        while shard.bytes > target {
            if !shard.pop_completed(i64::MAX) {
                if shard.bytes > bound {
                    self.inner.over_bound.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
            evicted += 1;
        }
        self.inner.evictions.fetch_add(evicted, Ordering::Relaxed);
        metrics::evicted(evicted);
    }
}

impl Shard {
    fn with_room_for(records: usize) -> Self {
        Self {
            table: HashTable::with_capacity(records.min(MAX_PRESIZE)),
            held: BTreeMap::from([(NEVER, 0)]),
            completed: Vec::new(),
            bytes: 0,
            seq: 0,
        }
    }

    fn find(&self, hash: u64, key: &IdempotencyKey) -> Option<&Bucket> {
        self.table.find(hash, |b| b.holds(hash, key))
    }

    /// (Re)writes `key` as in progress, held by `token` until `lease_until`.
    fn hold(
        &mut self,
        hash: u64,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        token: Token,
        lease_until: Timestamp,
        retention: Duration,
    ) {
        // Never collected before its holder could still complete it.
        let collect_at = (lease_until + retention).as_unix_millis();
        let entry = Entry::Held(Box::new(Held {
            key: key.clone(),
            fingerprint,
            token,
            lease_until,
            retention,
            collect_at,
        }));
        let seq = self.put(hash, key, entry);
        self.held.insert((collect_at, seq), hash);
    }

    /// Writes `key` as completed, its value being what `write` puts (`len` bytes), queued to expire at
    /// `expires_at`.
    fn insert_done(
        &mut self,
        hash: u64,
        key: &IdempotencyKey,
        expires_at: Timestamp,
        retention: Duration,
        len: usize,
        write: impl FnOnce(&mut BytesMut) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let i = match self.completed.iter().position(|q| q.retention == retention) {
            Some(i) => i,
            None => {
                self.completed.push(Queue::new(retention));
                self.completed.len() - 1
            }
        };
        let key_bytes = key.as_str().as_bytes();
        let value = self.completed[i].value(key_bytes, len, write)?;
        let entry = Entry::Done {
            value,
            key_len: key_bytes.len(),
        };
        let seq = self.put(hash, key, entry);
        self.completed[i]
            .places
            .push_back((expires_at.as_unix_millis(), seq, hash));
        Ok(())
    }

    /// Puts `entry` under `key` in place of what was there (in the same bucket), keeping the byte count and
    /// the held index; returns the record's new sequence number.
    fn put(&mut self, hash: u64, key: &IdempotencyKey, entry: Entry) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        self.bytes += entry.size();
        let bucket = Bucket { hash, seq, entry };
        match self.table.entry(hash, |b| b.holds(hash, key), |b| b.hash) {
            hash_table::Entry::Occupied(mut occupied) => {
                let old = std::mem::replace(occupied.get_mut(), bucket);
                self.forget(&old);
            }
            hash_table::Entry::Vacant(vacant) => {
                vacant.insert(bucket);
            }
        }
        seq
    }

    fn remove(&mut self, hash: u64, key: &IdempotencyKey) {
        if let Ok(found) = self.table.find_entry(hash, |b| b.holds(hash, key)) {
            let (bucket, _) = found.remove();
            self.forget(&bucket);
        }
    }

    /// Removes the record numbered `seq` under `hash`, if it is still there; whether it was.
    fn remove_numbered(&mut self, hash: u64, seq: u64) -> bool {
        let Ok(found) = self.table.find_entry(hash, |b| b.seq == seq) else {
            return false;
        };
        let (bucket, _) = found.remove();
        self.forget(&bucket);
        true
    }

    /// Takes a replaced or removed record out of the byte count and the held index; a completed record's
    /// queue place is skipped once it reaches the front.
    fn forget(&mut self, old: &Bucket) {
        self.bytes -= old.entry.size();
        if let Entry::Held(held) = &old.entry {
            self.held.remove(&(held.collect_at, old.seq));
        }
    }

    /// Reads the buckets of the first `n` records of each expiry queue before a batch is evicted. They are
    /// cold: reading them in a loop that does nothing else lets the processor wait for their cache misses
    /// together, where evicting them one by one waits for each in turn.
    fn touch_eviction_candidates(&self, n: usize) {
        for queue in &self.completed {
            for &(_, seq, hash) in queue.places.iter().take(n) {
                std::hint::black_box(self.table.find(hash, |b| b.seq == seq).is_some());
            }
        }
    }

    /// Removes the completed record that expires soonest if it expires by `by`; whether one was removed.
    /// Places left behind by records that are gone are dropped on the way.
    fn pop_completed(&mut self, by: i64) -> bool {
        loop {
            let Some((i, &(at, seq, hash))) = self
                .completed
                .iter()
                .enumerate()
                .filter_map(|(i, q)| Some((i, q.places.front()?)))
                .min_by_key(|&(_, &(at, seq, _))| (at, seq))
            else {
                return false;
            };
            if at > by {
                return false;
            }
            let places = &mut self.completed[i].places;
            places.pop_front();
            if places.is_empty() {
                // A queue lives only while it has records, however many retentions callers use.
                self.completed.swap_remove(i);
            }
            if self.remove_numbered(hash, seq) {
                return true;
            }
        }
    }

    /// Collects up to `limit` records whose deadline has passed; returns how many.
    fn expire(&mut self, now: Timestamp, limit: usize) -> usize {
        let now = now.as_unix_millis();
        let mut removed = 0;
        while removed < limit && self.pop_completed(now) {
            removed += 1;
        }
        while removed < limit {
            let Some((&(at, seq), &hash)) = self.held.first_key_value() else {
                break;
            };
            if at > now || (at, seq) == NEVER {
                break;
            }
            if !self.remove_numbered(hash, seq) {
                // An index entry without its record cannot be left at the front.
                self.held.remove(&(at, seq));
            }
            removed += 1;
        }
        removed
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
            .field("max_bytes", &self.inner.max_bytes)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        self.claim_now(key, fingerprint, lease, retention, now)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.complete_now(key, token, response, retention, now)
    }

    async fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.extend_now(key, token, lease, now)
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        self.release_now(key, token);
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        let mut removed = 0;
        for shard in &*self.inner.shards {
            if removed >= limit {
                break;
            }
            removed += lock(shard).expire(now, limit - removed);
        }
        Ok(removed)
    }
}

/// A poisoned shard still holds consistent records: every mutation completes before anything can panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    const LEASE: Duration = Duration::from_secs(60);
    const RETENTION: Duration = Duration::from_secs(3600);

    /// Claims and completes `key` with a `body`-byte answer, kept for `retention`.
    async fn handled(
        store: &MemoryStore,
        key: &IdempotencyKey,
        body: usize,
        retention: Duration,
        now: Timestamp,
    ) {
        let Claim::Acquired { token, .. } = store
            .claim(key, [1; 32], LEASE, retention, now)
            .await
            .unwrap()
        else {
            panic!("{key} not acquired");
        };
        let response = StoredResponse::new(StatusCode::OK, vec![b'x'; body]);
        store
            .complete(key, &token, response, retention, now)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn evicts_the_soonest_expiring_completed_records_and_keeps_in_progress_ones() {
        let store = MemoryStore::with_max_bytes(SHARDS * 4096);
        let t0 = Timestamp::from_unix_seconds(1_000);
        let running: Vec<IdempotencyKey> = (0..64).map(|i| format!("running-{i}").into()).collect();
        for key in &running {
            let claim = store
                .claim(key, [2; 32], LEASE, RETENTION, t0)
                .await
                .unwrap();
            assert!(matches!(claim, Claim::Acquired { .. }));
        }
        for i in 0..2_000 {
            let now = t0 + Duration::from_millis(i);
            handled(&store, &format!("done-{i}").into(), 512, RETENTION, now).await;
        }
        let stats = store.stats();
        assert!(stats.evictions > 1_000, "{stats:?}");
        assert!(stats.bytes <= SHARDS * 4096 + SHARDS * 700, "{stats:?}");
        // The newest completed record survived; the oldest went first.
        let newest = "done-1999".into();
        let later = t0 + Duration::from_secs(1);
        assert!(matches!(
            store
                .claim(&newest, [1; 32], LEASE, RETENTION, later)
                .await
                .unwrap(),
            Claim::Completed(_)
        ));
        assert!(matches!(
            store
                .claim(&"done-0".into(), [1; 32], LEASE, RETENTION, later)
                .await
                .unwrap(),
            Claim::Acquired {
                took_over: false,
                ..
            }
        ));
        for key in &running {
            assert!(
                matches!(
                    store
                        .claim(key, [2; 32], LEASE, RETENTION, later)
                        .await
                        .unwrap(),
                    Claim::InProgress { .. }
                ),
                "{key} was evicted while in progress"
            );
        }
    }

    #[tokio::test]
    async fn in_progress_records_may_pass_the_bound_and_are_counted() {
        let store = MemoryStore::with_max_bytes(SHARDS * 256);
        let now = Timestamp::from_unix_seconds(1_000);
        for i in 0..500 {
            let key = format!("running-{i}").into();
            let claim = store
                .claim(&key, [2; 32], LEASE, RETENTION, now)
                .await
                .unwrap();
            assert!(matches!(claim, Claim::Acquired { .. }), "{claim:?}");
        }
        let stats = store.stats();
        assert_eq!(stats.records, 500);
        assert!(stats.over_bound > 0 && stats.evictions == 0, "{stats:?}");
    }

    #[tokio::test]
    async fn a_retention_queue_goes_with_its_last_record() {
        let store = MemoryStore::new();
        let t0 = Timestamp::from_unix_seconds(1_000);
        for i in 1..=50 {
            handled(
                &store,
                &format!("k{i}").into(),
                10,
                Duration::from_secs(i),
                t0,
            )
            .await;
        }
        let queues = || -> usize {
            store
                .inner
                .shards
                .iter()
                .map(|s| lock(s).completed.len())
                .sum()
        };
        assert_eq!(queues(), 50, "one queue per retention and shard in use");
        let later = t0 + Duration::from_secs(25) + Duration::from_millis(500);
        assert_eq!(store.purge_expired(later, 1_000).await.unwrap(), 25);
        assert_eq!(queues(), 25, "the expired retentions' queues are gone");
        let last = t0 + Duration::from_secs(51);
        assert_eq!(store.purge_expired(last, 1_000).await.unwrap(), 25);
        assert_eq!(queues(), 0);
    }

    #[tokio::test]
    async fn expiry_is_collected_on_the_way_and_by_purge() {
        let store = MemoryStore::new();
        let t0 = Timestamp::from_unix_seconds(1_000);
        for i in 0..100 {
            handled(&store, &format!("k{i}").into(), 10, RETENTION, t0).await;
        }
        assert_eq!(store.stats().records, 100);
        let later = t0 + RETENTION + Duration::from_secs(1);
        assert_eq!(store.purge_expired(later, 30).await.unwrap(), 30);
        assert_eq!(store.stats().records, 70);
        assert_eq!(store.purge_expired(later, 1_000).await.unwrap(), 70);
        assert_eq!(
            store.stats(),
            MemoryStats {
                corrupt: 0,
                ..MemoryStats::default()
            }
        );
    }

    #[tokio::test]
    async fn a_lapsed_in_progress_record_is_kept_for_its_holder_until_lease_plus_retention() {
        let store = MemoryStore::new();
        let t0 = Timestamp::from_unix_seconds(1_000);
        let key = "slow".into();
        let Claim::Acquired { token, .. } = store
            .claim(&key, [1; 32], LEASE, RETENTION, t0)
            .await
            .unwrap()
        else {
            panic!("not acquired");
        };
        let lapsed = t0 + LEASE + Duration::from_secs(600);
        assert_eq!(store.purge_expired(lapsed, 10).await.unwrap(), 0);
        let response = StoredResponse::new(StatusCode::OK, "late");
        store
            .complete(&key, &token, response, RETENTION, lapsed)
            .await
            .unwrap();
        let gone = t0 + LEASE + RETENTION + Duration::from_secs(1);
        let other = "abandoned".into();
        store
            .claim(&other, [1; 32], LEASE, RETENTION, t0)
            .await
            .unwrap();
        assert_eq!(store.purge_expired(gone, 10).await.unwrap(), 1);
    }
}
