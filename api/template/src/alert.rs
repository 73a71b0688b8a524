//! Prometheus alert templates: the values of alerting rules' `labels` and `annotations`,
//! expanded per alert as Prometheus' rules manager (which Loki's ruler uses unchanged) does.
//!
//! The source is prefixed with Prometheus' prelude
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! and executed with `missingkey=zero` against the data struct
//! `struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }`,
//! so `{{ $labels.missing }}` renders "" and `{{ $value }}` prints the float64 with `%v`.
//! Error positions count the prelude, as Prometheus' do.
//!
//! # Functions
//!
//! Go's builtins and Prometheus' function map (`template.NewTemplateExpander`, text mode):
//! `query first label value strvalue sortByLabel args reReplaceAll safeHtml match title
//! toUpper toLower graphLink tableLink stripPort stripDomain humanize humanize1024
//! humanizeDuration humanizePercentage humanizeTimestamp toTime toDuration now pathPrefix
//! externalURL parseDuration urlQueryEscape`. No sprig or Loki function is defined (Loki's
//! ruler adds none), and `tmpl` exists only in Prometheus' HTML (console) templates.
//! `toTime` results have `time.Time`'s methods (`Format`, `Unix`, `Add`, ...); `toDuration`
//! results have `String`, `Hours`, `Minutes`, `Seconds`, `Milliseconds`, `Microseconds`,
//! `Nanoseconds`.
//!
//! # Differences from Prometheus
//!
//! - `query` parses but fails at execution (there is no query engine here), so `first`,
//!   `label`, `value`, `strvalue` and `sortByLabel` only ever see nil.
//! - `externalURL` returns [`AlertData::external_url`] as given (Go re-serializes the parsed
//!   URL); `pathPrefix` is its unescaped path.
//! - `title` approximates x/text's Unicode word breaking (letters, digits, `_`, combining marks
//!   join; `'`, `.`, `:` join once; everything else breaks) and special-cases only the common
//!   title-case mappings (`ß` → `Ss`, ligatures, Latin digraphs).
//! - `toTime` results are typed `time.Time` rather than `*time.Time` in error messages.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::funcs::{AlertEnv, Dialect};
use crate::value::{GoStruct, Value};
use crate::{Context, Template, TemplateError};

/// The variables Prometheus defines before every alert template (`rules/alerting.go`).
const PRELUDE: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Go's type string of the data struct (`template.AlertTemplateData`).
const DATA_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

/// The data one alert template renders against (Prometheus' `AlertTemplateData`).
#[derive(Clone, Debug, Default)]
pub struct AlertData<'a> {
    /// `$labels` / `.Labels`: the series' labels.
    pub labels: &'a [(String, String)],
    /// `$externalLabels` / `.ExternalLabels`.
    pub external_labels: &'a [(String, String)],
    /// `$externalURL` / `.ExternalURL`, also what `externalURL` and `pathPrefix` read.
    pub external_url: &'a str,
    /// `$value` / `.Value`: the sample value.
    pub value: f64,
}

/// A parsed alert template. Cheap to clone; safe to share between threads.
#[derive(Clone, Debug)]
pub struct AlertTemplate {
    inner: Template,
}

impl AlertTemplate {
    /// Parses `src` as a Prometheus alert template named `name` (Prometheus uses
    /// `__alert_<alertname>`), with `$labels`, `$externalLabels`, `$externalURL` and `$value`
    /// defined and Prometheus' function map. Errors read as Go's parse errors
    /// (`template: __alert_x:1: function "foo" not defined`), which is what Prometheus' and
    /// Loki's rule validation report.
    pub fn parse(name: &str, src: &str) -> Result<AlertTemplate, TemplateError> {
        Ok(AlertTemplate { inner: Template::parse_dialect(name, &format!("{PRELUDE}{src}"), Dialect::Prometheus)? })
    }

    /// Renders the template against `data`, with `now` at the current time. Errors read as
    /// Prometheus' `Expand` errors: `error executing template __alert_x: template: ...`.
    pub fn render(&self, data: &AlertData<'_>) -> Result<String, TemplateError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.render_at(data, i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
    }

    /// Renders with `now` returning `eval_time_ms` (the rule's evaluation time, Unix ms).
    pub fn render_at(&self, data: &AlertData<'_>, eval_time_ms: i64) -> Result<String, TemplateError> {
        let root = Value::Struct(Rc::new(GoStruct {
            type_name: DATA_TYPE,
            fields: vec![
                ("Labels", str_map(data.labels)),
                ("ExternalLabels", str_map(data.external_labels)),
                ("ExternalURL", Value::Str(Cow::Borrowed(data.external_url))),
                ("Value", Value::Float(data.value)),
            ],
        }));
        let env = AlertEnv { external_url: data.external_url, eval_time_ms };
        let inner = &self.inner.inner;
        let mut out = String::new();
        crate::exec::execute(inner, &NoEntry, root, Some(env), &mut out)
            .map_err(|e| TemplateError::new(format!("error executing template {}: {}", inner.name, e.message())))?;
        Ok(out)
    }
}

/// A Go map built from pairs (a later duplicate name wins, as map assignment does).
fn str_map(pairs: &[(String, String)]) -> Value<'_> {
    Value::StrMap(Rc::new(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<BTreeMap<_, _>>()))
}

/// Alert templates have no log entry; Loki's entry functions are not in their function map.
struct NoEntry;

impl Context for NoEntry {
    fn label(&self, _name: &str) -> Option<&str> {
        None
    }

    fn line(&self) -> &str {
        ""
    }

    fn timestamp_ns(&self) -> i64 {
        0
    }

    fn labels(&self) -> Option<Vec<(&str, &str)>> {
        Some(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + std::fmt::Debug>() {}

    #[test]
    fn alert_template_is_send_sync_clone() {
        assert_send_sync_clone::<AlertTemplate>();
    }
}
