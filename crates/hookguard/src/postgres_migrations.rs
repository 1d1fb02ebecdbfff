//! The PostgreSQL migration runner shared by hookguard's durable backends (feature `postgres`).
//!
//! `hookguard-tower`'s `PostgresStore` and `hookguard-sender`'s `PostgresQueue` each keep their tables in a
//! schema of their own and migrate it with this one runner, so the two can live side by side in one database
//! and behave alike when several replicas start at once. It lives in the core crate because that is the one
//! crate both durable crates depend on; it is behind the `postgres` feature, and nothing on the verify path
//! touches it, so the core's signing and verifying stay free of I/O and async.
//!
//! How it migrates a schema:
//! - numbered SQL files, applied in order; `{schema}` in their text stands for the schema's name;
//! - the applied versions are rows of `{schema}.migrations (version, name, applied_at)`, inside the schema
//!   (not a database-wide table such as sqlx's `_sqlx_migrations`, which two components would fight over);
//! - one transaction holds `pg_advisory_xact_lock(hashtext('hookguard:migrate:' || schema))` for the whole
//!   run, so replicas that start together migrate once between them and the others find the work done;
//!   a failed migration rolls back whole.
//!
//! ```no_run
//! use hookguard::postgres_migrations::{Migration, migrate};
//!
//! const MIGRATIONS: &[Migration] = &[Migration {
//!     version: 1,
//!     name: "items",
//!     sql: "CREATE TABLE IF NOT EXISTS {schema}.items (id bigint PRIMARY KEY)",
//! }];
//!
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
//! migrate(&pool, "my-component", "my_schema", MIGRATIONS).await?;
//! # Ok(()) }
//! ```

use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;

/// One numbered migration: SQL run in one transaction with the others of its run, `{schema}` replaced by the
/// schema's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The version, from 1 up; applied in this order, each once.
    pub version: i32,
    /// A short name, recorded beside the version.
    pub name: &'static str,
    /// The statements (several, separated by `;`, may be given).
    pub sql: &'static str,
}

/// Whether `name` may be spliced into SQL as a schema name: a plain lower-case identifier (ASCII letters,
/// digits and `_`, not starting with a digit, 1–63 bytes), which PostgreSQL never needs quoted.
#[must_use]
pub fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Creates `schema` if needed and applies the `migrations` it has not had yet, in version order, under the
/// schema's advisory lock; safe to run from several replicas at once. `component` names the caller in logs
/// and errors (`idempotency-store`, `queue`).
///
/// # Errors
/// [`sqlx::Error::Configuration`] if `schema` is not a [plain identifier](is_plain_identifier); otherwise the
/// database's error, with nothing applied.
pub async fn migrate(
    pool: &PgPool,
    component: &str,
    schema: &str,
    migrations: &[Migration],
) -> Result<(), sqlx::Error> {
    if !is_plain_identifier(schema) {
        return Err(sqlx::Error::Configuration(
            format!("{component}: {schema:?} is not a plain lower-case schema name").into(),
        ));
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('hookguard:migrate:' || $1))")
        .bind(schema)
        .execute(&mut *tx)
        .await?;
    let setup = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; \
         CREATE TABLE IF NOT EXISTS {schema}.migrations (version integer PRIMARY KEY, \
         name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    );
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut *tx)
        .await?;
    let current: i32 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT coalesce(max(version), 0) FROM {schema}.migrations"
    )))
    .fetch_one(&mut *tx)
    .await?;
    let mut pending: Vec<&Migration> = migrations.iter().filter(|m| m.version > current).collect();
    pending.sort_by_key(|m| m.version);
    for m in pending {
        sqlx::raw_sql(AssertSqlSafe(m.sql.replace("{schema}", schema)))
            .execute(&mut *tx)
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {schema}.migrations (version, name) VALUES ($1, $2)"
        )))
        .bind(m.version)
        .bind(m.name)
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            component,
            schema,
            version = m.version,
            name = m.name,
            "applied migration"
        );
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::is_plain_identifier;

    #[test]
    fn only_plain_identifiers_pass() {
        for good in ["hookguard_queue", "a", "_x1", &"x".repeat(63)] {
            assert!(is_plain_identifier(good), "{good:?}");
        }
        for bad in [
            "",
            "Upper",
            "1st",
            "a;drop",
            "a.b",
            "a-b",
            "é",
            &"x".repeat(64),
        ] {
            assert!(!is_plain_identifier(bad), "{bad:?}");
        }
    }
}
