//! The live view while the demo runs: an `indicatif` bar on a terminal, a plain line every second when
//! stdout is piped (CI), both fed by a monitor that samples the queues, the receiver and the breakers.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookguard_sender::{BreakerState, Queue as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Demo;

/// One sample of the whole system.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    jobs: u64,
    finished: u64,
    dead: u64,
    effects: u64,
    replayed: u64,
    rejected: u64,
    /// Endpoints whose breaker is open or half-open, with the state.
    breakers: Vec<(String, &'static str)>,
}

impl Snapshot {
    fn message(&self) -> String {
        let mut msg = format!(
            "effects {} · dead-lettered {} · from the store {} · rejected {}",
            self.effects, self.dead, self.replayed, self.rejected
        );
        for (endpoint, state) in &self.breakers {
            msg.push_str(" · breaker ");
            msg.push_str(state);
            msg.push_str(": ");
            msg.push_str(endpoint);
        }
        msg
    }
}

/// Where progress goes.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    /// stdout is not a terminal: print plain lines instead of drawing.
    plain: bool,
    started: Instant,
    last_line: Mutex<Option<Instant>>,
}

impl Progress {
    pub(crate) fn new(started: Instant) -> Self {
        let plain = !std::io::stdout().is_terminal();
        let bar = if plain {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed:>3} [{bar:30}] {pos}/{len} jobs finished · {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        };
        Self {
            bar,
            plain,
            started,
            last_line: Mutex::new(None),
        }
    }

    /// Prints a line above the bar (or just prints it).
    pub(crate) fn println(&self, line: impl AsRef<str>) {
        if self.plain {
            println!("{}", line.as_ref());
        } else {
            self.bar.println(line.as_ref());
        }
    }

    fn show(&self, s: &Snapshot, force: bool) {
        if s.jobs == 0 {
            return; // nothing published yet
        }
        self.bar.set_length(s.jobs);
        self.bar.set_position(s.finished);
        self.bar.set_message(s.message());
        if !self.plain {
            return;
        }
        let mut last = self.last_line.lock().expect("progress lock");
        if force || last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            println!(
                "  [{:>5.1} s] {}/{} jobs finished · {}",
                self.started.elapsed().as_secs_f64(),
                s.finished,
                s.jobs,
                s.message()
            );
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// What the monitor saw over the whole run.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Endpoints whose breaker was seen open or half-open.
    pub(crate) breakers_opened: BTreeSet<String>,
}

/// Samples every 100 ms until `stop` is set, then draws a last time.
pub(crate) fn spawn_monitor(
    demo: Arc<Demo>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<Observed> {
    tokio::spawn(async move {
        let mut observed = Observed::default();
        loop {
            let stopping = *stop.borrow();
            if let Some(s) = sample(&demo).await {
                for (endpoint, _) in &s.breakers {
                    observed.breakers_opened.insert(endpoint.clone());
                }
                progress.show(&s, stopping);
            }
            if stopping {
                return observed;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.changed() => {}
            }
        }
    })
}

/// A snapshot, or `None` if a queue could not be read this time (the next sample tries again).
async fn sample(demo: &Demo) -> Option<Snapshot> {
    let main = demo.sender.queue().stats(demo.sender.now()).await.ok()?;
    let relay = demo.relay.queue().stats(demo.relay.now()).await.ok()?;
    let jobs = demo.published.jobs();
    let pending =
        main.due + main.scheduled + main.in_flight + relay.due + relay.scheduled + relay.in_flight;
    let answers = demo.receiver.answers();
    let breakers = demo
        .sender
        .endpoint_ids()
        .filter_map(|id| {
            let state = match demo.sender.breaker_state(id)? {
                BreakerState::Closed { .. } => return None,
                BreakerState::Open { .. } => "open",
                BreakerState::HalfOpen { .. } => "half-open",
            };
            Some((id.to_owned(), state))
        })
        .collect();
    Some(Snapshot {
        jobs,
        finished: jobs.saturating_sub(pending),
        dead: main.dead + relay.dead,
        effects: demo.receiver.effects_total(),
        replayed: answers.values().map(|a| a.replayed).sum(),
        rejected: answers.values().map(|a| a.rejected_total()).sum(),
        breakers,
    })
}
