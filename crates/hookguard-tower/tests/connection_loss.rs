//! Losing the store's connection mid-service: a private `redis-server` this test starts on a free port is
//! stopped and started again; for PostgreSQL only this test's own sessions are terminated (by
//! `application_name`). While the store is gone the layer answers 503 (fail-closed) or runs the handler
//! (fail-open); once it is back the next request is deduplicated again, and no claim stays stuck past its
//! lease. Needs `redis-server` on the PATH and `DATABASE_URL`; never touches the shared services' other
//! sessions.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Calls, app, deliver, serve};
use hookguard_tower::store::{PostgresStore, RedisStore};
use hookguard_tower::{OnStoreError, WebhookLayer};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const BODY: &[u8] = br#"{"type":"invoice.paid"}"#;

fn required() -> bool {
    std::env::var("HOOKGUARD_REQUIRE_BACKENDS").as_deref() == Ok("1")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of this test's own, on `port`, keeping nothing on disk.
struct PrivateRedis(Child);

impl PrivateRedis {
    fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(_) if !required() => {
                eprintln!("connection_loss: skipped, no redis-server on the PATH");
                return None;
            }
            Err(error) => {
                panic!("HOOKGUARD_REQUIRE_BACKENDS=1 but redis-server cannot start: {error}")
            }
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self(child))
    }

    fn stop(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Delivers until the answer is not 503, within a bound (the store reconnecting), and returns it.
async fn until_served(addr: std::net::SocketAddr, id: &str) -> reqwest::Response {
    let started = Instant::now();
    loop {
        let res = deliver(addr, "/ok", id, BODY).await;
        if res.status() != 503 || started.elapsed() > Duration::from_secs(30) {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_redis_restart_gives_503s_then_deduplication_again() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let store = RedisStore::connect(&url)
        .await
        .unwrap()
        .timeout(Duration::from_millis(300));
    let (calls, open_calls) = (Calls::default(), Calls::default());
    let closed = serve(app(
        WebhookLayer::new(common::verifier()).idempotency(store.clone()),
        &calls,
    ))
    .await;
    let open = serve(app(
        WebhookLayer::new(common::verifier())
            .idempotency(store)
            .on_store_error(OnStoreError::FailOpen),
        &open_calls,
    ))
    .await;
    assert_eq!(
        deliver(closed, "/ok", "msg_before", BODY).await.status(),
        201
    );

    redis.stop();
    assert_eq!(deliver(closed, "/ok", "msg_down", BODY).await.status(), 503);
    assert_eq!(calls.get(), 1, "fail-closed: the handler did not run");
    assert_eq!(
        deliver(open, "/ok", "msg_down_open", BODY).await.status(),
        201
    );
    assert_eq!(
        open_calls.get(),
        1,
        "fail-open: the handler ran without deduplication"
    );

    // Back on the same port, empty (it kept nothing): the manager reconnects by itself.
    let _redis = PrivateRedis::start(port).unwrap();
    assert_eq!(until_served(closed, "msg_after").await.status(), 201);
    let again = deliver(closed, "/ok", "msg_after", BODY).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    // The delivery refused while Redis was down holds no claim: it runs now.
    assert_eq!(until_served(closed, "msg_down").await.status(), 201);
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn terminated_postgres_sessions_give_503s_then_deduplication_again() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(
            !required(),
            "HOOKGUARD_REQUIRE_BACKENDS=1 but DATABASE_URL is unset"
        );
        eprintln!("connection_loss: skipped, DATABASE_URL is unset");
        return;
    };
    let hex = common::unique_hex(6);
    let (schema, name) = (
        format!("hookguard_loss_{hex}"),
        format!("hookguard-loss-{hex}"),
    );
    let options: PgConnectOptions = url.parse().unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options.clone().application_name(&name))
        .await
        .unwrap();
    let store = PostgresStore::new(pool).schema(&schema).unwrap();
    store.migrate().await.unwrap();
    let calls = Calls::default();
    let addr = serve(app(
        WebhookLayer::new(common::verifier()).idempotency(store.clone()),
        &calls,
    ))
    .await;
    assert_eq!(
        deliver(addr, "/ok", "msg_pg_before", BODY).await.status(),
        201
    );

    // Terminate this test's sessions only, from a connection of another name.
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.application_name("hookguard-loss-admin"))
        .await
        .unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(
        !killed.is_empty() && killed.iter().all(|k| *k),
        "{killed:?}"
    );

    // The pool notices the dead sessions on use: at most a 503 or two, then served and deduplicated.
    let res = until_served(addr, "msg_pg_after").await;
    assert_eq!(res.status(), 201);
    let again = deliver(addr, "/ok", "msg_pg_after", BODY).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let before = deliver(addr, "/ok", "msg_pg_before", BODY).await;
    assert_eq!(
        before.headers()["idempotent-replayed"],
        "true",
        "the record survived"
    );
    assert_eq!(calls.get(), 2);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}
