//! LogQL execution for Balsa: runs parsed queries (from `balsa-logql`)
//! against one [`StreamReader`](balsa_model::StreamReader) per shard and
//! merges the results.
//!
//! # What runs
//! - **Log queries** ([`run_log_query`]): stream selection with all four
//!   matcher operators (regexes fully anchored) and Loki's whole log
//!   pipeline next to the data (`pipeline/`): line filters (`|=`, `!=`,
//!   `|~`, `!~`, `|>`, `!>`, `or`, `ip()`), parsers (`json`, `logfmt`,
//!   `regexp`, `pattern`, `unpack`), label filters (strings, numbers,
//!   durations, bytes, `ip()`), `line_format`, `label_format`, `drop`,
//!   `keep` and `decolorize`, with `__error__` labels as in Loki. Results
//!   are merged across streams and shards by time in the requested direction
//!   up to the limit and grouped by each entry's final label set; entries
//!   carry their structured metadata and parsed labels ([`LogEntry`]).
//! - **Label queries** ([`label_names`], [`label_values`], [`series`]):
//!   sorted and de-duplicated, restricted to streams with data in range.
//! - **Metric queries without log data** ([`eval_instant`], [`eval_range`]):
//!   literals, `vector()`, binary operators (arithmetic, comparisons with
//!   and without `bool`, `and`/`or`/`unless`, `on`/`ignoring` one-to-one
//!   matching), vector aggregations (except `approx_topk`) and
//!   `label_replace`. `vector(1)+vector(1)` is one sample of 2, no labels.
//!
//! # Not yet (errors of kind [`ErrorKind::Unsupported`], HTTP 400)
//! - Range aggregations over logs (`count_over_time`, `rate`, ...) and
//!   anything built on them; `group_left`/`group_right`; `approx_topk`.
//!
//! Errors: [`QueryError`] with [`ErrorKind`] `BadQuery` (400), `Unsupported`
//! (400) or `Storage` (500).

mod convert;
mod deletion;
mod error;
mod ip;
mod labels;
mod logs;
mod metric;
mod pipeline;

pub use deletion::{DeleteFiltered, DeleteSelector, PendingDelete};
pub use error::{ErrorKind, QueryError, TIMEOUT_MESSAGE};
pub use labels::{label_names, label_values, series};
pub use logs::{LogEntry, LogQuery, LogQueryResult, QueryStats, StreamResult, required_pairs, run_log_query, selects};
pub use metric::{
    EvalLimits, InstantValue, MAX_POINTS_PER_SERIES, MetricQuery, Sample, Series, eval_instant, eval_range,
};
