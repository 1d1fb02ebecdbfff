//! [`BoxedStore`]: a type-erased [`IdempotencyStore`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{Claim, IdempotencyKey, IdempotencyStore, StoreError, StoredResponse, Token};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe mirror of [`IdempotencyStore`].
trait DynStore: Send + Sync + 'static {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        response: StoredResponse,
        retention: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn release<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<S: IdempotencyStore + fmt::Debug> DynStore for S {
    fn claim<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(IdempotencyStore::claim(self, key, fingerprint, lease))
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
        response: StoredResponse,
        retention: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(IdempotencyStore::complete(
            self, key, token, response, retention,
        ))
    }

    fn release<'a>(
        &'a self,
        key: &'a IdempotencyKey,
        token: &'a Token,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(IdempotencyStore::release(self, key, token))
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
    ) -> Result<Claim, StoreError> {
        self.0.claim(key, fingerprint, lease).await
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        token: &Token,
        response: StoredResponse,
        retention: Duration,
    ) -> Result<(), StoreError> {
        self.0.complete(key, token, response, retention).await
    }

    async fn release(&self, key: &IdempotencyKey, token: &Token) -> Result<(), StoreError> {
        self.0.release(key, token).await
    }
}
