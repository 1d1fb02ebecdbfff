#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod conformance;
#[cfg(feature = "axum")]
pub mod extract;
mod heartbeat;
mod idempotency;
#[cfg(all(feature = "postgres", feature = "axum"))]
pub mod inbox;
pub mod metrics;
pub mod rejection;
pub mod store;
pub mod webhook;

pub use idempotency::{
    DEFAULT_LEASE, DEFAULT_MAX_HOLD_LEASES, DEFAULT_RETENTION, Idempotency, REPLAYED_HEADER,
    RunOutcome, default_done, fingerprint,
};
pub use rejection::Rejection;
pub use webhook::{
    NotReplayable, OnStoreError, ResponseBody, ResponseFuture, WebhookLayer, WebhookService,
};
