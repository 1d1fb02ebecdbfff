//! Interoperability with the providers' own Python libraries — `standardwebhooks`, `stripe` and `slack_sdk` —
//! run by the interpreter named in `HOOKGUARD_PYTHON` (`.ci/python-venv.sh DIR` makes one): they sign and
//! hookguard verifies, hookguard signs and they verify, with JSON payloads and current timestamps.
//!
//! Without `HOOKGUARD_PYTHON` the tests print that they skipped and pass, unless `HOOKGUARD_REQUIRE_BACKENDS=1`.

use std::hash::{BuildHasher as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hookguard::{Clock as _, Scheme, Signer, SystemClock, Verifier, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

/// The interpreter to use, or `None` (after saying so) when the tests should skip.
fn python() -> Option<PathBuf> {
    match std::env::var_os("HOOKGUARD_PYTHON").filter(|p| !p.is_empty()) {
        Some(path) => Some(path.into()),
        None if std::env::var("HOOKGUARD_REQUIRE_BACKENDS").as_deref() == Ok("1") => {
            panic!(
                "HOOKGUARD_PYTHON is not set but HOOKGUARD_REQUIRE_BACKENDS=1: run `.ci/python-venv.sh DIR` and set \
                 HOOKGUARD_PYTHON=DIR/bin/python"
            )
        }
        None => {
            // Straight to stderr: libtest captures `println!` of passing tests, and this line is for the
            // person running `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "interop_python: skipped: HOOKGUARD_PYTHON is not set (see .ci/python-venv.sh)"
            );
            None
        }
    }
}

/// Sends `requests` to `tests/interop/driver.py` and returns its answers, one per request.
fn drive(python: &Path, requests: &[Value]) -> Vec<Value> {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/driver.py");
    let mut child = Command::new(python)
        .arg(&driver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let input = serde_json::to_vec(requests).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write requests");
    let output = child.wait_with_output().expect("driver");
    assert!(
        output.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).expect("driver's answers");
    assert_eq!(answers.len(), requests.len());
    answers
}

fn random_u64() -> u64 {
    std::hash::RandomState::new().build_hasher().finish()
}

/// A fresh JSON event with non-ASCII text in it.
fn event(now: i64) -> String {
    json!({
        "id": format!("evt_{:016x}", random_u64()),
        "type": "invoice.paid",
        "created": now,
        "data": {"amount": 4200, "currency": "eur", "note": "café ☕, \"quoted\""},
    })
    .to_string()
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no `{key}` in {value}"))
        .to_owned()
}

fn headers_json(headers: &HeaderMap) -> Value {
    let map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), Value::from(v.to_str().expect("ASCII"))))
        .collect();
    Value::Object(map)
}

fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_static(n),
                HeaderValue::from_str(v).expect("header value"),
            )
        })
        .collect()
}

fn assert_accepted(answer: &Value, what: &str) {
    assert_eq!(answer["ok"], Value::Bool(true), "{what}: {answer}");
}

fn assert_refused(answer: &Value, what: &str) {
    assert_eq!(answer["ok"], Value::Bool(false), "{what}: {answer}");
}

#[test]
fn library_versions_are_the_pinned_ones() {
    let Some(python) = python() else { return };
    let output = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/driver.py"))
        .arg("versions")
        .output()
        .expect("driver");
    let versions: Value = serde_json::from_slice(&output.stdout).expect("versions");
    let pinned = include_str!("../.ci/requirements-interop.txt");
    for (package, pin) in [
        ("standardwebhooks", "standardwebhooks=="),
        ("stripe", "stripe=="),
        ("slack_sdk", "slack-sdk=="),
    ] {
        let want = pinned
            .lines()
            .find_map(|l| l.strip_prefix(pin))
            .unwrap_or_else(|| panic!("{pin} is not pinned"));
        assert_eq!(versions[package], Value::from(want.trim()), "{package}");
    }
    println!("interop against {versions}");
}

#[test]
fn standard_webhooks_interoperates() {
    let Some(python) = python() else { return };
    let key = |n: u64| {
        let bytes: Vec<u8> = (0..4)
            .flat_map(|_| random_u64().to_le_bytes())
            .chain(n.to_le_bytes())
            .collect();
        use base64::Engine as _;
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    };
    let (old, new) = (key(1), key(2));
    let now = SystemClock.now_unix();
    let payload = event(now);
    let id = format!("msg_{:016x}", random_u64());

    // hookguard signs with both keys (rotation); the library must accept each key alone and refuse tampering.
    let signed = Signer::new(Scheme::standard_webhooks(), &old)
        .and_then(|s| s.with_secret(&new))
        .expect("keys")
        .sign(&id, now, payload.as_bytes())
        .expect("sign");
    let headers = headers_json(&signed);
    let requests = vec![
        json!({"op": "standard-webhooks.verify", "secret": old, "headers": headers, "payload": payload}),
        json!({"op": "standard-webhooks.verify", "secret": new, "headers": headers, "payload": payload}),
        json!({"op": "standard-webhooks.verify", "secret": new, "headers": headers, "payload": format!("{payload} ")}),
        json!({"op": "standard-webhooks.verify", "secret": key(3), "headers": headers, "payload": payload}),
        json!({"op": "standard-webhooks.sign", "secret": new, "id": id, "timestamp": now, "payload": payload}),
    ];
    let answers = drive(&python, &requests);
    assert_accepted(
        &answers[0],
        "python verifies hookguard's signature (old key)",
    );
    assert_accepted(
        &answers[1],
        "python verifies hookguard's signature (new key)",
    );
    assert_refused(&answers[2], "python refuses a tampered payload");
    assert_refused(&answers[3], "python refuses another key");

    // The library signs; hookguard verifies, reports the key, and refuses tampering.
    let signature = text(&answers[4], "signature");
    let request = header_map(&[
        ("webhook-id", id.clone()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", signature.clone()),
    ]);
    let verifier = Verifier::new(Scheme::standard_webhooks(), &old)
        .and_then(|v| v.with_secret(&new))
        .expect("keys");
    let verified = verifier
        .verify(&request, payload.as_bytes())
        .expect("python's signature");
    assert_eq!(
        (verified.id(), verified.timestamp(), verified.key_index()),
        (Some(id.as_str()), Some(now), 1)
    );
    assert_eq!(
        verifier.verify(&request, format!("{payload} ").as_bytes()),
        Err(VerifyError::SignatureMismatch)
    );
    // The same signature under Svix's header names.
    let svix = header_map(&[
        ("svix-id", id),
        ("svix-timestamp", now.to_string()),
        ("svix-signature", signature),
    ]);
    assert!(verifier.verify(&svix, payload.as_bytes()).is_ok());
}

#[test]
fn stripe_interoperates() {
    let Some(python) = python() else { return };
    let old = format!("whsec_{:016x}{:016x}", random_u64(), random_u64());
    let new = format!("whsec_{:016x}{:016x}", random_u64(), random_u64());
    let now = SystemClock.now_unix();
    let payload = event(now);

    let signed = Signer::new(Scheme::stripe(), &old)
        .and_then(|s| s.with_secret(&new))
        .expect("keys")
        .sign("", now, payload.as_bytes())
        .expect("sign");
    let headers = headers_json(&signed);
    let stale = Signer::new(Scheme::stripe(), &new)
        .expect("key")
        .sign("", now - 600, payload.as_bytes())
        .expect("sign");
    let requests = vec![
        json!({"op": "stripe.verify", "secret": old, "headers": headers, "payload": payload}),
        json!({"op": "stripe.verify", "secret": new, "headers": headers, "payload": payload}),
        json!({"op": "stripe.verify", "secret": new, "headers": headers, "payload": payload.replace("4200", "4201")}),
        json!({"op": "stripe.verify", "secret": new, "headers": headers_json(&stale), "payload": payload}),
        json!({"op": "stripe.sign", "secret": new, "timestamp": now, "payload": payload}),
    ];
    let answers = drive(&python, &requests);
    assert_accepted(
        &answers[0],
        "stripe-python verifies hookguard's header (first key)",
    );
    assert_accepted(
        &answers[1],
        "stripe-python verifies hookguard's header (second key)",
    );
    assert_refused(&answers[2], "stripe-python refuses a tampered payload");
    assert_refused(&answers[3], "stripe-python refuses a stale timestamp");

    let header = text(&answers[4], "header");
    let request = header_map(&[("stripe-signature", header)]);
    let verifier = Verifier::new(Scheme::stripe(), &old)
        .and_then(|v| v.with_secret(&new))
        .expect("keys");
    let verified = verifier
        .verify(&request, payload.as_bytes())
        .expect("stripe-python's header");
    assert_eq!((verified.timestamp(), verified.key_index()), (Some(now), 1));
    assert_eq!(
        verifier.verify(&request, payload.replace("4200", "4201").as_bytes()),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn slack_interoperates() {
    let Some(python) = python() else { return };
    let secret = format!("{:016x}{:016x}", random_u64(), random_u64());
    let now = SystemClock.now_unix();
    let payload = event(now);

    let signed = Signer::new(Scheme::slack(), &secret)
        .expect("key")
        .sign("", now, payload.as_bytes())
        .expect("sign");
    let headers = headers_json(&signed);
    let requests = vec![
        json!({"op": "slack.verify", "secret": secret, "headers": headers, "payload": payload}),
        json!({"op": "slack.verify", "secret": secret, "headers": headers, "payload": format!(" {payload}")}),
        json!({"op": "slack.verify", "secret": format!("{secret}0"), "headers": headers, "payload": payload}),
        json!({"op": "slack.sign", "secret": secret, "timestamp": now, "payload": payload}),
    ];
    let answers = drive(&python, &requests);
    assert_accepted(&answers[0], "slack_sdk verifies hookguard's signature");
    assert_refused(&answers[1], "slack_sdk refuses a tampered payload");
    assert_refused(&answers[2], "slack_sdk refuses another secret");

    let request = header_map(&[
        ("x-slack-request-timestamp", now.to_string()),
        ("x-slack-signature", text(&answers[3], "signature")),
    ]);
    let verifier = Verifier::new(Scheme::slack(), &secret).expect("key");
    assert_eq!(
        verifier
            .verify(&request, payload.as_bytes())
            .map(|v| v.timestamp()),
        Ok(Some(now))
    );
    assert_eq!(
        verifier.verify(&request, format!(" {payload}").as_bytes()),
        Err(VerifyError::SignatureMismatch)
    );
}
