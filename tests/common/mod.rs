//! Helpers for the tests that run outside programs (promtool, Prometheus, chromedriver): find them on `PATH`
//! or skip with a printed line (fail when `HOOKGUARD_REQUIRE_BACKENDS=1`), private temporary directories, free
//! loopback ports, children that are killed when the test ends, and removing a test's keys from the shared
//! Redis.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Child;

/// The program `name` on `PATH`, or `None` after printing why the test is skipped. With
/// `HOOKGUARD_REQUIRE_BACKENDS=1` (as in CI) a missing program fails the test instead.
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("HOOKGUARD_REQUIRE_BACKENDS").as_deref() != Ok("1"),
            "{test}: `{name}` is not installed, and HOOKGUARD_REQUIRE_BACKENDS=1 (install it: see .ci/run)"
        );
        println!(
            "skipped {test}: `{name}` is not on PATH (HOOKGUARD_REQUIRE_BACKENDS=1 makes this a failure)"
        );
    }
    found
}

/// The workspace root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory of this test's own under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("hookguard-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temporary directory");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago (for programs that take a port, not a socket).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process of this test, killed (by its own id) and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child started as the leader of a process group of its own, with everything it starts (chromedriver and
/// its browser): the whole group is killed (by its id) and the child reaped when dropped, so a failing test
/// leaves no browser behind.
pub struct KilledGroup(Child);

impl KilledGroup {
    /// Spawns `command` in a new process group.
    pub fn spawn(command: &mut std::process::Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0).spawn().map(Self)
    }
}

impl Drop for KilledGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = self.0.wait();
    }
}

/// The test output folder, `target/test-output` (created).
pub fn test_output_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`; its parent is the target directory, wherever it lives.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-output");
    std::fs::create_dir_all(&dir).expect("create target/test-output");
    dir
}

/// Percent-encodes a form or query value.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Deletes the keys matching `pattern` from the Redis server at `url`. SCAN, not KEYS: the shared server may
/// hold millions of other keys, and one KEYS call over them outlasts the client's response timeout.
#[cfg(feature = "redis")]
pub async fn delete_redis_keys(url: &str, pattern: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}
