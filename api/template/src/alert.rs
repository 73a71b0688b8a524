//! Prometheus alert templates (alerting rules' labels and annotations).
//!
//! SCAFFOLD: the signatures below are the contract the ruler uses; the body is
//! being replaced by a real implementation (the data model `.Labels`,
//! `.ExternalLabels`, `.ExternalURL`, `.Value`, the `$labels`/`$value`/...
//! prelude, and Prometheus' template functions).

use crate::{Template, TemplateError};

/// The data one alert template renders against (Prometheus' `tmplData`).
#[derive(Clone, Debug, Default)]
pub struct AlertData<'a> {
    /// `$labels` / `.Labels`: the series' labels.
    pub labels: &'a [(String, String)],
    /// `$externalLabels` / `.ExternalLabels`.
    pub external_labels: &'a [(String, String)],
    /// `$externalURL` / `.ExternalURL`.
    pub external_url: &'a str,
    /// `$value` / `.Value`: the sample value.
    pub value: f64,
}

/// A parsed alert template.
#[derive(Clone, Debug)]
pub struct AlertTemplate {
    inner: Template,
}

impl AlertTemplate {
    /// Parses `src` as a Prometheus alert template named `name` (Prometheus uses
    /// `__alert_<alertname>`), with `$labels`, `$externalLabels`,
    /// `$externalURL` and `$value` defined.
    pub fn parse(name: &str, src: &str) -> Result<AlertTemplate, TemplateError> {
        let prelude = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";
        Ok(AlertTemplate { inner: Template::parse_named(name, &format!("{prelude}{src}"))? })
    }

    /// Renders the template against `data`.
    pub fn render(&self, _data: &AlertData<'_>) -> Result<String, TemplateError> {
        Err(TemplateError::new("alert templates are not implemented yet".into()))
    }
}
