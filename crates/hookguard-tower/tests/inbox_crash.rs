//! The inbox under `kill -9`: a receiver process is killed on the line it prints once the handler's effect
//! is written, before or after the commit; a fresh receiver then gets the redelivery. Killed before the
//! commit, the effect was rolled back with the claim, and once the lease lapses the redelivery writes it:
//! one effect. Killed after, the redelivery replays: one effect. The receiver is this test binary run
//! again as `crash_child` (ignored when run directly). Needs `DATABASE_URL`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use hookguard_tower::WebhookLayer;
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::inbox::Inbox;
use hookguard_tower::store::{PostgresStore, StoredResponse};
use http::StatusCode;
use sqlx::AssertSqlSafe;

const BODY: &[u8] = br#"{"type":"order.placed"}"#;
/// Short, so the redelivery after a crash before the commit does not wait long for the lease to lapse.
const LEASE: Duration = Duration::from_secs(2);

fn database_url() -> Option<String> {
    common::backend_url("DATABASE_URL", "inbox_crash")
}

#[derive(Clone)]
struct Child_ {
    schema: String,
    /// `before-commit` or `after-commit`: where the handler stops after printing `effect-written`.
    hang: Option<String>,
}

async fn handler(
    State(app): State<Child_>,
    VerifiedWebhook(verified): VerifiedWebhook,
    Inbox(mut tx): Inbox,
) -> (StatusCode, &'static str) {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {}.effects (event_id) VALUES ($1)",
        app.schema
    )))
    .bind(verified.id().unwrap_or_default())
    .execute(tx.connection())
    .await
    .expect("write the effect");
    if app.hang.as_deref() == Some("before-commit") {
        println!("effect-written");
        std::future::pending::<()>().await;
    }
    let response = StoredResponse::new(StatusCode::CREATED, "order created");
    if tx.commit(&response).await.is_err() {
        return (StatusCode::CONFLICT, "lease lost");
    }
    if app.hang.as_deref() == Some("after-commit") {
        println!("effect-written");
        std::future::pending::<()>().await;
    }
    (StatusCode::CREATED, "order created")
}

/// The receiver process: serves on a free port, prints `listening <port>`, and hangs where told.
#[test]
#[ignore = "the child process of the crash tests, run by them"]
fn crash_child() {
    let (Ok(url), Ok(schema)) = (
        std::env::var("DATABASE_URL"),
        std::env::var("HOOKGUARD_CRASH_SCHEMA"),
    ) else {
        return;
    };
    let hang = std::env::var("HOOKGUARD_CRASH_HANG").ok();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store = PostgresStore::connect(&url)
            .await
            .unwrap()
            .schema(&schema)
            .unwrap();
        let layer = WebhookLayer::new(common::verifier())
            .idempotency(store)
            .lease(LEASE);
        let app = Router::new()
            .route("/orders", post(handler))
            .with_state(Child_ { schema, hang })
            .layer(layer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening {}", listener.local_addr().unwrap().port());
        axum::serve(listener, app).await.unwrap();
    });
}

/// A receiver child and the lines it prints.
struct Receiver {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    port: u16,
}

impl Receiver {
    fn start(url: &str, schema: &str, hang: Option<&str>) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("DATABASE_URL", url)
            .env("HOOKGUARD_CRASH_SCHEMA", schema)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(hang) = hang {
            command.env("HOOKGUARD_CRASH_HANG", hang);
        }
        let mut child = command.spawn().expect("start the receiver");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let port = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the receiver starts");
            // libtest's own "test crash_child ... " may stand before it on the line.
            if let Some((_, port)) = line.split_once("listening ") {
                break port.trim().parse().unwrap();
            }
        };
        Self { child, lines, port }
    }

    /// Waits for `line` on the child's output.
    fn wait_for(&self, line: &str) {
        loop {
            let got = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the line comes");
            if got.ends_with(line) {
                return;
            }
        }
    }

    fn kill(mut self) {
        // SIGKILL: no destructor, no rollback sent by the process; PostgreSQL sees the connection drop.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn effects(store: &PostgresStore, schema: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.effects"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// Delivers like a sender: again and again until the answer is not 409, within a bound.
async fn deliver_until_done(port: u16, id: &str) -> reqwest::Response {
    let started = Instant::now();
    loop {
        let res = common::post_with(
            format!("127.0.0.1:{port}").parse().unwrap(),
            "/orders",
            common::signed(id, BODY),
            BODY,
        )
        .await;
        if res.status() != 409 || started.elapsed() > Duration::from_secs(30) {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn crash_at(hang: &str) -> Option<(i64, reqwest::Response)> {
    let url = database_url()?;
    let hex = common::unique_hex(8);
    let schema = format!("hookguard_crash_{hex}");
    let store = PostgresStore::connect(&url)
        .await
        .unwrap()
        .schema(&schema)
        .unwrap();
    store.migrate().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {schema}.effects (event_id text NOT NULL)"
    )))
    .execute(store.pool())
    .await
    .unwrap();

    let doomed = Receiver::start(&url, &schema, Some(hang));
    let port = doomed.port;
    let request = tokio::spawn(async move {
        common::post_with(
            format!("127.0.0.1:{port}").parse().unwrap(),
            "/orders",
            common::signed("evt_crash", BODY),
            BODY,
        )
        .await
    });
    let doomed = tokio::task::spawn_blocking(move || {
        doomed.wait_for("effect-written");
        doomed
    })
    .await
    .unwrap();
    doomed.kill();
    request.abort();

    let fresh = Receiver::start(&url, &schema, None);
    let res = deliver_until_done(fresh.port, "evt_crash").await;
    let count = effects(&store, &schema).await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(store.pool())
        .await
        .unwrap();
    Some((count, res))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_commit_the_redelivery_writes_the_effect_once() {
    let Some((effects, res)) = crash_at("before-commit").await else {
        return;
    };
    assert_eq!(res.status(), 201);
    assert!(!res.headers().contains_key("idempotent-replayed"));
    assert_eq!(effects, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_commit_the_redelivery_replays() {
    let Some((effects, res)) = crash_at("after-commit").await else {
        return;
    };
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(effects, 1);
}
