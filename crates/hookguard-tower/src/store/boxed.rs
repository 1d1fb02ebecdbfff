//! [`BoxedStore`]: a type-erased [`IdempotencyStore`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hookguard::Timestamp;

use super::{Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse, Token};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe mirror of [`IdempotencyStore`].
trait DynStore: Send + Sync + 'static {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn extend<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        lease: Duration,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn release<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn purge_expired(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>>;

    // Owning variants for the layer's state machine: one box per call instead of a box around a box.
    fn claim_owned(
        self: Arc<Self>,
        key: IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<Claim, StoreError>>;

    fn complete_owned(
        self: Arc<Self>,
        key: IdempotencyKey,
        token: Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    fn release_owned(
        self: Arc<Self>,
        key: IdempotencyKey,
        token: Token,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<S: IdempotencyStore + fmt::Debug> DynStore for S {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(IdempotencyStore::claim(
            self,
            key,
            fingerprint,
            lease,
            retention,
            now,
        ))
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(IdempotencyStore::complete(
            self, key, token, response, retention, now,
        ))
    }

    fn extend<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        lease: Duration,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(IdempotencyStore::extend(self, key, token, lease, now))
    }

    fn release<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(IdempotencyStore::release(self, key, token, now))
    }

    fn purge_expired(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(IdempotencyStore::purge_expired(self, now, limit))
    }

    fn claim_owned(
        self: Arc<Self>,
        key: IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<Claim, StoreError>> {
        Box::pin(async move {
            IdempotencyStore::claim(&*self, &key, fingerprint, lease, retention, now).await
        })
    }

    fn complete_owned(
        self: Arc<Self>,
        key: IdempotencyKey,
        token: Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move {
            IdempotencyStore::complete(&*self, &key, &token, response, retention, now).await
        })
    }

    fn release_owned(
        self: Arc<Self>,
        key: IdempotencyKey,
        token: Token,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move { IdempotencyStore::release(&*self, &key, &token, now).await })
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Any [`IdempotencyStore`] behind one type, for choosing a backend at run time. Cloning is cheap.
///
/// ```
/// use hookguard_tower::store::{BoxedStore, MemoryStore};
///
/// let store = BoxedStore::new(MemoryStore::new());
/// assert!(format!("{store:?}").starts_with("BoxedStore(MemoryStore"));
/// ```
#[derive(Clone)]
pub struct BoxedStore(Arc<dyn DynStore>);

impl BoxedStore {
    /// Erases the store's type. A `BoxedStore` is not boxed again.
    pub fn new<S: IdempotencyStore + fmt::Debug>(store: S) -> Self {
        let any: &dyn std::any::Any = &store;
        if let Some(boxed) = any.downcast_ref::<Self>() {
            return boxed.clone();
        }
        Self(Arc::new(store))
    }
}

impl BoxedStore {
    pub(crate) fn claim_owned(
        &self,
        key: IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<Claim, StoreError>> {
        Arc::clone(&self.0).claim_owned(key, fingerprint, lease, retention, now)
    }

    pub(crate) fn complete_owned(
        &self,
        key: IdempotencyKey,
        token: Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Arc::clone(&self.0).complete_owned(key, token, response, retention, now)
    }

    pub(crate) fn release_owned(
        &self,
        key: IdempotencyKey,
        token: Token,
        now: Timestamp,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Arc::clone(&self.0).release_owned(key, token, now)
    }
}

impl fmt::Debug for BoxedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxedStore(")?;
        self.0.describe(f)?;
        f.write_str(")")
    }
}

impl IdempotencyStore for BoxedStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
        retention: Duration,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        self.0.claim(key, fingerprint, lease, retention, now).await
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.complete(key, token, response, retention, now).await
    }

    async fn extend(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.extend(key, token, lease, now).await
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.release(key, token, now).await
    }

    async fn purge_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.0.purge_expired(now, limit).await
    }
}
