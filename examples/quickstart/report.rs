//! The summary: a table counted from the sender's job records and the receiver's tallies, then the
//! guarantees, each checked against those counts. Nothing here is a constant: a broken guarantee prints
//! `FAIL` and the demo exits 1.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hookguard_sender::{AttemptErrorKind, AttemptResult, DeadLetterReason, JobRecord, JobState};

use crate::attacks::Probe;
use crate::events::{self, Kind};
use crate::faults::Injected;
use crate::progress::Observed;
use crate::receiver::{Answers, Receiver};
use crate::{ANALYTICS_LIMIT, ENDPOINTS};

/// Everything the summary is computed from.
#[derive(Debug)]
pub(crate) struct Inputs<'a> {
    pub(crate) events: u64,
    pub(crate) run: &'a str,
    /// Every job's final record, by endpoint id.
    pub(crate) records: &'a HashMap<String, Vec<JobRecord>>,
    pub(crate) receiver: &'a Receiver,
    pub(crate) observed: &'a Observed,
    pub(crate) probes: &'a [Probe],
    /// The dead-letter queue before the replays: `(endpoint, reason) → count`.
    pub(crate) dead_letters: &'a BTreeMap<(String, String), u64>,
    /// Every phase ended because its work was done, not because nothing moved any more.
    pub(crate) settled: bool,
}

/// One row of the table.
#[derive(Debug, Default)]
struct Row {
    jobs: usize,
    attempts: usize,
    retried: usize,
    delivered: usize,
    dead: usize,
    replayed: u64,
    rejected: u64,
    /// Enqueued → acknowledged, for each delivered job.
    latencies: Vec<Duration>,
}

fn row(records: &[JobRecord], answers: Option<&Answers>) -> Row {
    let mut r = Row {
        jobs: records.len(),
        replayed: answers.map_or(0, |a| a.replayed),
        rejected: answers.map_or(0, Answers::rejected_total),
        ..Row::default()
    };
    for record in records {
        r.attempts += record.attempts.len();
        r.retried += record.attempts.iter().filter(|a| a.number > 1).count();
        match record.state {
            JobState::Delivered { at } => {
                r.delivered += 1;
                r.latencies
                    .push(at.saturating_duration_since(record.job.created_at));
            }
            JobState::Dead { .. } => r.dead += 1,
            _ => {}
        }
    }
    r.latencies.sort_unstable();
    r
}

/// The nearest-rank percentile, or `None` for no samples.
fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn ms(d: Option<Duration>) -> String {
    match d {
        None => "-".to_owned(),
        // Job times are whole milliseconds.
        Some(d) if d < Duration::from_millis(1) => "<1 ms".to_owned(),
        Some(d) if d < Duration::from_secs(10) => format!("{} ms", d.as_millis()),
        Some(d) => format!("{:.1} s", d.as_secs_f64()),
    }
}

/// Prints the table and the checks; returns whether every guarantee held.
pub(crate) fn print(inputs: &Inputs<'_>) -> bool {
    let answers = inputs.receiver.answers();
    let empty = Vec::new();
    let rows: Vec<(&str, &str, Row)> = ENDPOINTS
        .iter()
        .map(|(id, role)| {
            let records = inputs.records.get(*id).unwrap_or(&empty);
            (*id, *role, row(records, answers.get(*id)))
        })
        .collect();

    println!(
        "\n{:<10} {:<34} {:>5} {:>8} {:>7} {:>9} {:>6} {:>8} {:>5} {:>8} {:>8}",
        "endpoint",
        "scenario",
        "jobs",
        "attempts",
        "retried",
        "delivered",
        "dedup",
        "rejected",
        "dead",
        "p50",
        "p99"
    );
    let mut total = Row::default();
    for (id, role, r) in &rows {
        println!(
            "{:<10} {:<34} {:>5} {:>8} {:>7} {:>9} {:>6} {:>8} {:>5} {:>8} {:>8}",
            id,
            role,
            r.jobs,
            r.attempts,
            r.retried,
            r.delivered,
            r.replayed,
            r.rejected,
            r.dead,
            ms(percentile(&r.latencies, 50)),
            ms(percentile(&r.latencies, 99)),
        );
        total.jobs += r.jobs;
        total.attempts += r.attempts;
        total.retried += r.retried;
        total.delivered += r.delivered;
        total.dead += r.dead;
        total.replayed += r.replayed;
        total.rejected += r.rejected;
        total.latencies.extend_from_slice(&r.latencies);
    }
    total.latencies.sort_unstable();
    println!(
        "{:<10} {:<34} {:>5} {:>8} {:>7} {:>9} {:>6} {:>8} {:>5} {:>8} {:>8}",
        "total",
        "",
        total.jobs,
        total.attempts,
        total.retried,
        total.delivered,
        total.replayed,
        total.rejected,
        total.dead,
        ms(percentile(&total.latencies, 50)),
        ms(percentile(&total.latencies, 99)),
    );
    println!(
        "dedup: answered from the idempotency store (receiver); rejected: refused by the layer before any \
         handler (receiver);\nthe rest from the sender's job records; p50/p99: enqueued → acknowledged per \
         delivered job (retries, backoff,\nrate-limit waits and warehouse's outage included); dead: in the \
         dead-letter queue at the end."
    );

    let by_id: HashMap<&str, &Row> = rows.iter().map(|(id, _, r)| (*id, r)).collect();
    let checks = checks(inputs, &by_id, &answers);
    println!("\nguarantees:");
    for (ok, line) in &checks {
        println!("  {} {line}", if *ok { "ok  " } else { "FAIL" });
    }
    let all = checks.iter().all(|(ok, _)| *ok);

    let effects = inputs.receiver.effects_total();
    println!(
        "\nhandler effects == events: {effects} == {}",
        inputs.events
    );
    all && effects == inputs.events
}

fn records<'a>(inputs: &'a Inputs<'_>, id: &str) -> &'a [JobRecord] {
    inputs.records.get(id).map_or(&[], Vec::as_slice)
}

#[allow(clippy::too_many_lines)] // one guarantee after another, each short
fn checks(
    inputs: &Inputs<'_>,
    rows: &HashMap<&str, &Row>,
    answers: &HashMap<String, Answers>,
) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let none = Row::default();
    let get = |id: &str| -> &Row { rows.get(id).copied().unwrap_or(&none) };
    let replayed = |label: &str| answers.get(label).map_or(0, |a| a.replayed);

    // Exactly once: every event's effect, at the endpoint that owns its type, and nowhere else.
    let effects = inputs.receiver.effects();
    let (mut missing, mut doubled) = (0u64, 0u64);
    let mut per_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for n in 0..inputs.events {
        let kind = Kind::of(n);
        let id = events::id(inputs.run, n);
        let got = effects.get(&(kind.owner(), id)).copied().unwrap_or(0);
        match got {
            0 => missing += 1,
            1 => {}
            _ => doubled += 1,
        }
        *per_kind.entry(kind.owner()).or_insert(0) += u64::from(got);
    }
    // Effects recorded under another route or an unknown id.
    let stray = (effects.len() as u64).saturating_sub(inputs.events - missing);
    out.push((
        missing == 0 && doubled == 0 && stray == 0,
        format!(
            "every event took effect exactly once at its subscriber ({}); missing: {missing}, twice or more: \
             {doubled}, stray: {stray}",
            per_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));

    // The flaky endpoint: every fault recovered by a retry, lost responses answered from the store.
    let crm = get("crm");
    let injected: Injected = inputs.receiver.faults.injected();
    out.push((
        crm.delivered == crm.jobs
            && injected.total() > 0
            && crm.retried as u64 >= injected.total()
            && replayed("crm") >= injected.lost_responses,
        format!(
            "crm (flaky): {}/{} delivered after {} retries; injected {} × 500, {} timeouts, {} lost responses \
             — {} retries answered from the store",
            crm.delivered,
            crm.jobs,
            crm.retried,
            injected.server_errors,
            injected.timeouts,
            injected.lost_responses,
            replayed("crm")
        ),
    ));

    // Duplicates from the relay: all delivered, absorbed by the layer (one of each pair answered from the store).
    let relay = get("relay");
    let pair_replays = replayed("relay") + replayed("billing");
    out.push((
        relay.delivered == relay.jobs && relay.jobs > 0 && pair_replays >= relay.jobs as u64,
        format!(
            "relay duplicates: {} of {} delivered, {pair_replays} of the pairs' deliveries answered from the store \
             (no second effect)",
            relay.delivered, relay.jobs
        ),
    ));

    // The breaker: opened on the dead endpoint, so most of its jobs never spent an attempt on it.
    let warehouse = records(inputs, "warehouse");
    let refused = warehouse
        .iter()
        .flat_map(|r| &r.attempts)
        .filter(|a| a.result.error_kind() == Some(AttemptErrorKind::Connect))
        .count();
    let opened = inputs.observed.breakers_opened.contains("warehouse");
    let healthy_closed = ["billing", "analytics"]
        .iter()
        .all(|id| !inputs.observed.breakers_opened.contains(*id));
    out.push((
        opened && healthy_closed && refused < warehouse.len(),
        format!(
            "breaker: warehouse's opened ({}); {refused} connection attempts for {} jobs while it was down; \
             billing's and analytics' stayed closed",
            if opened { "seen open" } else { "never seen open" },
            warehouse.len()
        ),
    ));

    // The rate limit: in any one-second window, at most the burst plus a second's worth.
    let analytics = records(inputs, "analytics");
    let mut starts: Vec<i64> = analytics
        .iter()
        .flat_map(|r| &r.attempts)
        .map(|a| a.at.as_unix_millis())
        .collect();
    starts.sort_unstable();
    let (mut peak, mut lo) = (0, 0);
    for hi in 0..starts.len() {
        while starts[hi] - starts[lo] >= 1_000 {
            lo += 1;
        }
        peak = peak.max(hi - lo + 1);
    }
    let (rate, burst) = ANALYTICS_LIMIT;
    // Attempt times are whole milliseconds: one more may fall in a window by rounding.
    let bound = burst as usize + rate as usize + 1;
    let span = match (starts.first(), starts.last()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1_000.0,
        _ => 0.0,
    };
    let analytics_row = get("analytics");
    out.push((
        analytics_row.delivered == analytics_row.jobs && peak <= bound,
        format!(
            "rate limit: analytics {}/{} delivered, at most {peak} attempts in any 1 s (limit {rate}/s, burst {burst}), \
             {:.1}/s over {span:.1} s",
            analytics_row.delivered,
            analytics_row.jobs,
            if span > 0.0 { starts.len() as f64 / span } else { 0.0 }
        ),
    ));

    // The probes: a replay inside the tolerance is answered from the store; a forgery and a stale replay are
    // refused.
    for p in inputs.probes {
        out.push((
            p.ok(),
            format!(
                "{}: {} (expected {})",
                p.what,
                p.answer_text(),
                p.expected_text()
            ),
        ));
    }

    // The dead-letter queue: what was in it, and what the replays did.
    let dlq = |endpoint: &str| -> u64 {
        inputs
            .dead_letters
            .iter()
            .filter(|((e, _), _)| e == endpoint)
            .map(|(_, n)| n)
            .sum()
    };
    let wh = get("warehouse");
    out.push((
        dlq("warehouse") == wh.jobs as u64 && wh.delivered == wh.jobs && wh.jobs > 0,
        format!(
            "warehouse: {} jobs dead-lettered while down, replayed once it was back: {} delivered",
            dlq("warehouse"),
            wh.delivered
        ),
    ));
    let legacy = records(inputs, "legacy");
    let runs = inputs.receiver.legacy_runs();
    let legacy_ok = legacy.iter().all(|r| {
        matches!(
            r.state,
            JobState::Dead {
                reason: DeadLetterReason::PermanentStatus(404),
                ..
            }
        ) && r.attempts.len() == 2
            && r.attempts
                .iter()
                .all(|a| a.result == AttemptResult::Status(404))
            && runs.get(&r.job.event_id) == Some(&1)
    });
    out.push((
        legacy_ok && dlq("legacy") == legacy.len() as u64 && replayed("legacy") == legacy.len() as u64,
        format!(
            "legacy: {} dead letters (404) replayed; each answered with the stored 404, its handler ran once \
             ({} runs)",
            legacy.len(),
            runs.values().map(|n| u64::from(*n)).sum::<u64>()
        ),
    ));
    let impostor = records(inputs, "impostor");
    let refused_401 = impostor.iter().all(|r| {
        matches!(
            r.state,
            JobState::Dead {
                reason: DeadLetterReason::PermanentStatus(401),
                ..
            }
        )
    });
    let impostor_rejected = answers
        .get("impostor")
        .and_then(|a| a.rejected.get("signature-mismatch"))
        .copied()
        .unwrap_or(0);
    out.push((
        refused_401 && impostor_rejected == impostor.len() as u64 && dlq("impostor") == impostor.len() as u64,
        format!(
            "impostor (wrong secret): {impostor_rejected} of {} refused with 401 signature-mismatch, \
             dead-lettered, not replayed",
            impostor.len()
        ),
    ));

    // Nothing left behind.
    let pending: usize = inputs
        .records
        .values()
        .flatten()
        .filter(|r| !matches!(r.state, JobState::Delivered { .. } | JobState::Dead { .. }))
        .count();
    out.push((
        pending == 0 && inputs.settled,
        format!(
            "jobs neither delivered nor dead-lettered: {pending}; every phase finished its work: {}",
            if inputs.settled { "yes" } else { "no (a wait gave up)" }
        ),
    ));
    out
}
