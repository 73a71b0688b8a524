//! What a log deletion request (`/loki/api/v1/delete`) removes: the entries
//! of the streams its selector matches whose line passes its line filters.

use balsa_logql::{Matcher, Stage};
use balsa_model::{Entry, Labels};

use crate::error::QueryError;
use crate::pipeline::Pipeline;

pub struct DeleteSelector {
    matchers: Vec<Matcher>,
    pipeline: Pipeline,
}

impl DeleteSelector {
    /// Parses a delete request's query: a stream selector with optional
    /// line filters, nothing else.
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        let expr = balsa_logql::parse_log_expr(query)?;
        if expr.stages.iter().any(|s| !matches!(s, Stage::LineFilter(_))) {
            return Err(QueryError::BadQuery(
                "invalid query expression: a delete request takes a stream selector and optional line filters only"
                    .into(),
            ));
        }
        let pipeline = Pipeline::compile(&expr.stages)?;
        Ok(Self { matchers: expr.matchers, pipeline })
    }

    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether the stream with `labels` is selected.
    pub fn selects(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    }

    /// A per-stream matcher for entries: true for an entry to delete.
    pub fn entries_of<'a>(&'a self, labels: &Labels) -> impl FnMut(&Entry) -> bool + 'a {
        let mut stream = self.pipeline.for_stream(labels);
        move |entry: &Entry| stream.process(entry).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_and_line_filters_only() {
        let d = DeleteSelector::parse(r#"{app="a"} |= "secret" != "keep""#).unwrap();
        let a = Labels::from_pairs([("app", "a")]);
        assert!(d.selects(&a));
        assert!(!d.selects(&Labels::from_pairs([("app", "b")])));
        let mut m = d.entries_of(&a);
        assert!(m(&Entry::new(1, "a secret here")));
        assert!(!m(&Entry::new(1, "a secret to keep")));
        assert!(!m(&Entry::new(1, "public")));
        let all = DeleteSelector::parse(r#"{app="a"}"#).unwrap();
        assert!(all.entries_of(&a)(&Entry::new(1, "anything")));
        for bad in [r#"{app="a"} | json"#, r#"count_over_time({app="a"}[1m])"#, "nope", r#"{app="a"} | x="y""#] {
            assert!(DeleteSelector::parse(bad).is_err(), "{bad}");
        }
    }
}
