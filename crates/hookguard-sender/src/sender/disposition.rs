//! The retry decision: a pure function from an attempt's outcome to the queue [`Transition`] and the
//! breaker's verdict. No I/O, so every rule is unit-tested here.

use std::time::Duration;

use crate::outcome::{Outcome, PermanentStatuses, classify, is_breaker_failure};
use crate::queue::{Attempt, AttemptErrorKind, AttemptResult, DeadLetterReason, Transition};
use crate::{RetryPolicy, Timestamp};

/// What the attempt says about the endpoint's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BreakerVerdict {
    /// Down or overloaded (transport error, timeout, 408, 429, 5xx).
    Failure,
    /// It answered: it is up.
    Success,
    /// Says nothing about the endpoint (our refusal to connect, a redirect we do not follow).
    Neutral,
}

/// The rules [`decide`] applies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules<'a> {
    pub(crate) retry: &'a RetryPolicy,
    pub(crate) permanent: &'a PermanentStatuses,
    pub(crate) retry_after_cap: Duration,
}

/// The decision for one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) transition: Transition,
    pub(crate) breaker: BreakerVerdict,
    /// The `result` label of `hookguard_delivery_attempts_total`.
    pub(crate) label: &'static str,
}

/// Decides what follows `attempt` (number `attempt.number`), made at `now`.
pub(crate) fn decide(
    attempt: Attempt,
    retry_after: Option<Duration>,
    now: Timestamp,
    rules: Rules<'_>,
) -> Decision {
    let dead = |reason, attempt, breaker, label| Decision {
        transition: Transition::DeadLetter {
            reason,
            attempt: Some(attempt),
            disable_endpoint: reason == DeadLetterReason::EndpointGone,
        },
        breaker,
        label,
    };
    let status = attempt.result.status();
    match (
        &attempt.result,
        status.map(|s| classify(s, rules.permanent)),
    ) {
        (
            AttemptResult::Error {
                kind: AttemptErrorKind::Blocked,
                ..
            },
            _,
        ) => dead(
            DeadLetterReason::BlockedTarget,
            attempt,
            BreakerVerdict::Neutral,
            "blocked",
        ),
        (AttemptResult::Status(s @ 300..=399), _) => {
            let s = *s;
            dead(
                DeadLetterReason::Redirect(s),
                attempt,
                BreakerVerdict::Neutral,
                "redirect",
            )
        }
        (_, Some(Outcome::Delivered)) => Decision {
            transition: Transition::Ack { attempt },
            breaker: BreakerVerdict::Success,
            label: "success",
        },
        (_, Some(Outcome::Gone)) => dead(
            DeadLetterReason::EndpointGone,
            attempt,
            BreakerVerdict::Success,
            "gone",
        ),
        (_, Some(Outcome::Permanent)) => {
            let s = status.unwrap_or_default();
            dead(
                DeadLetterReason::PermanentStatus(s),
                attempt,
                BreakerVerdict::Success,
                "permanent",
            )
        }
        (result, _) => {
            let label = match result {
                AttemptResult::Status(_) => "retry_status",
                AttemptResult::Error { kind, .. } => kind.as_str(),
            };
            let breaker = if is_breaker_failure(status) {
                BreakerVerdict::Failure
            } else {
                BreakerVerdict::Success
            };
            match rules.retry.delay_after(attempt.number) {
                None => dead(DeadLetterReason::AttemptsExhausted, attempt, breaker, label),
                Some(delay) => {
                    // Retry-After may only lengthen the wait: a `Retry-After: 0` from a struggling server
                    // must not spend the whole attempt budget in seconds.
                    let delay =
                        retry_after.map_or(delay, |ra| delay.max(ra.min(rules.retry_after_cap)));
                    Decision {
                        transition: Transition::RetryAt {
                            at: now + delay,
                            attempt,
                        },
                        breaker,
                        label,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn now() -> Timestamp {
        Timestamp::from_unix_seconds(1_000)
    }

    fn status(n: u32, s: u16) -> Attempt {
        Attempt::new(n, now(), AttemptResult::Status(s), Duration::ZERO)
    }

    fn error(n: u32, kind: AttemptErrorKind) -> Attempt {
        Attempt::new(
            n,
            now(),
            AttemptResult::Error {
                kind,
                message: String::new(),
            },
            Duration::ZERO,
        )
    }

    fn run(attempt: Attempt, retry_after: Option<Duration>) -> Decision {
        let retry = RetryPolicy::standard_webhooks().without_jitter();
        let permanent = PermanentStatuses::default();
        let rules = Rules {
            retry: &retry,
            permanent: &permanent,
            retry_after_cap: S * 3600,
        };
        decide(attempt, retry_after, now(), rules)
    }

    fn dead_reason(d: &Decision) -> Option<(DeadLetterReason, bool)> {
        match d.transition {
            Transition::DeadLetter {
                reason,
                disable_endpoint,
                ..
            } => Some((reason, disable_endpoint)),
            _ => None,
        }
    }

    #[test]
    fn success_acks_and_closes_the_breaker() {
        let d = run(status(1, 204), None);
        assert!(matches!(d.transition, Transition::Ack { .. }));
        assert_eq!((d.breaker, d.label), (BreakerVerdict::Success, "success"));
    }

    #[test]
    fn gone_disables_and_permanent_dead_letters_without_breaker_failure() {
        let d = run(status(1, 410), None);
        assert_eq!(
            dead_reason(&d),
            Some((DeadLetterReason::EndpointGone, true))
        );
        assert_eq!(d.breaker, BreakerVerdict::Success);
        let d = run(status(1, 404), None);
        assert_eq!(
            dead_reason(&d),
            Some((DeadLetterReason::PermanentStatus(404), false))
        );
        assert_eq!(d.breaker, BreakerVerdict::Success);
    }

    #[test]
    fn redirects_and_blocked_targets_dead_letter_at_once_and_are_neutral() {
        for s in [301, 302, 307, 308] {
            let d = run(status(1, s), None);
            assert_eq!(
                dead_reason(&d),
                Some((DeadLetterReason::Redirect(s), false))
            );
            assert_eq!(d.breaker, BreakerVerdict::Neutral);
        }
        let d = run(error(1, AttemptErrorKind::Blocked), None);
        assert_eq!(
            dead_reason(&d),
            Some((DeadLetterReason::BlockedTarget, false))
        );
        assert_eq!((d.breaker, d.label), (BreakerVerdict::Neutral, "blocked"));
    }

    #[test]
    fn failures_retry_on_the_schedule_and_count_against_the_breaker() {
        let d = run(status(1, 503), None);
        assert!(matches!(d.transition, Transition::RetryAt { at, .. } if at == now() + S * 5));
        assert_eq!(
            (d.breaker, d.label),
            (BreakerVerdict::Failure, "retry_status")
        );
        let d = run(error(2, AttemptErrorKind::Timeout), None);
        assert!(matches!(d.transition, Transition::RetryAt { at, .. } if at == now() + S * 300));
        assert_eq!((d.breaker, d.label), (BreakerVerdict::Failure, "timeout"));
        // 409 retries but shows the endpoint is up.
        let d = run(status(1, 409), None);
        assert!(matches!(d.transition, Transition::RetryAt { .. }));
        assert_eq!(d.breaker, BreakerVerdict::Success);
    }

    #[test]
    fn retry_after_only_lengthens_and_is_clamped() {
        let at = |d: Decision| match d.transition {
            Transition::RetryAt { at, .. } => at,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(run(status(1, 429), Some(Duration::ZERO))), now() + S * 5);
        assert_eq!(at(run(status(1, 429), Some(S * 60))), now() + S * 60);
        assert_eq!(
            at(run(status(1, 429), Some(S * 100_000))),
            now() + S * 3600,
            "clamped to the cap"
        );
    }

    #[test]
    fn the_last_attempt_dead_letters() {
        let d = run(status(10, 500), None);
        assert_eq!(
            dead_reason(&d),
            Some((DeadLetterReason::AttemptsExhausted, false))
        );
        assert_eq!(d.breaker, BreakerVerdict::Failure);
    }
}
