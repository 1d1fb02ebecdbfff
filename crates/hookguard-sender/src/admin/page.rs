//! The operator's page: server-rendered HTML (no script at all), a login form that starts a cookie session,
//! and form posts that each pass the `Origin` check and carry the session's CSRF token.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Inner;
use super::api::{ListQuery, change_for, check_known, endpoints_view};
use super::problem::Problem;
use super::session::{Current, same_origin, set_cookie};
use super::view::{EndpointView, EndpointsView, dead_reason, format_cursor, parse_job_id, rfc3339};
use crate::queue::{AttemptResult, DeadLetterPage, JobRecord, JobState, Page};

type Shared = State<Arc<Inner>>;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.3rem .5rem;\
text-align:left;vertical-align:top}th{background:#f3f3f3}form{display:inline}button{margin:0 .15rem}\
.notice{background:#e8f5e9;padding:.5rem}.error{background:#fdecea;padding:.5rem}\
.open{color:#b00020;font-weight:bold}.muted{color:#777}code{font-size:12px}";

/// A complete HTML document with the page's security headers.
fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    );
    let mut res = (status, doc).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

fn login_page(inner: &Inner, status: StatusCode, error: Option<&str>) -> Response {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" id=\"error\">{}</p>", esc(e))
    });
    let body = format!(
        "<h1>hookguard admin</h1>{error}<form method=\"post\" action=\"{base}/login\">\
         <label>Admin token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" required>\
         </label> <button type=\"submit\" id=\"login\">Log in</button></form>",
        base = esc(&inner.base),
    );
    html(status, "hookguard admin: log in", &body)
}

fn error_page(inner: &Inner, problem: &Problem) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\" id=\"error\">{}</p><p><a href=\"{}/\">Back</a></p>",
        problem.status().as_u16(),
        esc(problem.detail()),
        esc(&inner.base)
    );
    html(problem.status(), "hookguard admin: error", &body)
}

fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn csrf_field(session: &Current) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf)
    )
}

fn breaker_cell(e: &EndpointView) -> String {
    match &e.breaker {
        None => "<span class=\"muted\">no sender here</span>".to_owned(),
        Some(b) if b.state == "closed" => "closed".to_owned(),
        Some(b) => format!("<span class=\"open\">{}</span>", esc(b.state)),
    }
}

fn state_cell(e: &EndpointView) -> String {
    let mut s = if !e.enabled {
        "<span class=\"open\">disabled</span>".to_owned()
    } else if e.paused {
        format!(
            "paused until {}",
            esc(e.paused_until.as_deref().unwrap_or("?"))
        )
    } else {
        "enabled".to_owned()
    };
    if let Some(r) = &e.reason {
        let _ = write!(s, " <span class=\"muted\">({})</span>", esc(r));
    }
    s
}

fn endpoint_actions(inner: &Inner, session: &Current, e: &EndpointView) -> String {
    let id = enc(&e.id);
    let mut out = String::new();
    let mut button = |action: &str, label: &str, extra: &str| {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"{base}/endpoints/{id}/{action}\">{csrf}{extra}\
             <button type=\"submit\" id=\"{action}-{eid}\">{label}</button></form>",
            base = esc(&inner.base),
            csrf = csrf_field(session),
            eid = esc(&e.id),
        );
    };
    if e.paused {
        button("resume", "Resume", "");
    } else {
        button(
            "pause",
            "Pause 1 h",
            "<input type=\"hidden\" name=\"seconds\" value=\"3600\">",
        );
    }
    if e.enabled {
        button("disable", "Disable", "");
    } else {
        button("enable", "Enable", "");
    }
    out
}

fn last_error(record: &JobRecord) -> String {
    let Some(a) = record.attempts.last() else {
        return "<span class=\"muted\">no attempt</span>".to_owned();
    };
    let mut s = match &a.result {
        AttemptResult::Status(code) => format!("HTTP {code}"),
        AttemptResult::Error { kind, message } => {
            format!("{}: {}", kind.as_str(), truncate(message, 200))
        }
    };
    if !a.response_body.is_empty() {
        let _ = write!(s, " — {}", truncate(&a.response_body, 200));
    }
    esc(&s)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Notices a redirect may ask for: fixed texts, nothing reflected from the request.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "replayed" => "Dead letter replayed: it is due again.",
        "endpoint" => "Endpoint updated.",
        "login" => "Logged in.",
        _ => return None,
    })
}

async fn dashboard(
    inner: &Inner,
    session: &Current,
    query: &PageQuery,
    status: StatusCode,
    error: Option<&Problem>,
) -> Response {
    let rendered = render_dashboard(inner, session, query, error).await;
    match rendered {
        Ok(body) => html(status, "hookguard admin", &body),
        Err(p) => error_page(inner, &p),
    }
}

async fn render_dashboard(
    inner: &Inner,
    session: &Current,
    query: &PageQuery,
    error: Option<&Problem>,
) -> Result<String, Problem> {
    let base = esc(&inner.base);
    let EndpointsView { queue, endpoints } = endpoints_view(inner).await?;
    let (filter, limit, after) = query.list.parse()?;
    let DeadLetterPage { items: dead, next } = inner
        .backend
        .dead_letters(&filter, Page { limit, after })
        .await?;
    let mut b = String::with_capacity(8 * 1024);
    let _ = write!(
        b,
        "<h1>hookguard admin</h1><form method=\"post\" action=\"{base}/logout\">{}\
         <button type=\"submit\" id=\"logout\">Log out</button></form>",
        csrf_field(session)
    );
    if let Some(p) = error {
        let _ = write!(b, "<p class=\"error\" id=\"error\">{}</p>", esc(p.detail()));
    } else if let Some(n) = notice(query.done.as_deref()) {
        let _ = write!(b, "<p class=\"notice\" id=\"notice\">{}</p>", esc(n));
    }
    let _ = write!(
        b,
        "<h2>Queue</h2><table id=\"queue\"><tr><th>due</th><th>scheduled</th><th>in flight</th>\
         <th>dead letters</th></tr><tr><td id=\"due-count\">{}</td><td id=\"scheduled-count\">{}</td>\
         <td id=\"in-flight-count\">{}</td><td id=\"dead-count\">{}</td></tr></table>",
        queue.due, queue.scheduled, queue.in_flight, queue.dead,
    );
    b.push_str(
        "<h2>Endpoints</h2><table id=\"endpoints\"><tr><th>endpoint</th><th>state</th>\
         <th>breaker (this process)</th><th>in flight (this process)</th>\
         <th>queue: due / later / in flight / dead</th><th></th></tr>",
    );
    for e in &endpoints {
        let in_flight = e.in_flight.map_or_else(
            || "<span class=\"muted\">—</span>".to_owned(),
            |n| n.to_string(),
        );
        let _ = write!(
            b,
            "<tr id=\"endpoint-{eid}\"><td><code>{eid}</code></td><td>{}</td><td>{}</td><td>{in_flight}</td>\
             <td class=\"depth\">{} / {} / {} / {}</td><td>{}</td></tr>",
            state_cell(e),
            breaker_cell(e),
            e.queue.due,
            e.queue.scheduled,
            e.queue.in_flight,
            e.queue.dead,
            endpoint_actions(inner, session, e),
            eid = esc(&e.id),
        );
    }
    if endpoints.is_empty() {
        b.push_str("<tr><td colspan=\"6\" class=\"muted\">no endpoints</td></tr>");
    }
    b.push_str("</table>");
    let _ = write!(b, "<h2>Dead letters</h2>");
    if let Some(ep) = &filter.endpoint_id {
        let _ = write!(
            b,
            "<p>Endpoint <code>{}</code> only. <a href=\"{base}/\">All</a></p>",
            esc(ep)
        );
    }
    if let Some(reason) = &filter.reason {
        let _ = write!(
            b,
            "<p>Reason <code>{}</code> only. <a href=\"{base}/\">All</a></p>",
            esc(&reason.to_string())
        );
    }
    b.push_str(
        "<table id=\"dead-letters\"><tr><th>job</th><th>endpoint</th><th>event</th><th>dead since</th>\
         <th>reason</th><th>attempts</th><th>last error</th><th></th></tr>",
    );
    for r in &dead {
        let id = r.job.id.to_string();
        let dead_at = match r.state {
            JobState::Dead { at, .. } => rfc3339(at),
            _ => String::new(),
        };
        let reason = dead_reason(r).map(|r| r.to_string()).unwrap_or_default();
        let _ = write!(
            b,
            "<tr id=\"dl-{id}\"><td><code>{id}</code></td><td><a href=\"{base}/?endpoint={ep_q}\"><code>{ep}</code></a>\
             </td><td><code>{ev}</code> {ty}</td><td>{dead_at}</td><td>{reason}</td><td>{n}</td><td>{last}</td>\
             <td><form method=\"post\" action=\"{base}/dead-letters/{id}/replay\">{csrf}\
             <button type=\"submit\" id=\"replay-{id}\">Replay</button></form></td></tr>",
            ep_q = esc(&enc(&r.job.endpoint_id)),
            ep = esc(&r.job.endpoint_id),
            ev = esc(&r.job.event_id),
            ty = esc(&r.job.event_type),
            reason = esc(&reason),
            n = r.attempts.len(),
            last = last_error(r),
            csrf = csrf_field(session),
        );
    }
    if dead.is_empty() {
        b.push_str(
            "<tr><td colspan=\"8\" class=\"muted\" id=\"no-dead-letters\">no dead letters</td></tr>",
        );
    }
    b.push_str("</table>");
    if let Some(next) = next {
        let mut href = format!("{base}/?cursor={}", enc(&format_cursor(next)));
        if let Some(ep) = &filter.endpoint_id {
            let _ = write!(href, "&amp;endpoint={}", esc(&enc(ep)));
        }
        if let Some(reason) = &filter.reason {
            let _ = write!(href, "&amp;reason={}", esc(&enc(&reason.to_string())));
        }
        let _ = write!(b, "<p><a id=\"next\" href=\"{href}\">Next page</a></p>");
    }
    Ok(b)
}

/// The page's query string: the dead-letter listing's filters, and a notice after a redirect.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    #[serde(flatten)]
    list: ListQuery,
    done: Option<String>,
}

/// `GET {base}/`: the dashboard with a session, the login form without.
pub(crate) async fn index(
    State(inner): Shared,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(session) = inner.sessions.current(&headers, inner.backend.now()) else {
        return login_page(&inner, StatusCode::OK, None);
    };
    match query {
        Ok(Query(q)) => dashboard(&inner, &session, &q, StatusCode::OK, None).await,
        Err(e) => error_page(&inner, &Problem::bad_request(e.body_text())),
    }
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST {base}/login`: the token from the form, checked as the API checks it; starts a session.
pub(crate) async fn login(
    State(inner): Shared,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // Login CSRF: a cross-site form must not log the operator into anything either.
    if !same_origin(&headers, &inner.allowed_origins) {
        return error_page(&inner, &cross_site());
    }
    let Ok(Form(form)) = form else {
        return login_page(
            &inner,
            StatusCode::BAD_REQUEST,
            Some("The form was malformed."),
        );
    };
    if !inner.token.matches(form.token.as_bytes()) {
        tracing::warn!("admin: failed login on the operator page");
        return login_page(&inner, StatusCode::UNAUTHORIZED, Some("Wrong token."));
    }
    let session = inner
        .sessions
        .create(inner.backend.now(), inner.session_ttl);
    tracing::info!("admin: operator logged in");
    let cookie = set_cookie(
        Some(&session.id),
        &inner.cookie_path(),
        inner.session_ttl,
        inner.secure_cookie,
    );
    redirect(&format!("{}/?done=login", inner.base), Some(cookie))
}

fn cross_site() -> Problem {
    Problem::forbidden("refused: the request did not come from this page (Origin does not match)")
}

/// The form every state-changing post carries.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActionForm {
    csrf: Option<String>,
    seconds: Option<u64>,
    reason: Option<String>,
}

/// The checks before any state change from the page: same origin, a live session, its CSRF token.
fn authorize(
    inner: &Inner,
    headers: &HeaderMap,
    form: Result<&ActionForm, &axum::extract::rejection::FormRejection>,
) -> Result<Current, Box<Response>> {
    if !same_origin(headers, &inner.allowed_origins) {
        tracing::warn!("admin: cross-site post refused");
        return Err(Box::new(error_page(inner, &cross_site())));
    }
    let Some(session) = inner.sessions.current(headers, inner.backend.now()) else {
        return Err(Box::new(login_page(
            inner,
            StatusCode::UNAUTHORIZED,
            Some("Your session has ended: log in again."),
        )));
    };
    let csrf = form.ok().and_then(|f| f.csrf.as_deref());
    if !session.csrf_matches(csrf) {
        tracing::warn!("admin: post without this session's CSRF token refused");
        return Err(Box::new(error_page(
            inner,
            &Problem::forbidden("refused: the form's CSRF token is missing or not this session's"),
        )));
    }
    Ok(session)
}

type FormResult = Result<Form<ActionForm>, axum::extract::rejection::FormRejection>;

fn as_ref(form: &FormResult) -> Result<&ActionForm, &axum::extract::rejection::FormRejection> {
    form.as_ref().map(|Form(f)| f)
}

/// `POST {base}/logout`
pub(crate) async fn logout(State(inner): Shared, headers: HeaderMap, form: FormResult) -> Response {
    let session = match authorize(&inner, &headers, as_ref(&form)) {
        Ok(s) => s,
        Err(res) => return *res,
    };
    inner.sessions.end(&session.id);
    let cookie = set_cookie(
        None,
        &inner.cookie_path(),
        inner.session_ttl,
        inner.secure_cookie,
    );
    redirect(&format!("{}/", inner.base), Some(cookie))
}

/// `POST {base}/dead-letters/{id}/replay`
pub(crate) async fn replay(
    State(inner): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let session = match authorize(&inner, &headers, as_ref(&form)) {
        Ok(s) => s,
        Err(res) => return *res,
    };
    let result = async {
        let id = parse_job_id(&id)?;
        inner.backend.replay(id).await?;
        tracing::info!(job = %id, "admin: dead letter replayed from the operator page");
        Ok::<_, Problem>(())
    }
    .await;
    match result {
        Ok(()) => redirect(&format!("{}/?done=replayed", inner.base), None),
        Err(p) => {
            dashboard(
                &inner,
                &session,
                &PageQuery::default(),
                p.status(),
                Some(&p),
            )
            .await
        }
    }
}

/// `POST {base}/endpoints/{id}/{pause|resume|enable|disable}`
pub(crate) async fn change(
    State(inner): Shared,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let session = match authorize(&inner, &headers, as_ref(&form)) {
        Ok(s) => s,
        Err(res) => return *res,
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let result = async {
        let change = change_for(
            &action,
            None,
            f.seconds,
            f.reason.as_deref(),
            inner.backend.now(),
        )?;
        check_known(&inner, &id).await?;
        inner.backend.change(&id, change.clone()).await?;
        tracing::info!(endpoint = %id, ?change, "admin: endpoint changed from the operator page");
        Ok::<_, Problem>(())
    }
    .await;
    match result {
        Ok(()) => redirect(&format!("{}/?done=endpoint", inner.base), None),
        Err(p) => {
            dashboard(
                &inner,
                &session,
                &PageQuery::default(),
                p.status(),
                Some(&p),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(enc("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hé", 2), "hé");
    }
}
