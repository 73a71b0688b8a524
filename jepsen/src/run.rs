//! One run: network, cluster, workload and nemesis together, then healing,
//! the final reads, the checker and the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Mutex;

use crate::checker::{self, Verdict};
use crate::cluster::{Cluster, Options};
use crate::history::{self, History, Op};
use crate::nemesis::{self, Family};
use crate::net::{self, Net};
use crate::recorder::Recorder;
use crate::report::Report;
use crate::ruler;
use crate::ruler_checker;
use crate::workload::{self, Workload};

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub name: String,
    pub nodes: usize,
    pub duration: Duration,
    pub families: Vec<Family>,
    pub seed: u64,
    pub long: bool,
    pub writers: usize,
    pub readers: usize,
    pub rate: f64,
    pub streams: usize,
    pub shards: u32,
    pub balsa: PathBuf,
    pub dir: PathBuf,
    pub failpoints: Option<String>,
    /// The ruler workload: rule files on every node, notifications recorded.
    pub ruler: bool,
}

pub struct RunResult {
    pub verdict: Verdict,
    pub summary: String,
    pub dir: PathBuf,
}

/// How many violations of each property are printed (all are in the file).
const SHOWN_PER_PROPERTY: usize = 5;

pub async fn run(cfg: &RunConfig) -> Result<RunResult> {
    let dir = cfg.dir.clone();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let steps = nemesis::schedule(cfg.seed, &cfg.families, cfg.nodes, cfg.duration, cfg.long);
    tracing::info!(run = %cfg.name, seed = cfg.seed, faults = steps.len(), dir = %dir.display(), "starting");

    let net = Arc::new(std::sync::Mutex::new(Net::create(cfg.nodes)?));
    let recorder = match cfg.ruler {
        true => {
            let n = net::lock(&net);
            Some(Recorder::start(n.harness_ip(), (0..cfg.nodes).map(|i| n.node_ip(i)).collect())?)
        }
        false => None,
    };
    let opts = Options {
        balsa: cfg.balsa.clone(),
        dir: dir.clone(),
        shards: cfg.shards,
        failpoints: cfg.failpoints.clone(),
        skewable: cfg.families.contains(&Family::Skew),
        alertmanager_url: recorder.as_ref().map(Recorder::url),
    };
    let mut cluster = { Cluster::new(&net::lock(&net), cfg.nodes, &opts)? };
    cluster.start_all()?;
    cluster.wait_ready(Duration::from_secs(90)).await?;
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.base_url.clone()).collect();
    let cluster = Arc::new(Mutex::new(cluster));

    let history = Arc::new(History::new());
    let workload = Arc::new(Workload {
        nodes: urls,
        streams: cfg.streams,
        writers: cfg.writers,
        readers: cfg.readers,
        rate: cfg.rate,
        seed: cfg.seed,
        push_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
    });
    let first_ts = workload::wall_ns();
    let began = tokio::time::Instant::now();
    let until = history.now() + cfg.duration.as_micros() as u64;
    let clients = tokio::spawn(Arc::clone(&workload).run(Arc::clone(&history), until, first_ts));
    let nemesis =
        tokio::spawn(nemesis::run(steps, Arc::clone(&cluster), Arc::clone(&net), Arc::clone(&history), began));
    clients.await.context("clients")?;
    nemesis.await.context("nemesis")??;

    // Heal everything, wait for the cluster, read every node to the end.
    net::change(&net, |n| n.heal())?;
    cluster.lock().await.recover_all()?;
    let ready = cluster.lock().await.wait_ready(Duration::from_secs(120)).await;
    if let Err(e) = &ready {
        tracing::warn!(error = %e, "a node did not come back; its final read will be missing");
    }
    let finals = converge(&workload, &history, first_ts - 1_000_000_000, cfg.nodes).await;
    for op in finals {
        history.record(op);
    }
    if let Some(recorder) = &recorder {
        for op in recorder.drain(&history) {
            history.record(op);
        }
        history.record(Op::Ruler {
            alerts: ruler::expected_alerts(),
            resend_delay_ms: ruler::RESEND_DELAY.as_millis() as i64,
            interval_ms: ruler::INTERVAL.as_millis() as i64,
            start: 0,
            end: history.now(),
        });
    }

    let ops = history.ops();
    history::write_jsonl(&dir.join("history.jsonl"), &ops)?;
    let verdict = checker::check(&ops, cfg.nodes);
    let report = Report::new(&ops);
    let text = report.text();
    report.plot(&dir.join("timeline.svg"), &format!("{} (seed {})", cfg.name, cfg.seed))?;
    cluster.lock().await.stop_all();

    let mut out = String::new();
    out.push_str(&text);
    if let Some(r) = &verdict.ruler {
        out.push_str(&ruler_checker::report(r));
    }
    let mut shown = std::collections::BTreeMap::new();
    for v in &verdict.violations {
        let n = shown.entry(v.property).or_insert(0);
        *n += 1;
        if *n <= SHOWN_PER_PROPERTY {
            out.push_str(&format!("VIOLATION {}: {}{}: {}\n", v.property, v.stream, fmt_line(v), v.evidence));
        }
    }
    let violations = std::fs::File::create(dir.join("violations.jsonl"))?;
    let mut w = std::io::BufWriter::new(violations);
    for v in &verdict.violations {
        serde_json::to_writer(&mut w, v)?;
        std::io::Write::write_all(&mut w, b"\n")?;
    }
    std::fs::write(dir.join("report.txt"), &out)?;
    let summary = verdict.counts.summary(verdict.valid());
    print!("{out}");
    println!("{}: history, logs and plot in {}", cfg.name, dir.display());
    Ok(RunResult { verdict, summary, dir })
}

fn fmt_line(v: &checker::Violation) -> String {
    v.line.as_ref().map(|l| format!(" {}@{}", l.text, l.ts)).unwrap_or_default()
}

/// Final reads of every node, repeated for up to a minute until the nodes
/// agree (convergence is eventual); the last attempt is what the checker sees.
async fn converge(workload: &Workload, history: &History, from: i64, nodes: usize) -> Vec<Op> {
    let all: Vec<usize> = (0..nodes).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reads = workload.final_reads(history, from, &all).await;
        let texts: Vec<Vec<&str>> = reads
            .iter()
            .map(|(_, pages)| {
                pages
                    .iter()
                    .flat_map(|op| match op {
                        Op::Read { lines, .. } => lines.iter().map(|l| l.text.as_str()).collect(),
                        _ => Vec::new(),
                    })
                    .collect()
            })
            .collect();
        let agree = reads.len() == nodes && texts.windows(2).all(|w| w[0] == w[1]);
        if agree || tokio::time::Instant::now() > deadline {
            if !agree {
                tracing::warn!("nodes still disagree after a minute");
            }
            return reads.into_iter().flat_map(|(_, pages)| pages).collect();
        }
        tracing::info!(answered = reads.len(), "final reads differ; waiting for convergence");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
