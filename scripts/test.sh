#!/usr/bin/env bash
# The test suite: plugin components are built first (the host's tests load the real ones), then
# the plugins' native unit tests, then the host workspace (unit, conformance, hostile-plugin and
# end-to-end tests against ../shared/datasets).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
export MICROLEARN_PLUGIN_BUILD_DIR="$target_dir"

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

echo "==> building plugin components"
bash scripts/build-plugins.sh "$target_dir/microlearn-plugins"
echo "==> building the Python evaluator (componentize-py, in a venv under $target_dir)"
bash plugins/evaluators/python-cost/build.sh "$target_dir/microlearn-python-plugins"
echo "==> plugin unit tests (native)"
cargo test --release --manifest-path plugins/Cargo.toml
echo "==> building the microlearn binary the end-to-end suites drive"
cargo build --release -p microlearn
export MICROLEARN_BIN="$target_dir/release/microlearn"
echo "==> host workspace tests"
cargo test --release --workspace
