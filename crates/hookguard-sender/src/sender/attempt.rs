//! One attempt: sign (fresh timestamp, same `webhook-id`), POST through the [`Transport`], read a bounded
//! prefix of the answer, and parse `Retry-After`.

use std::time::{Duration, Instant};

use http::HeaderValue;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::admission::EndpointRuntime;
use super::builder::Settings;
use crate::outcome::parse_retry_after;
use crate::queue::{Attempt, AttemptResult, Leased};
use crate::transport::{Request, Transport};
use crate::{Clock, Timestamp};

/// What an attempt produced.
#[derive(Debug)]
pub(crate) enum Tried {
    /// A request went out: its record, and the receiver's `Retry-After` if any.
    Sent {
        attempt: Attempt,
        retry_after: Option<Duration>,
    },
    /// The request could not be signed; nothing went out.
    SigningFailed(String),
}

pub(crate) async fn run(
    ep: &EndpointRuntime,
    leased: &Leased,
    now: Timestamp,
    s: &Settings,
    transport: &dyn Transport,
    clock: &dyn Clock,
) -> Tried {
    let job = &leased.job;
    let mut headers = match ep
        .signer
        .sign(&job.event_id, now.as_unix_seconds(), &job.payload)
    {
        Ok(h) => h,
        Err(e) => return Tried::SigningFailed(e.to_string()),
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("hookguard-sender/", env!("CARGO_PKG_VERSION"))),
    );
    let request = Request {
        endpoint_id: ep.config.id.clone(),
        url: ep.url.clone(),
        headers,
        body: job.payload.clone(),
        timeout: ep.config.timeout,
        body_limit: s.response_body_limit,
    };
    let started = Instant::now();
    let answer = transport.post(request).await;
    let latency = started.elapsed();
    let mut retry_after = None;
    let result = match answer {
        Err(e) => Err((e.kind, e.message)),
        Ok(response) => {
            // A Retry-After counts even when the body then broke off: the receiver asked for the pause.
            retry_after = response
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, clock.now()));
            match response.body_error {
                // The status arrived but the body broke off: not a clean answer, so retry (the receiver
                // dedupes on the event id).
                Some(e) => Err((
                    e.kind,
                    format!("status {}, then: {}", response.status, e.message),
                )),
                None => Ok((
                    response.status,
                    String::from_utf8_lossy(&response.body).into_owned(),
                )),
            }
        }
    };
    let attempt = match result {
        Ok((status, body)) => {
            let mut a = Attempt::new(leased.attempt, now, AttemptResult::Status(status), latency);
            a.response_body = body;
            a
        }
        Err((kind, message)) => Attempt::new(
            leased.attempt,
            now,
            AttemptResult::Error { kind, message },
            latency,
        ),
    };
    Tried::Sent {
        attempt,
        retry_after,
    }
}
