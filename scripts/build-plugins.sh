#!/usr/bin/env bash
# Build the first-party MicroLearn plugins as WASI 0.2 components and lay them out for
# installation:
#
#   OUT_DIR/<id>/<id>.wasm + OUT_DIR/<id>/plugin.toml             preparers, selectors, evaluators, deployers
#   OUT_DIR/../microlearn-test-plugins/<id>/...                   test-only plugins (e.g. `hostile`)
#   OUT_DIR/../microlearn-unloadable-plugins/<id>/...             test-only plugins that must fail
#                                                                 to load (e.g. `stuck-describe`)
#
# plugin.toml is the crate's microlearn.toml plus `component` and `sha256`.
#
# Usage: scripts/build-plugins.sh [OUT_DIR]   (default: target/microlearn-plugins)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-$ROOT/target/microlearn-plugins}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
TEST_DIR="$(dirname "$OUT_DIR")/microlearn-test-plugins"
# Kept apart from TEST_DIR so scanning the test plugins stays free of errors.
UNLOADABLE_DIR="$(dirname "$OUT_DIR")/microlearn-unloadable-plugins"

# Run from plugins/ so plugins/.cargo/config.toml (SIMD flags, target dir) applies.
cd "$ROOT/plugins"
cargo build --release --target wasm32-wasip2 --manifest-path "$ROOT/plugins/Cargo.toml"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/plugins/target}"
# The component-model preamble: `\0asm`, then version 0x0d and layer 1 (a core module has
# version 1, layer 0).
COMPONENT_MAGIC="0061736d0d000100"

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

built=0
printf '%-16s %-10s %10s  %s\n' "id" "kind" "bytes" "path"
while IFS= read -r manifest; do
    dir="$(dirname "$manifest")"
    crate="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1)"
    id="$(sed -n 's/^id *= *"\(.*\)"/\1/p' "$manifest" | head -n1)"
    kind="$(sed -n 's/^kind *= *"\(.*\)"/\1/p' "$manifest" | head -n1)"
    if [[ -z "$crate" || -z "$id" || -z "$kind" ]]; then
        echo "error: $manifest or $dir/Cargo.toml lacks a name, id or kind" >&2
        exit 1
    fi
    wasm="$TARGET_DIR/wasm32-wasip2/release/${crate//-/_}.wasm"
    if [[ ! -f "$wasm" ]]; then
        echo "error: $wasm was not built (is $crate a cdylib member of plugins/Cargo.toml?)" >&2
        exit 1
    fi
    magic="$(head -c 8 "$wasm" | od -An -tx1 | tr -d ' \n')"
    if [[ "$magic" != "$COMPONENT_MAGIC" ]]; then
        echo "error: $wasm is not a WebAssembly component (header $magic)" >&2
        exit 1
    fi

    case "$dir" in
        testing/unloadable/*) dest="$UNLOADABLE_DIR/$id" ;;
        testing/*) dest="$TEST_DIR/$id" ;;
        *) dest="$OUT_DIR/$id" ;;
    esac
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$wasm" "$dest/$id.wasm"
    sha="$(sha256_of "$dest/$id.wasm")"
    {
        # The source manifest (ensuring a final newline), then the generated fields.
        sed -e '$a\' "$manifest"
        echo "component = \"$id.wasm\""
        echo "sha256 = \"$sha\""
    } >"$dest/plugin.toml"
    size="$(wc -c <"$dest/$id.wasm" | tr -d ' ')"
    printf '%-16s %-10s %10s  %s\n' "$id" "$kind" "$size" "$dest/$id.wasm"
    built=$((built + 1))
done < <(find preparers selectors evaluators deployers testing -name microlearn.toml | sort)

if [[ "$built" -eq 0 ]]; then
    echo "error: no plugin manifests (microlearn.toml) found under plugins/" >&2
    exit 1
fi
echo "built $built plugins: first-party in $OUT_DIR, test-only in $TEST_DIR and $UNLOADABLE_DIR"
