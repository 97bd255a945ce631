#!/usr/bin/env bash
# GPU check of the `torch` feature: MicroLearn's `mlp` trained through libtorch vs the same
# network in PyTorch, on the same GPU, same run. Prints both JSON lines and the throughput ratio.
#
#   bench/gpu_check.sh [ROWS] [COLS] [EPOCHS]
#
# Needs libtorch 2.13 (tch 0.26) at build time. Two ways:
#   - a Python environment with `torch==2.13.0` (PyPI) on PATH: the script sets
#     LIBTORCH_USE_PYTORCH=1 and builds against it;
#   - LIBTORCH=/path/to/libtorch (headers + libs of 2.13).
# On a machine whose PyTorch is another version, set LIBTORCH_BYPASS_VERSION_CHECK=1 and expect
# tch's generated bindings to fail where the C++ API changed.
# The trained weights end in the same MlpModel the pure-Rust trainer makes, so serving a
# GPU-trained model needs no libtorch.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rows="${1:-200000}" cols="${2:-50}" epochs="${3:-5}"
cd "$repo"
if [ -z "${LIBTORCH:-}" ]; then
  export LIBTORCH_USE_PYTORCH=1
fi
cargo build --release -p microlearn-train --features torch --example mlp_gpu_check
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)"
export LD_LIBRARY_PATH="${LIBTORCH:+$LIBTORCH/lib:}${torch_lib:+$torch_lib:}${LD_LIBRARY_PATH:-}"
ours="$(MICROLEARN_TORCH_DEVICE="${MICROLEARN_TORCH_DEVICE:-auto}" "$target_dir/release/examples/mlp_gpu_check" "$rows" "$cols" "$epochs")"
theirs="$(python3 bench/gpu_check.py "$rows" "$cols" "$epochs")"
echo "$ours"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"MicroLearn {a['backend']}: {a['samples_per_s']:,.0f} samples/s; "
      f"{b['backend']}: {b['samples_per_s']:,.0f} samples/s; "
      f"ratio {a['samples_per_s'] / b['samples_per_s']:.2f}")
PY
