//! `service_name` discovery, as Loki 3 does it in `pkg/loghttp/push/push.go`.

use balsa_model::Labels;

pub const SERVICE_NAME_LABEL: &str = "service_name";
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// Streams Loki creates for its own aggregated metrics; never rewritten.
pub const AGGREGATED_METRIC_LABEL: &str = "__aggregated_metric__";

/// If the stream has no `service_name`, copies the first *non-empty* label
/// among `discover` (in order) into it, or sets `unknown_service`. Does
/// nothing when `discover` is empty or the stream has
/// `__aggregated_metric__`. Returns whether the labels changed.
pub fn discover_service_name(labels: &mut Labels, discover: &[String]) -> bool {
    if discover.is_empty() || labels.get(SERVICE_NAME_LABEL).is_some() || labels.get(AGGREGATED_METRIC_LABEL).is_some()
    {
        return false;
    }
    let value = discover
        .iter()
        .find_map(|name| labels.get(name).filter(|v| !v.is_empty()))
        .unwrap_or(UNKNOWN_SERVICE)
        .to_string();
    labels.set(SERVICE_NAME_LABEL, &value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LimitsConfig;

    #[test]
    fn discovery_table() {
        let defaults = LimitsConfig::default().discover_service_name;
        let custom: Vec<String> = vec!["b".into(), "a".into()];
        let none: Vec<String> = vec![];
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a Vec<String>, &'a str);
        let cases: Vec<Case> = vec![
            (&[("job", "test")], &defaults, r#"{job="test", service_name="test"}"#),
            (&[("app", "a"), ("service", "s")], &defaults, r#"{app="a", service="s", service_name="s"}"#),
            (&[("app", "a"), ("job", "j")], &defaults, r#"{app="a", job="j", service_name="a"}"#),
            // The first candidate exists but is empty: skipped.
            (&[("service", ""), ("container", "c")], &defaults, r#"{container="c", service="", service_name="c"}"#),
            (&[("foo", "bar")], &defaults, r#"{foo="bar", service_name="unknown_service"}"#),
            (&[("service_name", "keep"), ("app", "a")], &defaults, r#"{app="a", service_name="keep"}"#),
            (&[("__aggregated_metric__", "x")], &defaults, r#"{__aggregated_metric__="x"}"#),
            (&[("app", "a")], &none, r#"{app="a"}"#),
            (&[("a", "1"), ("b", "2")], &custom, r#"{a="1", b="2", service_name="2"}"#),
            (&[], &defaults, r#"{service_name="unknown_service"}"#),
        ];
        for (pairs, list, want) in cases {
            let mut l = Labels::from_pairs(pairs.iter().copied());
            discover_service_name(&mut l, list);
            assert_eq!(l.canonical(), want, "{pairs:?}");
        }
    }
}
