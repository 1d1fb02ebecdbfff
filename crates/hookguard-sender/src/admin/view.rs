//! The JSON shapes the admin API answers with, and the parsing of what it is sent (ids, cursors, times,
//! filters), every failure a 400 with a clear detail.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend::Live;
use super::problem::Problem;
use crate::queue::{
    Attempt, AttemptResult, Cursor, DeadLetterFilter, DeadLetterReason, EndpointState, JobId,
    JobRecord, JobState, QueueStats,
};
use crate::{BreakerState, Timestamp};

/// A page of dead letters holds at most this many items (the API's `limit`).
pub const MAX_PAGE_LIMIT: usize = 500;

/// A bulk replay or purge handles at most this many dead letters per call (`more` says whether to call again).
pub const MAX_BULK_LIMIT: usize = 1000;

/// RFC 3339 in UTC with milliseconds (`2026-12-02T01:02:03.456Z`).
pub(crate) fn rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_unix_millis()) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.as_unix_millis().to_string())
}

/// A time given as RFC 3339 or as whole Unix seconds.
pub(crate) fn parse_time(field: &str, value: &str) -> Result<Timestamp, Problem> {
    if let Ok(secs) = value.parse::<i64>() {
        return secs
            .checked_mul(1000)
            .map(Timestamp::from_unix_millis)
            .ok_or_else(|| Problem::bad_request(format!("`{field}` is out of range")));
    }
    let parsed = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        Problem::bad_request(format!(
            "`{field}` must be an RFC 3339 time (2026-12-02T01:02:03Z) or whole Unix seconds"
        ))
    })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map(Timestamp::from_unix_millis)
        .map_err(|_| Problem::bad_request(format!("`{field}` is out of range")))
}

/// A job id, as `job_42` or `42`.
pub(crate) fn parse_job_id(value: &str) -> Result<JobId, Problem> {
    value
        .strip_prefix("job_")
        .unwrap_or(value)
        .parse::<u64>()
        .map(JobId)
        .map_err(|_| Problem::bad_request("a job id is `job_<number>` (or the number alone)"))
}

/// The opaque cursor string: `<dead_at millis>.<job number>`.
pub(crate) fn format_cursor(c: Cursor) -> String {
    format!("{}.{}", c.dead_at.as_unix_millis(), c.id.0)
}

pub(crate) fn parse_cursor(value: &str) -> Result<Cursor, Problem> {
    let bad = || Problem::bad_request("`cursor` is not a cursor this API returned");
    let (at, id) = value.split_once('.').ok_or_else(bad)?;
    Ok(Cursor {
        dead_at: Timestamp::from_unix_millis(at.parse().map_err(|_| bad())?),
        id: JobId(id.parse().map_err(|_| bad())?),
    })
}

/// An endpoint id from a path or a filter: 1–256 bytes without control characters.
pub(crate) fn check_endpoint_id(value: &str) -> Result<(), Problem> {
    if (1..=256).contains(&value.len()) && !value.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(Problem::bad_request(
            "an endpoint id is 1–256 bytes without control characters",
        ))
    }
}

pub(crate) fn parse_reason(value: &str) -> Result<DeadLetterReason, Problem> {
    DeadLetterReason::parse(value).ok_or_else(|| {
        Problem::bad_request(
            "`reason` must be a dead-letter reason: permanent-status:<code>, redirect:<code>, \
             endpoint-gone, attempts-exhausted, endpoint-disabled, unknown-endpoint, blocked-target, \
             signing-failed, lease-expired or expired",
        )
    })
}

pub(crate) fn parse_limit(
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, Problem> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(Problem::bad_request(format!(
            "`limit` must be a whole number from 1 to {max}"
        ))),
    }
}

/// The dead-letter filter a listing, replay or purge request gives.
pub(crate) fn parse_filter(
    endpoint: Option<&str>,
    reason: Option<&str>,
    since: Option<&str>,
    before: Option<&str>,
) -> Result<DeadLetterFilter, Problem> {
    if let Some(e) = endpoint {
        check_endpoint_id(e)?;
    }
    Ok(DeadLetterFilter {
        endpoint_id: endpoint.map(str::to_owned),
        since: since.map(|v| parse_time("since", v)).transpose()?,
        before: before.map(|v| parse_time("before", v)).transpose()?,
        reason: reason.map(parse_reason).transpose()?,
    })
}

pub(crate) fn dead_reason(record: &JobRecord) -> Option<DeadLetterReason> {
    match record.state {
        JobState::Dead { reason, .. } => Some(reason),
        _ => None,
    }
}

/// Job counts.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StatsView {
    pub(crate) due: u64,
    pub(crate) scheduled: u64,
    pub(crate) in_flight: u64,
    pub(crate) dead: u64,
}

impl From<QueueStats> for StatsView {
    fn from(s: QueueStats) -> Self {
        Self {
            due: s.due,
            scheduled: s.scheduled,
            in_flight: s.in_flight,
            dead: s.dead,
        }
    }
}

/// A breaker, as this process sees it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BreakerView {
    /// `closed`, `open` or `half_open`.
    pub(crate) state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failures: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probing: Option<bool>,
}

impl From<BreakerState> for BreakerView {
    fn from(b: BreakerState) -> Self {
        match b {
            BreakerState::Closed { failures } => Self {
                state: "closed",
                failures: Some(failures),
                until: None,
                probing: None,
            },
            BreakerState::Open { until } => Self {
                state: "open",
                failures: None,
                until: Some(rfc3339(until)),
                probing: None,
            },
            BreakerState::HalfOpen { probing } => Self {
                state: "half_open",
                failures: None,
                until: None,
                probing: Some(probing),
            },
        }
    }
}

/// An endpoint: its shared state (from the queue) and this process's breaker and in-flight count.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct EndpointView {
    pub(crate) id: String,
    /// Configured in this process's sender.
    pub(crate) configured: bool,
    pub(crate) enabled: bool,
    /// Paused now.
    pub(crate) paused: bool,
    pub(crate) paused_until: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) changed_at: Option<String>,
    /// `null` when no sender runs in this process (per-process, like the breaker).
    pub(crate) breaker: Option<BreakerView>,
    /// Jobs of this endpoint this process has in flight (`null` without a sender here).
    pub(crate) in_flight: Option<usize>,
    /// This endpoint's jobs in the queue, across every process.
    pub(crate) queue: StatsView,
}

impl EndpointView {
    pub(crate) fn new(
        id: String,
        configured: bool,
        state: &EndpointState,
        live: Option<Live>,
        queue: QueueStats,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            configured,
            enabled: state.enabled,
            paused: state.paused_until.is_some_and(|p| p > now),
            paused_until: state.paused_until.map(rfc3339),
            reason: state.reason.clone(),
            changed_at: state.changed_at.map(rfc3339),
            breaker: live.map(|l| l.breaker.into()),
            in_flight: live.map(|l| l.in_flight),
            queue: queue.into(),
        }
    }
}

/// The endpoints' listing.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct EndpointsView {
    /// Queue depth (global: the whole queue, every endpoint).
    pub(crate) queue: StatsView,
    pub(crate) endpoints: Vec<EndpointView>,
}

/// One recorded attempt.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct AttemptView {
    number: u32,
    at: String,
    /// The status (`503`) or the error's kind (`timeout`).
    result: String,
    status: Option<u16>,
    error: Option<&'static str>,
    message: Option<String>,
    latency_ms: u64,
    response_body: String,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        let (error, message) = match &a.result {
            AttemptResult::Status(_) => (None, None),
            AttemptResult::Error { kind, message } => (Some(kind.as_str()), Some(message.clone())),
        };
        Self {
            number: a.number,
            at: rfc3339(a.at),
            result: a.result.to_string(),
            status: a.result.status(),
            error,
            message,
            latency_ms: u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX),
            response_body: a.response_body.clone(),
        }
    }
}

/// A dead letter in a listing.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct DeadLetterView {
    id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    created_at: String,
    dead_at: Option<String>,
    reason: Option<String>,
    /// Attempts recorded (across replays).
    attempt_count: usize,
    last_attempt: Option<AttemptView>,
}

impl From<&JobRecord> for DeadLetterView {
    fn from(r: &JobRecord) -> Self {
        let (dead_at, reason) = match r.state {
            JobState::Dead { at, reason } => (Some(rfc3339(at)), Some(reason.to_string())),
            _ => (None, None),
        };
        Self {
            id: r.job.id.to_string(),
            endpoint_id: r.job.endpoint_id.clone(),
            event_id: r.job.event_id.clone(),
            event_type: r.job.event_type.clone(),
            created_at: rfc3339(r.job.created_at),
            dead_at,
            reason,
            attempt_count: r.attempts.len(),
            last_attempt: r.attempts.last().map(AttemptView::from),
        }
    }
}

/// A page of dead letters.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct DeadLetterPageView {
    pub(crate) items: Vec<DeadLetterView>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub(crate) next: Option<String>,
}

/// A job with its whole history.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct JobView {
    id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    created_at: String,
    /// `scheduled`, `in_flight`, `delivered` or `dead`.
    state: &'static str,
    /// The state in words (`dead-lettered at … (permanent-status:404)`).
    state_detail: String,
    dead_at: Option<String>,
    reason: Option<String>,
    /// Attempts spent from the current budget.
    attempts_in_budget: u32,
    attempts: Vec<AttemptView>,
    payload_bytes: usize,
    /// The payload, lossily decoded as UTF-8.
    payload: String,
}

impl From<&JobRecord> for JobView {
    fn from(r: &JobRecord) -> Self {
        let (state, dead_at, reason) = match r.state {
            JobState::Scheduled { .. } => ("scheduled", None, None),
            JobState::InFlight { .. } => ("in_flight", None, None),
            JobState::Delivered { .. } => ("delivered", None, None),
            JobState::Dead { at, reason } => ("dead", Some(rfc3339(at)), Some(reason.to_string())),
        };
        Self {
            id: r.job.id.to_string(),
            endpoint_id: r.job.endpoint_id.clone(),
            event_id: r.job.event_id.clone(),
            event_type: r.job.event_type.clone(),
            created_at: rfc3339(r.job.created_at),
            state,
            state_detail: r.state.to_string(),
            dead_at,
            reason,
            attempts_in_budget: r.job.attempts,
            attempts: r.attempts.iter().map(AttemptView::from).collect(),
            payload_bytes: r.job.payload.len(),
            payload: String::from_utf8_lossy(&r.job.payload).into_owned(),
        }
    }
}

/// A bulk operation's result.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BulkView {
    /// How many were replayed or purged.
    pub(crate) count: usize,
    /// Whether more may match (call again).
    pub(crate) more: bool,
    /// Ids that could not be handled, with why (an explicit id list only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) failed: Vec<FailedView>,
}

/// One id a bulk operation could not handle.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FailedView {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_refuses_garbage_with_a_400() {
        assert_eq!(parse_job_id("job_42").unwrap(), JobId(42));
        assert_eq!(parse_job_id("42").unwrap(), JobId(42));
        for bad in [
            "",
            "job_",
            "job_-1",
            "x",
            "job_1.5",
            "99999999999999999999999",
        ] {
            assert_eq!(
                parse_job_id(bad).unwrap_err().status().as_u16(),
                400,
                "{bad}"
            );
        }
        let c = Cursor {
            dead_at: Timestamp::from_unix_millis(1_700_000_000_123),
            id: JobId(7),
        };
        assert_eq!(parse_cursor(&format_cursor(c)).unwrap(), c);
        for bad in ["", "1", "a.b", "1.", ".1", "1.2.3"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_time("since", "1700000000").unwrap(),
            Timestamp::from_unix_seconds(1_700_000_000)
        );
        assert_eq!(
            parse_time("since", "2023-11-14T22:13:20.5Z").unwrap(),
            Timestamp::from_unix_millis(1_700_000_000_500)
        );
        assert!(parse_time("since", "yesterday").is_err());
        assert!(parse_time("since", "99999999999999999").is_err());
        assert_eq!(
            rfc3339(Timestamp::from_unix_millis(1_700_000_000_500)),
            "2023-11-14T22:13:20.5Z"
        );
        assert!(parse_limit(Some("0"), 1, 10).is_err());
        assert!(parse_limit(Some("11"), 1, 10).is_err());
        assert_eq!(parse_limit(None, 5, 10).unwrap(), 5);
        assert!(parse_reason("permanent-status:404").is_ok());
        assert!(parse_reason("nope").is_err());
    }
}
