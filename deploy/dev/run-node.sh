#!/usr/bin/env bash
# Starts one balsa node on :3100 (HTTP) and :9095 (gRPC) with its data in ./data.
# Extra arguments are passed to balsa, e.g. -auth_enabled=true.
set -euo pipefail
cd "$(dirname "$0")/../.."
BALSA_SETUP_PYTHON=0 bash deploy/dev/setup.sh
cargo build --release -p balsa-node --bin balsa
exec target/release/balsa -common.path_prefix=./data "$@"
