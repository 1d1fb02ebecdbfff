//! Deliveries per second through each queue, side by side in one run: `MemoryQueue` in this process (the
//! ceiling), then each durable queue named with `--queue` drained by 1, 2 and 4 `sender-worker` processes. The
//! receiver, in this process, answers 200 at once; payloads are 1 KiB.
//!
//! ```sh
//! cargo build --release --all-features --bin sender-worker --example queue_bench
//! target/release/examples/queue_bench --events 20000 \
//!     --queue postgres://postgres@127.0.0.1:5432/test --queue redis://127.0.0.1:6390
//! ```
//! (`benches/load/queues.sh` does this with a private Redis using `appendfsync everysec`.) Each run gets a
//! fresh schema or key prefix (the script drops them afterwards). A run's clock starts when the first job is enqueued (the
//! workers are up and idle) and stops when the receiver has answered every job.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use hookguard_sender::{BoxedQueue, Endpoint, MemoryQueue, NewJob, Queue, Sender, Timestamp};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Args {
    events: usize,
    queues: Vec<String>,
    processes: Vec<usize>,
    slots: usize,
    batch: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        events: 20_000,
        queues: Vec::new(),
        processes: vec![1, 2, 4],
        slots: 32,
        batch: 16,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "--events" => args.events = number(&value)?,
            "--queue" => args.queues.push(value),
            "--processes" => {
                args.processes = value.split(',').map(number).collect::<Result<_, _>>()?;
            }
            "--slots" => args.slots = number(&value)?,
            "--batch" => args.batch = number(&value)?,
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    Ok(args)
}

/// A receiver answering 200 at once, counting requests.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}

fn jobs(events: usize, run: usize) -> Vec<NewJob> {
    let now = Timestamp::now();
    let payload = Bytes::from(format!(
        r#"{{"type":"bench","pad":"{}"}}"#,
        "x".repeat(1000)
    ));
    (0..events)
        .map(|i| NewJob::new("ep", format!("r{run}_{i}"), "bench", payload.clone(), now).unwrap())
        .collect()
}

/// Enqueues every job (the clock starts) and waits until the receiver saw them all: deliveries per second.
async fn drain(queue: &impl Queue, jobs: Vec<NewJob>, seen: &AtomicUsize) -> Result<f64, String> {
    let target = seen.load(Ordering::Relaxed) + jobs.len();
    let n = jobs.len();
    let start = Instant::now();
    for chunk in jobs.chunks(1000) {
        queue
            .enqueue_many(chunk.to_vec())
            .await
            .map_err(|e| format!("enqueue: {e}"))?;
    }
    let deadline = start + Duration::from_secs(600);
    while seen.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {n} delivered in 600 s",
                seen.load(Ordering::Relaxed) + n - target
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn spawn_worker(args: &Args, url: &str, ns: &str, endpoint: &str) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let worker = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("sender-worker"))
        .ok_or("no target directory")?;
    let mut child = Command::new(&worker)
        .args([
            "--queue",
            url,
            "--namespace",
            ns,
            "--endpoint",
            &format!("ep={endpoint}"),
        ])
        .args([
            "--slots",
            &args.slots.to_string(),
            "--batch",
            &args.batch.to_string(),
        ])
        .args(["--timeout-ms", "5000"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "{}: {e} (build it: cargo build --release --all-features --bin sender-worker)",
                worker.display()
            )
        })?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    match lines.next_line().await {
        Ok(Some(line)) if line.starts_with("ready") => Ok(child),
        other => Err(format!("sender-worker did not start: {other:?}")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let (endpoint, seen) = receiver().await;
    println!(
        "{} jobs of 1 KiB per run, {} slots and batch {} per process",
        args.events, args.slots, args.batch
    );

    let memory = Sender::builder(MemoryQueue::new())
        .endpoint(Endpoint::new("ep", &endpoint, SECRET).with_max_in_flight(args.slots))
        .workers(args.slots)
        .batch(args.batch)
        .allow_private_networks()
        .build()?;
    let workers = memory.spawn();
    let ceiling = drain(memory.queue(), jobs(args.events, 0), &seen).await?;
    workers.shutdown(Duration::from_secs(5)).await;
    println!(
        "{:<44} {:>9.0}/s  100.0 %",
        "MemoryQueue, 1 process (ceiling)", ceiling
    );

    let mut run = 1;
    for url in &args.queues {
        let kind = url.split(':').next().unwrap_or("queue");
        for &processes in &args.processes {
            let ns = format!("hg_bench_{}_{run}", std::process::id());
            let ns = if kind.starts_with("redis") {
                ns.replace('_', ":")
            } else {
                ns
            };
            let queue = BoxedQueue::open(url, Some(&ns)).await?;
            let mut children = Vec::new();
            for _ in 0..processes {
                children.push(spawn_worker(&args, url, &ns, &endpoint).await?);
            }
            let rate = drain(&queue, jobs(args.events, run), &seen).await?;
            drop(children);
            println!(
                "{:<44} {rate:>9.0}/s  {:>5.1} %",
                format!("{kind} queue, {processes} process(es)"),
                100.0 * rate / ceiling
            );
            run += 1;
        }
    }
    Ok(())
}
