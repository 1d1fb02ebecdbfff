//! What an operator does: read a breaker's state, list the dead-letter queue, replay dead letters.

use std::collections::BTreeMap;

use hookguard_sender::{
    BoxedQueue, BreakerState, DeadLetterFilter, JobState, Page, Queue, QueueError, Sender,
};

use crate::progress::Progress;

/// An endpoint's breaker, in words.
pub(crate) fn breaker(sender: &Sender<BoxedQueue>, id: &str) -> String {
    match sender.breaker_state(id) {
        Some(BreakerState::Closed { failures }) => {
            format!("closed ({failures} failures in a row)")
        }
        Some(BreakerState::Open { until }) => {
            let left = until.saturating_duration_since(sender.now());
            format!("open (half-opens in {} ms)", left.as_millis())
        }
        Some(BreakerState::HalfOpen { probing }) => {
            format!(
                "half-open ({})",
                if probing {
                    "probe out"
                } else {
                    "waiting for a probe"
                }
            )
        }
        None => "unknown endpoint".into(),
    }
}

/// Lists the dead-letter queue, page by page: counts by endpoint and reason, one example each.
pub(crate) async fn list_dead_letters(
    queue: &BoxedQueue,
    progress: &Progress,
) -> Result<BTreeMap<(String, String), u64>, QueueError> {
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut examples: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut page = Page::first(500);
    loop {
        let listed = queue.dead_letters(&DeadLetterFilter::all(), page).await?;
        for record in &listed.items {
            let reason = match record.state {
                JobState::Dead { reason, .. } => reason.to_string(),
                _ => "?".into(),
            };
            let key = (record.job.endpoint_id.clone(), reason);
            *counts.entry(key.clone()).or_insert(0) += 1;
            examples.entry(key).or_insert_with(|| {
                let attempts: Vec<String> = record
                    .attempts
                    .iter()
                    .map(|a| a.result.to_string())
                    .collect();
                let attempts = if attempts.is_empty() {
                    "no attempt".to_owned()
                } else {
                    attempts.join(" → ")
                };
                format!("{}: {attempts}", record.job.event_id)
            });
        }
        match listed.next {
            Some(cursor) if !listed.items.is_empty() => {
                page = Page {
                    limit: 500,
                    after: Some(cursor),
                };
            }
            _ => break,
        }
    }
    progress.println(format!(
        "dead-letter queue: {} jobs",
        counts.values().sum::<u64>()
    ));
    for ((endpoint, reason), n) in &counts {
        let example = examples
            .get(&(endpoint.clone(), reason.clone()))
            .map_or("", String::as_str);
        progress.println(format!(
            "  {endpoint:<10} {reason:<22} {n:>5}   e.g. {example}"
        ));
    }
    Ok(counts)
}

/// Replays every dead letter of `endpoint`, a bounded batch at a time.
pub(crate) async fn replay_all(
    sender: &Sender<BoxedQueue>,
    endpoint: &str,
) -> Result<usize, QueueError> {
    let mut total = 0;
    loop {
        let (n, more) = sender
            .queue()
            .replay_all(&DeadLetterFilter::endpoint(endpoint), sender.now(), 1_000)
            .await?;
        total += n;
        if !more || n == 0 {
            return Ok(total);
        }
    }
}
