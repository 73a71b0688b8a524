//! `jepsen`: runs real `balsa` processes in network namespaces, pushes and
//! reads through random nodes while a nemesis kills, pauses, partitions,
//! skews and wipes them, then checks that no acknowledged line was lost
//! (P1–P7 of `shared/brief/testing.md`); with `--ruler`, that the ruler's
//! alert notifications are neither doubled, flapped nor restarted (R1–R4).
//! See jepsen/README.md.

mod checker;
mod cluster;
mod history;
mod nemesis;
mod net;
mod recorder;
mod report;
mod ruler;
mod ruler_checker;
mod run;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use crate::nemesis::Family;
use crate::run::RunConfig;

#[derive(Parser, Debug)]
#[command(name = "jepsen", about = "Fault-injection runs against a real balsa cluster")]
struct Args {
    /// Nodes in the cluster (every shard has a replica on each).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Seconds of workload (faults included); the drain and checks follow.
    #[arg(long)]
    duration: Option<u64>,
    /// Comma-separated fault families: kill, pause, partition, skew, wipe,
    /// composite; `all`; or `none` for a no-fault baseline. Default: `all`
    /// with --long, else `none`.
    #[arg(long)]
    nemesis: Option<String>,
    /// Seed of the fault schedule and of the clients' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Writer processes (each keeps up to 64 pushes in flight).
    #[arg(long, default_value_t = 4)]
    writers: usize,
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Pushes per second over all writers.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 8)]
    streams: usize,
    #[arg(long, default_value_t = 8)]
    shards: u32,
    /// The balsa binary (default: $BALSA_BIN, else the workspace's target/{debug,release}/balsa).
    #[arg(long)]
    balsa: Option<PathBuf>,
    /// Where each run keeps its history, node logs, report and plot.
    #[arg(long, default_value = "target/jepsen")]
    out: PathBuf,
    /// Plants a bug: passed to every node as BALSA_FAILPOINTS (debug builds of
    /// balsa only), e.g. `ack-before-quorum` or `skip-read-barrier`.
    #[arg(long)]
    failpoint: Option<String>,
    /// The ruler workload: every node evaluates always-firing alert rules
    /// and notifies the harness's recorder; the checker adds R1–R4.
    #[arg(long)]
    ruler: bool,
    /// The CI schedule: a no-fault baseline, each fault family, one mixed
    /// run, all with the ruler workload.
    #[arg(long, conflicts_with = "long")]
    ci: bool,
    /// Long runs for nightly use: every family, faults every 5–30 s.
    #[arg(long)]
    long: bool,
    /// Check an existing history.jsonl instead of running.
    #[arg(long, value_name = "HISTORY")]
    check: Option<PathBuf>,
    /// Print each run's fault schedule and exit.
    #[arg(long)]
    plan: bool,
    /// Fail instead of skipping when network namespaces are unavailable.
    #[arg(long)]
    require_namespaces: bool,
}

fn families(spec: &str) -> Result<Vec<Family>, String> {
    match spec {
        "none" | "" => Ok(Vec::new()),
        "all" => Ok(Family::ALL.to_vec()),
        _ => spec.split(',').map(|s| s.trim().parse()).collect(),
    }
}

fn default_balsa() -> PathBuf {
    if let Some(bin) = std::env::var_os("BALSA_BIN") {
        return bin.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let profiles = if cfg!(debug_assertions) { ["debug", "release"] } else { ["release", "debug"] };
    profiles
        .iter()
        .map(|p| target.join(p).join("balsa"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| target.join("debug/balsa"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match main_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("jepsen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn main_inner(args: Args) -> Result<ExitCode> {
    if let Some(path) = &args.check {
        let ops = history::read_jsonl(path).with_context(|| format!("reading {}", path.display()))?;
        let verdict = checker::check(&ops, args.nodes);
        if let Some(r) = &verdict.ruler {
            print!("{}", ruler_checker::report(r));
        }
        for v in &verdict.violations {
            println!("VIOLATION {}: {} {}", v.property, v.stream, v.evidence);
        }
        println!("{}", verdict.counts.summary(verdict.valid()));
        return Ok(if verdict.valid() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if let Err(why) = net::Net::available().or_else(|why| if args.plan { Ok(()) } else { Err(why) }) {
        if args.require_namespaces {
            anyhow::bail!("network namespaces unavailable: {why}");
        }
        println!("jepsen: SKIPPED: {why}; no run was made (pass --require-namespaces to make this an error)");
        return Ok(ExitCode::SUCCESS);
    }
    let balsa = args.balsa.clone().unwrap_or_else(default_balsa);
    let nemesis = args.nemesis.clone().unwrap_or_else(|| if args.long { "all" } else { "none" }.to_string());
    let base = RunConfig {
        name: String::new(),
        nodes: args.nodes,
        duration: Duration::from_secs(args.duration.unwrap_or(if args.long { 600 } else { 60 })),
        families: families(&nemesis).map_err(anyhow::Error::msg)?,
        seed: args.seed,
        long: args.long,
        writers: args.writers,
        readers: args.readers,
        rate: args.rate.unwrap_or(if args.long { 1000.0 } else { 150.0 }),
        streams: args.streams,
        shards: args.shards,
        balsa,
        dir: PathBuf::new(),
        failpoints: args.failpoint.clone(),
        ruler: args.ruler || args.ci,
    };
    let mut runs = Vec::new();
    if args.ci {
        // A no-fault baseline, each family alone, then everything mixed.
        let mut plan: Vec<(String, Vec<Family>, u64)> = vec![("baseline".into(), Vec::new(), 20)];
        plan.extend(Family::ALL.iter().map(|f| (f.to_string(), vec![*f], 35)));
        plan.push(("mixed".into(), Family::ALL.to_vec(), 50));
        for (i, (name, families, secs)) in plan.into_iter().enumerate() {
            runs.push(RunConfig {
                dir: args.out.join(format!("{name}-seed{}", args.seed + i as u64)),
                name,
                families,
                duration: Duration::from_secs(args.duration.unwrap_or(secs)),
                seed: args.seed + i as u64,
                ..base.clone()
            });
        }
    } else {
        let name = if base.families.is_empty() { "baseline".to_string() } else { nemesis.replace(',', "+") };
        runs.push(RunConfig { dir: args.out.join(format!("{name}-seed{}", args.seed)), name, ..base });
    }

    if args.plan {
        for cfg in &runs {
            println!("{} (seed {}, {:?}):", cfg.name, cfg.seed, cfg.duration);
            for step in nemesis::schedule(cfg.seed, &cfg.families, cfg.nodes, cfg.duration, cfg.long) {
                println!(
                    "  at {:>6.1}s for {:>4.1}s: {:?}",
                    step.at.as_secs_f64(),
                    step.hold.as_secs_f64(),
                    step.fault
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build()?;
    let mut invalid = Vec::new();
    let mut total = checker::Counts::default();
    for cfg in &runs {
        let result = rt.block_on(run::run(cfg)).with_context(|| format!("run {}", cfg.name))?;
        println!("{}: {}", cfg.name, result.summary);
        total.add(&result.verdict.counts);
        if !result.verdict.valid() {
            invalid.push(format!("{} (seed {}, {})", cfg.name, cfg.seed, result.dir.display()));
        }
    }
    for run in &invalid {
        println!("invalid run: {run}");
    }
    println!("{}", total.summary(invalid.is_empty()));
    Ok(if invalid.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
