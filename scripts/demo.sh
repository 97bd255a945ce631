#!/usr/bin/env bash
# The main job: build what is needed, then run a real pipeline on the bundled example dataset
# with the embedded default store (sled + local files under ./microlearn-data, no servers).
#
#   ./scripts/demo.sh                 # titanic, 20 s budget
#   ./scripts/demo.sh FILE TARGET [BUDGET]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
file="${1:-examples/data/titanic.csv}"
target="${2:-survived}"
budget="${3:-20}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"

command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs" >&2; exit 1; }
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

echo "==> building the first-party plugins (wasm32-wasip2 components)"
bash scripts/build-plugins.sh "$target_dir/microlearn-plugins"
echo "==> building the dashboard (served by microlearn serve at /)"
# The CLI run below does not need it: without Node.js the binary is built anyway, and its
# dashboard page says how to build the dashboard later.
bash scripts/build-dashboard.sh || echo "warning: the dashboard was not built; microlearn serve will say how to build it" >&2
echo "==> building the host (release)"
cargo build --release -p microlearn --quiet
bin="$target_dir/release/microlearn"

echo "==> installed plugins"
"$bin" plugins list
echo "==> microlearn run $file --target $target --budget $budget"
"$bin" run "$file" --target "$target" --budget "$budget" --out microlearn-demo.mlbundle
echo "==> microlearn predict (batch scoring with the bundle)"
"$bin" predict --model microlearn-demo.mlbundle "$file" -o microlearn-demo-predictions.csv
head -n 4 microlearn-demo-predictions.csv
