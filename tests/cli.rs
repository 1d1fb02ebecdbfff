//! The `hookguard` command-line example: `sign` prints headers that `verify` accepts for every scheme, `verify`
//! exits 0/1/2 for verified/refused/usage errors, `--body-file -` reads stdin, and several `--secret`s rotate.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The example's binary, built once by the cargo that runs the tests. The flags match the workspace's test
/// command (`cargo test --workspace --all-features`), so under it this build finds everything up to date.
fn cli() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "-q",
            "--workspace",
            "--all-features",
            "--example",
            "hookguard",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the example failed");
        profile_dir
            .join("examples")
            .join(format!("hookguard{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Runs the CLI with `args`, feeding `stdin`.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(cli())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    // The CLI may exit before reading standard input (usage errors): a broken pipe is fine.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("CLI output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

/// `sign` with the body on stdin; the printed headers as `--header` arguments.
fn sign(scheme: &str, secrets: &[&str], body: &[u8], extra: &[&str]) -> Vec<String> {
    let mut args = vec!["sign", "--scheme", scheme, "--body-file", "-"];
    for secret in secrets {
        args.extend(["--secret", secret]);
    }
    args.extend(extra);
    let output = run(&args, body);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output).lines().map(str::to_owned).collect()
}

fn verify(
    scheme: &str,
    secrets: &[&str],
    headers: &[String],
    body: &[u8],
    extra: &[&str],
) -> Output {
    let mut args = vec!["verify", "--scheme", scheme, "--body-file", "-"];
    for secret in secrets {
        args.extend(["--secret", secret]);
    }
    for header in headers {
        args.extend(["--header", header]);
    }
    args.extend(extra);
    run(&args, body)
}

const SCHEMES: [(&str, &str); 5] = [
    (
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("stripe", "whsec_test_secret_0123"),
    ("github", "It's a Secret to Everybody"),
    ("slack", "8f742231b10e8888abcd99yyyzzz85a5"),
    ("shopify", "hush-shopify-client-secret"),
];

#[test]
fn what_sign_prints_verify_accepts_for_every_scheme() {
    let body = br#"{"type":"ping","n":1}"#;
    for (scheme, secret) in SCHEMES {
        let headers = sign(scheme, &[secret], body, &["--id", "evt_cli_1"]);
        assert!(headers.iter().all(|h| h.contains(": ")), "{headers:?}");
        let ok = verify(scheme, &[secret], &headers, body, &[]);
        assert_eq!(
            code(&ok),
            0,
            "{scheme}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let line = stdout(&ok);
        assert!(
            line.starts_with(&format!("verified scheme={scheme} ")),
            "{line}"
        );
        let refused = verify(scheme, &[secret], &headers, b"{}", &[]);
        assert_eq!(
            (code(&refused), stdout(&refused).trim()),
            (1, "signature-mismatch"),
            "{scheme}"
        );
    }
}

#[test]
fn verify_reports_id_timestamp_and_key() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let body = br#"{"test": 2432232314}"#;
    let headers = sign(
        "standard-webhooks",
        &[secret],
        body,
        &[
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ],
    );
    // The Standard Webhooks test suite's published signature.
    assert!(
        headers.contains(
            &"webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()
        ),
        "{headers:?}"
    );
    let ok = verify(
        "standard-webhooks",
        &[other, secret],
        &headers,
        body,
        &["--now", "1614265330"],
    );
    assert_eq!(code(&ok), 0);
    assert_eq!(
        stdout(&ok).trim(),
        "verified scheme=standard-webhooks id=msg_p5jXN8AQM9LWM0D4loKWxJek timestamp=1614265330 key_index=1"
    );
}

#[test]
fn timestamps_are_checked_against_now_and_tolerance() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let headers = sign("slack", &[secret], b"x=1", &["--timestamp", "1531420618"]);
    let stale = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420919"],
    );
    assert_eq!(
        (code(&stale), stdout(&stale).trim()),
        (1, "timestamp-too-old")
    );
    let future = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420317"],
    );
    assert_eq!(
        (code(&future), stdout(&future).trim()),
        (1, "timestamp-too-new")
    );
    let boundary = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420918"],
    );
    assert_eq!(code(&boundary), 0);
    let wide = verify(
        "slack",
        &[secret],
        &headers,
        b"x=1",
        &["--now", "1531420919", "--tolerance", "301"],
    );
    assert_eq!(code(&wide), 0);
    // Without --now, the system clock: a 2018 timestamp is stale.
    let today = verify("slack", &[secret], &headers, b"x=1", &[]);
    assert_eq!(
        (code(&today), stdout(&today).trim()),
        (1, "timestamp-too-old")
    );
}

#[test]
fn github_docs_example_from_a_file() {
    let dir = std::env::temp_dir().join(format!("hookguard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("body.txt");
    std::fs::write(&file, "Hello, World!").expect("write body");
    let file = file.to_str().expect("UTF-8 path");
    let header = "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let args = [
        "verify",
        "--scheme",
        "github",
        "--secret",
        "It's a Secret to Everybody",
        "--body-file",
        file,
        "--header",
        header,
    ];
    let ok = run(&args, b"");
    assert_eq!(
        (code(&ok), stdout(&ok).trim()),
        (0, "verified scheme=github id=- timestamp=- key_index=0")
    );
    let missing = run(&args[..7], b"");
    assert_eq!(
        (code(&missing), stdout(&missing).trim()),
        (1, "missing-header")
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn ed25519_keys_sign_and_verify() {
    // RFC 8032, section 7.1, TEST 1 key pair, as Standard Webhooks keys.
    let whsk = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    let whpk = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    let body = b"{\"kind\":\"ed25519\"}";
    let headers = sign("standard-webhooks", &[whsk], body, &[]);
    assert!(
        headers
            .iter()
            .any(|h| h.starts_with("webhook-signature: v1a,")),
        "{headers:?}"
    );
    assert_eq!(
        code(&verify("standard-webhooks", &[whpk], &headers, body, &[])),
        0
    );
    let refused = verify("standard-webhooks", &[whpk], &headers, b"{}", &[]);
    assert_eq!(
        (code(&refused), stdout(&refused).trim()),
        (1, "signature-mismatch")
    );
    // A public key cannot sign: a usage error.
    let output = run(
        &[
            "sign",
            "--scheme",
            "standard-webhooks",
            "--secret",
            whpk,
            "--body-file",
            "-",
        ],
        body,
    );
    assert_eq!(code(&output), 2);
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let base = [
        "verify",
        "--scheme",
        "github",
        "--secret",
        "It's a Secret to Everybody",
        "--body-file",
        "-",
    ];
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["sign", "--scheme", "github", "--body-file", "-"],
        vec![
            "sign",
            "--scheme",
            "nope",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "short",
            "--body-file",
            "-",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "0123456789abcdef",
            "--body-file",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "/nonexistent/body",
        ],
        vec![
            "sign",
            "--scheme",
            "stripe",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
            "--timestamp",
            "-5",
        ],
        vec![
            "sign",
            "--scheme",
            "stripe",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
            "--timestamp",
            "soon",
        ],
        vec![
            "sign",
            "--scheme",
            "github",
            "--secret",
            "0123456789abcdef",
            "--body-file",
            "-",
            "--header",
            "a: b",
        ],
        [&base[..], &["--header", "no colon here"]].concat(),
        [&base[..], &["--now", "yesterday"]].concat(),
        [&base[..], &["--tolerance", "-1"]].concat(),
        [&base[..], &["--scheme", "github"]].concat(),
        [&base[..], &["stray"]].concat(),
    ];
    for args in cases {
        let output = run(&args, b"body");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(code(&output), 2, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("hookguard: ") && stderr.contains("usage:"),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let help = run(&["--help"], b"");
    assert_eq!(code(&help), 0);
    assert!(stdout(&help).starts_with("usage:"));
}
