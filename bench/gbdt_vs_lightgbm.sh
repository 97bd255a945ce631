#!/usr/bin/env bash
# MicroLearn's native GBDT vs LightGBM on the same inputs, in the same run.
# Installs LightGBM (and numpy/pandas/scikit-learn for the shared metric code) from PyPI into its
# own virtual environment, builds the `gbdt_bench` driver, and prints a markdown table.
# Usage: bench/gbdt_vs_lightgbm.sh [options of bench/gbdt_vs_lightgbm.py]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MICROLEARN_BENCH_VENV:-$HOME/.cache/microlearn/bench-venv-lightgbm}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import lightgbm, sklearn, pandas" 2>/dev/null ||
  "$venv/bin/pip" install --quiet "lightgbm>=4.5" numpy pandas scikit-learn
cd "$repo"
cargo build --release -p microlearn-train --example gbdt_bench
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
exec "$venv/bin/python" bench/gbdt_vs_lightgbm.py --bin "$target_dir/release/examples/gbdt_bench" "$@"
