//! Run with: `cargo run --release -p hookguard-tower --example store_load --features redis,postgres --
//! redis 16 200000` — drives a store with `C` concurrent tasks, each claiming and completing fresh keys,
//! and prints operations per second (a claim and a complete count one operation each), for the
//! side-by-side runs against `redis-benchmark` and `pgbench` in BENCHMARKS.md (`benches/load/stores.sh`).
//!
//! `store_load redis|postgres CONCURRENCY OPS [claim-only]`; `REDIS_URL` / `DATABASE_URL` default to the
//! local services. Keys go under a fresh prefix `hookguard-load:` (Redis; `benches/load/stores.sh` deletes them
//! afterwards) or a fresh schema (PostgreSQL; dropped by the script too).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hookguard::Timestamp;
use hookguard_tower::store::{
    BoxedStore, Claim, IdempotencyKey, IdempotencyStore, PostgresStore, RedisStore, StoredResponse,
    Token,
};
use http::StatusCode;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (backend, concurrency, ops) = match &args[..] {
        [b, c, n, ..] => (b.to_owned(), c.parse::<u64>()?, n.parse::<u64>()?),
        _ => return Err("usage: store_load redis|postgres CONCURRENCY OPS [claim-only]".into()),
    };
    // As many threads as the tool each run is compared with: redis-benchmark is one event loop, and
    // stores.sh runs pgbench with `-j 2`. On this two-core machine two workers against Redis measured the
    // client's threads waking each other and competing with redis-server (half the operations per second).
    let workers = if backend == "redis" { 1 } else { 2 };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(run(&backend, concurrency, ops, &args))
}

async fn run(
    backend: &str,
    concurrency: u64,
    ops: u64,
    args: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let claim_only = args.get(3).map(String::as_str) == Some("claim-only");
    let tag: String = Token::random().as_bytes()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = match backend {
        "redis" => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            BoxedStore::new(
                RedisStore::connect(&url)
                    .await?
                    .prefix(format!("hookguard-load:{tag}:")),
            )
        }
        "postgres" => {
            let url = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            // One connection per task, as pgbench opens one per client: `connect`'s pool of 16 would
            // measure the pool, not the store.
            let pool = PostgresStore::pool_options()
                .max_connections(u32::try_from(concurrency)?)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&url)
                .await?;
            let store = PostgresStore::new(pool)
                .schema(&format!("hookguard_load_{tag}"))?
                .timeout(Duration::from_secs(10));
            store.migrate().await?;
            BoxedStore::new(store)
        }
        other => return Err(format!("unknown backend {other}").into()),
    };
    let next = Arc::new(AtomicU64::new(0));
    let per_key = if claim_only { 1 } else { 2 };
    let keys = ops / per_key;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (store, next) = (store.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                let (lease, retention) = (Duration::from_secs(60), Duration::from_secs(3600));
                let response = StoredResponse::new(StatusCode::OK, "ok");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= keys {
                        return;
                    }
                    let key = IdempotencyKey::new(format!("evt_{i}"));
                    let now = Timestamp::now();
                    let claim = store.claim(&key, [1; 32], lease, retention, now).await;
                    let Ok(Claim::Acquired { token, .. }) = claim else {
                        panic!("claim of {key}: {claim:?}");
                    };
                    if !claim_only {
                        store
                            .complete(&key, &token, response.clone(), retention, now)
                            .await
                            .expect("complete");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = (keys * per_key) as f64 / secs;
    let what = if claim_only {
        "claim"
    } else {
        "claim+complete"
    };
    println!(
        "{backend} {what} c={concurrency}: {rate:.0} ops/s ({} ops in {secs:.2} s)",
        keys * per_key
    );
    Ok(())
}
