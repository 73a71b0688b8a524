//! `limits_config.otlp_config`: which OTLP attributes become stream labels,
//! which structured metadata, and which are dropped. Keys, defaults, checks
//! and error texts are Loki 3.7's (`pkg/loghttp/push/otlp_config.go`).

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// Loki's `distributor.otlp_config.default_resource_attributes_as_index_labels`
/// default: resource attributes that become index labels unless
/// `resource_attributes.ignore_defaults` is set.
pub const DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// What happens to a matching attribute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A stream label (resource and log attributes only).
    IndexLabel,
    /// Structured metadata of every entry (the default for any attribute no rule names).
    #[default]
    StructuredMetadata,
    /// Not stored.
    Drop,
}

/// `otlp_config` of `limits_config` (and of a tenant's runtime overrides).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    pub resource_attributes: ResourceAttributesConfig,
    pub scope_attributes: Vec<AttributesConfig>,
    pub log_attributes: Vec<AttributesConfig>,
    /// Also index `severity_text` as a stream label (it is always metadata).
    pub severity_text_as_label: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceAttributesConfig {
    /// Leave out the default index-label list; only `attributes_config` applies.
    pub ignore_defaults: bool,
    pub attributes_config: Vec<AttributesConfig>,
}

/// One rule: an action for the attributes named in `attributes`, or whose
/// name matches `regex` (anchored at both ends, as Prometheus' relabel regex).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttributesConfig {
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<AttrRegex>,
}

impl AttributesConfig {
    fn matches(&self, name: &str) -> bool {
        self.regex.as_ref().is_some_and(|r| r.re.is_match(name)) || self.attributes.iter().any(|a| a == name)
    }
}

/// A regex as written, compiled as `^(?s:...)$`.
#[derive(Clone)]
pub struct AttrRegex {
    source: String,
    re: regex::Regex,
}

impl AttrRegex {
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let re = regex::Regex::new(&format!("^(?s:{source})$"))?;
        Ok(Self { source: source.to_string(), re })
    }
}

impl PartialEq for AttrRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for AttrRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl Serialize for AttrRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for AttributesConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            action: Option<String>,
            #[serde(default)]
            attributes: Option<Vec<String>>,
            #[serde(default)]
            regex: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        // Loki's UnmarshalYAML: an absent action is structured_metadata.
        let action = match raw.action.as_deref().unwrap_or("") {
            "" | "structured_metadata" => Action::StructuredMetadata,
            "index_label" => Action::IndexLabel,
            "drop" => Action::Drop,
            _ => {
                return Err(de::Error::custom(
                    "unsupported action, it must be one of: drop, index_label, structured_metadata",
                ));
            }
        };
        let attributes = raw.attributes.unwrap_or_default();
        // An empty regex is Prometheus' "not set".
        let regex = match raw.regex.as_deref() {
            None | Some("") => None,
            Some(src) => Some(AttrRegex::new(src).map_err(|e| de::Error::custom(format!("invalid regex: {e}")))?),
        };
        if attributes.is_empty() && regex.is_none() {
            return Err(de::Error::custom("attributes or regex must be set"));
        }
        if !attributes.is_empty() && regex.is_some() {
            return Err(de::Error::custom("only one of attributes or regex must be set"));
        }
        Ok(Self { action, attributes, regex })
    }
}

impl OtlpConfig {
    /// Loki's `OTLPConfig.Validate`: the error names the key (below
    /// `limits_config.`) and the reason.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.scope_attributes.iter().any(|c| c.action == Action::IndexLabel) {
            return Err((
                "otlp_config.scope_attributes",
                "index_label action is only supported for resource_attributes",
            ));
        }
        Ok(())
    }

    /// The action for a resource attribute: the default index-label list
    /// first (unless ignored), then the rules in order; unmatched attributes
    /// are structured metadata.
    pub fn resource_action(&self, name: &str) -> Action {
        if !self.resource_attributes.ignore_defaults && DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS.contains(&name) {
            return Action::IndexLabel;
        }
        first_match(&self.resource_attributes.attributes_config, name)
    }

    pub fn scope_action(&self, name: &str) -> Action {
        first_match(&self.scope_attributes, name)
    }

    pub fn log_action(&self, name: &str) -> Action {
        first_match(&self.log_attributes, name)
    }
}

fn first_match(rules: &[AttributesConfig], name: &str) -> Action {
    rules.iter().find(|r| r.matches(name)).map_or(Action::StructuredMetadata, |r| r.action)
}
