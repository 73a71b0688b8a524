//! `GET /cluster/status`: members, and for every shard its leader, term,
//! commit and apply progress, and each replica's lag — the page an operator
//! opens first. JSON by default; `?format=text` (or a browser's
//! `Accept: text/html`) for a table.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use balsa_raft::{GroupStatus, RaftNode};
use serde::{Deserialize, Serialize};

pub fn routes(raft: Arc<RaftNode>) -> Router {
    Router::new().route("/cluster/status", get(status)).with_state(raft)
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    format: String,
}

#[derive(Serialize)]
struct ShardJson {
    shard: u32,
    leader: Option<u64>,
    term: u64,
    last_log_index: Option<u64>,
    applied_index: Option<u64>,
    /// Known on the leader only: each replica's matched index and lag.
    replicas: Vec<ReplicaJson>,
    streams: u64,
    chunks: u64,
}

#[derive(Serialize)]
struct ReplicaJson {
    node: u64,
    matched_index: Option<u64>,
    lag: Option<u64>,
}

#[derive(Serialize)]
struct StatusJson {
    node: u64,
    members: Vec<u64>,
    ready: bool,
    shards_led_here: usize,
    shards: Vec<ShardJson>,
}

fn to_json(raft: &RaftNode) -> StatusJson {
    let groups: Vec<GroupStatus> = raft.status();
    let shards = groups
        .into_iter()
        .map(|g| ShardJson {
            shard: g.shard,
            leader: g.leader,
            term: g.term,
            last_log_index: g.last_log,
            applied_index: g.applied,
            replicas: g
                .replicas
                .iter()
                .map(|(node, matched)| ReplicaJson {
                    node: *node,
                    matched_index: *matched,
                    lag: g.last_log.map(|last| last.saturating_sub(matched.unwrap_or(0))),
                })
                .collect(),
            streams: g.streams,
            chunks: g.chunks,
        })
        .collect::<Vec<_>>();
    StatusJson {
        node: raft.id(),
        members: raft.members(),
        ready: raft.ready(),
        shards_led_here: shards.iter().filter(|s| s.leader == Some(raft.id())).count(),
        shards,
    }
}

async fn status(State(raft): State<Arc<RaftNode>>, Query(p): Query<Params>, headers: HeaderMap) -> Response {
    let s = to_json(&raft);
    let wants_html = headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if p.format == "text" || wants_html {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "node {}  members {:?}  ready {}  leading {} of {} shards",
            s.node,
            s.members,
            s.ready,
            s.shards_led_here,
            s.shards.len()
        );
        let _ = writeln!(
            t,
            "{:>5} {:>7} {:>6} {:>10} {:>10} {:>8} {:>7}  replicas (node:matched/lag)",
            "shard", "leader", "term", "last_log", "applied", "streams", "chunks"
        );
        for sh in &s.shards {
            let leader = sh.leader.map_or("-".to_string(), |l| l.to_string());
            let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let replicas: Vec<String> =
                sh.replicas.iter().map(|r| format!("{}:{}/{}", r.node, opt(r.matched_index), opt(r.lag))).collect();
            let _ = writeln!(
                t,
                "{:>5} {:>7} {:>6} {:>10} {:>10} {:>8} {:>7}  {}",
                sh.shard,
                leader,
                sh.term,
                opt(sh.last_log_index),
                opt(sh.applied_index),
                sh.streams,
                sh.chunks,
                replicas.join(" ")
            );
        }
        if wants_html && p.format != "text" {
            let escaped = t.replace('&', "&amp;").replace('<', "&lt;");
            return Html(format!("<!doctype html><title>balsa cluster status</title><pre>{escaped}</pre>"))
                .into_response();
        }
        return ([("content-type", "text/plain; charset=utf-8")], t).into_response();
    }
    axum::Json(s).into_response()
}
