#!/usr/bin/env bash
# Runs balsa's whole test suite: every crate's unit and integration tests
# (which start real balsa processes), the client-library tests in Python,
# then the fault-injection schedule (jepsen/README.md) against real processes.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/dev/setup.sh

cargo build -p balsa-node --bin balsa
cargo test --workspace --no-fail-fast 2>&1 | tee target/cargo-test.log
# deploy/tests: the manifests, and the image run as a compose cluster (SKIPPED without docker).
TEST_BALSA_BIN="$(pwd)/target/debug/balsa" python3 -m pytest -q -rsP node/tests/python deploy/tests
# A no-fault baseline, each nemesis alone, then all mixed (about six minutes).
cargo run -p jepsen -- --ci --out target/jepsen
