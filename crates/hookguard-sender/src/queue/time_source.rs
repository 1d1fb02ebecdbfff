//! [`TimeSource`]: whose clock a networked queue compares deadlines on.

/// Whose clock a networked queue backend compares deadlines on (lease deadlines, due times).
///
/// Every [`Queue`](super::Queue) call is given `now`. With [`Server`](Self::Server) (the default) a backend
/// reads its own server's clock instead and keeps every deadline the caller gives as the same distance from
/// that clock (a retry due 5 s after the caller's `now` is due 5 s after the server's), so sender processes
/// whose clocks are skewed still agree on which leases lapsed and which jobs are due. With
/// [`Caller`](Self::Caller) it uses each call's `now` as given: for tests that drive a
/// [`TestClock`](crate::TestClock) (the conformance suite does), or processes whose clocks are known to agree
/// to well within a lease.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeSource {
    /// The backend server's clock (PostgreSQL `clock_timestamp()`, Redis `TIME`).
    #[default]
    Server,
    /// The `now` passed to each call.
    Caller,
}
