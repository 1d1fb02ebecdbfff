//! The operator page's sessions: a random id in an `HttpOnly; SameSite=Strict` cookie, the session itself
//! (expiry, CSRF token) on the server; and the `Origin` check every state-changing form post passes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Timestamp;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hookguard_admin_session";

/// At most this many live sessions; logging in beyond it ends the one expiring soonest.
const MAX_SESSIONS: usize = 256;

/// 32 random bytes, hex-encoded.
fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The map is keyed by the id's digest: the id itself is not kept, and a lookup's timing says nothing
/// useful about stored ids.
fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[derive(Debug)]
struct Session {
    csrf: String,
    expires: Timestamp,
}

/// A live session, as a handler sees it.
#[derive(Clone, Debug)]
pub(crate) struct Current {
    pub(crate) id: String,
    pub(crate) csrf: String,
}

impl Current {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub(crate) fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| {
            p.len() == self.csrf.len() && bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes()))
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Starts a session; returns its id (for the cookie).
    pub(crate) fn create(&self, now: Timestamp, ttl: Duration) -> Current {
        let (id, csrf) = (random_hex(), random_hex());
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            key(&id),
            Session {
                csrf: csrf.clone(),
                expires: now + ttl,
            },
        );
        Current { id, csrf }
    }

    /// The live session named by the request's cookie, if any.
    pub(crate) fn current(&self, headers: &HeaderMap, now: Timestamp) -> Option<Current> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let k = key(id);
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(&k) {
            Some(s) if s.expires > now => Some(Current {
                id: id.to_owned(),
                csrf: s.csrf.clone(),
            }),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub(crate) fn end(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key(id));
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value for a new session (or, with `None`, one that clears it).
pub(crate) fn set_cookie(id: Option<&str>, path: &str, ttl: Duration, secure: bool) -> String {
    let (value, max_age) = match id {
        Some(id) => (id, ttl.as_secs()),
        None => ("", 0),
    };
    let path = if path.is_empty() { "/" } else { path };
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    )
}

/// Whether a state-changing request comes from this site: its `Origin` must be present and name the host the
/// request was sent to (its `Host`), or be one of `allowed`. A request without `Origin` is refused: browsers
/// send it on every cross-origin and same-origin form post.
pub(crate) fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_match_host() {
        let ok = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(same_origin(&ok, &[]));
        for bad in [
            headers(&[("host", "127.0.0.1:8080")]),
            headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]),
            headers(&[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[
                ("origin", "http://127.0.0.1:8081"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[
                ("origin", "ftp://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[("origin", "http://127.0.0.1:8080")]),
        ] {
            assert!(!same_origin(&bad, &[]), "{bad:?}");
        }
        let proxied = headers(&[
            ("origin", "https://ops.example.com"),
            ("host", "10.0.0.5:8080"),
        ]);
        assert!(same_origin(&proxied, &["https://ops.example.com".into()]));
    }

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let t = Timestamp::from_unix_seconds(1_000);
        let s = sessions.create(t, Duration::from_secs(60));
        let cookie = format!("other=1; {SESSION_COOKIE}={}", s.id);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        let current = sessions.current(&h, t).expect("live");
        assert!(current.csrf_matches(Some(&s.csrf)));
        assert!(!current.csrf_matches(Some("x")));
        assert!(!current.csrf_matches(None));
        assert!(
            sessions.current(&h, t + Duration::from_secs(60)).is_none(),
            "expired"
        );
        let s = sessions.create(t, Duration::from_secs(60));
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={}", s.id)).unwrap(),
        );
        sessions.end(&s.id);
        assert!(sessions.current(&h, t).is_none(), "ended");
        assert_eq!(
            set_cookie(Some("abc"), "/admin", Duration::from_secs(60), true),
            format!(
                "{SESSION_COOKIE}=abc; Path=/admin; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
            )
        );
    }
}
