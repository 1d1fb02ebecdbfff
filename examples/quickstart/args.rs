//! The quickstart's flags, parsed by hand: four flags with one value each do not pay for a parser crate.

use std::net::SocketAddr;

pub(crate) const USAGE: &str = "\
usage: cargo run --example quickstart -- [--events N] [--store URL] [--queue URL] [--metrics-addr ADDR]
  --events N           how many events to publish (default 5000; 100 to 1000000)
  --store URL          the receiver's idempotency store: memory: (default), redis://…, postgres://…
  --queue URL          the sender's queue: memory: (default), redis://…, postgres://…
  --metrics-addr ADDR  serve Prometheus metrics at http://ADDR/metrics while the demo runs";

/// The fewest events for which every scenario has enough traffic to show (the dead endpoint gets 15 %: its
/// breaker needs 5 failures to open).
const MIN_EVENTS: usize = 100;
const MAX_EVENTS: usize = 1_000_000;

/// What to run.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) events: usize,
    pub(crate) store: String,
    pub(crate) queue: String,
    pub(crate) metrics_addr: Option<SocketAddr>,
}

/// The command line: run, or print the usage.
#[derive(Debug)]
pub(crate) enum Command {
    Run(Options),
    Help,
}

/// Parses `--flag value` and `--flag=value`. The error is a message for the user (the caller prints the
/// usage beside it and exits 2).
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut options = Options {
        events: 5_000,
        store: "memory:".to_owned(),
        queue: "memory:".to_owned(),
        metrics_addr: None,
    };
    let mut seen: Vec<String> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        if !matches!(
            flag.as_str(),
            "--events" | "--store" | "--queue" | "--metrics-addr"
        ) {
            return Err(format!("unexpected argument `{arg}`"));
        }
        if seen.contains(&flag) {
            return Err(format!("`{flag}` may be given only once"));
        }
        seen.push(flag.clone());
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?,
        };
        match flag.as_str() {
            "--events" => {
                options.events = value
                    .parse()
                    .ok()
                    .filter(|n| (MIN_EVENTS..=MAX_EVENTS).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "`--events` must be a whole number from {MIN_EVENTS} to {MAX_EVENTS}, not `{value}`"
                        )
                    })?;
            }
            "--store" => options.store = url(&flag, value)?,
            "--queue" => options.queue = url(&flag, value)?,
            _ => {
                options.metrics_addr = Some(value.parse().map_err(|_| {
                    format!(
                        "`--metrics-addr` must be an address like 127.0.0.1:9000, not `{value}`"
                    )
                })?);
            }
        }
    }
    Ok(Command::Run(options))
}

/// A backend URL: `memory:`, `redis://…`/`rediss://…` or `postgres://…`/`postgresql://…`. Whether this build
/// can open it is decided when it is opened; only its shape is checked here. The error names the scheme,
/// never the URL (it may hold a password).
fn url(flag: &str, value: String) -> Result<String, String> {
    let scheme = value.split_once(':').map(|(s, _)| s);
    match scheme {
        Some("memory" | "redis" | "rediss" | "postgres" | "postgresql") => Ok(value),
        Some(other) => Err(format!(
            "`{flag}`: unknown scheme `{other}`: expected memory:, redis://… or postgres://…"
        )),
        None => Err(format!(
            "`{flag}` must be a URL: memory:, redis://… or postgres://…"
        )),
    }
}
