//! The admin router's operator page in headless Chromium, driven through WebDriver (chromedriver): log in, see
//! a dead letter with its last error, click Replay, see the queue change (the replay is delivered by a real
//! sender to a real receiver); a forged cross-site form post, and posts without the session's CSRF token,
//! are refused and change nothing. Screenshots land in `target/test-output/`.
//!
//! WebDriver is spoken directly over HTTP (reqwest and JSON): the handful of commands used here need no
//! client crate.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use common::{KilledGroup, TempDir, free_port, test_output_dir, tool};
use hookguard_sender::admin::{Admin, AdminToken, SESSION_COOKIE};
use hookguard_sender::{Endpoint, Event, JobId, JobState, MemoryQueue, Queue as _, Sender};
use serde_json::{Value, json};

const TOKEN: &str = "page-admin-token-0123456789";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session on a chromedriver of this test's own.
struct Browser {
    client: reqwest::Client,
    session: String,
}

impl Browser {
    async fn start(driver: &str, profile: &std::path::Path) -> Self {
        let client = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let value = call(
            &client,
            reqwest::Method::POST,
            &format!("{driver}/session"),
            Some(caps),
        )
        .await
        .expect("a WebDriver session");
        let session = format!(
            "{driver}/session/{}",
            value["sessionId"].as_str().expect("a session id")
        );
        Self { client, session }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        call(
            &self.client,
            method,
            &format!("{}{path}", self.session),
            body,
        )
        .await
        .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The element matching `css`, if there is one.
    async fn find(&self, css: &str) -> Option<String> {
        let res = call(
            &self.client,
            reqwest::Method::POST,
            &format!("{}/element", self.session),
            Some(json!({"using": "css selector", "value": css})),
        )
        .await;
        match res {
            Ok(v) => v[ELEMENT].as_str().map(str::to_owned),
            Err(e) if e.contains("no such element") => None,
            Err(e) => panic!("WebDriver find `{css}`: {e}"),
        }
    }

    /// The element matching `css`, waiting for it (after a click the old page may still be showing).
    async fn element(&self, css: &str) -> String {
        for _ in 0..200 {
            if let Some(e) = self.find(css).await {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no `{css}` on the page:\n{}", self.source().await)
    }

    async fn text(&self, css: &str) -> String {
        self.wait_text(css, |_| true).await
    }

    /// The text of `css` once it satisfies `pred`: after a click the browser may still show the old page for
    /// a moment (its elements then go stale), so this polls, within a hang guard.
    async fn wait_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut last = None;
        for _ in 0..200 {
            if let Some(e) = self.find(css).await {
                let url = format!("{}/element/{e}/text", self.session);
                if let Ok(v) = call(&self.client, reqwest::Method::GET, &url, None).await {
                    let text = v.as_str().unwrap_or_default().to_owned();
                    if pred(&text) {
                        return text;
                    }
                    last = Some(text);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "`{css}` never matched (last: {last:?}):\n{}",
            self.source().await
        );
    }

    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn cookie(&self, name: &str) -> Value {
        self.cmd(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await
    }

    async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("a PNG");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = test_output_dir().join(name);
        std::fs::write(&path, bytes).expect("write the screenshot");
        path
    }

    async fn quit(&self) {
        let _ = call(&self.client, reqwest::Method::DELETE, &self.session, None).await;
    }
}

/// One WebDriver command: its `value`, or the error it answered.
async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = client.request(method, url);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if status.is_success() {
        Ok(value["value"].clone())
    } else {
        Err(format!("{status}: {}", value["value"]))
    }
}

async fn dead(sender: &Sender, id: JobId) -> bool {
    matches!(
        sender.queue().get(id).await.unwrap().unwrap().state,
        JobState::Dead { .. }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_see_a_dead_letter_replay_it_and_refuse_forged_posts() {
    let Some(chromedriver) = tool("chromedriver", "operator_page") else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();

    // A receiver that answers 404 until it is fixed, and a sender with one dead letter.
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let receiver = axum::Router::new().fallback(move || {
        let ok = flag.load(Ordering::SeqCst);
        async move {
            if ok {
                (http::StatusCode::OK, "thanks")
            } else {
                (http::StatusCode::NOT_FOUND, "no <such> hook")
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let sender = Sender::builder(MemoryQueue::new())
        .endpoint(Endpoint::new("billing", rx, SECRET))
        .poll_interval(Duration::from_millis(20))
        .allow_private_networks()
        .build()
        .unwrap();
    let workers = sender.spawn();
    let job = sender
        .send(
            "billing",
            Event::new("invoice.paid", r#"{"invoice":"in_1"}"#).with_id("evt_page_1"),
        )
        .await
        .unwrap();
    for _ in 0..500 {
        if dead(&sender, job).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dead(&sender, job).await, "the 404 dead-letters the job");

    // The admin router, and an attacker's page on another origin (another port).
    let admin = Admin::new(&sender, AdminToken::new(TOKEN).unwrap())
        .base_path("/admin")
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = listener.local_addr().unwrap();
    let base = format!("http://{admin_addr}/admin");
    tokio::spawn(async move { axum::serve(listener, admin).await.unwrap() });
    let forged = format!(
        "<!doctype html><html><body><form method=\"post\" action=\"{base}/dead-letters/{job}/replay\">\
         <input type=\"hidden\" name=\"csrf\" value=\"guessed\"><button id=\"evil\" type=\"submit\">Win a prize\
         </button></form></body></html>"
    );
    let evil = axum::Router::new().fallback(move || {
        let page = forged.clone();
        async move { axum::response::Html(page) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, evil).await.unwrap() });

    // chromedriver, ours, on a free port.
    let port = free_port();
    let log_dir = TempDir::new("chromedriver");
    let _driver = KilledGroup::spawn(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                log_dir.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("start chromedriver");
    let driver = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..150 {
        if let Ok(status) = call(
            &probe,
            reqwest::Method::GET,
            &format!("{driver}/status"),
            None,
        )
        .await
            && status["ready"] == true
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "chromedriver did not start");
    let profile = TempDir::new("chromium-profile");
    let browser = Browser::start(&driver, profile.path()).await;

    // Without a session: the login form. A wrong token is refused.
    browser.goto(&format!("{base}/")).await;
    browser
        .type_into("#token", "not-the-token-0123456789")
        .await;
    browser.click("#login").await;
    browser.wait_text("#error", |t| t == "Wrong token.").await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#login").await;
    browser.wait_text("#notice", |t| t == "Logged in.").await;

    // The session cookie: HttpOnly, SameSite=Strict, scoped to the admin path.
    let cookie = browser.cookie(SESSION_COOKIE).await;
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert_eq!(cookie["path"], "/admin", "{cookie}");
    let session_id = cookie["value"].as_str().unwrap().to_owned();

    // The dead letter, with its last error (escaped: the receiver's `<such>` shows as text).
    assert_eq!(browser.text("#dead-count").await, "1");
    let row = browser.text(&format!("#dl-{job}")).await;
    assert!(
        row.contains("billing") && row.contains("evt_page_1"),
        "{row}"
    );
    assert!(row.contains("permanent-status:404"), "{row}");
    assert!(row.contains("HTTP 404 — no <such> hook"), "{row}");
    assert!(browser.find("such").await.is_none(), "no element injected");
    let endpoint_row = browser.text("#endpoint-billing").await;
    assert!(endpoint_row.contains("closed"), "{endpoint_row}");
    assert!(
        endpoint_row.contains("0 / 0 / 0 / 1"),
        "the endpoint's own depth (due / later / in flight / dead): {endpoint_row}"
    );
    let before = browser.screenshot("operator_page_dead_letter.png").await;

    // A forged cross-site post (another origin; the browser sends the cookie, Origin says where it came from).
    browser.goto(&evil_url).await;
    browser.click("#evil").await;
    browser
        .wait_text("#error", |t| t.contains("did not come from this page"))
        .await;
    assert!(dead(&sender, job).await, "the forged post changed nothing");

    // Posts with the session's cookie but without its CSRF token (or without Origin) are refused too.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = format!("http://{admin_addr}");
    for (origin, csrf) in [
        (Some(origin.as_str()), None),
        (Some(origin.as_str()), Some("0123")),
        (None, None),
        (Some("http://127.0.0.1:1"), None),
    ] {
        let mut req = client
            .post(format!("{base}/dead-letters/{job}/replay"))
            .header("cookie", format!("{SESSION_COOKIE}={session_id}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(csrf.map_or_else(String::new, |c| format!("csrf={c}")));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "origin {origin:?}, csrf {csrf:?}");
    }
    assert!(dead(&sender, job).await, "refused posts changed nothing");

    // The subscriber is fixed; the operator clicks Replay and watches the queue drain.
    healthy.store(true, Ordering::SeqCst);
    browser.goto(&format!("{base}/")).await;
    browser.click(&format!("#replay-{job}")).await;
    browser
        .wait_text("#notice", |t| t == "Dead letter replayed: it is due again.")
        .await;
    let mut delivered = false;
    for _ in 0..250 {
        browser.goto(&format!("{base}/")).await;
        if browser.find("#no-dead-letters").await.is_some()
            && browser.text("#dead-count").await == "0"
        {
            delivered = matches!(
                sender.queue().get(job).await.unwrap().unwrap().state,
                JobState::Delivered { .. }
            );
            if delivered {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        delivered,
        "the replay was delivered:\n{}",
        browser.source().await
    );
    let after = browser.screenshot("operator_page.png").await;
    println!("screenshots: {} and {}", before.display(), after.display());

    // Pause and resume the endpoint from the page; the queue's shared state follows.
    browser.click("#pause-billing").await;
    assert_eq!(browser.text("#notice").await, "Endpoint updated.");
    assert!(
        browser
            .text("#endpoint-billing")
            .await
            .contains("paused until")
    );
    let state = sender.queue().endpoint_state("billing").await.unwrap();
    assert!(
        state.paused_until.is_some_and(|p| p > sender.now()),
        "{state:?}"
    );
    browser.click("#resume-billing").await;
    browser
        .wait_text("#endpoint-billing", |t| t.contains("enabled"))
        .await;
    assert_eq!(
        sender
            .queue()
            .endpoint_state("billing")
            .await
            .unwrap()
            .paused_until,
        None
    );

    // Logging out ends the session on the server.
    browser.click("#logout").await;
    browser.wait_text("#login", |t| t == "Log in").await;
    let res = client
        .post(format!("{base}/dead-letters/{job}/replay"))
        .header("cookie", format!("{SESSION_COOKIE}={session_id}"))
        .header("origin", origin.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the old session is gone");
    browser.quit().await;
    workers.shutdown(Duration::from_secs(2)).await;
}
