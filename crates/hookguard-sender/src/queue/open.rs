//! [`BoxedQueue::open`]: the queue a URL names, for programs that choose their backend at run time.

// The `postgres` and `redis` features arrive with the durable queues; until this crate declares them, their
// cfgs are unknown to `check-cfg` (a warning, so `clippy -D warnings` failed). Remove with those features.
#![allow(unexpected_cfgs)]

use super::{BoxedQueue, MemoryQueue, QueueError};

impl BoxedQueue {
    /// Opens the queue `url` names, ready to use:
    ///
    /// | URL | queue | feature |
    /// |---|---|---|
    /// | `memory:` | a new [`MemoryQueue`] (this process only, lost when it exits) | — |
    /// | `postgres://…`, `postgresql://…` | [`PostgresQueue`](super::PostgresQueue), migrated | `postgres` |
    /// | `redis://…`, `rediss://…` | [`RedisQueue`](super::RedisQueue) | `redis` |
    ///
    /// `namespace` is the PostgreSQL schema or the Redis key prefix (`None`: the backend's default,
    /// `hookguard_queue` or `hookguard:queue`); every process sharing one queue must name the same one.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use hookguard_sender::BoxedQueue;
    /// let queue = BoxedQueue::open("memory:", None).await?;
    /// assert!(BoxedQueue::open("mysql://localhost/db", None).await.is_err());
    /// # Ok::<(), hookguard_sender::QueueError>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`QueueError::InvalidConfig`] for a URL this build cannot open (unknown scheme, or a backend whose
    /// feature is off) or a bad namespace; [`QueueError::Unavailable`] if the server cannot be reached.
    pub async fn open(url: &str, namespace: Option<&str>) -> Result<Self, QueueError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        match scheme {
            "memory" => Ok(Self::new(MemoryQueue::new())),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let mut queue = super::PostgresQueue::connect(url).await?;
                if let Some(schema) = namespace {
                    queue = queue.schema(schema)?;
                }
                queue.migrate().await?;
                Ok(Self::new(queue))
            }
            #[cfg(feature = "redis")]
            "redis" | "rediss" => {
                let mut queue = super::RedisQueue::connect(url).await?;
                if let Some(prefix) = namespace {
                    queue = queue.prefix(prefix)?;
                }
                Ok(Self::new(queue))
            }
            #[cfg(not(feature = "postgres"))]
            "postgres" | "postgresql" => Err(feature_off(scheme)),
            #[cfg(not(feature = "redis"))]
            "redis" | "rediss" => Err(feature_off(scheme)),
            _ => {
                let _ = namespace;
                Err(QueueError::InvalidConfig(format!(
                    "unknown queue URL scheme `{scheme}`: expected memory:, postgres://… or redis://…"
                )))
            }
        }
    }
}

/// The URL names a backend this build was compiled without. Only the scheme is shown: a URL may hold a password.
#[cfg(not(all(feature = "postgres", feature = "redis")))]
fn feature_off(scheme: &str) -> QueueError {
    QueueError::InvalidConfig(format!(
        "this build has no `{scheme}` queue: enable the hookguard-sender feature for it"
    ))
}
