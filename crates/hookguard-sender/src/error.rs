//! Errors: building a sender ([`ConfigError`]) and handing it events ([`SendError`]).

use std::net::IpAddr;
use std::time::Duration;

use crate::QueueError;
use crate::queue::JobError;

/// The sender's configuration is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A status that may not be configured as permanent (408, 409, 410, 425, 429, anything not 4xx).
    #[error("status {0} cannot be permanent (only 4xx other than 408, 409, 410, 425 and 429)")]
    NotPermanent(u16),
    /// An endpoint's URL does not parse, or is not `http`/`https`.
    #[error("endpoint `{endpoint}`: invalid URL: {reason}")]
    InvalidUrl {
        /// The endpoint's id.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// An endpoint's URL names a private, loopback or link-local address and private networks are not allowed.
    #[error(
        "endpoint `{endpoint}`: {addr} is a private, loopback or link-local address (see allow_private_networks)"
    )]
    ForbiddenTarget {
        /// The endpoint's id.
        endpoint: String,
        /// The address.
        addr: IpAddr,
    },
    /// An endpoint has no signing key.
    #[error("endpoint `{endpoint}` has no signing key")]
    NoKeys {
        /// The endpoint's id.
        endpoint: String,
    },
    /// A signing key is invalid.
    #[error("endpoint `{endpoint}`: invalid key")]
    Key {
        /// The endpoint's id.
        endpoint: String,
        /// Why.
        #[source]
        source: hookguard::KeyError,
    },
    /// An unknown scheme name in configuration.
    #[error("unknown scheme `{0}` (standard-webhooks, stripe, github, slack, shopify)")]
    UnknownScheme(String),
    /// Two endpoints share an id.
    #[error("duplicate endpoint id `{0}`")]
    DuplicateEndpoint(String),
    /// An endpoint's id is empty.
    #[error("an endpoint id is empty")]
    EmptyEndpointId,
    /// A rate limit is not positive and finite, or its burst is zero.
    #[error("endpoint `{endpoint}`: a rate limit needs a positive rate and a burst of at least 1")]
    InvalidRateLimit {
        /// The endpoint's id.
        endpoint: String,
    },
    /// A setting is zero where it must not be (workers, batch, max_in_flight, timeouts, intervals).
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// The job lease is not longer than the longest endpoint timeout plus the margin, so a slow delivery could
    /// outlive its lease and be delivered twice at once.
    #[error(
        "the job lease ({lease:?}) must be longer than {required:?} (longest endpoint timeout plus margin)"
    )]
    LeaseTooShort {
        /// The configured lease.
        lease: Duration,
        /// The longest endpoint timeout plus the margin.
        required: Duration,
    },
    /// Beside other endpoints, an endpoint may hold every worker at once: if it hangs, nothing else is
    /// delivered until its requests time out.
    #[error(
        "endpoint `{endpoint}`: max_in_flight {max_in_flight} leaves none of the {workers} workers to the other endpoints"
    )]
    MaxInFlightNotBelowWorkers {
        /// The endpoint's id.
        endpoint: String,
        /// Its `max_in_flight`.
        max_in_flight: usize,
        /// The configured number of workers.
        workers: usize,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// An event could not be handed to the sender.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No endpoint with this id is configured.
    #[error("unknown endpoint `{0}`")]
    UnknownEndpoint(String),
    /// The event id cannot be a `webhook-id`: empty, over 256 bytes, or not visible ASCII without spaces and
    /// commas.
    #[error("invalid event id: it must be 1–256 visible ASCII characters without spaces or commas")]
    InvalidEventId,
    /// The job would not be deliverable (bad event type, payload over 1 MiB).
    #[error("invalid job")]
    Job(#[from] JobError),
    /// The queue refused the event's jobs (none were stored, or, for a retry with the same id, some were
    /// stored earlier: enqueueing again is safe, jobs are deduplicated by event id).
    #[error("cannot enqueue event `{event_id}`")]
    Queue {
        /// The event's id: retry with [`Event::with_id`](crate::Event::with_id) and it.
        event_id: String,
        /// The queue's error.
        #[source]
        source: QueueError,
    },
}

/// `error: its source: its source's source …`, for log lines: a queue error's own message ("queue backend
/// unavailable") says what failed, its sources say why.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_every_source() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = QueueError::Unavailable(Box::new(refused));
        assert_eq!(chain(&e), "queue backend unavailable: connection refused");
        assert_eq!(
            chain(&QueueError::LeaseLost),
            QueueError::LeaseLost.to_string()
        );
    }
}
