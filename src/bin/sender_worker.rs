//! `sender-worker`: one sender process delivering from a shared, durable queue — what each of a fleet of
//! machines runs. The multi-process and crash tests (`tests/sender_processes.rs`) and the queue benchmark
//! (`benches/load/queues.sh`) start several of it on one queue and `kill -9` some.
//!
//! ```text
//! sender-worker --queue postgres://…|redis://… [--namespace NS] --endpoint ID=URL… [--slots N] [--batch N]
//!               [--lease-ms MS] [--timeout-ms MS]
//! ```
//! Prints `ready pid=<pid>` once its workers run, then delivers until SIGINT or SIGTERM, which drain it
//! (leases in flight finish or are released). Endpoints are signed with the Standard Webhooks test secret
//! below; private (loopback) targets are allowed, since the receivers in its tests listen on 127.0.0.1.

use std::process::ExitCode;
use std::time::Duration;

use hookguard_sender::{BoxedQueue, Endpoint, RetryPolicy, Sender};

/// The secret every endpoint is signed with (the receivers in the tests and benchmark verify it).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug)]
struct Args {
    queue: String,
    namespace: Option<String>,
    endpoints: Vec<(String, String)>,
    slots: usize,
    batch: usize,
    lease: Duration,
    timeout: Duration,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        queue: String::new(),
        namespace: None,
        endpoints: Vec::new(),
        slots: 32,
        batch: 16,
        lease: Duration::from_secs(3),
        timeout: Duration::from_secs(1),
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--queue" => args.queue = value()?,
            "--namespace" => args.namespace = Some(value()?),
            "--endpoint" => {
                let v = value()?;
                let (id, url) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--endpoint `{v}`: expected ID=URL"))?;
                args.endpoints.push((id.to_owned(), url.to_owned()));
            }
            "--slots" => args.slots = usize::try_from(number(value()?)?).unwrap_or(usize::MAX),
            "--batch" => args.batch = usize::try_from(number(value()?)?).unwrap_or(usize::MAX),
            "--lease-ms" => args.lease = Duration::from_millis(number(value()?)?),
            "--timeout-ms" => args.timeout = Duration::from_millis(number(value()?)?),
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    if args.queue.is_empty() || args.endpoints.is_empty() {
        return Err("--queue and at least one --endpoint are required".into());
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let queue = BoxedQueue::open(&args.queue, args.namespace.as_deref()).await?;
    let endpoints = args
        .endpoints
        .into_iter()
        .map(|(id, url)| Endpoint::new(id, url, SECRET).with_timeout(args.timeout).with_max_in_flight(args.slots));
    let sender = Sender::builder(queue)
        .endpoints(endpoints)
        .workers(args.slots)
        .batch(args.batch)
        .lease(args.lease)
        .reap_interval(Duration::from_millis(500))
        // Crash tests kill processes and restart servers: enough attempts that nothing dead-letters.
        .retry_policy(RetryPolicy::exponential(
            Duration::from_millis(50),
            2.0,
            Duration::from_secs(1),
            30,
        ))
        .allow_private_networks()
        .build()?;
    let workers = sender.spawn();
    println!("ready pid={}", std::process::id());
    shutdown_signal().await;
    workers.shutdown(Duration::from_secs(5)).await;
    println!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("sender-worker: {usage}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sender-worker: {error}");
            ExitCode::FAILURE
        }
    }
}
