//! The README's shell blocks work when pasted: every fenced block whose info string is exactly `sh` runs under
//! `bash -euo pipefail` from a scratch directory inside the workspace (so `cargo run --example …` resolves as
//! it does from the root, and the files the block writes land in the scratch directory). Blocks marked
//! `sh no-test` are the ones that need a service or are the test command itself; CI runs those its own way.

use std::path::Path;
use std::process::Command;

/// The README's runnable shell blocks, in order.
fn runnable_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_readme_finds_its_blocks() {
    let sample =
        "text\n```sh\necho one\n```\n```sh no-test\nexit 1\n```\n```rust\nfn x() {}\n```\n";
    assert_eq!(runnable_blocks(sample), vec!["echo one\n".to_owned()]);
}

#[test]
fn the_readme_shell_blocks_work_when_pasted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(!blocks.is_empty(), "the README has runnable shell blocks");
    let scratch = root.join("target").join("readme-shell");
    std::fs::create_dir_all(&scratch).unwrap();
    for block in blocks {
        let output = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &block])
            .current_dir(&scratch)
            .output()
            .expect("bash runs");
        assert!(
            output.status.success(),
            "README block failed ({}):\n{block}\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
