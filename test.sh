#!/usr/bin/env bash
# The test command: installs redis-server if missing, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/lib.sh
ensure_redis
# Unit, integration and binary tests, then doc tests. Benchmarks are built by `cargo clippy --all-targets`
# in .ci/run and run only on request (`cargo bench --bench NAME`): they measure, they do not assert.
cargo test --workspace --locked --lib --bins --tests
cargo test --workspace --locked --doc
