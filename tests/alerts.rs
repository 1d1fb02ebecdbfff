//! `examples/prometheus/alerts.yml` passes `promtool check rules`, and its unit tests
//! (`examples/prometheus/alerts_test.yml`) pass `promtool test rules`.

mod common;

use std::process::Command;

fn promtool(args: &[&str]) -> Option<(bool, String)> {
    let promtool = common::tool("promtool", "alerts")?;
    let output = Command::new(promtool)
        .args(args)
        .current_dir(common::root().join("examples/prometheus"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), text))
}

#[test]
fn the_alert_rules_are_valid() {
    let Some((ok, text)) = promtool(&["check", "rules", "alerts.yml"]) else {
        return;
    };
    assert!(ok, "promtool check rules failed:\n{text}");
    assert!(text.contains("SUCCESS: 4 rules found"), "{text}");
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    let Some((ok, text)) = promtool(&["test", "rules", "alerts_test.yml"]) else {
        return;
    };
    assert!(ok, "promtool test rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}
