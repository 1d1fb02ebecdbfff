//! The bytes [`RedisQueue`](super::RedisQueue) stores and the replies its scripts send back.
//!
//! An attempt is one list item, written and read only here (the scripts store it as an opaque string):
//!
//! ```text
//! version 1 │ number u32 │ at i64 ms │ latency: secs u64, nanos u32 │ 0 status u16
//!                                                                  │ 1 kind (u8 len + bytes), message (u32 len + bytes)
//!           │ response body (u32 len + bytes)                       (integers big-endian)
//! ```
//!
//! Anything that does not decode is a [`QueueError::Backend`] naming what was corrupt, never a panic.

use std::fmt;
use std::time::Duration;

use ::redis::Value;
use bytes::Bytes;

use crate::Timestamp;
use crate::queue::{
    Attempt, AttemptErrorKind, AttemptResult, DeadLetterReason, EndpointState, Job, JobId,
    JobRecord, JobState, QueueError, QueueStats,
};

const VERSION: u8 = 1;

/// A reply or a stored value that is not what the scripts write.
#[derive(Debug)]
pub(super) struct Corrupt(pub(super) &'static str);

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected data in Redis: {}", self.0)
    }
}

impl std::error::Error for Corrupt {}

pub(super) fn corrupt(what: &'static str) -> QueueError {
    QueueError::Backend(Box::new(Corrupt(what)))
}

/// A job id as the scripts name it: 20 digits, so that ids sort as strings in numeric order.
pub(super) fn member(id: JobId) -> String {
    format!("{:020}", id.0)
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Lengths are bounded well below 4 GiB by the sender (response bodies are truncated); cut rather than
    // write a length that lies.
    let bytes = &s.as_bytes()[..s.len().min(u32::MAX as usize)];
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Encodes an attempt for the history list.
pub(super) fn encode_attempt(a: &Attempt) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + a.response_body.len());
    out.push(VERSION);
    out.extend_from_slice(&a.number.to_be_bytes());
    out.extend_from_slice(&a.at.as_unix_millis().to_be_bytes());
    out.extend_from_slice(&a.latency.as_secs().to_be_bytes());
    out.extend_from_slice(&a.latency.subsec_nanos().to_be_bytes());
    match &a.result {
        AttemptResult::Status(s) => {
            out.push(0);
            out.extend_from_slice(&s.to_be_bytes());
        }
        AttemptResult::Error { kind, message } => {
            out.push(1);
            let k = kind.as_str().as_bytes();
            out.push(u8::try_from(k.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(k);
            put_str(&mut out, message);
        }
    }
    put_str(&mut out, &a.response_body);
    out
}

/// A cursor over stored bytes; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], QueueError> {
        if self.0.len() < n {
            return Err(corrupt("a truncated attempt"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], QueueError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn string(&mut self, len: usize) -> Result<String, QueueError> {
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| corrupt("an attempt's text"))
    }

    fn long_string(&mut self) -> Result<String, QueueError> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        self.string(len)
    }
}

/// Decodes an attempt from the history list.
pub(super) fn decode_attempt(bytes: &[u8]) -> Result<Attempt, QueueError> {
    let mut r = Reader(bytes);
    if r.array::<1>()?[0] != VERSION {
        return Err(corrupt("an attempt of an unknown version"));
    }
    let number = u32::from_be_bytes(r.array()?);
    let at = Timestamp::from_unix_millis(i64::from_be_bytes(r.array()?));
    let secs = u64::from_be_bytes(r.array()?);
    let nanos = u32::from_be_bytes(r.array()?);
    if nanos >= 1_000_000_000 {
        return Err(corrupt("an attempt's latency"));
    }
    let latency = Duration::new(secs, nanos);
    let result = match r.array::<1>()?[0] {
        0 => AttemptResult::Status(u16::from_be_bytes(r.array()?)),
        1 => {
            let len = usize::from(r.array::<1>()?[0]);
            let kind = AttemptErrorKind::parse(&r.string(len)?)
                .ok_or_else(|| corrupt("an attempt's error kind"))?;
            AttemptResult::Error {
                kind,
                message: r.long_string()?,
            }
        }
        _ => return Err(corrupt("an attempt's result")),
    };
    let response_body = r.long_string()?;
    if !r.0.is_empty() {
        return Err(corrupt("trailing bytes after an attempt"));
    }
    Ok(Attempt {
        number,
        at,
        result,
        latency,
        response_body,
    })
}

/// The items of an array reply.
pub(super) fn array(v: Value) -> Result<Vec<Value>, QueueError> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(corrupt("a script reply that is not an array")),
    }
}

/// An integer, sent as one (a Lua number) or as its decimal text (a stored field).
pub(super) fn int(v: &Value) -> Result<i64, QueueError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::BulkString(b) => {
            let s = std::str::from_utf8(b).map_err(|_| corrupt("a number"))?;
            s.parse::<i64>().or_else(|_| {
                // Tolerates a number a script wrote in float notation (`1.7e+12`).
                let f: f64 = s.parse().map_err(|_| corrupt("a number"))?;
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(f as i64)
                } else {
                    Err(corrupt("a number"))
                }
            })
        }
        _ => Err(corrupt("a missing number")),
    }
}

/// A non-negative integer.
pub(super) fn count(v: &Value) -> Result<u64, QueueError> {
    u64::try_from(int(v)?).map_err(|_| corrupt("a negative count"))
}

pub(super) fn time(v: &Value) -> Result<Timestamp, QueueError> {
    int(v).map(Timestamp::from_unix_millis)
}

/// Bytes, or `None` for a missing field.
pub(super) fn opt_bytes(v: Value) -> Result<Option<Vec<u8>>, QueueError> {
    match v {
        Value::Nil => Ok(None),
        Value::BulkString(b) => Ok(Some(b)),
        Value::SimpleString(s) => Ok(Some(s.into_bytes())),
        _ => Err(corrupt("a value that is not a string")),
    }
}

pub(super) fn bytes(v: Value) -> Result<Vec<u8>, QueueError> {
    opt_bytes(v)?.ok_or_else(|| corrupt("a missing field"))
}

pub(super) fn text(v: Value) -> Result<String, QueueError> {
    String::from_utf8(bytes(v)?).map_err(|_| corrupt("text that is not UTF-8"))
}

pub(super) fn opt_text(v: Value) -> Result<Option<String>, QueueError> {
    opt_bytes(v)?
        .map(|b| String::from_utf8(b).map_err(|_| corrupt("text that is not UTF-8")))
        .transpose()
}

/// Takes the next `N` items of `it`.
pub(super) fn next_n<const N: usize>(
    it: &mut impl Iterator<Item = Value>,
) -> Result<[Value; N], QueueError> {
    let mut out: [Value; N] = std::array::from_fn(|_| Value::Nil);
    for slot in &mut out {
        *slot = it.next().ok_or_else(|| corrupt("a short script reply"))?;
    }
    Ok(out)
}

/// A job record as the scripts' `record` sends it: `{id, e, v, t, p, c, n, s, a, r, attempts}`.
pub(super) fn record(v: Value) -> Result<JobRecord, QueueError> {
    let mut it = array(v)?.into_iter();
    let [
        id,
        ep,
        ev,
        ty,
        payload,
        created,
        attempts,
        state,
        at,
        reason,
        history,
    ] = next_n::<11>(&mut it)?;
    let job = Job {
        id: JobId(count(&id)?),
        endpoint_id: text(ep)?,
        event_id: text(ev)?,
        event_type: text(ty)?,
        payload: Bytes::from(bytes(payload)?),
        created_at: time(&created)?,
        attempts: u32::try_from(count(&attempts)?).map_err(|_| corrupt("an attempt count"))?,
    };
    let at = time(&at)?;
    let state = match bytes(state)?.as_slice() {
        b"s" => JobState::Scheduled { due_at: at },
        b"f" => JobState::InFlight { until: at },
        b"x" => JobState::Delivered { at },
        b"d" => JobState::Dead {
            at,
            reason: DeadLetterReason::parse(&text(reason)?)
                .ok_or_else(|| corrupt("a dead-letter reason"))?,
        },
        _ => return Err(corrupt("a job state")),
    };
    let attempts = array(history)?
        .into_iter()
        .map(|a| decode_attempt(&bytes(a)?))
        .collect::<Result<_, _>>()?;
    Ok(JobRecord {
        job,
        state,
        attempts,
    })
}

/// An endpoint state as `endpoint_states.lua` sends it: `{endpoint, on, paused-until, reason, changed}`.
pub(super) fn endpoint_state(v: Value) -> Result<(String, EndpointState), QueueError> {
    let mut it = array(v)?.into_iter();
    let [ep, on, paused, reason, changed] = next_n::<5>(&mut it)?;
    let opt_time = |v: &Value| match v {
        Value::Nil => Ok(None),
        v => time(v).map(Some),
    };
    let state = EndpointState {
        // Never set: the default, enabled.
        enabled: opt_bytes(on)?.is_none_or(|b| b != b"0"),
        paused_until: opt_time(&paused)?,
        reason: opt_text(reason)?,
        changed_at: opt_time(&changed)?,
    };
    Ok((text(ep)?, state))
}

/// The next four counts of a reply, `{due, scheduled later, in flight, dead}`, as `stats.lua` and each row of
/// `endpoint_stats.lua` send them.
pub(super) fn stats(it: &mut impl Iterator<Item = Value>) -> Result<QueueStats, QueueError> {
    let [due, scheduled, in_flight, dead] = next_n::<4>(it)?;
    Ok(QueueStats {
        due: count(&due)?,
        scheduled: count(&scheduled)?,
        in_flight: count(&in_flight)?,
        dead: count(&dead)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_round_trip_and_corrupt_bytes_are_errors() {
        let mut a = Attempt::new(
            3,
            Timestamp::from_unix_millis(1_700_000_000_123),
            AttemptResult::Error {
                kind: AttemptErrorKind::Timeout,
                message: "après 15 s ✗".into(),
            },
            Duration::new(15, 123_456_789),
        );
        a.response_body = "corps\n\0binaire".into();
        let bytes = encode_attempt(&a);
        assert_eq!(decode_attempt(&bytes).unwrap(), a);
        let status = Attempt::new(
            1,
            Timestamp::EPOCH,
            AttemptResult::Status(503),
            Duration::ZERO,
        );
        assert_eq!(decode_attempt(&encode_attempt(&status)).unwrap(), status);
        for cut in 0..bytes.len() {
            assert!(decode_attempt(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_attempt(&longer).is_err());
        let mut other = bytes;
        other[0] = 9;
        assert!(decode_attempt(&other).is_err());
    }

    #[test]
    fn numbers_parse_from_either_form() {
        assert_eq!(int(&Value::Int(5)).unwrap(), 5);
        assert_eq!(
            int(&Value::BulkString(b"1700000000000".to_vec())).unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            int(&Value::BulkString(b"1.7e+12".to_vec())).unwrap(),
            1_700_000_000_000
        );
        assert!(int(&Value::BulkString(b"1.5".to_vec())).is_err());
        assert!(int(&Value::Nil).is_err());
        assert_eq!(member(JobId(42)), "00000000000000000042");
        assert_eq!(member(JobId(u64::MAX)).len(), 20);
    }
}
