#!/usr/bin/env bash
# Build the python-cost evaluator as a WASI 0.2 component with componentize-py, and lay it
# out for installation:  OUT_DIR/python-cost/{python-cost.wasm, plugin.toml}
#
# componentize-py is installed into a virtual environment (pinned version) under
# $CARGO_TARGET_DIR or target/, so a fresh clone needs only python3 with venv and pip.
# The component embeds a whole CPython (about 18 MB), which is why it is built, not committed.
#
# Usage: plugins/evaluators/python-cost/build.sh [OUT_DIR]   (default: target/microlearn-plugins)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT_DIR="${1:-$TARGET/microlearn-plugins}"
VERSION="0.25.1"
VENV="$TARGET/componentize-py-$VERSION"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/componentize-py" ]]; then
    echo "installing componentize-py $VERSION into $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "componentize-py==$VERSION"
fi

mkdir -p "$OUT_DIR/python-cost"
WASM="$OUT_DIR/python-cost/python-cost.wasm"
# The WIT package's world for evaluators; app.py implements its `evaluator` export.
"$VENV/bin/componentize-py" \
    -d "$ROOT/wit/microlearn-plugin@0.1.0" -w evaluator-plugin \
    componentize --stub-wasi -p "$HERE" app -o "$WASM" >/dev/null

if command -v sha256sum >/dev/null 2>&1; then
    sha="$(sha256sum "$WASM" | cut -d' ' -f1)"
else
    sha="$(shasum -a 256 "$WASM" | cut -d' ' -f1)"
fi
{
    sed -n '/^\[limits\]/q;p' "$HERE/microlearn.toml.in"
    echo "component = \"python-cost.wasm\""
    echo "sha256 = \"$sha\""
    echo
    sed -n '/^\[limits\]/,$p' "$HERE/microlearn.toml.in"
} >"$OUT_DIR/python-cost/plugin.toml"
echo "built python-cost ($(wc -c <"$WASM" | tr -d ' ') bytes) → $OUT_DIR/python-cost"
