//! [`Endpoint`]: where events go and how they are signed.

use std::fmt;
use std::time::Duration;

use hookguard::Scheme;
use serde::{Deserialize, Deserializer};

use crate::RateLimit;
use crate::error::ConfigError;

/// A subscriber's endpoint, from configuration.
///
/// Build one in code with [`Endpoint::new`] and the `with_*` methods, or deserialize it (for example from
/// JSON or TOML):
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use hookguard_sender::Endpoint;
///
/// let from_code = Endpoint::new("billing", "https://billing.example.com/hooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
///     .with_event_types(["invoice.paid", "invoice.failed"])
///     .with_timeout(Duration::from_secs(10));
///
/// let from_config: Endpoint = serde_json::from_str(r#"{
///     "id": "billing",
///     "url": "https://billing.example.com/hooks",
///     "keys": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
///     "event_types": ["invoice.paid", "invoice.failed"],
///     "timeout_secs": 10
/// }"#)?;
/// assert_eq!(from_config.timeout, from_code.timeout);
/// assert_eq!(from_config.scheme.name(), "standard-webhooks");
/// assert!(from_config.subscribes_to("invoice.paid") && !from_config.subscribes_to("user.created"));
/// # Ok(()) }
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct Endpoint {
    /// A stable id (a label in metrics; the queue's key for the endpoint's jobs and state).
    pub id: String,
    /// The URL events are POSTed to (`http` or `https`).
    pub url: String,
    /// How requests are signed (Standard Webhooks by default). In configuration: a preset's name.
    #[serde(
        default = "Scheme::standard_webhooks",
        deserialize_with = "scheme_by_name"
    )]
    pub scheme: Scheme,
    /// The signing secrets. Every current key signs (for rotation; single-signature schemes use the first).
    pub keys: Vec<String>,
    /// The event types it subscribes to; empty means all. `publish` uses this, `send` ignores it.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// The total time one attempt may take (connect, send, response). Default 15 s.
    #[serde(
        default = "default_timeout",
        rename = "timeout_secs",
        deserialize_with = "seconds"
    )]
    pub timeout: Duration,
    /// At most this many deliveries to this endpoint at once, across all workers of this process. Default 2.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// An optional rate limit (per process).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Whether deliveries go out; a disabled endpoint's jobs are dead-lettered without an attempt.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

const fn default_timeout() -> Duration {
    Duration::from_secs(15)
}
const fn default_max_in_flight() -> usize {
    2
}
const fn default_enabled() -> bool {
    true
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

fn scheme_by_name<'de, D: Deserializer<'de>>(d: D) -> Result<Scheme, D::Error> {
    let name = String::deserialize(d)?;
    scheme_named(&name).map_err(serde::de::Error::custom)
}

/// The preset scheme called `name` (`standard-webhooks`, `stripe`, `github`, `slack`, `shopify`).
///
/// # Errors
/// [`ConfigError::UnknownScheme`] for any other name.
pub fn scheme_named(name: &str) -> Result<Scheme, ConfigError> {
    Ok(match name {
        "standard-webhooks" => Scheme::standard_webhooks(),
        "stripe" => Scheme::stripe(),
        "github" => Scheme::github(),
        "slack" => Scheme::slack(),
        "shopify" => Scheme::shopify(),
        other => return Err(ConfigError::UnknownScheme(other.to_owned())),
    })
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &redact_url(&self.url))
            .field("scheme", &self.scheme.name())
            .field("keys", &format_args!("[{} × ***]", self.keys.len()))
            .field("event_types", &self.event_types)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("rate_limit", &self.rate_limit)
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl Endpoint {
    /// An enabled Standard Webhooks endpoint with one key, subscribed to every event type, with the defaults
    /// (15 s timeout, 2 in flight, no rate limit).
    #[must_use]
    pub fn new(id: impl Into<String>, url: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
            scheme: Scheme::standard_webhooks(),
            keys: vec![key.into()],
            event_types: Vec::new(),
            timeout: default_timeout(),
            max_in_flight: default_max_in_flight(),
            rate_limit: None,
            enabled: true,
        }
    }

    /// Signs with `scheme` instead.
    #[must_use]
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// Adds a signing key (rotation: both keys sign until the old one is removed).
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Subscribes to these event types only.
    #[must_use]
    pub fn with_event_types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.event_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how many deliveries may be in flight at once.
    #[must_use]
    pub const fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Sets a rate limit.
    #[must_use]
    pub const fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Enables or disables the endpoint.
    #[must_use]
    pub const fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether `publish` sends `event_type` here.
    #[must_use]
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

/// `url` without its user-info and query (either may carry a secret), for logs and `Debug`.
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let had_user = !u.username().is_empty() || u.password().is_some();
            let had_query = u.query().is_some();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            let mut s = u.to_string();
            if had_user {
                s = s.replacen("://", "://***@", 1);
            }
            if had_query {
                s.push_str("?***");
            }
            s
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_user_info_and_query() {
        let ep = Endpoint::new(
            "ep",
            "https://user:hunter2@example.com/hooks?token=s3cret#frag",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        );
        let printed = format!("{ep:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("s3cret"),
            "{printed}"
        );
        assert!(!printed.contains("user:"), "{printed}");
        assert!(
            printed.contains("https://***@example.com/hooks?***"),
            "{printed}"
        );
    }
}
