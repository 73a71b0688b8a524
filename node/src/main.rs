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
    if info.health_check {
        std::process::exit(health_check(&cfg.server.ready_url()));
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

/// `-health-check`: GET the node's own `/ready`; 0 when it answers 200, else
/// 1 with the reason on stderr. Images built `FROM scratch` have no curl, so
/// Docker's HEALTHCHECK runs the binary itself.
fn health_check(url: &str) -> i32 {
    let ask = async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build()?;
        let resp = client.get(url).send().await?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Ok::<_, reqwest::Error>((status, body))
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("balsa: health check: {e}");
            return 1;
        }
    };
    match runtime.block_on(ask) {
        Ok((status, _)) if status.is_success() => 0,
        Ok((status, body)) => {
            eprintln!("balsa: {url}: {status}: {}", body.trim());
            1
        }
        Err(e) => {
            eprintln!("balsa: {url}: {e}");
            1
        }
    }
}
