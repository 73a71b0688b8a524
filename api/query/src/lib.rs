//! LogQL execution for Balsa: runs parsed queries (from `balsa-logql`)
//! against one [`StreamReader`](balsa_model::StreamReader) per shard and
//! merges the results.
//!
//! # What runs
//! - **Log queries** ([`run_log_query`]): stream selection with all four
//!   matcher operators (regexes fully anchored), line filters `|=`, `!=`,
//!   `|~`, `!~`, `|>`, `!>` with `or` alternatives and `ip("...")`, string
//!   label filters (`| level="error"`, `and`/`or`) over stream labels and
//!   structured metadata, and the no-op `| drop __error__`. Results are
//!   merged across streams and shards by time in the requested direction up
//!   to the limit, grouped per stream; structured metadata stays on entries.
//! - **Label queries** ([`label_names`], [`label_values`], [`series`]):
//!   sorted and de-duplicated, restricted to streams with data in range.
//! - **Metric queries without log data** ([`eval_instant`], [`eval_range`]):
//!   literals, `vector()`, binary operators (arithmetic, comparisons with
//!   and without `bool`, `and`/`or`/`unless`, `on`/`ignoring` one-to-one
//!   matching), vector aggregations (except `approx_topk`) and
//!   `label_replace`. `vector(1)+vector(1)` is one sample of 2, no labels.
//!
//! # Not yet (errors of kind [`ErrorKind::Unsupported`], HTTP 400)
//! - Parsers (`json`, `logfmt`, `regexp`, `pattern`, `unpack`), formatters
//!   (`line_format`, `label_format`), `decolorize`, `keep`, `drop` of real
//!   labels, and numeric/duration/bytes/`ip()` label filters.
//! - Range aggregations over logs (`count_over_time`, `rate`, ...) and
//!   anything built on them; `group_left`/`group_right`; `approx_topk`.
//!
//! Errors: [`QueryError`] with [`ErrorKind`] `BadQuery` (400), `Unsupported`
//! (400) or `Storage` (500).

mod error;
mod ip;
mod labels;
mod logs;
mod metric;
mod pipeline;

pub use error::{ErrorKind, QueryError};
pub use labels::{label_names, label_values, series};
pub use logs::{LogQuery, LogQueryResult, QueryStats, StreamResult, required_pairs, run_log_query, selects};
pub use metric::{InstantValue, MAX_POINTS_PER_SERIES, Sample, Series, eval_instant, eval_range};
