//! A checker that cannot fail proves nothing: these runs plant a bug in real
//! balsa processes (debug builds read `BALSA_FAILPOINTS`) and require the
//! harness to report the violation it causes and exit non-zero.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// One run at a time: each starts three nodes on a two-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

struct Run {
    code: Option<i32>,
    stdout: String,
}

impl Run {
    /// The summary line's `key=value` as a number.
    fn count(&self, key: &str) -> u64 {
        let last = self.stdout.lines().last().unwrap_or_default();
        last.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key}= in the last line: {last}"))
    }
}

/// Runs the harness; `None` when it skipped (no network namespaces here).
fn jepsen(name: &str, args: &[&str]) -> Option<Run> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let out =
        Command::new(env!("CARGO_BIN_EXE_jepsen")).args(args).arg("--out").arg(&out_dir).output().expect("run jepsen");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    if stdout.contains("jepsen: SKIPPED") {
        eprintln!("SKIPPED {name}: the harness needs root and network namespaces");
        return None;
    }
    Some(Run { code: out.status.code(), stdout })
}

#[test]
fn acknowledging_before_the_quorum_loses_lines_under_kill_9() {
    let args = ["--nemesis", "kill", "--duration", "25", "--seed", "3", "--failpoint", "ack-before-quorum"];
    let Some(run) = jepsen("planted-ack-before-quorum", &args) else { return };
    assert_eq!(run.code, Some(1), "the run must fail:\n{}", run.stdout);
    assert!(run.count("lost") > 0, "{}", run.stdout);
    assert!(run.stdout.contains("VIOLATION P1 durability"), "{}", run.stdout);
    assert!(run.stdout.trim_end().ends_with("verdict=invalid"), "{}", run.stdout);
}

#[test]
fn reading_without_a_barrier_serves_stale_data_from_a_cut_off_node() {
    let args = ["--nemesis", "partition", "--duration", "25", "--seed", "1", "--failpoint", "skip-read-barrier"];
    let Some(run) = jepsen("planted-skip-read-barrier", &args) else { return };
    assert_eq!(run.code, Some(1), "the run must fail:\n{}", run.stdout);
    assert!(run.count("stale") > 0, "{}", run.stdout);
    assert!(run.stdout.contains("VIOLATION P2 read-your-writes"), "{}", run.stdout);
}
