//! Loki's JSON result encoding (`pkg/util/marshal`): streams, vectors,
//! matrices and scalars, the `stats` block, and the categorized-labels form
//! Grafana 11+ asks for with `X-Loki-Response-Encoding-Flags: categorize-labels`.

use std::collections::BTreeMap;

use balsa_model::{LabelPair, Labels};
use balsa_query::LogEntry;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::json;

pub const ENCODING_FLAGS_HEADER: &str = "X-Loki-Response-Encoding-Flags";
pub const CATEGORIZE_LABELS: &str = "categorize-labels";

/// Query statistics reported in `data.stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueryStats {
    pub lines_processed: u64,
    pub bytes_processed: u64,
    pub entries_returned: u64,
    pub exec_time_s: f64,
}

impl QueryStats {
    fn to_json(self) -> serde_json::Value {
        let per_sec = |n: u64| if self.exec_time_s > 0.0 { (n as f64 / self.exec_time_s) as u64 } else { 0 };
        let chunk = json!({
            "headChunkBytes": 0, "headChunkLines": 0, "decompressedBytes": self.bytes_processed,
            "decompressedLines": self.lines_processed, "compressedBytes": 0, "totalDuplicates": 0,
            "postFilterLines": self.entries_returned, "headChunkStructuredMetadataBytes": 0,
            "decompressedStructuredMetadataBytes": 0
        });
        let store = json!({
            "totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0, "chunkRefsFetchTime": 0,
            "queryReferencedStructuredMetadata": false, "congestionControlLatency": 0,
            "pipelineWrapperFilteredLines": 0, "chunk": chunk
        });
        let cache = json!({"entriesFound": 0, "entriesRequested": 0, "entriesStored": 0, "bytesReceived": 0,
            "bytesSent": 0, "requests": 0, "downloadTime": 0, "queryLengthServed": 0});
        json!({
            "summary": {
                "bytesProcessedPerSecond": per_sec(self.bytes_processed),
                "linesProcessedPerSecond": per_sec(self.lines_processed),
                "totalBytesProcessed": self.bytes_processed,
                "totalLinesProcessed": self.lines_processed,
                "execTime": self.exec_time_s,
                "queueTime": 0, "subqueries": 0,
                "totalEntriesReturned": self.entries_returned,
                "splits": 0, "shards": 0,
                "totalPostFilterLines": self.entries_returned,
                "totalStructuredMetadataBytesProcessed": 0
            },
            "querier": {"store": store},
            "ingester": {"totalReached": 0, "totalChunksMatched": 0, "totalBatches": 0, "totalLinesSent": 0,
                "store": {"totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0,
                    "chunkRefsFetchTime": 0, "queryReferencedStructuredMetadata": false,
                    "congestionControlLatency": 0, "pipelineWrapperFilteredLines": 0,
                    "chunk": {"headChunkBytes": 0, "headChunkLines": 0, "decompressedBytes": 0,
                        "decompressedLines": 0, "compressedBytes": 0, "totalDuplicates": 0, "postFilterLines": 0,
                        "headChunkStructuredMetadataBytes": 0, "decompressedStructuredMetadataBytes": 0}}},
            "cache": {"chunk": cache, "index": cache, "result": cache, "statsResult": cache, "volumeResult": cache,
                "seriesResult": cache, "labelResult": cache, "instantMetricResult": cache},
            "index": {"totalChunks": 0, "postFilterChunks": 0, "shardsDuration": 0}
        })
    }
}

/// A label set as a JSON object (already sorted by name).
struct LabelMap<'a>(&'a [LabelPair]);

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for p in self.0 {
            m.serialize_entry(&p.name, &p.value)?;
        }
        m.end()
    }
}

/// One stream in a `streams` result: its labels and entries in the query
/// direction.
pub struct StreamOut {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

struct StreamJson<'a> {
    stream: &'a StreamOut,
    categorize: bool,
}

struct Values<'a> {
    entries: &'a [LogEntry],
    categorize: bool,
}

struct Value<'a> {
    entry: &'a LogEntry,
    categorize: bool,
}

/// The third element of a categorized value: only non-empty categories,
/// `structuredMetadata` before `parsed` as Loki writes them.
struct Categories<'a>(&'a LogEntry);

impl Serialize for Categories<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let n = usize::from(!e.structured_metadata.is_empty()) + usize::from(!e.parsed.is_empty());
        let mut m = s.serialize_map(Some(n))?;
        if !e.structured_metadata.is_empty() {
            m.serialize_entry("structuredMetadata", &LabelMap(&e.structured_metadata))?;
        }
        if !e.parsed.is_empty() {
            m.serialize_entry("parsed", &LabelMap(&e.parsed))?;
        }
        m.end()
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_seq(Some(if self.categorize { 3 } else { 2 }))?;
        t.serialize_element(&self.entry.ts_ns.to_string())?;
        t.serialize_element(&self.entry.line)?;
        if self.categorize {
            t.serialize_element(&Categories(self.entry))?;
        }
        t.end()
    }
}

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.entries.len()))?;
        for e in self.entries {
            seq.serialize_element(&Value { entry: e, categorize: self.categorize })?;
        }
        seq.end()
    }
}

impl Serialize for StreamJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("stream", &LabelMap(self.stream.labels.pairs()))?;
        m.serialize_entry("values", &Values { entries: &self.stream.entries, categorize: self.categorize })?;
        m.end()
    }
}

/// With the categorize flag, Loki keys streams by their stream labels only
/// (all labels minus each entry's structured metadata and parsed labels),
/// so result streams that differ only in those merge. Entries stay in the
/// query direction; streams are sorted by labels.
pub fn categorize_streams(streams: Vec<StreamOut>, backward: bool) -> Vec<StreamOut> {
    // (ts, stream, position, key)
    let mut all: Vec<(i64, usize, usize, Labels, LogEntry)> = Vec::new();
    for (si, s) in streams.into_iter().enumerate() {
        for (pi, e) in s.entries.into_iter().enumerate() {
            all.push((e.ts_ns, si, pi, e.stream_labels(&s.labels), e));
        }
    }
    if backward {
        all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    } else {
        all.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    }
    let mut groups: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
    for (_, _, _, key, e) in all {
        groups.entry(key).or_default().push(e);
    }
    groups.into_iter().map(|(labels, entries)| StreamOut { labels, entries }).collect()
}

#[derive(Serialize)]
struct Envelope<D: Serialize> {
    status: &'static str,
    data: D,
}

#[derive(Serialize)]
struct Data<R: Serialize> {
    #[serde(rename = "resultType")]
    result_type: &'static str,
    #[serde(rename = "encodingFlags", skip_serializing_if = "Option::is_none")]
    encoding_flags: Option<[&'static str; 1]>,
    result: R,
    stats: serde_json::Value,
}

struct StreamsJson<'a> {
    streams: &'a [StreamOut],
    categorize: bool,
}

impl Serialize for StreamsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.streams.len()))?;
        for st in self.streams {
            seq.serialize_element(&StreamJson { stream: st, categorize: self.categorize })?;
        }
        seq.end()
    }
}

fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializing in-memory values to JSON")
}

/// A `streams` result. Without `categorize`, each stream carries all the
/// labels of its entries (stream labels, structured metadata and parsed
/// labels) and values are `[ts, line]`. With `categorize`, streams are keyed
/// by stream labels and every value is `[ts, line, {categories}]`;
/// `backward` is the query direction (entries of merged streams stay in it).
pub fn streams(streams: Vec<StreamOut>, categorize: bool, backward: bool, stats: QueryStats) -> Vec<u8> {
    let streams = if categorize { categorize_streams(streams, backward) } else { streams };
    to_vec(&Envelope {
        status: "success",
        data: Data {
            result_type: "streams",
            encoding_flags: categorize.then_some([CATEGORIZE_LABELS]),
            result: StreamsJson { streams: &streams, categorize },
            stats: stats.to_json(),
        },
    })
}

/// Prometheus' float formatting (`strconv.FormatFloat(v, 'f', -1, 64)`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A point's time: float unix seconds with millisecond precision.
fn point_time(ts_ns: i64) -> serde_json::Value {
    let ms = ts_ns.div_euclid(1_000_000);
    if ms % 1000 == 0 { json!(ms / 1000) } else { json!(ms as f64 / 1000.0) }
}

pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

pub fn vector(samples: &[Sample], ts_ns: i64, stats: QueryStats) -> Vec<u8> {
    let result: Vec<serde_json::Value> = samples
        .iter()
        .map(|s| json!({"metric": label_object(&s.labels), "value": [point_time(ts_ns), format_value(s.value)]}))
        .collect();
    envelope("vector", result, stats)
}

pub fn matrix(series: &[Series], stats: QueryStats) -> Vec<u8> {
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|s| {
            let values: Vec<serde_json::Value> =
                s.points.iter().map(|(t, v)| json!([point_time(*t), format_value(*v)])).collect();
            json!({"metric": label_object(&s.labels), "values": values})
        })
        .collect();
    envelope("matrix", result, stats)
}

pub fn scalar(ts_ns: i64, value: f64, stats: QueryStats) -> Vec<u8> {
    envelope("scalar", json!([point_time(ts_ns), format_value(value)]), stats)
}

fn envelope(result_type: &'static str, result: impl Serialize, stats: QueryStats) -> Vec<u8> {
    to_vec(&Envelope {
        status: "success",
        data: Data { result_type, encoding_flags: None, result, stats: stats.to_json() },
    })
}

fn label_object(labels: &Labels) -> serde_json::Value {
    serde_json::Value::Object(labels.iter().map(|p| (p.name.clone(), json!(p.value))).collect())
}

/// `{"status":"success","data":[...]}` for labels, values and series.
pub fn data_list<T: Serialize>(data: T) -> Vec<u8> {
    to_vec(&json!({"status": "success", "data": data}))
}

/// Label names or values: as `data_list`, except that Loki leaves `data`
/// out when there are none (`{"status":"success"}`; its field is
/// `omitempty`).
pub fn label_list(values: Vec<String>) -> Vec<u8> {
    if values.is_empty() {
        return to_vec(&json!({"status": "success"}));
    }
    data_list(values)
}

pub fn series_list(series: &[Labels]) -> Vec<u8> {
    let data: Vec<serde_json::Value> = series.iter().map(label_object).collect();
    data_list(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<LabelPair> {
        p.iter().map(|(n, v)| LabelPair { name: (*n).into(), value: (*v).into() }).collect()
    }

    fn entry(ts: i64, line: &str, sm: &[(&str, &str)], parsed: &[(&str, &str)]) -> LogEntry {
        LogEntry { ts_ns: ts, line: line.into(), structured_metadata: pairs(sm), parsed: pairs(parsed) }
    }

    /// Two result streams of one stream `{app="x"}`: one entry with
    /// structured metadata and a parsed label, one without.
    fn fixture() -> Vec<StreamOut> {
        vec![
            StreamOut { labels: Labels::from_pairs([("app", "x")]), entries: vec![entry(1, "a", &[], &[])] },
            StreamOut {
                labels: Labels::from_pairs([("app", "x"), ("level", "info"), ("trace_id", "t1")]),
                entries: vec![entry(2, "b", &[("trace_id", "t1")], &[("level", "info")])],
            },
        ]
    }

    #[test]
    fn streams_plain_carry_all_labels() {
        let body: serde_json::Value =
            serde_json::from_slice(&streams(fixture(), false, true, QueryStats::default())).unwrap();
        assert_eq!(body["status"], "success");
        assert_eq!(body["data"]["resultType"], "streams");
        assert!(body["data"].get("encodingFlags").is_none());
        let result = body["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 2);
        assert_eq!(result[0]["stream"], json!({"app": "x"}));
        assert_eq!(result[0]["values"], json!([["1", "a"]]));
        assert_eq!(result[1]["stream"], json!({"app": "x", "level": "info", "trace_id": "t1"}));
        assert_eq!(result[1]["values"], json!([["2", "b"]]));
        assert!(body["data"]["stats"]["summary"]["totalLinesProcessed"].is_number());
    }

    #[test]
    fn streams_categorized_are_three_tuples_in_grafana_order() {
        let raw = String::from_utf8(streams(fixture(), true, true, QueryStats::default())).unwrap();
        let rt = raw.find("\"resultType\"").unwrap();
        let ef = raw.find("\"encodingFlags\"").unwrap();
        let res = raw.find("\"result\"").unwrap();
        let st = raw.find("\"stats\"").unwrap();
        assert!(rt < ef && ef < res && res < st, "{raw}");
        assert!(raw.find("\"structuredMetadata\"").unwrap() < raw.find("\"parsed\"").unwrap(), "{raw}");
        let body: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(body["data"]["encodingFlags"], json!(["categorize-labels"]));
        let result = body["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 1, "both result streams have the same stream labels");
        assert_eq!(result[0]["stream"], json!({"app": "x"}));
        assert_eq!(
            result[0]["values"],
            json!([["2", "b", {"structuredMetadata": {"trace_id": "t1"}, "parsed": {"level": "info"}}], ["1", "a", {}]])
        );
        // forward order merges the other way round
        let body: serde_json::Value =
            serde_json::from_slice(&streams(fixture(), true, false, QueryStats::default())).unwrap();
        assert_eq!(body["data"]["result"][0]["values"][0][0], "1");
    }

    #[test]
    fn vector_for_grafana_health_check() {
        let body: serde_json::Value = serde_json::from_slice(&vector(
            &[Sample { labels: Labels::default(), value: 2.0 }],
            4_000_000_000_000_000_000,
            QueryStats::default(),
        ))
        .unwrap();
        assert_eq!(body["data"]["resultType"], "vector");
        assert_eq!(body["data"]["result"], json!([{"metric": {}, "value": [4000000000i64, "2"]}]));
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(1e21), "1000000000000000000000");
    }
}
