//! The connections [`PostgresStore`](super::PostgresStore) runs its own calls on.
//!
//! sqlx's pool pings every connection on its way back into the pool (`Floating::return_to_pool` in
//! sqlx-core 0.9, with no option to skip it): a second round trip after each one-statement call, which cost
//! the store about a quarter of its claims per second against pgbench's one round trip per statement
//! (BENCHMARKS.md §3h). A deadpool of plain `PgConnection`s returns a connection as it is. What the ping
//! guards against is a connection left in an unknown state by a call cut short (a timeout, a dropped
//! future, a broken socket); here such a connection is never reused: [`Connections::run`] marks it settled
//! only once the server has answered, and [`Manager::recycle`] discards any other.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// How long a connection may sit idle before it is pinged on its way out again: one in use within the
/// last second is almost always alive, and one that died fails its call and is discarded.
pub(super) const IDLE_PING: Duration = Duration::from_secs(1);

/// A connection, and whether the last call on it ran to the server's answer.
#[derive(Debug)]
pub(super) struct Connection {
    raw: PgConnection,
    settled: bool,
}

/// Opens connections with the pool's options, and refuses to hand out again one a call left unsettled.
#[derive(Debug)]
pub(super) struct Manager {
    options: Arc<PgConnectOptions>,
}

impl managed::Manager for Manager {
    type Type = Connection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Connection, sqlx::Error> {
        let raw = PgConnection::connect_with(&self.options).await?;
        Ok(Connection { raw, settled: true })
    }

    async fn recycle(
        &self,
        conn: &mut Connection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if !conn.settled {
            return Err(RecycleError::message(
                "a call on the connection was cut short",
            ));
        }
        if metrics.last_used() >= IDLE_PING {
            conn.raw.ping().await?;
        }
        Ok(())
    }
}

/// The store's connections: up to a maximum, opened on first use.
#[derive(Clone, Debug)]
pub(super) struct Connections(managed::Pool<Manager>);

impl Connections {
    /// Up to `max` connections opened with `options`.
    pub(super) fn new(options: Arc<PgConnectOptions>, max: usize) -> Self {
        let pool = managed::Pool::builder(Manager { options })
            .max_size(max.max(1))
            .build()
            // Building fails only for timeouts without a runtime; the store times its calls itself.
            .unwrap_or_else(|_| unreachable!("a pool without timeouts needs no runtime"));
        Self(pool)
    }

    /// Changes the maximum number of connections.
    pub(super) fn resize(&self, max: usize) {
        self.0.resize(max.max(1));
    }

    /// Runs `call` on a connection, waiting for one to be free. The connection goes back for reuse only
    /// if the call returned and the server answered it, with rows or with an error of its own.
    pub(super) async fn run<T>(
        &self,
        call: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, RunError> {
        let mut conn = self.0.get().await.map_err(RunError::Connect)?;
        conn.settled = false;
        let result = call(&mut conn.raw).await;
        conn.settled = matches!(result, Ok(_) | Err(sqlx::Error::Database(_)));
        result.map_err(RunError::Call)
    }
}

/// Why [`Connections::run`] failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunError {
    /// No connection could be had.
    #[error("could not connect: {0}")]
    Connect(managed::PoolError<sqlx::Error>),
    /// The statement failed.
    #[error(transparent)]
    Call(sqlx::Error),
}
