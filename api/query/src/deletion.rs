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

/// A delete request not processed yet: its lines are hidden from queries
/// already, as Loki does.
pub struct PendingDelete {
    pub tenant: String,
    pub selector: DeleteSelector,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// A reader that hides the entries of pending delete requests.
pub struct DeleteFiltered<R> {
    inner: R,
    pending: std::sync::Arc<[PendingDelete]>,
    /// Labels of the streams this reader listed, for `entries`.
    labels: std::sync::Mutex<std::collections::HashMap<balsa_model::StreamId, Labels>>,
}

impl<R: balsa_model::StreamReader> DeleteFiltered<R> {
    pub fn new(inner: R, pending: std::sync::Arc<[PendingDelete]>) -> Self {
        Self { inner, pending, labels: Default::default() }
    }

    fn remember(&self, streams: &[balsa_model::StreamRef]) {
        let mut labels = self.labels.lock().expect("labels lock");
        for s in streams {
            labels.entry(s.id).or_insert_with(|| s.labels.clone());
        }
    }
}

impl<R: balsa_model::StreamReader> balsa_model::StreamReader for DeleteFiltered<R> {
    fn streams(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<balsa_model::StreamRef>, balsa_model::ReadError> {
        let out = self.inner.streams(tenant, start_ns, end_ns, select)?;
        self.remember(&out);
        Ok(out)
    }

    fn streams_with(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        required: &[(&str, &str)],
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<balsa_model::StreamRef>, balsa_model::ReadError> {
        let out = self.inner.streams_with(tenant, start_ns, end_ns, required, select)?;
        self.remember(&out);
        Ok(out)
    }

    /// Forwards the hint while no pending request covers the stream; with
    /// one, every entry is visited, so deleted lines are never counted.
    fn entries_hinted(
        &self,
        tenant: &str,
        stream: balsa_model::StreamId,
        start_ns: i64,
        end_ns: i64,
        direction: balsa_model::Direction,
        hint: &balsa_model::LineHint,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<balsa_model::Skipped, balsa_model::ReadError> {
        let labels = self.labels.lock().expect("labels lock").get(&stream).cloned();
        let applicable: Vec<&PendingDelete> = match &labels {
            Some(labels) => self
                .pending
                .iter()
                .filter(|p| p.tenant == tenant && p.start_ns < end_ns && p.end_ns >= start_ns)
                .filter(|p| p.selector.selects(labels))
                .collect(),
            None => Vec::new(),
        };
        if applicable.is_empty() {
            return self.inner.entries_hinted(tenant, stream, start_ns, end_ns, direction, hint, visit);
        }
        let labels = labels.expect("applicable requests need labels");
        let mut matchers: Vec<_> =
            applicable.iter().map(|p| (p.start_ns, p.end_ns, p.selector.entries_of(&labels))).collect();
        self.inner.entries(tenant, stream, start_ns, end_ns, direction, &mut |e: &Entry| {
            let deleted = matchers.iter_mut().any(|(s, end, m)| e.ts_ns >= *s && e.ts_ns <= *end && m(e));
            deleted || visit(e)
        })?;
        Ok(balsa_model::Skipped::default())
    }

    /// Index statistics come from chunk metadata, which pending deletes do
    /// not change (Loki's index does not know of them either).
    fn chunk_stats(
        &self,
        tenant: &str,
        stream: balsa_model::StreamId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<balsa_model::read::ChunkStats>, balsa_model::ReadError> {
        self.inner.chunk_stats(tenant, stream, start_ns, end_ns)
    }
}

#[cfg(test)]
mod tests {
    use balsa_model::{Direction, MemStreams, StreamReader};

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

    #[test]
    fn pending_requests_hide_their_lines() {
        let mut mem = MemStreams::new();
        let a = Labels::from_pairs([("app", "a")]);
        let b = Labels::from_pairs([("app", "b")]);
        for (labels, tenant) in [(&a, "t"), (&b, "t"), (&a, "other")] {
            mem.push(
                tenant,
                labels.clone(),
                (1..=6)
                    .map(|i| Entry::new(i, format!("line {i} {}", if i % 2 == 0 { "secret" } else { "ok" })))
                    .collect::<Vec<_>>(),
            );
        }
        let pending: std::sync::Arc<[PendingDelete]> = vec![PendingDelete {
            tenant: "t".into(),
            selector: DeleteSelector::parse(r#"{app="a"} |= "secret""#).unwrap(),
            start_ns: 2,
            end_ns: 4,
        }]
        .into();
        let reader = DeleteFiltered::new(mem, pending);
        let read = |tenant: &str, want: &Labels| {
            let mut out = Vec::new();
            for s in reader.streams(tenant, 0, 100, &mut |l| l == want).unwrap() {
                reader
                    .entries(tenant, s.id, 0, 100, Direction::Forward, &mut |e: &Entry| {
                        out.push(e.ts_ns);
                        true
                    })
                    .unwrap();
            }
            out
        };
        assert_eq!(read("t", &a), vec![1, 3, 5, 6], "2 and 4 match the request; 6 is after its end");
        assert_eq!(read("t", &b), vec![1, 2, 3, 4, 5, 6], "another stream");
        assert_eq!(read("other", &a), vec![1, 2, 3, 4, 5, 6], "another tenant");
    }
}
