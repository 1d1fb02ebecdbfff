//! The events the demo publishes: their ids, types and payloads, all decided by the event's number, and
//! which endpoint each type's effect belongs to.

/// An event type. Each has exactly one subscriber that accepts it (its effect), so "effects == events".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// 50 %: billing (healthy); a tenth of them are published a second time by the relay.
    InvoicePaid,
    /// 30 %: crm (flaky).
    CustomerUpdated,
    /// 15 %: warehouse (down, then replayed from the dead-letter queue).
    OrderShipped,
    /// 5 %: analytics (rate-limited); also sent to legacy (404) and by the impostor (wrong secret).
    AccountClosed,
}

impl Kind {
    /// The type of event number `n`: a fixed pattern over every 20 events.
    pub(crate) const fn of(n: u64) -> Self {
        match n % 20 {
            0..=9 => Self::InvoicePaid,
            10..=15 => Self::CustomerUpdated,
            16..=18 => Self::OrderShipped,
            _ => Self::AccountClosed,
        }
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::InvoicePaid => "invoice.paid",
            Self::CustomerUpdated => "customer.updated",
            Self::OrderShipped => "order.shipped",
            Self::AccountClosed => "account.closed",
        }
    }

    /// The route whose handler takes this event's effect.
    pub(crate) const fn owner(self) -> &'static str {
        match self {
            Self::InvoicePaid => "billing",
            Self::CustomerUpdated => "crm",
            Self::OrderShipped => "warehouse",
            Self::AccountClosed => "analytics",
        }
    }
}

/// Whether the relay publishes event `n` a second time (one `invoice.paid` in ten).
pub(crate) const fn relayed(n: u64) -> bool {
    n.is_multiple_of(20)
}

/// `evt_<run>_<n>`: the run part keeps ids unique in a durable store or queue shared between runs.
pub(crate) fn id(run: &str, n: u64) -> String {
    format!("evt_{run}_{n:07}")
}

/// The JSON body: the same bytes every time it is built, so a duplicate matches the stored fingerprint.
pub(crate) fn payload(n: u64) -> String {
    let kind = Kind::of(n);
    format!(
        r#"{{"type":"{}","n":{n},"amount_cents":{}}}"#,
        kind.name(),
        1_000 + (n * 37) % 9_000
    )
}
