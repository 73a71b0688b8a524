//! Rule groups: Prometheus' rule-file format with LogQL in `expr`, parsed,
//! validated with Loki's messages, and printed as Loki's rules API prints
//! them.
//!
//! - [`parse_rule_file`]: a rule file, strictly (unknown keys are errors, as
//!   with Go's `decoder.KnownFields(true)` in Loki's `GroupLoader`).
//! - [`parse_api_group`]: a group posted to the rules API, leniently (unknown
//!   keys ignored, as Go's `yaml.Unmarshal`); a YAML error is Loki's
//!   `unable to decoded rule group` (sic) [loki `pkg/ruler/base/api.go`
//!   `ErrBadRuleGroup`].
//! - [`validate_group`] (API) and [`validate_file`] (files): Loki's checks
//!   and texts [loki `pkg/ruler/compat.go` `ValidateGroups`/`validateRule`,
//!   `pkg/ruler/base/manager.go` `ValidateRuleGroup`; prometheus
//!   `model/rulefmt/rulefmt.go`].
//! - [`group_to_yaml`], [`namespaces_to_yaml`]: the bodies of
//!   `GET /loki/api/v1/rules[/{namespace}[/{group}]]`, byte for byte what
//!   yaml.v3 prints for Loki's `rulefmt.RuleGroup` (see `rules/yaml.rs`).
//! - [`GroupKey`]: a group's identity and the hash that picks its owner.
//!
//! Scalars are read as their text, as Go reads them into strings: a label
//! value `500` is the string `500`, `for: 0` the duration `0`, and an empty
//! or `null` value is the zero value (so `annotations:` with nothing after it
//! is no annotations). A key given twice in a mapping is an error, as in
//! yaml.v3.
//!
//! # Fields Loki drops, Balsa keeps
//! Loki's rule storage has no `keep_firing_for`, `query_offset` or group
//! `labels`, so it parses and then silently loses them
//! [loki `pkg/ruler/rulespb/compat.go` `ToProto`]. Balsa honours them, and
//! prints them where Prometheus' `rulefmt` struct puts them, with its
//! `omitempty` rules: group `name, interval, query_offset, limit, rules,
//! labels`; rule `record|alert, expr, for, keep_firing_for, labels,
//! annotations`. `interval`, `for` and `keep_firing_for` are left out when
//! zero, `query_offset` only when absent (`query_offset: 0s` prints). A group
//! without these fields prints exactly as in Loki.
//!
//! # Known differences from Loki
//! - `expr` must be a metric query: Loki's validation accepts a log query
//!   (`syntax.ParseExpr`) and its evaluation then fails on every run with
//!   `rule result is not a vector or scalar`; Balsa rejects it up front with
//!   `could not parse expression for alert 'x' in group 'g': parse error :
//!   only sample expression supported` (Loki's `ParseSampleExpr` text).
//! - API validation: Loki's binary validates a posted group with
//!   `ValidateGroups`, which says `group 0: Groupname must not be empty` and
//!   accepts a group without rules; Balsa answers with the messages of
//!   Loki's base ruler and its API tests (`invalid rules config: rule group
//!   name must not be empty`, `invalid rules config: rule group 'x' has no
//!   rules`). Group labels are validated too (Prometheus' texts).
//! - Rule files: an empty file is a file without groups (Loki: `EOF`); a file
//!   with several YAML documents is an error (Loki reads the first and
//!   ignores the rest). Validation errors name the group and rule as
//!   Prometheus does (`group "g", rule 2, "name": ...`; Loki's file loader
//!   gives the bare message). `keep_firing_for` on a recording rule is
//!   refused with Prometheus' text.
//! - The API path reads only the first YAML document of a body, as Go does.
//! - Printing: a multi-line value that starts with a space or a newline gets
//!   the indentation indicator that makes it read back (`|2-` inside a rule);
//!   yaml.v3 always writes `|4-`, which does not.

mod duration;
mod yaml;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Deserializer, Serialize};

pub use duration::{DurationError, PromDuration};
use yaml::Node;

/// A rule group (Prometheus' `rulefmt.RuleGroup`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleGroup {
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
    /// Evaluation interval; absent (or zero) means `ruler.evaluation_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// Most alerts (alerting rules) or series (recording rules) a rule may
    /// produce; 0 means no limit.
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "de::limit")]
    pub limit: u64,
    /// Evaluate at `slot - query_offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_offset: Option<PromDuration>,
    /// Labels added to every rule of the group (a rule's own labels win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "de::string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "de::nullable")]
    pub rules: Vec<Rule>,
}

/// An alerting or recording rule (Prometheus' `rulefmt.Rule`). An empty
/// `record` or `alert` in YAML reads as absent, as in Go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de::name")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de::name")]
    pub alert: Option<String>,
    #[serde(default, deserialize_with = "de::string")]
    pub expr: String,
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "de::string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "de::string_map")]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The alert or record name.
    pub fn name(&self) -> &str {
        self.alert.as_deref().or(self.record.as_deref()).unwrap_or_default()
    }

    pub fn is_alerting(&self) -> bool {
        self.alert.is_some()
    }
}

/// A rule file: `groups: [...]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFile {
    #[serde(default, deserialize_with = "de::nullable")]
    pub groups: Vec<RuleGroup>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A rule file that is not valid YAML for the format, with the position
/// serde_yaml_ng reports (1-based) and the path to the offending key
/// (`groups[0].rules[1]`) in the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleFileError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl RuleFileError {
    /// `yaml: line 6, column 9: groups[0].rules[0]: unknown field ...`.
    fn from_yaml(e: &serde_yaml_ng::Error) -> Self {
        let text = e.to_string();
        match e.location() {
            Some(l) => {
                let at = format!(" at line {} column {}", l.line(), l.column());
                let body = text.replacen(&at, "", 1);
                RuleFileError {
                    message: format!("yaml: line {}, column {}: {body}", l.line(), l.column()),
                    line: Some(l.line()),
                    column: Some(l.column()),
                }
            }
            None => RuleFileError { message: format!("yaml: {text}"), line: None, column: None },
        }
    }
}

/// Parses a rule file strictly: unknown keys anywhere are errors (a file
/// with a top-level `name:` instead of `groups:` fails with `unknown field
/// `name`, expected `groups``), as are wrong types and bad durations, each
/// with its line and column. An empty file has no groups. Does not validate:
/// see [`validate_file`].
pub fn parse_rule_file(text: &str) -> Result<RuleFile, RuleFileError> {
    let mut docs = serde_yaml_ng::Deserializer::from_str(text);
    let Some(first) = docs.next() else { return Ok(RuleFile::default()) };
    let file = Option::<strict::RuleFile>::deserialize(first).map_err(|e| RuleFileError::from_yaml(&e))?;
    if let Some(second) = docs.next() {
        // Make sure the rest is YAML at all before complaining about it.
        if let Err(e) = serde_yaml_ng::Value::deserialize(second) {
            return Err(RuleFileError::from_yaml(&e));
        }
        return Err(RuleFileError {
            message: "yaml: a rule file must hold one YAML document; this one holds several (`---`)".into(),
            line: None,
            column: None,
        });
    }
    Ok(file.map(RuleFile::from).unwrap_or_default())
}

/// Loki's text for a posted group that is not YAML of a rule group.
pub const BAD_RULE_GROUP: &str = "unable to decoded rule group";

/// Parses a group posted to the rules API: unknown keys are ignored, an
/// empty body is an empty group (which validation then refuses), only the
/// first YAML document counts; any failure is [`BAD_RULE_GROUP`].
pub fn parse_api_group(text: &str) -> Result<RuleGroup, String> {
    let mut docs = serde_yaml_ng::Deserializer::from_str(text);
    let Some(first) = docs.next() else { return Ok(RuleGroup::default()) };
    match Option::<RuleGroup>::deserialize(first) {
        Ok(group) => Ok(group.unwrap_or_default()),
        Err(_) => Err(BAD_RULE_GROUP.to_string()),
    }
}

/// Validates a group posted to the rules API. Messages as Loki's:
/// `invalid rules config: rule group name must not be empty`, `invalid rules
/// config: rule group 'x' has no rules` (each alone), then per rule the
/// first problem of [`validate_rule`]. The rules API joins them with `, `.
pub fn validate_group(group: &RuleGroup) -> Vec<String> {
    if group.name.is_empty() {
        return vec!["invalid rules config: rule group name must not be empty".to_string()];
    }
    if group.rules.is_empty() {
        return vec![format!("invalid rules config: rule group '{}' has no rules", group.name)];
    }
    let mut errs = group_label_errors(&group.labels);
    errs.extend(group.rules.iter().filter_map(|r| validate_rule(r, &group.name)));
    errs
}

/// Validates a rule file: Loki's group checks (`group 0: Groupname must not
/// be empty`, `groupname: "x" is repeated in the same file`), then each
/// rule's first problem prefixed as Prometheus prefixes it, with the rule's
/// 1-based index and name: `group "g", rule 2, "name": invalid label name:
/// a-b`. The caller adds the file.
pub fn validate_file(file: &RuleFile) -> Vec<String> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (i, g) in file.groups.iter().enumerate() {
        if g.name.is_empty() {
            errs.push(format!("group {i}: Groupname must not be empty"));
        }
        if !seen.insert(g.name.as_str()) {
            errs.push(format!("groupname: \"{}\" is repeated in the same file", g.name));
        }
        for e in group_label_errors(&g.labels) {
            errs.push(format!("group {}: {e}", go_quote(&g.name)));
        }
        for (j, r) in g.rules.iter().enumerate() {
            if let Some(e) = validate_rule(r, &g.name) {
                errs.push(format!("group {}, rule {}, {}: {e}", go_quote(&g.name), j + 1, go_quote(r.name())));
            }
        }
    }
    errs
}

/// Prometheus' checks of group labels (Loki has none: it drops them).
fn group_label_errors(labels: &BTreeMap<String, String>) -> Vec<String> {
    labels
        .keys()
        .filter(|k| !is_valid_label_name(k) || *k == "__name__")
        .map(|k| format!("invalid label name: {k}"))
        .collect()
}

/// The first problem of one rule, in Loki's `validateRule` order and words:
/// record/alert, expression (must parse as a LogQL metric query), recording
/// rules without annotations, `for` (and `keep_firing_for`) and with a
/// legacy metric name, label names (legacy, not `__name__`), annotation
/// names, then templates of alerting rules' labels and annotations (keys in
/// sorted order; Go's map order is random).
pub fn validate_rule(r: &Rule, group: &str) -> Option<String> {
    let record = r.record.as_deref().unwrap_or_default();
    let alert = r.alert.as_deref().unwrap_or_default();
    if !record.is_empty() && !alert.is_empty() {
        return Some("only one of 'record' and 'alert' must be set".into());
    }
    if record.is_empty() && alert.is_empty() {
        return Some("one of 'record' or 'alert' must be set".into());
    }
    if r.expr.is_empty() {
        return Some("field 'expr' must be set in rule".into());
    }
    if let Err(e) = balsa_logql::parse_sample_expr(&r.expr) {
        return Some(if !record.is_empty() {
            format!("could not parse expression for record '{record}' in group '{group}': {e}")
        } else {
            format!("could not parse expression for alert '{alert}' in group '{group}': {e}")
        });
    }
    if !record.is_empty() {
        if !r.annotations.is_empty() {
            return Some("invalid field 'annotations' in recording rule".into());
        }
        if r.for_.is_some_and(|d| !d.is_zero()) {
            return Some("invalid field 'for' in recording rule".into());
        }
        if r.keep_firing_for.is_some_and(|d| !d.is_zero()) {
            return Some("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !is_valid_metric_name(record) {
            return Some(format!("invalid recording rule name: {record}"));
        }
    }
    for k in r.labels.keys() {
        if !is_valid_label_name(k) || k == "__name__" {
            return Some(format!("invalid label name: {k}"));
        }
    }
    for k in r.annotations.keys() {
        if !is_valid_label_name(k) {
            return Some(format!("invalid annotation name: {k}"));
        }
    }
    if !alert.is_empty() {
        let name = format!("__alert_{alert}");
        for (kind, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for (k, v) in map {
                if let Err(e) = balsa_template::alert::AlertTemplate::parse(&name, v) {
                    return Some(format!("{kind} {}: {e}", go_quote(k)));
                }
            }
        }
    }
    None
}

/// Prometheus' legacy label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus' legacy metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// One group as `GET /loki/api/v1/rules/{namespace}/{group}` prints it.
pub fn group_to_yaml(group: &RuleGroup) -> String {
    yaml::to_string(&group_node(group))
}

/// The `namespace: [groups]` map of `GET /loki/api/v1/rules[/{namespace}]`
/// (namespaces in yaml.v3's key order, groups in the given order).
pub fn namespaces_to_yaml(namespaces: &BTreeMap<String, Vec<RuleGroup>>) -> String {
    let entries: Vec<(String, Node)> = namespaces
        .iter()
        .map(|(ns, groups)| (ns.clone(), Node::Seq(groups.iter().map(group_node).collect())))
        .collect();
    yaml::to_string(&Node::Map(yaml::sort_map_entries(entries)))
}

fn group_node(g: &RuleGroup) -> Node {
    let mut m: Vec<(String, Node)> = vec![("name".into(), Node::Str(g.name.clone()))];
    if let Some(d) = g.interval.filter(|d| !d.is_zero()) {
        m.push(("interval".into(), Node::Str(d.to_string())));
    }
    if let Some(d) = g.query_offset {
        m.push(("query_offset".into(), Node::Str(d.to_string())));
    }
    if g.limit > 0 {
        m.push(("limit".into(), Node::Int(g.limit.to_string())));
    }
    m.push(("rules".into(), Node::Seq(g.rules.iter().map(rule_node).collect())));
    if !g.labels.is_empty() {
        m.push(("labels".into(), Node::string_map(&g.labels)));
    }
    Node::Map(m)
}

fn rule_node(r: &Rule) -> Node {
    let mut m: Vec<(String, Node)> = Vec::new();
    if let Some(v) = r.record.as_ref().filter(|v| !v.is_empty()) {
        m.push(("record".into(), Node::Str(v.clone())));
    }
    if let Some(v) = r.alert.as_ref().filter(|v| !v.is_empty()) {
        m.push(("alert".into(), Node::Str(v.clone())));
    }
    m.push(("expr".into(), Node::Str(r.expr.clone())));
    if let Some(d) = r.for_.filter(|d| !d.is_zero()) {
        m.push(("for".into(), Node::Str(d.to_string())));
    }
    if let Some(d) = r.keep_firing_for.filter(|d| !d.is_zero()) {
        m.push(("keep_firing_for".into(), Node::Str(d.to_string())));
    }
    if !r.labels.is_empty() {
        m.push(("labels".into(), Node::string_map(&r.labels)));
    }
    if !r.annotations.is_empty() {
        m.push(("annotations".into(), Node::string_map(&r.annotations)));
    }
    Node::Map(m)
}

/// A group's identity across the cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    pub tenant: String,
    pub namespace: String,
    pub group: String,
}

impl GroupKey {
    pub fn new(tenant: impl Into<String>, namespace: impl Into<String>, group: impl Into<String>) -> Self {
        GroupKey { tenant: tenant.into(), namespace: namespace.into(), group: group.into() }
    }

    /// xxh3 of `tenant \0 namespace \0 group`: the parts are separated, so
    /// `("a", "bc")` and `("ab", "c")` differ (tenant ids, namespaces and
    /// group names never hold NUL: the rules API refuses it). The same value
    /// as [`crate::group::GroupId::hash`], which hashes the group's record key.
    pub fn hash(&self) -> u64 {
        let mut bytes = Vec::with_capacity(self.tenant.len() + self.namespace.len() + self.group.len() + 2);
        bytes.extend_from_slice(self.tenant.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(self.namespace.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(self.group.as_bytes());
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }
}

/// Go's `strconv.Quote` (`%q`), as LogQL's printer uses it.
pub(crate) use balsa_logql::units::go_quote;

/// Field readers shared by the lenient and the strict structs.
mod de {
    use super::*;

    /// `null` (or an empty value) is the zero value, as in Go.
    pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        nullable(d)
    }

    /// A `map[string]string`: `null` is empty; a key given twice is an error,
    /// as in yaml.v3 (`mapping key "x" already defined`).
    pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BTreeMap<String, String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(BTreeMap::new())
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(BTreeMap::new())
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_map(V)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, Option<String>>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("mapping key {} already defined", go_quote(&k))));
                    }
                    out.insert(k, v.unwrap_or_default());
                }
                Ok(out)
            }
        }
        d.deserialize_option(V)
    }

    /// `record`/`alert`: empty is absent.
    pub fn name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
    }

    /// Go's `int`: a negative limit means no limit.
    pub fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.unwrap_or(0).max(0) as u64)
    }
}

/// The file format with unknown keys refused (Go's `KnownFields(true)`).
/// Same names as the lenient types, for serde's messages.
mod strict {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::{PromDuration, de};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RuleFile {
        #[serde(default, deserialize_with = "de::nullable")]
        pub groups: Vec<RuleGroup>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RuleGroup {
        #[serde(default, deserialize_with = "de::string")]
        pub name: String,
        #[serde(default)]
        pub interval: Option<PromDuration>,
        #[serde(default, deserialize_with = "de::limit")]
        pub limit: u64,
        #[serde(default)]
        pub query_offset: Option<PromDuration>,
        #[serde(default, deserialize_with = "de::string_map")]
        pub labels: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "de::nullable")]
        pub rules: Vec<Rule>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rule {
        #[serde(default, deserialize_with = "de::name")]
        pub record: Option<String>,
        #[serde(default, deserialize_with = "de::name")]
        pub alert: Option<String>,
        #[serde(default, deserialize_with = "de::string")]
        pub expr: String,
        #[serde(rename = "for", default)]
        pub for_: Option<PromDuration>,
        #[serde(default)]
        pub keep_firing_for: Option<PromDuration>,
        #[serde(default, deserialize_with = "de::string_map")]
        pub labels: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "de::string_map")]
        pub annotations: BTreeMap<String, String>,
    }
}

impl From<strict::RuleFile> for RuleFile {
    fn from(f: strict::RuleFile) -> Self {
        RuleFile {
            groups: f
                .groups
                .into_iter()
                .map(|g| RuleGroup {
                    name: g.name,
                    interval: g.interval,
                    limit: g.limit,
                    query_offset: g.query_offset,
                    labels: g.labels,
                    rules: g
                        .rules
                        .into_iter()
                        .map(|r| Rule {
                            record: r.record,
                            alert: r.alert,
                            expr: r.expr,
                            for_: r.for_,
                            keep_firing_for: r.keep_firing_for,
                            labels: r.labels,
                            annotations: r.annotations,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a"), "\"a\"");
        assert_eq!(go_quote("a\"b\\c\n\t\u{1}"), "\"a\\\"b\\\\c\\n\\t\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
    }

    #[test]
    fn legacy_names() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a-b"));
        assert!(!is_valid_label_name(""));
        assert!(!is_valid_label_name("a:b"));
        assert!(is_valid_metric_name("job:rate5m:sum"));
        assert!(!is_valid_metric_name("a-b"));
        assert!(!is_valid_metric_name("a{b}"));
    }
}
