//! What an attacker on the network could try with a request captured off the wire: send it again, change its
//! body, or send it once the signed timestamp is stale. Plain HTTP requests, outside the sender.

use std::time::Duration;

use bytes::Bytes;
use hookguard::{Scheme, Signer};
use hookguard_tower::REPLAYED_HEADER;
use http::HeaderMap;

use crate::receiver::{Captured, SECRET};

/// One attempt and how the receiver answered it.
#[derive(Debug)]
pub(crate) struct Probe {
    pub(crate) what: &'static str,
    pub(crate) expected: Expect,
    pub(crate) status: u16,
    /// The problem `type`'s last segment for a rejection, `replayed` for an answer from the store.
    pub(crate) answer: String,
}

/// What the receiver must answer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    /// The stored response, with `Idempotent-Replayed: true`.
    Replayed(u16),
    /// A rejection with this status and problem kind.
    Rejected(u16, &'static str),
}

impl Probe {
    pub(crate) fn ok(&self) -> bool {
        match self.expected {
            Expect::Replayed(status) => self.status == status && self.answer == "replayed",
            Expect::Rejected(status, kind) => self.status == status && self.answer == kind,
        }
    }

    pub(crate) fn expected_text(&self) -> String {
        match self.expected {
            Expect::Replayed(status) => format!("{status} from the store"),
            Expect::Rejected(status, kind) => format!("{status} {kind}"),
        }
    }

    pub(crate) fn answer_text(&self) -> String {
        if self.answer == "replayed" {
            format!("{} from the store", self.status)
        } else {
            format!("{} {}", self.status, self.answer)
        }
    }
}

/// Sends the probes to `url` (billing's route, tagged `via=probe` so the tallies keep them apart).
pub(crate) async fn run(
    url: &str,
    captured: &Captured,
) -> Result<Vec<Probe>, Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let id = captured
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .ok_or("the captured request has no webhook-id")?
        .to_owned();

    // A request signed ten minutes ago, as if captured then: only the secret's holder can sign, so the
    // attacker cannot refresh the timestamp.
    let ten_minutes_ago = now_unix() - 600;
    let stale = Signer::new(Scheme::standard_webhooks(), SECRET)?.sign(
        &id,
        ten_minutes_ago,
        &captured.body,
    )?;
    let mut forged_body = captured.body.to_vec();
    // Change one digit of the amount: the signature no longer matches the body.
    if let Some(pos) = forged_body.iter().rposition(u8::is_ascii_digit) {
        forged_body[pos] = if forged_body[pos] == b'9' {
            b'1'
        } else {
            forged_body[pos] + 1
        };
    }

    let cases: [(&'static str, Expect, HeaderMap, Bytes); 4] = [
        (
            "the captured request, sent again within the tolerance",
            Expect::Replayed(200),
            captured.headers.clone(),
            captured.body.clone(),
        ),
        (
            "forged: its body changed after signing",
            Expect::Rejected(401, "signature-mismatch"),
            captured.headers.clone(),
            Bytes::from(forged_body),
        ),
        (
            "replayed 10 min later: stale timestamp",
            Expect::Rejected(401, "timestamp-too-old"),
            stale,
            captured.body.clone(),
        ),
        (
            "no signature at all",
            Expect::Rejected(400, "missing-header"),
            HeaderMap::new(),
            captured.body.clone(),
        ),
    ];
    let mut probes = Vec::new();
    for (what, expected, mut headers, body) in cases {
        headers
            .entry(http::header::CONTENT_TYPE)
            .or_insert(http::HeaderValue::from_static("application/json"));
        let response = client.post(url).headers(headers).body(body).send().await?;
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get(REPLAYED_HEADER)
            .is_some_and(|v| v == "true");
        let body = response.bytes().await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let answer = if replayed {
            "replayed".to_owned()
        } else {
            body.get("type")
                .and_then(|t| t.as_str())
                .and_then(|t| t.rsplit('/').next())
                .unwrap_or("-")
                .to_owned()
        };
        probes.push(Probe {
            what,
            expected,
            status,
            answer,
        });
    }
    Ok(probes)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
