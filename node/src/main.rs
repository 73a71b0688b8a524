//! `balsa`: one binary that is distributor, ingester and querier.

mod config;
mod deletion;
mod distributor;
mod idle;
mod loki_keys;
mod retention;
mod ruler;
mod server;
mod status;
mod tiering;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let (cfg, info) = match config::Config::load(std::env::args(), std::env::vars()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("balsa: {e}");
            std::process::exit(2);
        }
    };
    if info.help {
        print!("{}", config::Config::usage("balsa"));
        return Ok(());
    }
    if info.version {
        println!("balsa, version {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if info.verify_config {
        // Loki's -verify-config: the config loaded and validated; say what was set aside.
        for (reason, keys) in loki_keys::group_by_reason(&info.ignored_keys) {
            println!("ignored ({reason}): {}", keys.join(", "));
        }
        println!("config is valid");
        return Ok(());
    }
    if info.print_config_stderr {
        eprint!("{}", cfg.to_yaml_masked());
    }
    server::init_tracing(&cfg);
    for var in &info.ignored_env {
        tracing::warn!(var = %var, "ignoring environment variable: it names no config key");
    }
    for (reason, keys) in loki_keys::group_by_reason(&info.ignored_keys) {
        tracing::info!(reason, keys = %keys.join(", "), "ignoring loki config keys");
    }
    if cfg.ingester.chunk_encoding != "snappy" {
        tracing::warn!(chunk_encoding = %cfg.ingester.chunk_encoding, "chunks are stored as snappy; other encodings are accepted but not used yet");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start tokio runtime")?;
    let result = runtime.block_on(server::run(cfg, info.ignored_keys));
    // Shut every task down (and with them the last database handles) before
    // main returns and the process runs its static destructors.
    drop(runtime);
    if let Err(e) = result {
        eprintln!("balsa: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
