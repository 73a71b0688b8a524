//! The ruler workload: every node gets the same rule file, several groups
//! of one always-true alert each (spread over the shards, hence over the
//! nodes that lead them), and sends its notifications to the harness's
//! recorder (`recorder.rs`). The checker (`ruler_checker.rs`) judges them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

/// Rule groups, one alert each: enough for their owners to spread over
/// three nodes.
pub const GROUPS: usize = 6;
pub const ALERT_NAME: &str = "JepsenAlways";
pub const INTERVAL: Duration = Duration::from_secs(1);
pub const RESEND_DELAY: Duration = Duration::from_secs(3);
/// Tenant `fake` (auth off), namespace `jepsen`.
const RULE_FILE: &str = "fake/jepsen.yaml";

pub fn group_name(i: usize) -> String {
    format!("g{i}")
}

/// The rule file: groups `g0`.. with `vector(1) > 0` (true whatever was
/// ingested), `for: 0s`, evaluated every second.
pub fn rules_yaml() -> String {
    let mut out = String::from("groups:\n");
    for i in 0..GROUPS {
        let g = group_name(i);
        out.push_str(&format!(
            "  - name: {g}\n    interval: {}s\n    rules:\n      - alert: {ALERT_NAME}\n        expr: vector(1) > 0\n        for: 0s\n        labels:\n          group: {g}\n        annotations:\n          summary: always firing ({g})\n",
            INTERVAL.as_secs()
        ));
    }
    out
}

/// Writes the rule directory (`<dir>/fake/jepsen.yaml`).
pub fn write_rules(dir: &Path) -> Result<()> {
    let file = dir.join(RULE_FILE);
    std::fs::create_dir_all(file.parent().expect("rule file has a folder"))?;
    std::fs::write(file, rules_yaml())?;
    Ok(())
}

/// The command-line flags that turn a node's ruler on.
pub fn flags(rules_dir: &Path, alertmanager_url: &str) -> Vec<String> {
    vec![
        "-ruler.storage.type=local".into(),
        format!("-ruler.storage.local.directory={}", rules_dir.display()),
        format!("-ruler.alertmanager_url={alertmanager_url}"),
        format!("-ruler.evaluation_interval={}s", INTERVAL.as_secs()),
        "-ruler.poll_interval=1s".into(),
        format!("-ruler.resend_delay={}s", RESEND_DELAY.as_secs()),
    ]
}

/// The label sets of the alerts that must be notified.
pub fn expected_alerts() -> Vec<BTreeMap<String, String>> {
    (0..GROUPS)
        .map(|i| BTreeMap::from([("alertname".to_string(), ALERT_NAME.to_string()), ("group".into(), group_name(i))]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_file_has_one_always_true_alert_per_group() {
        let yaml = rules_yaml();
        assert_eq!(yaml.matches("expr: vector(1) > 0").count(), GROUPS);
        assert!(yaml.contains("  - name: g5\n    interval: 1s\n"), "{yaml}");
        assert_eq!(expected_alerts().len(), GROUPS);
    }
}
