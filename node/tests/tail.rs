//! Live tail over a WebSocket against three real `balsa` processes: lines
//! pushed to one node reach a tail on another (each node applies every
//! shard), the historical part honours `start` and `limit`, a bad
//! `delay_for` is refused before the upgrade, and a tenant's tails are
//! capped by `max_concurrent_tail_requests`.

mod common;

use std::time::{Duration, Instant};

use common::{enc, now_ns};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Cluster = common::Trio;

impl Cluster {
    fn start() -> Self {
        let mut c = common::Trio::with_flags(&["-cluster.shards=4", "-limits_config.max_concurrent_tail_requests=2"]);
        for n in &mut c.nodes {
            n.spawn();
        }
        for n in &mut c.nodes {
            n.wait_ready(Duration::from_secs(60));
        }
        c
    }

    fn ws(&self, i: usize, path: &str) -> String {
        self.nodes[i].url(path).replacen("http://", "ws://", 1)
    }
}

async fn push(url: &str, job: &str, lines: &[(i64, &str)]) {
    let values: Vec<Value> = lines.iter().map(|(ts, l)| json!([ts.to_string(), l])).collect();
    let body = json!({"streams": [{"stream": {"job": job}, "values": values}]});
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap_or_default());
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Text frames' lines until `want` lines arrived or `within` passed.
async fn lines_within(ws: &mut Ws, want: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(msg))) = tokio::time::timeout(left, ws.next()).await else { break };
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert!(v.get("dropped_entries").is_none(), "{v}");
            for s in v["streams"].as_array().unwrap() {
                assert_eq!(s["stream"]["job"], "tail", "{v}");
                for e in s["values"].as_array().unwrap() {
                    out.push(e[1].as_str().unwrap().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn live_tail_across_a_three_node_cluster() {
    let c = Cluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let push_a = c.nodes[0].url("/loki/api/v1/push");
        // History: three old matching lines, one not matching; limit=2 keeps the newest two.
        let t0 = now_ns() - 60_000_000_000;
        push(
            &push_a,
            "tail",
            &[(t0, "keep old 1"), (t0 + 1, "keep old 2"), (t0 + 2, "skip old"), (t0 + 3, "keep old 3")],
        )
        .await;
        push(&push_a, "other", &[(t0 + 4, "keep other")]).await;
        let q = enc(r#"{job="tail"} |= "keep""#);
        let start = t0 - 1_000_000_000;
        let (mut ws, _) =
            tokio_tungstenite::connect_async(c.ws(1, &format!("/loki/api/v1/tail?query={q}&limit=2&start={start}")))
                .await
                .unwrap();
        let hist = lines_within(&mut ws, 2, Duration::from_secs(5)).await;
        assert_eq!(hist, vec!["keep old 2", "keep old 3"]);

        // Live: pushed to node A (0), tailed on node B (1).
        let t1 = now_ns();
        let mut want = Vec::new();
        for i in 0..10 {
            let line = if i % 3 == 0 { format!("skip live {i}") } else { format!("keep live {i}") };
            if i % 3 != 0 {
                want.push(line.clone());
            }
            push(&push_a, "tail", &[(t1 + i, &line)]).await;
            push(&push_a, "other", &[(t1 + i, &format!("keep other {i}"))]).await;
        }
        let started = Instant::now();
        let got = lines_within(&mut ws, want.len(), Duration::from_secs(2)).await;
        assert_eq!(got, want, "after {:?}", started.elapsed());
        // Nothing else follows.
        assert!(lines_within(&mut ws, 1, Duration::from_millis(500)).await.is_empty());

        // The legacy path tails too; with node B's one tail open, a second
        // is the limit (2) and a third is refused with Loki's close frame.
        let (mut second, _) =
            tokio_tungstenite::connect_async(c.ws(1, &format!("/api/prom/tail?query={q}"))).await.unwrap();
        let (mut third, _) =
            tokio_tungstenite::connect_async(c.ws(1, &format!("/loki/api/v1/tail?query={q}"))).await.unwrap();
        let refused = loop {
            match tokio::time::timeout(Duration::from_secs(5), third.next()).await.unwrap() {
                Some(Ok(Message::Close(Some(f)))) => break f,
                Some(Ok(Message::Text(t))) if t.as_str() == r#"{"streams":[]}"# => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(refused.code, CloseCode::Error);
        assert_eq!(refused.reason.as_str(), "max concurrent tail requests limit exceeded, count > limit (3 > 2)");
        // Another node counts its own tails.
        let (mut on_c, _) =
            tokio_tungstenite::connect_async(c.ws(2, &format!("/loki/api/v1/tail?query={q}&limit=1"))).await.unwrap();
        assert_eq!(lines_within(&mut on_c, 1, Duration::from_secs(5)).await.len(), 1);
        let _ = second.close(None).await;
        let _ = ws.close(None).await;
        let _ = on_c.close(None).await;
        let _ = second.send(Message::Close(None)).await;

        // delay_for out of range: a 400 before any upgrade.
        let r = reqwest::Client::new()
            .get(c.nodes[1].url(&format!("/loki/api/v1/tail?query={q}&delay_for=6")))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert_eq!(r.text().await.unwrap().trim(), "delay_for can't be greater than 5");
    });
    // An open tail does not hold up a node's shutdown: it gets a close frame.
    let (mut ws, _) = rt
        .block_on(tokio_tungstenite::connect_async(c.ws(2, &format!("/loki/api/v1/tail?query={}", enc("{job=\"x\"}")))))
        .unwrap();
    let closed = rt.spawn(async move {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| f.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut c = c;
    let started = Instant::now();
    let status = c.nodes[2].terminate();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let code = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), closed).await }).unwrap().unwrap();
    assert_eq!(code, Some(CloseCode::Away));
}
