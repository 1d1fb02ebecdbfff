//! `--store` and `--queue`: the backend a URL names, opened at run time behind `BoxedStore`/`BoxedQueue`.
//!
//! The in-memory defaults need nothing installed. Redis and PostgreSQL stores need the root package's `redis`
//! and `postgres` features (on with `--all-features`); queues open through `BoxedQueue::open`, which says in
//! its error when this build has no such backend.

use hookguard_sender::{BoxedQueue, QueueError};
use hookguard_tower::store::{BoxedStore, MemoryStore};

/// Why a backend could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The URL names a backend this build cannot open: a usage error (exit 2).
    Unsupported(String),
    /// The backend is there but could not be reached or set up (exit 1).
    Failed(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsupported(m) | Self::Failed(m) => f.write_str(m),
        }
    }
}

/// `url` without its user-info (it may hold a password), for printing.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn scheme(url: &str) -> &str {
    url.split_once(':').map_or(url, |(s, _)| s)
}

/// The receiver's idempotency store for `url`.
pub(crate) async fn store(url: &str) -> Result<BoxedStore, OpenError> {
    match scheme(url) {
        "memory" => Ok(BoxedStore::new(MemoryStore::new())),
        "redis" | "rediss" => redis_store(url).await,
        "postgres" | "postgresql" => postgres_store(url).await,
        other => Err(OpenError::Unsupported(format!(
            "--store: unknown scheme `{other}`: expected memory:, redis://… or postgres://…"
        ))),
    }
}

#[cfg(feature = "redis")]
async fn redis_store(url: &str) -> Result<BoxedStore, OpenError> {
    // The store's errors never quote the URL (it may hold a password).
    let store = hookguard_tower::store::RedisStore::connect(url)
        .await
        .map_err(|e| OpenError::Failed(format!("--store: {e}")))?;
    Ok(BoxedStore::new(store))
}

#[cfg(not(feature = "redis"))]
async fn redis_store(_url: &str) -> Result<BoxedStore, OpenError> {
    Err(OpenError::Unsupported(
        "--store: this build has no Redis store: run with `--features redis`".into(),
    ))
}

#[cfg(feature = "postgres")]
async fn postgres_store(url: &str) -> Result<BoxedStore, OpenError> {
    let store = hookguard_tower::store::PostgresStore::connect(url)
        .await
        .map_err(|e| OpenError::Failed(format!("--store: {e}")))?;
    store
        .migrate()
        .await
        .map_err(|e| OpenError::Failed(format!("--store: migrating: {e}")))?;
    Ok(BoxedStore::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_store(_url: &str) -> Result<BoxedStore, OpenError> {
    Err(OpenError::Unsupported(
        "--store: this build has no PostgreSQL store: run with `--features postgres`".into(),
    ))
}

/// The sender's queue for `url`, in the backend's default namespace.
pub(crate) async fn queue(url: &str) -> Result<BoxedQueue, OpenError> {
    BoxedQueue::open(url, None).await.map_err(|e| match e {
        QueueError::InvalidConfig(_) => OpenError::Unsupported(format!("--queue: {e}")),
        other => OpenError::Failed(format!("--queue: {}", chain(&other))),
    })
}

/// An error with its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
