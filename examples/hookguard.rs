//! Run with: `cargo run -q --example hookguard -- sign|verify …` — a command-line tool to sign a webhook, or to
//! check one you received, with any of hookguard's schemes.
//!
//! ```text
//! hookguard sign   --scheme S --secret K [--secret K2 …] --body-file F [--id ID] [--timestamp UNIX]
//! hookguard verify --scheme S --secret K [--secret K2 …] --body-file F --header 'Name: value' [--header …]
//!                  [--tolerance SECS] [--now UNIX]
//! ```
//!
//! `sign` prints the headers to attach, one `Name: value` per line. `verify` prints `verified …` and exits 0
//! when a signature matches, prints the error kind (e.g. `signature-mismatch`) and exits 1 when not; usage
//! errors exit 2. `S` is `standard-webhooks`, `stripe`, `github`, `slack` or `shopify`; `--body-file -` reads
//! standard input. For `standard-webhooks`, `--secret` takes `whsec_…` (HMAC), `whpk_…` (Ed25519 public key,
//! to verify) or `whsk_…` (Ed25519 secret key, to sign).

use std::hash::{BuildHasher as _, Hasher as _};
use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use hookguard::{Clock as _, FixedClock, Scheme, Signer, SystemClock, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};

const USAGE: &str = "\
usage: hookguard sign   --scheme S --secret K [--secret K2 …] --body-file F [--id ID] [--timestamp UNIX]
       hookguard verify --scheme S --secret K [--secret K2 …] --body-file F --header 'Name: value' [--header …]
                        [--tolerance SECS] [--now UNIX]
schemes: standard-webhooks, stripe, github, slack, shopify; `--body-file -` reads standard input";

/// A usage error: the message is printed with the usage, and the process exits 2.
struct Usage(String);

/// The flags given on the command line, in order (`--secret` and `--header` may repeat).
struct Args(Vec<(String, String)>);

impl Args {
    fn parse(raw: &[String], allowed: &[&str]) -> Result<Self, Usage> {
        let mut flags = Vec::new();
        let mut it = raw.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .filter(|n| allowed.contains(n))
                .ok_or_else(|| Usage(format!("unexpected argument `{flag}`")))?;
            let value = it
                .next()
                .ok_or_else(|| Usage(format!("`{flag}` needs a value")))?;
            flags.push((name.to_owned(), value.clone()));
        }
        Ok(Self(flags))
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn optional(&self, name: &str) -> Result<Option<&str>, Usage> {
        match self.all(name)[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(Usage(format!("`--{name}` may be given only once"))),
        }
    }

    fn required(&self, name: &str) -> Result<&str, Usage> {
        self.optional(name)?
            .ok_or_else(|| Usage(format!("`--{name}` is required")))
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Usage> {
        self.optional(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| Usage(format!("`--{name}` must be a whole number, not `{v}`")))
            })
            .transpose()
    }
}

fn scheme(args: &Args) -> Result<Scheme, Usage> {
    match args.required("scheme")? {
        "standard-webhooks" => Ok(Scheme::standard_webhooks()),
        "stripe" => Ok(Scheme::stripe()),
        "github" => Ok(Scheme::github()),
        "slack" => Ok(Scheme::slack()),
        "shopify" => Ok(Scheme::shopify()),
        other => Err(Usage(format!("unknown scheme `{other}`"))),
    }
}

fn secrets(args: &Args) -> Result<Vec<&str>, Usage> {
    let secrets = args.all("secret");
    if secrets.is_empty() {
        return Err(Usage("`--secret` is required".into()));
    }
    Ok(secrets)
}

fn body(args: &Args) -> Result<Vec<u8>, Usage> {
    let path = args.required("body-file")?;
    let read = if path == "-" {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body).map(|_| body)
    } else {
        std::fs::read(path)
    };
    read.map_err(|e| Usage(format!("cannot read `{path}`: {e}")))
}

fn header(line: &str) -> Result<(HeaderName, HeaderValue), Usage> {
    let bad = || Usage(format!("`--header` takes 'Name: value', not `{line}`"));
    let (name, value) = line.split_once(':').ok_or_else(bad)?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

fn sign(raw: &[String]) -> Result<ExitCode, Usage> {
    let args = Args::parse(raw, &["scheme", "secret", "body-file", "id", "timestamp"])?;
    let scheme = scheme(&args)?;
    let secrets = secrets(&args)?;
    let key_error = |e: hookguard::KeyError| Usage(format!("--secret: {e}"));
    let mut signer = Signer::new(scheme, secrets[0]).map_err(key_error)?;
    for secret in &secrets[1..] {
        signer = signer.with_secret(secret).map_err(key_error)?;
    }
    let body = body(&args)?;
    let id = match args.optional("id")? {
        Some(id) => id.to_owned(),
        // A fresh id: 64 random bits from the standard library's per-process hasher keys.
        None => format!(
            "msg_{:016x}",
            std::hash::RandomState::new().build_hasher().finish()
        ),
    };
    let timestamp = args
        .number("timestamp")?
        .unwrap_or_else(|| SystemClock.now_unix());
    let headers = signer
        .sign(&id, timestamp, &body)
        .map_err(|e| Usage(e.to_string()))?;
    for (name, value) in &headers {
        println!("{name}: {}", value.to_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(raw: &[String]) -> Result<ExitCode, Usage> {
    let args = Args::parse(
        raw,
        &[
            "scheme",
            "secret",
            "body-file",
            "header",
            "tolerance",
            "now",
        ],
    )?;
    let scheme = scheme(&args)?;
    let secrets = secrets(&args)?;
    let key_error = |e: hookguard::KeyError| Usage(format!("--secret: {e}"));
    let mut verifier = Verifier::new(scheme, secrets[0]).map_err(key_error)?;
    for secret in &secrets[1..] {
        verifier = verifier.with_secret(secret).map_err(key_error)?;
    }
    if let Some(secs) = args.number("tolerance")? {
        verifier = verifier.tolerance(Duration::from_secs(secs));
    }
    if let Some(now) = args.number("now")? {
        verifier = verifier.with_clock(FixedClock(now));
    }
    let mut headers = HeaderMap::new();
    for line in args.all("header") {
        let (name, value) = header(line)?;
        headers.append(name, value);
    }
    let body = body(&args)?;
    match verifier.verify(&headers, &body) {
        Ok(v) => {
            let id = v.id().unwrap_or("-");
            let timestamp = v
                .timestamp()
                .map_or_else(|| "-".to_owned(), |t| t.to_string());
            println!(
                "verified scheme={} id={id} timestamp={timestamp} key_index={}",
                v.scheme(),
                v.key_index()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", e.kind());
            eprintln!("hookguard: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sign") => sign(&args[1..]),
        Some("verify") => verify(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(Usage(format!("unknown command `{other}`"))),
        None => Err(Usage("a command is required".into())),
    };
    result.unwrap_or_else(|Usage(message)| {
        eprintln!("hookguard: {message}\n{USAGE}");
        ExitCode::from(2)
    })
}
