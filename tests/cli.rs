//! The `hookguard` command-line example: `sign` prints headers that `verify` accepts for every scheme, `verify`
//! exits 0/1/2 for verified/refused/usage errors, `--body-file -` reads stdin, and several `--secret`s rotate;
//! over real HTTP, `send` into `listen` for every scheme, `send`'s retries and exit code, and `dlq
//! list|replay|purge` against a served admin router.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The example's binary, built once by the cargo that runs the tests. The flags match the workspace's test
/// command (`cargo test --workspace --all-features`), so under it this build finds everything up to date.
fn cli() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "-q",
            "--workspace",
            "--all-features",
            "--example",
            "hookguard",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the example failed");
        profile_dir
            .join("examples")
            .join(format!("hookguard{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Runs the CLI with `args`, feeding `stdin`.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    run_env(args, stdin, &[])
}

/// Runs the CLI with `args` and extra environment variables, feeding `stdin`.
fn run_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(cli())
        .args(args)
        .env_remove("HOOKGUARD_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    // The CLI may exit before reading standard input (usage errors): a broken pipe is fine.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("CLI output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

/// `sign` with the body on stdin; the printed headers as `--header` arguments.
fn sign(scheme: &str, secrets: &[&str], body: &[u8], extra: &[&str]) -> Vec<String> {
    let mut args = vec!["sign", "--scheme", scheme, "--body-file", "-"];
    for secret in secrets {
        args.extend(["--secret", secret]);
    }
    args.extend(extra);
    let output = run(&args, body);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output).lines().map(str::to_owned).collect()
}

fn verify(
    scheme: &str,
    secrets: &[&str],
    headers: &[String],
    body: &[u8],
    extra: &[&str],
) -> Output {
    let mut args = vec!["verify", "--scheme", scheme, "--body-file", "-"];
    for secret in secrets {
        args.extend(["--secret", secret]);
    }
    for header in headers {
        args.extend(["--header", header]);
    }
    args.extend(extra);
    run(&args, body)
}

const SCHEMES: [(&str, &str); 5] = [
    (
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("stripe", "whsec_test_secret_0123"),
    ("github", "It's a Secret to Everybody"),
    ("slack", "8f742231b10e8888abcd99yyyzzz85a5"),
    ("shopify", "hush-shopify-client-secret"),
];

#[test]
fn what_sign_prints_verify_accepts_for_every_scheme() {
    let body = br#"{"type":"ping","n":1}"#;
    for (scheme, secret) in SCHEMES {
        let headers = sign(scheme, &[secret], body, &["--id", "evt_cli_1"]);
        assert!(headers.iter().all(|h| h.contains(": ")), "{headers:?}");
        let ok = verify(scheme, &[secret], &headers, body, &[]);
        assert_eq!(
            code(&ok),
            0,
            "{scheme}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let line = stdout(&ok);
        assert!(
            line.starts_with(&format!("verified scheme={scheme} ")),
            "{line}"
        );
        let refused = verify(scheme, &[secret], &headers, b"{}", &[]);
        assert_eq!(
            (code(&refused), stdout(&refused).trim()),
            (1, "signature-mismatch"),
            "{scheme}"
        );
    }
}

#[test]
fn verify_reports_id_timestamp_and_key() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let body = br#"{"test": 2432232314}"#;
    let headers = sign(
        "standard-webhooks",
        &[secret],
        body,
        &[
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ],
    );
    // The Standard Webhooks test suite's published signature.
    assert!(
        headers.contains(
            &"webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()
        ),
        "{headers:?}"
    );
    let ok = verify(
        "standard-webhooks",
        &[other, secret],
        &headers,
        body,
        &["--now", "1614265330"],
    );
    assert_eq!(code(&ok), 0);
    assert_eq!(
        stdout(&ok).trim(),
        "verified scheme=standard-webhooks id=msg_p5jXN8AQM9LWM0D4loKWxJek timestamp=1614265330 key_index=1"
    );
}

#[test]
fn timestamps_are_checked_against_now_and_tolerance() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let headers = sign("slack", &[secret], b"x=1", &["--timestamp", "1531420618"]);
    let stale = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420919"],
    );
    assert_eq!(
        (code(&stale), stdout(&stale).trim()),
        (1, "timestamp-too-old")
    );
    let future = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420317"],
    );
    assert_eq!(
        (code(&future), stdout(&future).trim()),
        (1, "timestamp-too-new")
    );
    let boundary = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420918"],
    );
    assert_eq!(code(&boundary), 0);
    let wide = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420919", "--tolerance", "301"],
    );
    assert_eq!(code(&wide), 0);
    // Without --now, the system clock: a 2018 timestamp is stale.
    let today = verify("slack", &[secret], &headers, b"x=1", &[]);
    assert_eq!(
        (code(&today), stdout(&today).trim()),
        (1, "timestamp-too-old")
    );
}

#[test]
fn github_docs_example_from_a_file() {
    let dir = std::env::temp_dir().join(format!("hookguard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("body.txt");
    std::fs::write(&file, "Hello, World!").expect("write body");
    let file = file.to_str().expect("UTF-8 path");
    let header = "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let args = [
        "verify",
        "--scheme",
        "github",
        "--secret",
        "It's a Secret to Everybody",
        "--body-file",
        file,
        "--header",
        header,
    ];
    let ok = run(&args, b"");
    assert_eq!(
        (code(&ok), stdout(&ok).trim()),
        (0, "verified scheme=github id=- timestamp=- key_index=0")
    );
    let missing = run(&args[..7], b"");
    assert_eq!(
        (code(&missing), stdout(&missing).trim()),
        (1, "missing-header")
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn ed25519_keys_sign_and_verify() {
    // RFC 8032, section 7.1, TEST 1 key pair, as Standard Webhooks keys.
    let whsk = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    let whpk = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    let body = b"{\"kind\":\"ed25519\"}";
    let headers = sign("standard-webhooks", &[whsk], body, &[]);
    assert!(
        headers
            .iter()
            .any(|h| h.starts_with("webhook-signature: v1a,")),
        "{headers:?}"
    );
    assert_eq!(
        code(&verify("standard-webhooks", &[whpk], &headers, body, &[])),
        0
    );
    let refused = verify("standard-webhooks", &[whpk], &headers, b"{}", &[]);
    assert_eq!(
        (code(&refused), stdout(&refused).trim()),
        (1, "signature-mismatch")
    );
    // A public key cannot sign: a usage error.
    let output = run(
        &[
            "sign",
            "--scheme",
            "standard-webhooks",
            "--secret",
            whpk,
            "--body-file",
            "-",
        ],
        body,
    );
    assert_eq!(code(&output), 2);
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let base = [
        "verify",
        "--scheme",
        "github",
        "--secret",
        "It's a Secret to Everybody",
        "--body-file",
        "-",
    ];
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["sign", "--scheme", "github", "--body-file", "-"],
        vec![
            "sign",
            "--scheme",
            "nope",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "short",
            "--body-file",
            "-",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "0123456789abcdef",
            "--body-file",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "/nonexistent/body",
        ],
        vec![
            "sign",
            "--scheme",
            "stripe",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
            "--timestamp",
            "-5",
        ],
        vec![
            "sign",
            "--scheme",
            "stripe",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
            "--timestamp",
            "soon",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
            "--header",
            "a: b",
        ],
        [&base[..], &["--header", "no colon here"]].concat(),
        [&base[..], &["--now", "yesterday"]].concat(),
        [&base[..], &["--tolerance", "-1"]].concat(),
        [&base[..], &["--scheme", "github"]].concat(),
        [&base[..], &["stray"]].concat(),
    ];
    for args in cases {
        let output = run(&args, b"body");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(code(&output), 2, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("hookguard: ") && stderr.contains("usage:"),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let help = run(&["--help"], b"");
    assert_eq!(code(&help), 0);
    assert!(stdout(&help).starts_with("usage:"));
}

/// A `hookguard listen` child on a free port; its stdout lines arrive on a channel.
struct Listen {
    url: String,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    _child: common::Killed,
}

impl Listen {
    fn start(scheme: &str, secret: &str) -> Self {
        let mut child = Command::new(cli())
            .args([
                "listen",
                "--addr",
                "127.0.0.1:0",
                "--scheme",
                scheme,
                "--secret",
                secret,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start `listen`");
        let stdout = child.stdout.take().expect("stdout");
        let child = common::Killed(child);
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listen = Self {
            url: String::new(),
            lines,
            seen: Vec::new(),
            _child: child,
        };
        let first = listen.wait_for(|l| l.starts_with("listening on "));
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|r| r.split_whitespace().next())
            .expect("the address");
        listen.url = format!("{addr}/hooks");
        listen
    }

    /// The next line matching `pred` (earlier lines are kept in `seen`); panics if `listen` exits first, or
    /// after a generous hang guard.
    fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|e| {
                    panic!(
                        "`listen` printed no matching line ({e}); so far: {:#?}",
                        self.seen
                    )
                });
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }
}

fn send(url: &str, scheme: &str, secret: &str, body: &[u8], extra: &[&str]) -> Output {
    let mut args = vec![
        "send",
        "--url",
        url,
        "--scheme",
        scheme,
        "--secret",
        secret,
        "--body-file",
        "-",
    ];
    args.extend(extra);
    run(&args, body)
}

#[test]
fn send_into_listen_for_every_scheme() {
    let body = br#"{"type":"ping","n":7}"#;
    for (scheme, secret) in SCHEMES {
        let mut listen = Listen::start(scheme, secret);
        let id = format!("evt_send_{}", scheme.replace('-', "_"));
        let sent = send(&listen.url, scheme, secret, body, &["--id", &id]);
        let out = stdout(&sent);
        assert_eq!(
            code(&sent),
            0,
            "{scheme}: {out}{}",
            String::from_utf8_lossy(&sent.stderr)
        );
        assert!(out.starts_with("private networks allowed"), "{out}");
        assert!(
            out.contains("attempt 1 (") && out.contains("): HTTP 200"),
            "{out}"
        );
        assert!(out.contains(&format!("delivered {id}")), "{out}");
        let verdict = listen.wait_for(|l| l.starts_with("verdict: "));
        assert!(
            verdict.starts_with(&format!("verdict: verified scheme={scheme} "))
                && verdict.ends_with("→ 200"),
            "{scheme}: {verdict}"
        );
        let body_line = listen.wait_for(|l| l.starts_with("body: "));
        assert_eq!(
            body_line,
            format!("body: {}", String::from_utf8_lossy(body))
        );
        assert!(
            listen.seen.iter().any(|l| l.starts_with("--- POST /hooks")),
            "{:?}",
            listen.seen
        );
        assert!(
            listen
                .seen
                .iter()
                .any(|l| l.trim_start().starts_with("user-agent: hookguard-sender/")),
            "headers printed: {:?}",
            listen.seen
        );

        // The wrong secret: the layer's 401, which `send` does not retry; exit 1.
        let wrong_secret = if scheme == "standard-webhooks" {
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
        } else {
            "a-wrong-secret-0123456789"
        };
        let wrong = send(&listen.url, scheme, wrong_secret, body, &[]);
        let out = stdout(&wrong);
        assert_eq!(code(&wrong), 1, "{scheme}: {out}");
        assert!(
            out.contains("): HTTP 401") && out.contains("dead-lettered (permanent-status:401)"),
            "{out}"
        );
        assert!(!out.contains("attempt 2"), "a 401 is not retried: {out}");
        let verdict = listen.wait_for(|l| l.starts_with("verdict: "));
        assert_eq!(
            verdict, "verdict: rejected signature-mismatch → 401",
            "{scheme}"
        );

        if scheme == "standard-webhooks" {
            // The same event id again: answered from the idempotency store.
            let again = send(&listen.url, scheme, secret, body, &["--id", &id]);
            assert_eq!(code(&again), 0, "{}", stdout(&again));
            let verdict = listen.wait_for(|l| l.starts_with("verdict: "));
            assert_eq!(
                verdict,
                "verdict: deduplicated: answered from the idempotency store → 200"
            );
        }
    }
}

/// An HTTP server on a free port that answers each request with the next status of `script` (then 200).
async fn scripted(script: Vec<u16>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().fallback(move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let status = script.get(n).copied().unwrap_or(200);
        async move { http::StatusCode::from_u16(status).unwrap() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

async fn send_async(url: String, extra: &'static [&'static str]) -> Output {
    tokio::task::spawn_blocking(move || send(&url, "standard-webhooks", SCHEMES[0].1, b"{}", extra))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_retries_with_backoff_and_exits_0_only_when_delivered() {
    use std::sync::atomic::Ordering;
    let (url, count) = scripted(vec![503, 429, 200]).await;
    let sent = send_async(url, &[]).await;
    let out = stdout(&sent);
    assert_eq!(code(&sent), 0, "{out}");
    let attempts: Vec<&str> = out.lines().filter(|l| l.starts_with("attempt ")).collect();
    assert_eq!(attempts.len(), 3, "{out}");
    assert!(
        attempts[0].starts_with("attempt 1 (") && attempts[0].ends_with("HTTP 503"),
        "{out}"
    );
    assert!(
        attempts[1].starts_with("attempt 2 (") && attempts[1].ends_with("HTTP 429"),
        "{out}"
    );
    assert!(
        attempts[2].starts_with("attempt 3 (") && attempts[2].ends_with("HTTP 200"),
        "{out}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);

    let (url, count) = scripted(vec![503; 10]).await;
    let sent = send_async(url, &["--attempts", "2"]).await;
    let out = stdout(&sent);
    assert_eq!(code(&sent), 1, "{out}");
    assert!(out.contains("dead-lettered (attempts-exhausted)"), "{out}");
    assert_eq!(count.load(Ordering::SeqCst), 2);

    let closed = format!("http://127.0.0.1:{}/hooks", common::free_port());
    let sent = send_async(closed, &["--attempts", "2"]).await;
    let out = stdout(&sent);
    assert_eq!(code(&sent), 1, "{out}");
    assert!(
        out.contains("attempt 2 (") && out.contains("connect error"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_replay_and_purge_through_the_admin_api() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use hookguard_sender::admin::{Admin, AdminToken};
    use hookguard_sender::{
        Endpoint, Event, JobState, MemoryQueue, Queue as _, RetryPolicy, Sender,
    };

    const TOKEN: &str = "cli-admin-token-0123456789";
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let receiver = axum::Router::new().fallback(move || {
        let ok = flag.load(Ordering::SeqCst);
        async move {
            if ok {
                http::StatusCode::OK
            } else {
                http::StatusCode::NOT_FOUND
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let sender = Sender::builder(MemoryQueue::new())
        .endpoint(Endpoint::new("ep", rx, SCHEMES[0].1))
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(50),
            2.0,
            Duration::from_millis(200),
            3,
        ))
        .poll_interval(Duration::from_millis(20))
        .allow_private_networks()
        .build()
        .unwrap();
    let workers = sender.spawn();
    for n in 0..3 {
        sender
            .send("ep", Event::new("t", "{}").with_id(format!("evt_dlq_{n}")))
            .await
            .unwrap();
    }
    let settle = |want_dead: u64| {
        let sender = sender.clone();
        async move {
            for _ in 0..500 {
                let s = sender.queue().stats(sender.now()).await.unwrap();
                if s.dead == want_dead && s.due + s.scheduled + s.in_flight == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("the queue did not settle at {want_dead} dead letters");
        }
    };
    settle(3).await;

    let admin = Admin::new(&sender, AdminToken::new(TOKEN).unwrap())
        .base_path("/admin")
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/admin", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, admin).await.unwrap() });

    let dlq = |args: Vec<String>, env: Vec<(&'static str, &'static str)>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_env(&args, b"", &env)
        })
        .await
        .unwrap()
    };
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v = vec!["dlq".to_owned()];
        v.push(extra[0].to_owned());
        v.extend(["--admin".to_owned(), url.clone()]);
        v.extend(extra[1..].iter().map(|s| (*s).to_owned()));
        v
    };
    // The token from the environment.
    let listed = dlq(with(&["list"]), vec![("HOOKGUARD_ADMIN_TOKEN", TOKEN)]).await;
    let out = stdout(&listed);
    assert_eq!(
        code(&listed),
        0,
        "{out}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let ids: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("job_"))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{out}");
    assert!(
        out.contains("endpoint=ep")
            && out.contains("reason=permanent-status:404")
            && out.contains("last=404"),
        "{out}"
    );
    assert!(
        out.contains("3 dead letter(s)") && !out.contains("more:"),
        "{out}"
    );

    // Pages, following the printed cursor.
    let page = dlq(with(&["list", "--token", TOKEN, "--limit", "2"]), vec![]).await;
    let out = stdout(&page);
    let cursor = out
        .lines()
        .find_map(|l| l.strip_prefix("more: --cursor "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let rest = dlq(
        with(&[
            "list", "--token", TOKEN, "--limit", "2", "--cursor", &cursor,
        ]),
        vec![],
    )
    .await;
    let out = stdout(&rest);
    assert!(
        out.contains(&ids[2]) && out.contains("1 dead letter(s)"),
        "{out}"
    );

    // A wrong token: refused, exit 1, nothing printed on stdout, the token not echoed.
    let refused = dlq(
        with(&["replay", "--token", "not-the-token-0123456789", "--all"]),
        vec![],
    )
    .await;
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(code(&refused), 1, "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("not-the-token"), "{err}");
    assert_eq!(
        sender.queue().stats(sender.now()).await.unwrap().dead,
        3,
        "nothing replayed"
    );

    // Usage: replay needs exactly one selection.
    let usage = dlq(with(&["replay", "--token", TOKEN]), vec![]).await;
    assert_eq!(code(&usage), 2);

    healthy.store(true, Ordering::SeqCst);
    let one = dlq(
        with(&[
            "replay",
            "--token",
            TOKEN,
            "--id",
            &ids[0],
            "--id",
            "job_987654",
        ]),
        vec![],
    )
    .await;
    let out = stdout(&one);
    assert_eq!(code(&one), 1, "one id failed: {out}");
    assert!(
        out.contains("replayed 1") && out.contains("not replayed: job_987654"),
        "{out}"
    );
    let by_endpoint = dlq(
        with(&[
            "replay",
            "--token",
            TOKEN,
            "--endpoint",
            "ep",
            "--limit",
            "1",
        ]),
        vec![],
    )
    .await;
    let out = stdout(&by_endpoint);
    assert_eq!(code(&by_endpoint), 0, "{out}");
    assert!(
        out.starts_with("replayed 1 (more match: run again)"),
        "{out}"
    );
    settle(1).await;
    let first: u64 = ids[0].trim_start_matches("job_").parse().unwrap();
    let rec = sender
        .queue()
        .get(hookguard_sender::JobId(first))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(rec.state, JobState::Delivered { .. }),
        "{:?}",
        rec.state
    );

    let other_reason = dlq(
        with(&[
            "purge",
            "--token",
            TOKEN,
            "--reason",
            "permanent-status:500",
        ]),
        vec![],
    )
    .await;
    let out = stdout(&other_reason);
    assert_eq!(code(&other_reason), 0, "{out}");
    assert_eq!(out.trim(), "purged 0", "the 404 is not selected by a 500");
    let purged = dlq(with(&["purge", "--token", TOKEN, "--all"]), vec![]).await;
    let out = stdout(&purged);
    assert_eq!(code(&purged), 0, "{out}");
    assert_eq!(out.trim(), "purged 1");
    assert_eq!(sender.queue().stats(sender.now()).await.unwrap().dead, 0);
    workers.shutdown(Duration::from_secs(2)).await;
}
