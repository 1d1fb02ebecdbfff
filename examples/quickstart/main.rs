//! Run with: `cargo run --example quickstart` (`-- --help` for the flags) — the whole path in one process,
//! over real HTTP on loopback: a `Sender` publishes thousands of events, its workers sign them and POST them
//! to an axum app guarded by `WebhookLayer`, and every event must take effect exactly once.
//!
//! The endpoints (see `ENDPOINTS`) cover what goes wrong in practice:
//! - billing, healthy; a relay publishes one invoice in ten a second time, and the layer absorbs it;
//! - crm, flaky: scripted 500s, timeouts and responses lost after its handler ran (`faults.rs`), recovered
//!   by retries with backoff, lost responses answered from the idempotency store on the retry;
//! - warehouse, down: connections refused, its breaker opens while the others keep their pace; parked in
//!   the dead-letter queue, then replayed once it is back;
//! - analytics, rate-limited;
//! - legacy, answering 404: dead-lettered, replayed, answered with the stored 404 (its handler runs once);
//! - impostor, signing with the wrong secret: refused with 401 and dead-lettered;
//! - and, by hand, a forged request, a stale replay and a captured request sent again (`attacks.rs`).
//!
//! A live progress bar (plain lines when stdout is not a terminal), then a summary table and the guarantees,
//! each checked: a broken one exits 1; bad flags exit 2.

mod args;
mod attacks;
mod backends;
mod events;
mod faults;
mod operator;
mod progress;
mod receiver;
mod report;
mod senders;

use std::collections::HashMap;
use std::error::Error;
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookguard_sender::metrics::{DELIVERY_SECONDS, DELIVERY_SECONDS_BUCKETS};
use hookguard_sender::{BoxedQueue, Enqueued, JobRecord, MemoryQueue, Queue, QueueError, Sender};
use hookguard_tower::store::BoxedStore;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::args::{Command, Options, USAGE};
use crate::faults::Faults;
use crate::progress::Progress;
use crate::receiver::Receiver;

/// The sender's endpoints, in the table's order, with what each one shows.
pub(crate) const ENDPOINTS: [(&str, &str); 7] = [
    ("billing", "healthy"),
    ("relay", "publishes 1 invoice in 10 again"),
    ("crm", "flaky: 500s, timeouts, lost replies"),
    ("analytics", "rate-limited: 40/s, burst 10"),
    ("warehouse", "down: breaker opens; DLQ, replay"),
    ("legacy", "answers 404: DLQ, replay"),
    ("impostor", "wrong secret: refused"),
];

/// analytics' rate limit: per second, burst.
pub(crate) const ANALYTICS_LIMIT: (f64, u32) = (40.0, 10);

/// A wait that sees nothing move for this long gives up (the checks then say what broke).
const STALL: Duration = Duration::from_secs(15);

/// The running demo, shared with the monitor.
#[derive(Debug)]
pub(crate) struct Demo {
    pub(crate) sender: Sender<BoxedQueue>,
    /// A second publisher with its own queue, which sends some events again under the same ids (an outbox
    /// relay that published twice, a client retrying its API call): only the receiver can absorb those.
    pub(crate) relay: Sender<MemoryQueue>,
    pub(crate) receiver: Arc<Receiver>,
    pub(crate) published: Published,
}

/// The jobs published so far.
#[derive(Debug, Default)]
pub(crate) struct Published {
    main: Mutex<Vec<Enqueued>>,
    relay: Mutex<Vec<Enqueued>>,
    jobs: AtomicU64,
}

impl Published {
    fn add(&self, list: &Mutex<Vec<Enqueued>>, enqueued: Vec<Enqueued>) {
        self.jobs
            .fetch_add(enqueued.len() as u64, Ordering::Relaxed);
        list.lock().expect("published lock").extend(enqueued);
    }

    /// Jobs on both queues.
    pub(crate) fn jobs(&self) -> u64 {
        self.jobs.load(Ordering::Relaxed)
    }

    fn main(&self) -> Vec<Enqueued> {
        self.main.lock().expect("published lock").clone()
    }

    fn all(&self) -> Vec<Enqueued> {
        let mut all = self.main();
        all.extend(self.relay.lock().expect("published lock").iter().cloned());
        all
    }
}

fn main() -> ExitCode {
    let options = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("quickstart: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("quickstart: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let opened = runtime.block_on(async {
        let store = backends::store(&options.store).await?;
        let queue = backends::queue(&options.queue).await?;
        Ok::<_, backends::OpenError>((store, queue))
    });
    let (store, queue) = match opened {
        Ok(backends) => backends,
        Err(e @ backends::OpenError::Unsupported(_)) => {
            eprintln!("quickstart: {e}");
            return ExitCode::from(2);
        }
        Err(e @ backends::OpenError::Failed(_)) => {
            eprintln!("quickstart: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&options, store, queue)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("quickstart: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the demo; `Ok(false)` if a guarantee broke.
#[allow(clippy::too_many_lines)] // the story in order, one phase after another
async fn run(o: &Options, store: BoxedStore, queue: BoxedQueue) -> Result<bool, Box<dyn Error>> {
    let started = Instant::now();
    if let Some(addr) = o.metrics_addr {
        serve_metrics(addr).await?;
    }
    let run = run_id();

    // The receiver: the main app, and the warehouse's port, bound but not listening: connections to it are
    // refused until it is revived.
    let receiver = Arc::new(Receiver::new(Faults::new(senders::FLAKY_TIMEOUT * 2)));
    let layer = receiver::webhook_layer(store)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, receiver::app(&receiver, &layer)).into_future());
    let warehouse_socket = TcpSocket::new_v4()?;
    warehouse_socket.bind("127.0.0.1:0".parse()?)?;
    let warehouse_addr = warehouse_socket.local_addr()?;

    let demo = Arc::new(Demo {
        sender: senders::main_sender(queue, &base, warehouse_addr)?,
        relay: senders::relay_sender(&base)?,
        receiver,
        published: Published::default(),
    });
    println!(
        "hookguard quickstart: {} events, one process, real HTTP on loopback (run {run})",
        o.events
    );
    println!(
        "  receiver  {base} — axum + WebhookLayer, idempotency store {}",
        backends::redacted(&o.store)
    );
    println!(
        "  sender    queue {}, 64 workers, retries 25 ms doubling to 400 ms (8 attempts), breaker 5 failures/500 ms",
        backends::redacted(&o.queue)
    );
    if let Some(addr) = o.metrics_addr {
        println!("  metrics   http://{addr}/metrics");
    }
    for (id, role) in ENDPOINTS {
        println!("  {id:<10}{role}");
    }
    println!();

    let progress = Arc::new(Progress::new(started));
    let (stop, stopped) = watch::channel(false);
    let monitor = progress::spawn_monitor(Arc::clone(&demo), Arc::clone(&progress), stopped);
    let workers = demo.sender.spawn();
    let relay_workers = demo.relay.spawn();
    let mut settled = true;

    // 1. Publish at a steady rate; everything but warehouse gets through while it is down.
    senders::publish(&demo, &run, o.events).await?;
    progress.println(format!(
        "published {} events ({} jobs) in {:.1} s; waiting for every endpoint but warehouse",
        o.events,
        demo.published.jobs(),
        started.elapsed().as_secs_f64()
    ));
    let main_jobs = demo.published.main();
    let owed = main_jobs
        .iter()
        .filter(|e| matches!(e.endpoint_id.as_str(), "billing" | "crm" | "analytics"))
        .count() as u64;
    settled &= settle(&demo, &progress, "the healthy endpoints", |l| {
        l.main_delivered() == owed && l.relay_pending == 0
    })
    .await?;
    progress.println(format!(
        "every endpoint but warehouse done at {:.1} s; warehouse's breaker: {}",
        started.elapsed().as_secs_f64(),
        operator::breaker(&demo.sender, "warehouse")
    ));

    // 2. An attacker's tries with a captured request.
    let captured = demo
        .receiver
        .captured()
        .ok_or("billing received no request to capture")?;
    let probes = attacks::run(&format!("{base}/billing?via=probe"), &captured).await?;
    for p in &probes {
        progress.println(format!("  {:<54} → {}", p.what, p.answer_text()));
    }

    // 3. warehouse is still down: the operator parks its jobs in the dead-letter queue.
    demo.sender
        .disable("warehouse", "down: parked in the dead-letter queue")
        .await?;
    settled &= settle(&demo, &progress, "warehouse's jobs into the DLQ", |l| {
        l.main_pending == 0
    })
    .await?;
    let dead_letters = operator::list_dead_letters(demo.sender.queue(), &progress).await?;

    // 4. warehouse is back: listen, enable, replay its dead letters; replay legacy's too, which the layer
    //    answers with the stored 404 without running its handler again. The impostor's stay: its key is wrong.
    let warehouse_listener = warehouse_socket.listen(1024)?;
    tokio::spawn(
        axum::serve(
            warehouse_listener,
            receiver::warehouse_app(&demo.receiver, &layer),
        )
        .into_future(),
    );
    demo.sender.enable("warehouse").await?;
    let replayed_warehouse = operator::replay_all(&demo.sender, "warehouse").await?;
    let replayed_legacy = operator::replay_all(&demo.sender, "legacy").await?;
    progress.println(format!(
        "warehouse is back: replayed {replayed_warehouse} of its dead letters; replayed legacy's {replayed_legacy}"
    ));
    settled &= settle(&demo, &progress, "the replays", |l| l.main_pending == 0).await?;
    progress.println(format!(
        "replays done at {:.1} s; warehouse's breaker: {}",
        started.elapsed().as_secs_f64(),
        operator::breaker(&demo.sender, "warehouse")
    ));

    workers.shutdown(Duration::from_secs(5)).await;
    relay_workers.shutdown(Duration::from_secs(5)).await;
    let _ = stop.send(true);
    let observed = monitor.await?;
    progress.finish();

    // The summary, from every job's final record.
    let mut records: HashMap<String, Vec<JobRecord>> = HashMap::new();
    for e in demo.published.all() {
        let queue_record = if e.endpoint_id == "relay" {
            demo.relay.queue().get(e.job_id).await?
        } else {
            demo.sender.queue().get(e.job_id).await?
        };
        let record = queue_record.ok_or_else(|| format!("{} vanished from the queue", e.job_id))?;
        records.entry(e.endpoint_id).or_default().push(record);
    }
    let ok = report::print(&report::Inputs {
        events: o.events as u64,
        run: &run,
        records: &records,
        receiver: &demo.receiver,
        observed: &observed,
        probes: &probes,
        dead_letters: &dead_letters,
        settled,
    });
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(ok)
}

/// Queue levels, from both queues' stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Levels {
    main_jobs: u64,
    main_pending: u64,
    main_dead: u64,
    relay_pending: u64,
}

impl Levels {
    /// Main-queue jobs delivered so far.
    const fn main_delivered(&self) -> u64 {
        self.main_jobs
            .saturating_sub(self.main_pending)
            .saturating_sub(self.main_dead)
    }
}

async fn levels(demo: &Demo) -> Result<Levels, QueueError> {
    let main = demo.sender.queue().stats(demo.sender.now()).await?;
    let relay = demo.relay.queue().stats(demo.relay.now()).await?;
    let main_jobs = demo.published.main.lock().expect("published lock").len() as u64;
    Ok(Levels {
        main_jobs,
        main_pending: main.due + main.scheduled + main.in_flight,
        main_dead: main.dead,
        relay_pending: relay.due + relay.scheduled + relay.in_flight,
    })
}

/// Waits until `done`, or until nothing has moved for [`STALL`] (then says so and returns `false`).
async fn settle(
    demo: &Demo,
    progress: &Progress,
    what: &str,
    done: impl Fn(&Levels) -> bool,
) -> Result<bool, QueueError> {
    let mut last = None;
    let mut since = Instant::now();
    loop {
        let l = levels(demo).await?;
        if done(&l) {
            return Ok(true);
        }
        let moved = (l, demo.receiver.effects_total());
        if last != Some(moved) {
            last = Some(moved);
            since = Instant::now();
        } else if since.elapsed() > STALL {
            progress.println(format!(
                "waiting for {what}: nothing moved for {} s ({l:?}); giving up",
                STALL.as_secs()
            ));
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serves `/metrics` on `addr` (with explicit buckets for the delivery histogram).
async fn serve_metrics(addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DELIVERY_SECONDS.into()),
            DELIVERY_SECONDS_BUCKETS,
        )?
        .install_recorder()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        // The exporter leaves its housekeeping (draining histogram buffers) to the caller.
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok(())
}

/// A short id for this run, so that its event ids are new to a durable store or queue.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
    format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
}
