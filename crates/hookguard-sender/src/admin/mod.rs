//! The admin router (feature `admin`): a JSON API for operators and scripts, and a small server-rendered
//! operator's page, on one axum [`Router`].
//!
//! ```text
//! JSON API (Authorization: Bearer <token>)
//!   GET  {base}/api/endpoints                         endpoints: shared state, breaker and in-flight (this
//!                                                     process), each one's queue depth, and the whole queue's
//!   POST {base}/api/endpoints/{id}/pause              {"seconds": 3600} or {"until": "2026-12-02T03:00:00Z"}
//!   POST {base}/api/endpoints/{id}/resume|enable
//!   POST {base}/api/endpoints/{id}/disable            {"reason": "..."} (optional)
//!   GET  {base}/api/dead-letters?endpoint=&reason=&since=&before=&limit=&cursor=
//!   GET  {base}/api/dead-letters/{id}                 one dead letter with its attempt history
//!   GET  {base}/api/jobs/{id}                         any job with its attempt history
//!   POST {base}/api/dead-letters/{id}/replay
//!   POST {base}/api/dead-letters/replay               {"ids": ["job_1"]} or {"endpoint", "reason", "since",
//!                                                     "before", "limit"} → {"count", "more"}
//!   POST {base}/api/dead-letters/purge                {"endpoint", "reason", "since", "before", "limit"} or
//!                                                     {"all": true, "limit"} → {"count", "more"}
//! Operator's page (a cookie session)
//!   GET  {base}/                                      the page (or its login form)
//!   POST {base}/login  {base}/logout  {base}/dead-letters/{id}/replay  {base}/endpoints/{id}/{action}
//! ```
//!
//! Listings are keyset-paginated: pass the previous page's `next` as `cursor`. Bulk operations take a `limit`
//! (at most [`MAX_BULK_LIMIT`]) and say whether `more` may match. Times are RFC 3339 (or whole Unix seconds on
//! input). Every error is an `application/problem+json` body ([`Problem`]); malformed ids, cursors, times
//! and bodies are 400s.
//!
//! The router works on a [`Sender`] ([`Admin::new`]: its queue, and this process's breakers and in-flight
//! counts, which are per process) or on a bare queue ([`Admin::for_queue`], e.g. a [`BoxedQueue`] in an
//! admin-only process; breaker and in-flight are then unknown). Either way any backend works.
//!
//! ```
//! use hookguard_sender::admin::{Admin, AdminToken};
//! use hookguard_sender::{Endpoint, MemoryQueue, Sender};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sender = Sender::builder(MemoryQueue::new())
//!     .endpoint(Endpoint::new("billing", "https://billing.example.com/hooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
//!     .build()?;
//! let token = AdminToken::new("correct-horse-battery-staple")?;
//! let app = Admin::new(&sender, token).base_path("/admin").router();
//!
//! use tower::ServiceExt as _;
//! let request = http::Request::get("/admin/api/endpoints").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 401, "no bearer token");
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! # Security
//! - Serve it on an internal listener, behind TLS if it leaves the machine: the token and the session
//!   cookie are bearer credentials. With TLS, set [`Admin::secure_cookie`].
//! - The token is checked in constant time (both sides hashed with SHA-256 first, so lengths do not show).
//!   Only its digest is kept. Requests and errors never echo it.
//! - The page's session cookie is `HttpOnly; SameSite=Strict`; the session (expiry, CSRF token) lives on the
//!   server, in this process. Every state-changing post must carry an `Origin` equal to the request's `Host`
//!   (or one of [`Admin::allow_origin`], for a proxy that rewrites `Host`) and the session's CSRF token. The
//!   page has no script; every value on it is escaped, and its `Content-Security-Policy` forbids scripts.
//! - Replays and state changes are logged (`tracing`, at info) without payloads.

mod api;
mod backend;
mod page;
mod problem;
mod session;
mod token;
mod view;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};

#[cfg(doc)]
use crate::BoxedQueue;
use crate::queue::Queue;
use crate::{Clock, Sender};
use backend::{Backend, QueueOnly};
use session::Sessions;

pub use problem::{PROBLEM_TYPE_PREFIX, Problem};
pub use session::SESSION_COOKIE;
pub use token::{AdminToken, AdminTokenError, MAX_TOKEN_LEN, MIN_TOKEN_LEN};
pub use view::{MAX_BULK_LIMIT, MAX_PAGE_LIMIT};

/// How long an operator page session lasts by default (8 hours).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

pub(crate) struct Inner {
    backend: Arc<dyn Backend>,
    token: AdminToken,
    base: String,
    secure_cookie: bool,
    session_ttl: Duration,
    allowed_origins: Vec<String>,
    sessions: Sessions,
}

impl Inner {
    fn cookie_path(&self) -> String {
        if self.base.is_empty() {
            "/".to_owned()
        } else {
            self.base.clone()
        }
    }
}

/// Builds the admin [`Router`]. See the [module docs](self).
#[must_use]
pub struct Admin {
    inner: Inner,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("token", &self.inner.token)
            .field("base", &self.inner.base)
            .field("secure_cookie", &self.inner.secure_cookie)
            .field("session_ttl", &self.inner.session_ttl)
            .field("allowed_origins", &self.inner.allowed_origins)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// An admin for `sender`: its queue, its clock, and this process's breakers and in-flight counts. State
    /// changes go through the sender ([`Sender::pause`] …), so this process applies them at once.
    pub fn new<Q: Queue>(sender: &Sender<Q>, token: AdminToken) -> Self {
        Self::with_backend(Arc::new(sender.clone()), token)
    }

    /// An admin for a queue without a sender in this process (for example a [`BoxedQueue`] in an admin-only
    /// process): breaker and in-flight figures are unknown (`null`), every other call works. `clock` is the
    /// time replays are scheduled at (normally [`SystemClock`](crate::SystemClock)).
    pub fn for_queue<Q: Queue>(queue: Q, clock: impl Clock, token: AdminToken) -> Self {
        Self::with_backend(
            Arc::new(QueueOnly {
                queue,
                clock: Arc::new(clock),
            }),
            token,
        )
    }

    fn with_backend(backend: Arc<dyn Backend>, token: AdminToken) -> Self {
        Self {
            inner: Inner {
                backend,
                token,
                base: String::new(),
                secure_cookie: false,
                session_ttl: DEFAULT_SESSION_TTL,
                allowed_origins: Vec::new(),
                sessions: Sessions::default(),
            },
        }
    }

    /// The path the routes live under (default: none, `/api/...` and `/`), e.g. `/admin`: links, redirects
    /// and the cookie's `Path` use it. [`merge`](Router::merge) the router into your app (rather than
    /// `nest`ing it), or serve it on a listener of its own.
    ///
    /// # Panics
    /// If `path` is not empty and does not start with `/`, or ends with `/`, or has characters that need
    /// escaping in a URL path.
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        assert!(
            path.is_empty()
                || (path.starts_with('/')
                    && !path.ends_with('/')
                    && path
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))),
            "the admin base path is empty or like `/admin` (no trailing slash, URL-safe characters)"
        );
        self.inner.base = path;
        self
    }

    /// Marks the session cookie `Secure` (default: off, for plain-HTTP internal listeners). Turn it on
    /// whenever the page is served over HTTPS.
    pub const fn secure_cookie(mut self, secure: bool) -> Self {
        self.inner.secure_cookie = secure;
        self
    }

    /// How long a page session lasts (default [`DEFAULT_SESSION_TTL`]).
    ///
    /// # Panics
    /// If `ttl` is zero.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        assert!(!ttl.is_zero(), "a session needs a non-zero lifetime");
        self.inner.session_ttl = ttl;
        self
    }

    /// Also accepts page posts whose `Origin` is `origin` (e.g. `https://ops.example.com`), for a reverse
    /// proxy that does not pass the browser's `Host` through. By default only `Origin` = `Host` passes.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.inner.allowed_origins.push(origin.into());
        self
    }

    /// The router: the JSON API under `{base}/api` (bearer token) and the page at `{base}/`.
    pub fn router(self) -> Router {
        let base = self.inner.base.clone();
        let inner = Arc::new(self.inner);
        let at = |path: &str| format!("{base}{path}");
        let api = Router::new()
            .route(&at("/api/endpoints"), get(api::endpoints))
            .route(&at("/api/endpoints/{id}/{action}"), post(api::change))
            .route(&at("/api/dead-letters"), get(api::dead_letters))
            .route(&at("/api/dead-letters/replay"), post(api::replay_many))
            .route(&at("/api/dead-letters/purge"), post(api::purge))
            .route(&at("/api/dead-letters/{id}"), get(api::dead_letter))
            .route(&at("/api/dead-letters/{id}/replay"), post(api::replay_one))
            .route(&at("/api/jobs/{id}"), get(api::job))
            .route(&at("/api"), any(api::not_found))
            .route(&at("/api/{*rest}"), any(api::not_found))
            // Before any handler, for every route above (an unknown API path is a 401 without the token too).
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(&inner),
                api::require_bearer,
            ));
        let mut page = Router::new()
            .route(&at("/"), get(page::index))
            .route(&at("/login"), post(page::login))
            .route(&at("/logout"), post(page::logout))
            .route(&at("/dead-letters/{id}/replay"), post(page::replay))
            .route(&at("/endpoints/{id}/{action}"), post(page::change));
        if !base.is_empty() {
            let slash = at("/");
            page = page.route(
                &base,
                get(move || async move { axum::response::Redirect::permanent(&slash) }),
            );
        }
        page.merge(api).with_state(inner)
    }
}
