//! Run with: `cargo run -q --example hookguard -- sign|verify|send|listen|dlq …` — a command-line tool to sign
//! a webhook or check one you received, to send one to a local receiver, to run a local verifying receiver,
//! and to work the dead-letter queue through the admin API, with any of hookguard's schemes.
//!
//! ```text
//! hookguard sign   --scheme S --secret K [--secret K2 …] --body-file F [--id ID] [--timestamp UNIX]
//! hookguard verify --scheme S --secret K [--secret K2 …] --body-file F --header 'Name: value' [--header …]
//!                  [--tolerance SECS] [--now UNIX]
//! hookguard send   --url U --scheme S --secret K --body-file F [--id ID] [--type T] [--attempts N]
//!                  [--timeout SECS]
//! hookguard listen --addr A --scheme S --secret K [--secret K2 …]
//! hookguard dlq list   --admin URL [--token T] [--endpoint E] [--reason R] [--limit N] [--cursor C]
//! hookguard dlq replay --admin URL [--token T] (--id ID [--id …] | [--endpoint E] [--reason R] | --all) [--limit N]
//! hookguard dlq purge  --admin URL [--token T] ([--endpoint E] [--reason R] | --all) [--limit N]
//! ```
//!
//! `sign` prints the headers to attach, one `Name: value` per line. `verify` prints `verified …` and exits 0
//! when a signature matches, prints the error kind (e.g. `signature-mismatch`) and exits 1 when not; usage
//! errors exit 2. `S` is `standard-webhooks`, `stripe`, `github`, `slack` or `shopify`; `--body-file -` reads
//! standard input. For `standard-webhooks`, `--secret` takes `whsec_…` (HMAC), `whpk_…` (Ed25519 public key,
//! to verify) or `whsk_…` (Ed25519 secret key, to sign).
//!
//! `send` signs and POSTs one payload with `hookguard-sender` (the production path: fresh signature per
//! attempt, retries with exponential backoff, `Retry-After` honoured, permanent statuses not retried), prints
//! each attempt's status, and exits 0 iff it was delivered (1 otherwise). It is meant for local receivers, so
//! it allows private and loopback targets, and says so.
//!
//! `listen` serves `WebhookLayer` (with in-memory idempotency) on `A` and prints each request: its headers,
//! the verdict (verified, deduplicated, or the rejection's kind) and the body; it answers 200 or the layer's
//! 4xx. It runs until Ctrl-C.
//!
//! `dlq` talks to the admin router's JSON API (`hookguard_sender::admin`) at `URL` (its base, e.g.
//! `http://127.0.0.1:9464/admin`) with the bearer token `--token`, or `HOOKGUARD_ADMIN_TOKEN` from the
//! environment (which keeps it out of the process list). It exits 0 on success, 1 when the API refuses.

use std::fmt::Write as _;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use hookguard::{Clock as _, FixedClock, Scheme, Signer, SystemClock, Verifier};
use hookguard_sender::{
    AttemptResult, Endpoint, Event, JobState, MemoryQueue, Queue as _, RetryPolicy, Sender,
};
use hookguard_tower::extract::VerifiedWebhook;
use hookguard_tower::store::MemoryStore;
use hookguard_tower::{Rejection, WebhookLayer};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

const USAGE: &str = "\
usage: hookguard sign   --scheme S --secret K [--secret K2 …] --body-file F [--id ID] [--timestamp UNIX]
       hookguard verify --scheme S --secret K [--secret K2 …] --body-file F --header 'Name: value' [--header …]
                        [--tolerance SECS] [--now UNIX]
       hookguard send   --url U --scheme S --secret K --body-file F [--id ID] [--type T] [--attempts N]
                        [--timeout SECS]
       hookguard listen --addr A --scheme S --secret K [--secret K2 …]
       hookguard dlq list   --admin URL [--token T] [--endpoint E] [--reason R] [--limit N] [--cursor C]
       hookguard dlq replay --admin URL [--token T] (--id ID [--id …] | [--endpoint E] [--reason R] | --all) [--limit N]
       hookguard dlq purge  --admin URL [--token T] ([--endpoint E] [--reason R] | --all) [--limit N]
schemes: standard-webhooks, stripe, github, slack, shopify; `--body-file -` reads standard input;
`dlq` reads the token from HOOKGUARD_ADMIN_TOKEN when --token is not given";

/// A usage error: the message is printed with the usage, and the process exits 2.
struct Usage(String);

/// Flags that take no value.
const FLAGS_WITHOUT_VALUE: [&str; 1] = ["all"];

/// The flags given on the command line, in order (`--secret` and `--header` may repeat).
struct Args(Vec<(String, String)>);

impl Args {
    fn parse(raw: &[String], allowed: &[&str]) -> Result<Self, Usage> {
        let mut flags = Vec::new();
        let mut it = raw.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .filter(|n| allowed.contains(n))
                .ok_or_else(|| Usage(format!("unexpected argument `{flag}`")))?;
            if FLAGS_WITHOUT_VALUE.contains(&name) {
                flags.push((name.to_owned(), String::new()));
                continue;
            }
            let value = it
                .next()
                .ok_or_else(|| Usage(format!("`{flag}` needs a value")))?;
            flags.push((name.to_owned(), value.clone()));
        }
        Ok(Self(flags))
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn optional(&self, name: &str) -> Result<Option<&str>, Usage> {
        match self.all(name)[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(Usage(format!("`--{name}` may be given only once"))),
        }
    }

    fn required(&self, name: &str) -> Result<&str, Usage> {
        self.optional(name)?
            .ok_or_else(|| Usage(format!("`--{name}` is required")))
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Usage> {
        self.optional(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| Usage(format!("`--{name}` must be a whole number, not `{v}`")))
            })
            .transpose()
    }
}

fn scheme(args: &Args) -> Result<Scheme, Usage> {
    match args.required("scheme")? {
        "standard-webhooks" => Ok(Scheme::standard_webhooks()),
        "stripe" => Ok(Scheme::stripe()),
        "github" => Ok(Scheme::github()),
        "slack" => Ok(Scheme::slack()),
        "shopify" => Ok(Scheme::shopify()),
        other => Err(Usage(format!("unknown scheme `{other}`"))),
    }
}

fn secrets(args: &Args) -> Result<Vec<&str>, Usage> {
    let secrets = args.all("secret");
    if secrets.is_empty() {
        return Err(Usage("`--secret` is required".into()));
    }
    Ok(secrets)
}

fn body(args: &Args) -> Result<Vec<u8>, Usage> {
    let path = args.required("body-file")?;
    let read = if path == "-" {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body).map(|_| body)
    } else {
        std::fs::read(path)
    };
    read.map_err(|e| Usage(format!("cannot read `{path}`: {e}")))
}

fn header(line: &str) -> Result<(HeaderName, HeaderValue), Usage> {
    let bad = || Usage(format!("`--header` takes 'Name: value', not `{line}`"));
    let (name, value) = line.split_once(':').ok_or_else(bad)?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

fn sign(raw: &[String]) -> Result<ExitCode, Usage> {
    let args = Args::parse(raw, &["scheme", "secret", "body-file", "id", "timestamp"])?;
    let scheme = scheme(&args)?;
    let secrets = secrets(&args)?;
    let key_error = |e: hookguard::KeyError| Usage(format!("--secret: {e}"));
    let mut signer = Signer::new(scheme, secrets[0]).map_err(key_error)?;
    for secret in &secrets[1..] {
        signer = signer.with_secret(secret).map_err(key_error)?;
    }
    let body = body(&args)?;
    let id = match args.optional("id")? {
        Some(id) => id.to_owned(),
        // A fresh id: 64 random bits from the standard library's per-process hasher keys.
        None => format!(
            "msg_{:016x}",
            std::hash::RandomState::new().build_hasher().finish()
        ),
    };
    let timestamp = args
        .number("timestamp")?
        .unwrap_or_else(|| SystemClock.now_unix());
    let headers = signer
        .sign(&id, timestamp, &body)
        .map_err(|e| Usage(e.to_string()))?;
    for (name, value) in &headers {
        println!("{name}: {}", value.to_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(raw: &[String]) -> Result<ExitCode, Usage> {
    let args = Args::parse(
        raw,
        &[
            "scheme",
            "secret",
            "body-file",
            "header",
            "tolerance",
            "now",
        ],
    )?;
    let scheme = scheme(&args)?;
    let secrets = secrets(&args)?;
    let key_error = |e: hookguard::KeyError| Usage(format!("--secret: {e}"));
    let mut verifier = Verifier::new(scheme, secrets[0]).map_err(key_error)?;
    for secret in &secrets[1..] {
        verifier = verifier.with_secret(secret).map_err(key_error)?;
    }
    if let Some(secs) = args.number("tolerance")? {
        verifier = verifier.tolerance(Duration::from_secs(secs));
    }
    if let Some(now) = args.number("now")? {
        verifier = verifier.with_clock(FixedClock(now));
    }
    let mut headers = HeaderMap::new();
    for line in args.all("header") {
        let (name, value) = header(line)?;
        headers.append(name, value);
    }
    let body = body(&args)?;
    match verifier.verify(&headers, &body) {
        Ok(v) => {
            let id = v.id().unwrap_or("-");
            let timestamp = v
                .timestamp()
                .map_or_else(|| "-".to_owned(), |t| t.to_string());
            println!(
                "verified scheme={} id={id} timestamp={timestamp} key_index={}",
                v.scheme(),
                v.key_index()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", e.kind());
            eprintln!("hookguard: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn scheme_name(args: &Args) -> Result<&str, Usage> {
    scheme(args)?;
    args.required("scheme")
}

fn runtime() -> Result<tokio::runtime::Runtime, Usage> {
    tokio::runtime::Runtime::new().map_err(|e| Usage(format!("cannot start the runtime: {e}")))
}

/// `send`: one payload through `hookguard-sender`, each attempt printed as it is recorded.
fn send(raw: &[String]) -> Result<ExitCode, Usage> {
    let args = Args::parse(
        raw,
        &[
            "url",
            "scheme",
            "secret",
            "body-file",
            "id",
            "type",
            "attempts",
            "timeout",
        ],
    )?;
    let url = args.required("url")?.to_owned();
    let scheme = scheme(&args)?;
    let secrets = secrets(&args)?;
    if secrets.len() > 1 {
        return Err(Usage("`send` signs with one `--secret`".into()));
    }
    let body = body(&args)?;
    let attempts: u32 = args.number("attempts")?.unwrap_or(5);
    if attempts == 0 {
        return Err(Usage("`--attempts` must be at least 1".into()));
    }
    let timeout = Duration::from_secs(args.number("timeout")?.unwrap_or(15));
    if timeout.is_zero() {
        return Err(Usage("`--timeout` must be at least 1 second".into()));
    }
    let mut event = Event::new(args.optional("type")?.unwrap_or("hookguard.cli"), body);
    if let Some(id) = args.optional("id")? {
        event = event.with_id(id);
    }
    let endpoint = Endpoint::new("cli", url, secrets[0])
        .with_scheme(scheme)
        .with_timeout(timeout);
    let sender = Sender::builder(MemoryQueue::new())
        .endpoint(endpoint)
        // 500 ms, 1 s, 2 s, … up to 8 s, with full jitter.
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(500),
            2.0,
            Duration::from_secs(8),
            attempts,
        ))
        .lease(timeout + Duration::from_secs(10))
        .poll_interval(Duration::from_millis(20))
        .allow_private_networks()
        .build()
        .map_err(|e| Usage(e.to_string()))?;
    println!(
        "private networks allowed: `send` is for local receivers, so loopback and private addresses are not refused"
    );
    runtime()?.block_on(async move {
        let job = sender
            .send("cli", event)
            .await
            .map_err(|e| Usage(e.to_string()))?;
        let workers = sender.spawn();
        let mut printed = 0;
        let delivered = loop {
            let record = match sender.queue().get(job).await {
                Ok(Some(record)) => record,
                Ok(None) => break false,
                Err(e) => {
                    eprintln!("hookguard: queue error: {e}");
                    break false;
                }
            };
            for a in &record.attempts[printed..] {
                let result = match &a.result {
                    AttemptResult::Status(s) => format!("HTTP {s}"),
                    AttemptResult::Error { kind, message } => {
                        format!("{} error: {message}", kind.as_str())
                    }
                };
                println!(
                    "attempt {} ({} ms): {result}",
                    a.number,
                    a.latency.as_millis()
                );
            }
            printed = record.attempts.len();
            match record.state {
                JobState::Delivered { .. } => {
                    println!("delivered {} ({})", record.job.event_id, record.job.id);
                    break true;
                }
                JobState::Dead { reason, .. } => {
                    println!("not delivered: dead-lettered ({reason})");
                    break false;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        workers.shutdown(Duration::from_secs(1)).await;
        Ok(if delivered {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// The verified signature the handler saw, for the request's printout.
#[derive(Clone)]
struct Seen(String);

/// `listen`'s handler: a verified, first-seen event.
async fn listened(VerifiedWebhook(v): VerifiedWebhook) -> Response {
    let timestamp = v
        .timestamp()
        .map_or_else(|| "-".to_owned(), |t| t.to_string());
    let seen = Seen(format!(
        "verified scheme={} id={} timestamp={timestamp} key_index={}",
        v.scheme(),
        v.id().unwrap_or("-"),
        v.key_index()
    ));
    let mut res = (http::StatusCode::OK, "ok\n").into_response();
    res.extensions_mut().insert(seen);
    res
}

/// Prints one request: line, headers, verdict, body. Outside the layer, so it sees rejections too.
async fn print_exchange(request: Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = request.into_parts();
    // A little over the layer's 1 MiB limit, so that the layer still answers 413 for larger bodies.
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024 + 1).await else {
        return (http::StatusCode::PAYLOAD_TOO_LARGE, "body too large\n").into_response();
    };
    let mut out = format!("--- {} {}\n", parts.method, parts.uri);
    for (name, value) in &parts.headers {
        let _ = writeln!(
            out,
            "  {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    let response = next
        .run(Request::from_parts(
            parts,
            axum::body::Body::from(bytes.clone()),
        ))
        .await;
    let status = response.status().as_u16();
    let verdict = if let Some(rejection) = response.extensions().get::<Rejection>() {
        format!("rejected {}", rejection.kind())
    } else if let Some(Seen(seen)) = response.extensions().get::<Seen>() {
        seen.clone()
    } else {
        "deduplicated: answered from the idempotency store".to_owned()
    };
    let _ = writeln!(out, "verdict: {verdict} → {status}");
    let text = String::from_utf8_lossy(&bytes);
    let shown: String = text.chars().take(2000).collect();
    let more = if shown.len() < text.len() { " …" } else { "" };
    let _ = writeln!(out, "body: {shown}{more}");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    response
}

/// `listen`: a local verifying receiver.
fn listen(raw: &[String]) -> Result<ExitCode, Usage> {
    let args = Args::parse(raw, &["addr", "scheme", "secret"])?;
    let addr: std::net::SocketAddr = args
        .required("addr")?
        .parse()
        .map_err(|_| Usage("`--addr` takes an address like 127.0.0.1:8080".into()))?;
    let name = scheme_name(&args)?.to_owned();
    let scheme = scheme(&args)?;
    let secrets = secrets(&args)?;
    let key_error = |e: hookguard::KeyError| Usage(format!("--secret: {e}"));
    let mut verifier = Verifier::new(scheme, secrets[0]).map_err(key_error)?;
    for secret in &secrets[1..] {
        verifier = verifier.with_secret(secret).map_err(key_error)?;
    }
    let app = axum::Router::new()
        .fallback(axum::routing::post(listened))
        .layer(WebhookLayer::new(verifier).idempotency(MemoryStore::new()))
        .layer(axum::middleware::from_fn(print_exchange));
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Usage(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr().map_err(|e| Usage(e.to_string()))?;
        println!("listening on http://{local} ({name}); Ctrl-C to stop");
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
        match served {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("hookguard: {e}");
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The admin API: its base URL and token.
struct AdminApi {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl AdminApi {
    fn new(args: &Args) -> Result<Self, Usage> {
        let base = args.required("admin")?.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Usage(
                "`--admin` takes the admin router's base URL, e.g. http://127.0.0.1:9464/admin"
                    .into(),
            ));
        }
        let token = match args.optional("token")? {
            Some(t) => t.to_owned(),
            None => std::env::var("HOOKGUARD_ADMIN_TOKEN").map_err(|_| {
                Usage("`--token` is required (or set HOOKGUARD_ADMIN_TOKEN)".into())
            })?,
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base,
            token,
            client,
        })
    }

    /// Calls the API; `Err` is the message to print (the problem's detail, or the transport error).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .client
            .request(method, format!("{}/api{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach the admin API: {}", e.without_url()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            let detail = value["detail"].as_str().unwrap_or("no detail");
            Err(format!("the admin API answered {status}: {detail}"))
        }
    }
}

fn dlq(raw: &[String]) -> Result<ExitCode, Usage> {
    let (command, rest) = raw
        .split_first()
        .ok_or_else(|| Usage("`dlq` needs a command: list, replay or purge".into()))?;
    let common = ["admin", "token", "limit"];
    let allowed: Vec<&str> = match command.as_str() {
        "list" => [&common[..], &["endpoint", "reason", "cursor"]].concat(),
        "replay" => [&common[..], &["id", "endpoint", "reason", "all"]].concat(),
        "purge" => [&common[..], &["endpoint", "reason", "all"]].concat(),
        other => return Err(Usage(format!("unknown `dlq` command `{other}`"))),
    };
    let args = Args::parse(rest, &allowed)?;
    let api = AdminApi::new(&args)?;
    let limit: Option<usize> = args.number("limit")?;
    let (method, path, body) = match command.as_str() {
        "list" => {
            let mut query = vec![format!("limit={}", limit.unwrap_or(50))];
            for name in ["endpoint", "reason", "cursor"] {
                if let Some(v) = args.optional(name)? {
                    query.push(format!("{name}={}", encode(v)));
                }
            }
            (
                reqwest::Method::GET,
                format!("/dead-letters?{}", query.join("&")),
                None,
            )
        }
        _ => {
            let ids = args.all("id");
            let endpoint = args.optional("endpoint")?;
            let reason = args.optional("reason")?;
            let all = args.has("all");
            let selection = endpoint.is_some() || reason.is_some();
            let chosen = usize::from(!ids.is_empty()) + usize::from(selection) + usize::from(all);
            if chosen != 1 {
                return Err(Usage(if command == "replay" {
                    "`dlq replay` takes one of `--id ID …`, a selection (`--endpoint E`, `--reason R`) or `--all`"
                        .into()
                } else {
                    "`dlq purge` takes one of a selection (`--endpoint E`, `--reason R`) or `--all`"
                        .into()
                }));
            }
            let body = if ids.is_empty() {
                let mut body = serde_json::json!({"limit": limit.unwrap_or(100)});
                if let Some(e) = endpoint {
                    body["endpoint"] = e.into();
                }
                if let Some(r) = reason {
                    body["reason"] = r.into();
                }
                if all && command == "purge" {
                    body["all"] = true.into();
                }
                body
            } else {
                serde_json::json!({"ids": ids})
            };
            (
                reqwest::Method::POST,
                format!("/dead-letters/{command}"),
                Some(body),
            )
        }
    };
    let result = runtime()?.block_on(api.call(method, &path, body));
    let value = match result {
        Ok(v) => v,
        Err(message) => {
            eprintln!("hookguard: {message}");
            return Ok(ExitCode::from(1));
        }
    };
    if command == "list" {
        let items = value["items"].as_array().cloned().unwrap_or_default();
        for item in &items {
            let last = item["last_attempt"]["result"].as_str().unwrap_or("-");
            println!(
                "{}  endpoint={}  event={}  type={}  dead_at={}  reason={}  attempts={}  last={last}",
                item["id"].as_str().unwrap_or("?"),
                item["endpoint_id"].as_str().unwrap_or("?"),
                item["event_id"].as_str().unwrap_or("?"),
                item["event_type"].as_str().unwrap_or("?"),
                item["dead_at"].as_str().unwrap_or("?"),
                item["reason"].as_str().unwrap_or("?"),
                item["attempt_count"],
            );
        }
        println!("{} dead letter(s)", items.len());
        if let Some(next) = value["next"].as_str() {
            println!("more: --cursor {next}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if command == "replay" {
        "replayed"
    } else {
        "purged"
    };
    let more = if value["more"] == true {
        " (more match: run again)"
    } else {
        ""
    };
    println!("{verb} {}{more}", value["count"]);
    let failed = value["failed"].as_array().cloned().unwrap_or_default();
    for f in &failed {
        println!(
            "not {verb}: {} ({})",
            f["id"].as_str().unwrap_or("?"),
            f["detail"].as_str().unwrap_or("?")
        );
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sign") => sign(&args[1..]),
        Some("verify") => verify(&args[1..]),
        Some("send") => send(&args[1..]),
        Some("listen") => listen(&args[1..]),
        Some("dlq") => dlq(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(Usage(format!("unknown command `{other}`"))),
        None => Err(Usage("a command is required".into())),
    };
    result.unwrap_or_else(|Usage(message)| {
        eprintln!("hookguard: {message}\n{USAGE}");
        ExitCode::from(2)
    })
}
