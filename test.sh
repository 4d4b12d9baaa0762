#!/usr/bin/env bash
# The test command: installs redis-server, redis-py (for the example consumer's test) and Chromium with
# chromedriver (for the gateway's page tests) if missing, then
# runs every test of the workspace and closes with one summary line ("N passed, N failed").
set -euo pipefail
cd "$(dirname "$0")"
. .ci/lib.sh
ensure_redis
ensure_python_redis
ensure_chromium
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Doc tests, then unit, integration and binary tests. Benchmarks are built by `cargo clippy --all-targets`
# in .ci/run and run only on request (`cargo bench --bench NAME`): they measure, they do not assert.
cargo test --workspace --locked --doc 2>&1 | tee -a "$log"
cargo test --workspace --locked --lib --bins --tests 2>&1 | tee -a "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
