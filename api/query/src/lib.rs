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
//! - **Metric queries** ([`eval_instant`], [`eval_range`]): range
//!   aggregations over logs and unwrapped values run next to the data
//!   (`metric/range.rs`), each shard returning partial series that the
//!   querying node merges; then literals, `vector()`, binary operators with
//!   vector matching (`on`/`ignoring`, `group_left`/`group_right`), vector
//!   aggregations, `label_replace` and `offset` (`metric/ops.rs`).
//!
//! Shards are read in parallel, a few worker threads taking the next shard
//! (`shards.rs`); results are merged in shard order, so they do not depend
//! on the number of cores.
//!
//! Errors: [`QueryError`] with [`ErrorKind`] `BadQuery` (400), `Unsupported`
//! (400) or `Storage` (500).

mod convert;
mod deletion;
pub mod detected;
mod error;
pub mod index;
mod ip;
mod labels;
mod logs;
mod metric;
mod pipeline;
mod shards;

pub use deletion::{DeleteFiltered, DeleteSelector, PendingDelete};
pub use error::{ErrorKind, QueryError, TIMEOUT_MESSAGE};
pub use labels::{label_names, label_values, series};
pub use logs::{LogEntry, LogQuery, LogQueryResult, QueryStats, StreamResult, required_pairs, run_log_query, selects};
pub use metric::{
    EvalLimits, InstantValue, MAX_POINTS_PER_SERIES, MetricQuery, Sample, Series, eval_instant, eval_range,
};
