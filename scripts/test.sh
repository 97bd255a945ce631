#!/usr/bin/env bash
# The test suite: plugin components are built first (the host's tests load the real ones), then
# the plugins' native unit tests, then the host workspace (unit, conformance, hostile-plugin and
# end-to-end tests on the tables in tests/data/), then the dashboard: its component tests and an
# end-to-end run in headless Chromium against the real binary.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
export MICROLEARN_PLUGIN_BUILD_DIR="$target_dir"

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

echo "==> services for the cluster tests (PostgreSQL; scripts/infra.sh starts what is not running)"
bash scripts/infra.sh
echo "==> S3 for the object-storage tests (moto's server, from PyPI, in a venv under $target_dir)"
moto_venv="$target_dir/moto-venv"
[[ -x "$moto_venv/bin/python" ]] || python3 -m venv "$moto_venv"
"$moto_venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
export MICROLEARN_TEST_MOTO="$moto_venv/bin/moto_server"
echo "==> building plugin components"
bash scripts/build-plugins.sh "$target_dir/microlearn-plugins"
echo "==> building the Python evaluator (componentize-py, in a venv under $target_dir)"
bash plugins/evaluators/python-cost/build.sh "$target_dir/microlearn-python-plugins"
echo "==> plugin unit tests (native)"
cargo test --release --manifest-path plugins/Cargo.toml
echo "==> building the dashboard (embedded into the binary)"
bash scripts/build-dashboard.sh
echo "==> building the microlearn binary the end-to-end suites drive"
cargo build --release -p microlearn
export MICROLEARN_BIN="$target_dir/release/microlearn"
echo "==> host workspace tests"
cargo test --release --workspace
# --- Python package (python/, issue 16) -----------------------------------------------------
echo "==> Python package: wheel (maturin, reusing this release build), pytest on the installed command"
bash python/run-tests.sh
# --- end Python package ---------------------------------------------------------------------
echo "==> API property tests (schemathesis against the real server and its OpenAPI document)"
bash scripts/schemathesis.sh
echo "==> dashboard component tests (vitest)"
(cd dashboard && npm test --silent)
echo "==> dashboard end-to-end (headless Chromium, real microlearn serve)"
if [[ -n "${CHROMIUM_PATH:-}" ]] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    node dashboard/e2e/run.mjs
elif [[ -n "${CI:-}" ]]; then
    echo "error: Chromium is not installed; CI must run the dashboard end-to-end test (.ci/run installs it)" >&2
    exit 1
else
    echo "SKIPPED: the dashboard end-to-end test needs Chromium (apt-get install chromium, or set CHROMIUM_PATH)"
fi
