//! Runs every test vector under `tests/vectors/` (published by the providers, or derived by `generate.py`) and
//! checks that each file's name says what its vectors expect.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookguard::VerifyError;
use http::HeaderName;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    about: String,
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    source: String,
    scheme: String,
    secrets: Vec<String>,
    now: Option<i64>,
    tolerance: Option<u64>,
    payload: String,
    headers: Vec<(String, String)>,
    expect: String,
    /// What a successful verification must report.
    verified: Option<Verified>,
    /// The header that a `missing-header` or `malformed-header` error must name.
    header: Option<String>,
    /// When present, signing the payload with these arguments must give exactly `headers`.
    sign: Option<Sign>,
}

#[derive(Debug, Deserialize)]
struct Verified {
    id: Option<String>,
    timestamp: Option<i64>,
    key_index: usize,
}

#[derive(Debug, Deserialize)]
struct Sign {
    id: String,
    timestamp: i64,
}

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// What every vector of a file must expect, from the file's name: `*_valid.json` or `*_rejects_<kind>.json`.
fn expectation(file: &Path) -> String {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("file name");
    if stem.ends_with("_valid") {
        return "valid".to_owned();
    }
    let (_, kind) = stem
        .split_once("_rejects_")
        .unwrap_or_else(|| panic!("{stem}: the name says neither _valid nor _rejects_<kind>"));
    kind.replace('_', "-")
}

fn run(v: &Vector) -> Result<(), String> {
    let secrets: Vec<&str> = v.secrets.iter().map(String::as_str).collect();
    let mut verifier = common::verifier(common::scheme(&v.scheme), &secrets, v.now.unwrap_or(0));
    if let Some(secs) = v.tolerance {
        verifier = verifier.tolerance(Duration::from_secs(secs));
    }
    if v.now.is_none() && verifier.scheme().has_timestamp() {
        return Err("a scheme with a timestamp needs `now`".into());
    }
    let headers = common::headers(&v.headers);
    let result = verifier.verify(&headers, v.payload.as_bytes());
    match (v.expect.as_str(), result) {
        ("valid", Ok(got)) => {
            let want = v
                .verified
                .as_ref()
                .ok_or("a valid vector needs `verified`")?;
            let got = (got.id(), got.timestamp(), got.key_index(), got.scheme());
            let want = (
                want.id.as_deref(),
                want.timestamp,
                want.key_index,
                v.scheme.as_str(),
            );
            if got != want {
                return Err(format!("verified {got:?}, want {want:?}"));
            }
        }
        (kind, Err(err)) if err.kind() == kind => {
            let named = match &err {
                VerifyError::MissingHeader(name) | VerifyError::MalformedHeader(name) => Some(name),
                _ => None,
            };
            let want = v
                .header
                .as_deref()
                .map(|h| HeaderName::from_bytes(h.as_bytes()).expect("header name"));
            if named != want.as_ref() {
                return Err(format!("{err:?} names {named:?}, want {want:?}"));
            }
        }
        (want, got) => return Err(format!("want {want}, got {got:?}")),
    }
    if let Some(sign) = &v.sign {
        let signed = common::signer(common::scheme(&v.scheme), &secrets)
            .sign(&sign.id, sign.timestamp, v.payload.as_bytes())
            .map_err(|e| format!("sign: {e}"))?;
        if signed != headers {
            return Err(format!("signing gives {signed:?}, want {headers:?}"));
        }
    }
    Ok(())
}

#[test]
fn every_vector_file_passes() {
    let files = vector_files();
    assert!(files.len() >= 20, "only {} vector files", files.len());
    let mut failures = Vec::new();
    let mut ran = 0;
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        if name.contains("ed25519") && !cfg!(feature = "ed25519") {
            println!("skipped {name}: needs the ed25519 feature");
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read vector file");
        let file: File = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!file.about.is_empty(), "{name}: no `about`");
        assert!(!file.vectors.is_empty(), "{name}: no vectors");
        let expected = expectation(path);
        for v in &file.vectors {
            ran += 1;
            let label = format!("{name} / {}", v.name);
            if v.source.trim().is_empty() {
                failures.push(format!("{label}: cites no source"));
            }
            if v.expect != expected {
                failures.push(format!(
                    "{label}: expects {}, the file name says {expected}",
                    v.expect
                ));
            }
            if let Err(why) = run(v) {
                failures.push(format!("{label}: {why}"));
            }
        }
    }
    println!("ran {ran} vectors from {} files", files.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
