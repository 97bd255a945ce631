#!/usr/bin/env bash
# Peak memory of `microlearn run` on generated 1M/4M/10M-row tables (bench/memory_bench.py).
# Installs numpy (for generating the CSV files) into its own virtual environment and builds the
# release binary first.
# Usage: bench/memory_bench.sh [options of bench/memory_bench.py]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MICROLEARN_BENCH_VENV_NUMPY:-$HOME/.cache/microlearn/bench-venv-numpy}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import numpy" 2>/dev/null || "$venv/bin/pip" install --quiet numpy
cd "$repo"
cargo build --release -p microlearn
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
exec "$venv/bin/python" bench/memory_bench.py --bin "$target_dir/release/microlearn" "$@"
