//! Throughput of the sender: deliveries per second with `MemoryQueue` to a local axum receiver that answers
//! 200 at once, 1 KiB payloads, and the cost of one delivery split into queue, signing and HTTP.
//!
//! Run with: `cargo run --release -p hookguard-sender --example throughput -- [jobs] [workers] [batch]`
//! (defaults: 50000 jobs, 32 workers, batch 1).

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard::{Scheme, Signer};
use hookguard_sender::{
    Attempt, AttemptResult, Endpoint, Event, LeaseOptions, MemoryQueue, NewJob, Queue, Sender,
    Timestamp, Transition,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn per_op(total: Duration, n: usize) -> f64 {
    total.as_secs_f64() * 1e6 / n as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs = arg(1, 50_000);
    let workers = arg(2, 32);
    let batch = arg(3, 1);
    let payload = Bytes::from(format!("{{\"data\":\"{}\"}}", "x".repeat(1024 - 11)));
    assert_eq!(payload.len(), 1024);

    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::OK });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // 1. End to end: enqueue `jobs`, then let the workers drain the queue.
    let sender = Sender::builder(MemoryQueue::with_capacity(jobs + 1))
        .allow_private_networks()
        .workers(workers)
        .batch(batch)
        .poll_interval(Duration::from_millis(5))
        .endpoint(Endpoint::new("bench", url.clone(), SECRET).with_max_in_flight(workers * batch))
        .build()?;
    let started = Instant::now();
    for _ in 0..jobs {
        sender
            .send("bench", Event::new("bench.event", payload.clone()))
            .await?;
    }
    let enqueue = started.elapsed();
    let started = Instant::now();
    let running = sender.spawn();
    loop {
        let s = sender.queue().stats(sender.now()).await?;
        if s.due + s.scheduled + s.in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = started.elapsed();
    running.shutdown(Duration::from_secs(5)).await;
    let dead = sender.queue().stats(sender.now()).await?.dead;
    println!("end to end: {jobs} deliveries of 1 KiB, {workers} workers × batch {batch}");
    println!(
        "  enqueue: {:.2} µs/job ({:.0} jobs/s)",
        per_op(enqueue, jobs),
        jobs as f64 / enqueue.as_secs_f64()
    );
    println!(
        "  deliver: {:.3} s → {:.0} deliveries/s ({dead} dead-lettered)",
        drain.as_secs_f64(),
        jobs as f64 / drain.as_secs_f64()
    );

    // 2. Queue alone: enqueue + lease + ack per job.
    let q = MemoryQueue::with_capacity(jobs + 1);
    let now = Timestamp::now();
    let started = Instant::now();
    for i in 0..jobs {
        q.enqueue(NewJob::new(
            "bench",
            format!("evt_{i}"),
            "t",
            payload.clone(),
            now,
        )?)
        .await?;
        let l = q
            .lease(now, 1, Duration::from_secs(60), &LeaseOptions::all())
            .await?
            .jobs
            .remove(0);
        let attempt = Attempt::new(1, now, AttemptResult::Status(200), Duration::ZERO);
        for r in q
            .conclude(now, vec![(l.handle, Transition::Ack { attempt })])
            .await?
        {
            r?;
        }
    }
    let queue = started.elapsed();

    // 3. Signing alone.
    let signer = Signer::new(Scheme::standard_webhooks(), SECRET)?;
    let started = Instant::now();
    for i in 0..jobs {
        std::hint::black_box(signer.sign(
            "msg_0123456789abcdef",
            1_800_000_000 + i as i64,
            &payload,
        )?);
    }
    let sign = started.elapsed();

    // 4. HTTP alone: one reqwest client, sequential POSTs of the same signed request (one connection).
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()?;
    let headers = signer.sign("msg_0123456789abcdef", 1_800_000_000, &payload)?;
    let n_http = jobs.min(20_000);
    let started = Instant::now();
    for _ in 0..n_http {
        let r = client
            .post(&url)
            .headers(headers.clone())
            .body(payload.clone())
            .send()
            .await?;
        std::hint::black_box(r.bytes().await?);
    }
    let http = started.elapsed();

    println!("cost of one delivery, each part alone:");
    println!(
        "  queue (enqueue + lease + ack, MemoryQueue): {:.2} µs",
        per_op(queue, jobs)
    );
    println!(
        "  signing (Standard Webhooks HMAC-SHA256, 1 KiB): {:.2} µs",
        per_op(sign, jobs)
    );
    println!(
        "  HTTP (sequential POST + 200, keep-alive, client and server on the same 2 cores): {:.2} µs",
        per_op(http, n_http)
    );
    Ok(())
}
