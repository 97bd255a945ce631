#!/usr/bin/env bash
# The Python package's tests, as CI runs them (scripts/test.sh calls this):
#   1. a virtual environment under the cargo target dir with maturin, pytest, pandas, polars and
#      scikit-learn from PyPI;
#   2. the wheel, built by maturin from the same CARGO_TARGET_DIR and release profile as the
#      rest of the suite -- the build log is checked: if it compiled polars or wasmtime again,
#      it did not reuse the host build, and this script fails;
#   3. the wheel installed into that environment (no Rust involved) and pytest run against the
#      installed command, with cargo off the PATH.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_TARGET_DIR="$target_dir"
venv="$target_dir/python-venv"
python="${PYTHON:-python3}"

[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.7,<2" pytest pandas polars scikit-learn

wheels="$target_dir/wheels"
log="$target_dir/python-wheel-build.log"
rm -f "$wheels"/microlearn-*.whl
# -v shows the backend's output (cargo's progress lines) in the log; no build isolation, so
# the maturin just installed builds it (found on PATH) and nothing is downloaded mid-build.
start=$SECONDS
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pip wheel --no-build-isolation --no-deps -v ./python -w "$wheels" >"$log" 2>&1 || {
    tail -n 60 "$log" >&2
    exit 1
}
echo "wheel built in $((SECONDS - start)) s: $(ls "$wheels"/microlearn-*.whl)"
if grep -E 'Compiling (polars|wasmtime) ' "$log"; then
    echo "error: the wheel build recompiled the host's dependencies instead of reusing the release build in $target_dir (see $log)" >&2
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheels"/microlearn-*.whl

# The installed command and plugins, not a checkout's: no MICROLEARN_BIN, no cargo on PATH.
env -u MICROLEARN_BIN -u MICROLEARN_PLUGIN_PATH -u MICROLEARN_HOME \
    PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
