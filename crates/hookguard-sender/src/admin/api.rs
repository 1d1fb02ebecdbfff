//! The JSON API: bearer-token authentication and the handlers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Inner;
use super::backend::Change;
use super::problem::Problem;
use super::view::{
    BulkView, DeadLetterPageView, DeadLetterView, EndpointView, EndpointsView, FailedView, JobView,
    MAX_BULK_LIMIT, MAX_PAGE_LIMIT, check_endpoint_id, format_cursor, parse_cursor, parse_filter,
    parse_job_id, parse_limit, parse_time,
};
use crate::queue::{Cursor, DeadLetterFilter, EndpointState, JobState, Page, QueueStats};

type Shared = State<Arc<Inner>>;
type ApiResult = Result<Response, Problem>;

/// Refuses a request without `Authorization: Bearer <the token>` before any handler runs.
pub(crate) async fn require_bearer(State(inner): Shared, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .and_then(|v| {
            let (scheme, token) = v.split_at_checked(7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
        });
    match presented {
        Some(token) if inner.token.matches(token) => next.run(request).await,
        _ => Problem::unauthorized().into_response(),
    }
}

/// `GET /api/endpoints`
pub(crate) async fn endpoints(State(inner): Shared) -> ApiResult {
    Ok(Json(endpoints_view(&inner).await?).into_response())
}

pub(crate) async fn endpoints_view(inner: &Inner) -> Result<EndpointsView, Problem> {
    let backend = &inner.backend;
    let stats = backend.stats().await?;
    let mut depth: HashMap<String, QueueStats> =
        backend.endpoint_stats().await?.into_iter().collect();
    let mut stored: HashMap<String, EndpointState> =
        backend.endpoint_states().await?.into_iter().collect();
    let now = backend.now();
    let configured = backend.configured();
    let mut endpoints = Vec::with_capacity(configured.len() + stored.len());
    for id in &configured {
        let state = stored.remove(id).unwrap_or_default();
        let queue = depth.remove(id).unwrap_or_default();
        let live = backend.live(id);
        endpoints.push(EndpointView::new(
            id.clone(),
            true,
            &state,
            live,
            queue,
            now,
        ));
    }
    // Then the endpoints this process does not send to: with a stored state, or with jobs in the queue.
    let mut others: Vec<String> = stored.keys().chain(depth.keys()).cloned().collect();
    others.sort();
    others.dedup();
    for id in others {
        let state = stored.remove(&id).unwrap_or_default();
        let queue = depth.remove(&id).unwrap_or_default();
        endpoints.push(EndpointView::new(id, false, &state, None, queue, now));
    }
    Ok(EndpointsView {
        queue: stats.into(),
        endpoints,
    })
}

/// The listing's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    endpoint: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    before: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl ListQuery {
    pub(crate) fn parse(&self) -> Result<(DeadLetterFilter, usize, Option<Cursor>), Problem> {
        let filter = parse_filter(
            self.endpoint.as_deref(),
            self.reason.as_deref(),
            self.since.as_deref(),
            self.before.as_deref(),
        )?;
        let limit = parse_limit(self.limit.as_deref(), 50, MAX_PAGE_LIMIT)?;
        let cursor = self.cursor.as_deref().map(parse_cursor).transpose()?;
        Ok((filter, limit, cursor))
    }
}

/// `GET /api/dead-letters?endpoint=&reason=&since=&before=&limit=&cursor=`
pub(crate) async fn dead_letters(
    State(inner): Shared,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let (filter, limit, after) = query.parse()?;
    let page = inner
        .backend
        .dead_letters(&filter, Page { limit, after })
        .await?;
    Ok(Json(DeadLetterPageView {
        items: page.items.iter().map(DeadLetterView::from).collect(),
        next: page.next.map(format_cursor),
    })
    .into_response())
}

/// `GET /api/jobs/{id}` and `GET /api/dead-letters/{id}` (the latter only for a dead letter).
pub(crate) async fn job(State(inner): Shared, Path(id): Path<String>) -> ApiResult {
    let id = parse_job_id(&id)?;
    let record = inner
        .backend
        .get(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no job {id}")))?;
    Ok(Json(JobView::from(&record)).into_response())
}

/// `GET /api/dead-letters/{id}`
pub(crate) async fn dead_letter(State(inner): Shared, Path(id): Path<String>) -> ApiResult {
    let id = parse_job_id(&id)?;
    match inner.backend.get(id).await? {
        Some(record) if matches!(record.state, JobState::Dead { .. }) => {
            Ok(Json(JobView::from(&record)).into_response())
        }
        _ => Err(Problem::not_found(format!(
            "{id} is not in the dead-letter queue"
        ))),
    }
}

/// `POST /api/dead-letters/{id}/replay`
pub(crate) async fn replay_one(State(inner): Shared, Path(id): Path<String>) -> ApiResult {
    let id = parse_job_id(&id)?;
    inner.backend.replay(id).await?;
    tracing::info!(job = %id, "admin: dead letter replayed");
    Ok(Json(BulkView {
        count: 1,
        more: false,
        failed: Vec::new(),
    })
    .into_response())
}

/// A bulk request's body: explicit ids, or a selection with a limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkBody {
    ids: Option<Vec<String>>,
    endpoint: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    before: Option<String>,
    limit: Option<usize>,
    /// Purge only: required when no endpoint or time bound narrows the selection.
    #[serde(default)]
    all: bool,
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, Problem> {
    // No body (or JSON `null`): the call's defaults.
    if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("the body is not the JSON this call takes: {e}")))
}

impl BulkBody {
    fn selection(&self) -> Result<(DeadLetterFilter, usize), Problem> {
        let filter = parse_filter(
            self.endpoint.as_deref(),
            self.reason.as_deref(),
            self.since.as_deref(),
            self.before.as_deref(),
        )?;
        let limit = match self.limit {
            Some(n) if (1..=MAX_BULK_LIMIT).contains(&n) => n,
            _ => {
                return Err(Problem::bad_request(format!(
                    "`limit` is required: a whole number from 1 to {MAX_BULK_LIMIT} (call again while `more` is true)"
                )));
            }
        };
        Ok((filter, limit))
    }
}

/// `POST /api/dead-letters/replay` with `{"ids": [...]}` or `{"endpoint", "reason", "since", "before", "limit"}`.
pub(crate) async fn replay_many(State(inner): Shared, body: Bytes) -> ApiResult {
    let body: BulkBody = parse_body(&body)?;
    if let Some(ids) = &body.ids {
        if body.endpoint.is_some()
            || body.reason.is_some()
            || body.since.is_some()
            || body.before.is_some()
            || body.limit.is_some()
            || body.all
        {
            return Err(Problem::bad_request(
                "give either `ids` or a selection (`endpoint`, `reason`, `since`, `before`, `limit`), not both",
            ));
        }
        if ids.is_empty() || ids.len() > MAX_BULK_LIMIT {
            return Err(Problem::bad_request(format!(
                "`ids` must hold 1 to {MAX_BULK_LIMIT} job ids"
            )));
        }
        let ids = ids
            .iter()
            .map(|s| parse_job_id(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = HashSet::new();
        let (mut count, mut failed) = (0, Vec::new());
        for id in ids.into_iter().filter(|id| seen.insert(*id)) {
            match inner.backend.replay(id).await {
                Ok(()) => count += 1,
                Err(e) if e.is_transient() && count == 0 => return Err(e.into()),
                Err(e) => {
                    let p = Problem::from(e);
                    failed.push(FailedView {
                        id: id.to_string(),
                        kind: p.kind(),
                        detail: p.detail().to_owned(),
                    });
                }
            }
        }
        tracing::info!(
            count,
            failed = failed.len(),
            "admin: dead letters replayed by id"
        );
        return Ok(Json(BulkView {
            count,
            more: false,
            failed,
        })
        .into_response());
    }
    let (filter, limit) = body.selection()?;
    let (count, more) = inner.backend.replay_all(&filter, limit).await?;
    tracing::info!(count, more, "admin: dead letters replayed");
    Ok(Json(BulkView {
        count,
        more,
        failed: Vec::new(),
    })
    .into_response())
}

/// `POST /api/dead-letters/purge` with `{"endpoint", "reason", "since", "before", "limit"}` (or `"all": true`).
pub(crate) async fn purge(State(inner): Shared, body: Bytes) -> ApiResult {
    let body: BulkBody = parse_body(&body)?;
    if body.ids.is_some() {
        return Err(Problem::bad_request(
            "purge takes a selection (`endpoint`, `reason`, `since`, `before`, `limit`), not `ids`",
        ));
    }
    let (filter, limit) = body.selection()?;
    let f = &filter;
    if *f == DeadLetterFilter::all() && !body.all {
        return Err(Problem::bad_request(
            "purging every dead letter needs `\"all\": true` (or narrow it with `endpoint`, `reason`, `since` or `before`)",
        ));
    }
    let (count, more) = inner.backend.purge(f, limit).await?;
    tracing::info!(count, more, endpoint = ?f.endpoint_id, reason = ?f.reason, "admin: dead letters purged");
    Ok(Json(BulkView {
        count,
        more,
        failed: Vec::new(),
    })
    .into_response())
}

/// A state change's body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeBody {
    /// Pause: until this time (RFC 3339 or Unix seconds).
    until: Option<String>,
    /// Pause: for this many seconds.
    seconds: Option<u64>,
    /// Disable: why (kept in the endpoint's state).
    reason: Option<String>,
}

/// The longest pause accepted (a year); longer is a disable.
const MAX_PAUSE: Duration = Duration::from_secs(366 * 24 * 3600);

pub(crate) fn change_for(
    action: &str,
    until: Option<&str>,
    seconds: Option<u64>,
    reason: Option<&str>,
    now: crate::Timestamp,
) -> Result<Change, Problem> {
    Ok(match action {
        "pause" => {
            let until = match (until, seconds) {
                (Some(u), None) => parse_time("until", u)?,
                (None, Some(s)) if s > 0 && Duration::from_secs(s) <= MAX_PAUSE => {
                    now + Duration::from_secs(s)
                }
                (None, Some(_)) => {
                    return Err(Problem::bad_request(
                        "`seconds` must be from 1 to a year's worth",
                    ));
                }
                _ => {
                    return Err(Problem::bad_request(
                        "pause takes `until` (RFC 3339 or Unix seconds) or `seconds`, one of them",
                    ));
                }
            };
            if until <= now || until.saturating_duration_since(now) > MAX_PAUSE {
                return Err(Problem::bad_request(
                    "`until` must be in the future, within a year",
                ));
            }
            Change::Pause(until)
        }
        "resume" => Change::Resume,
        "enable" => Change::Enable,
        "disable" => {
            let reason = reason.unwrap_or("disabled by an operator");
            if reason.is_empty() || reason.len() > 256 || reason.chars().any(char::is_control) {
                return Err(Problem::bad_request(
                    "`reason` is 1–256 characters without control characters",
                ));
            }
            Change::Disable(reason.to_owned())
        }
        _ => {
            return Err(Problem::not_found(
                "no such action: pause, resume, enable or disable",
            ));
        }
    })
}

/// Checks that `id` names an endpoint this admin knows (configured here or with a stored state); a bare
/// queue knows only stored states, so any well-formed id is accepted there.
pub(crate) async fn check_known(inner: &Inner, id: &str) -> Result<(), Problem> {
    check_endpoint_id(id)?;
    let configured = inner.backend.configured();
    if configured.is_empty() || configured.iter().any(|c| c == id) {
        return Ok(());
    }
    if inner
        .backend
        .endpoint_states()
        .await?
        .iter()
        .any(|(s, _)| s == id)
    {
        return Ok(());
    }
    Err(Problem::not_found(format!("no endpoint `{id}`")))
}

/// `POST /api/endpoints/{id}/{pause|resume|enable|disable}`
pub(crate) async fn change(
    State(inner): Shared,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body: ChangeBody = parse_body(&body)?;
    let change = change_for(
        &action,
        body.until.as_deref(),
        body.seconds,
        body.reason.as_deref(),
        inner.backend.now(),
    )?;
    check_known(&inner, &id).await?;
    inner.backend.change(&id, change.clone()).await?;
    tracing::info!(endpoint = %id, ?change, "admin: endpoint state changed");
    let view = endpoints_view(&inner).await?;
    let endpoint = view.endpoints.into_iter().find(|e| e.id == id);
    Ok(Json(endpoint).into_response())
}

/// Any other path under `/api`.
pub(crate) async fn not_found() -> Problem {
    Problem::not_found("no such admin API route")
}
