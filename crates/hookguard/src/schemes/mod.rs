//! One module per provider: each describes its scheme as data that the shared engine signs and verifies with.

pub mod custom;
pub(crate) mod github;
pub(crate) mod shopify;
pub(crate) mod slack;
pub(crate) mod standard_webhooks;
pub(crate) mod stripe;
