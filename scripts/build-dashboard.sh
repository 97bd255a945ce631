#!/usr/bin/env bash
# Build the web dashboard: dashboard/ (React + D3 + Chart.js, Vite) → dashboard/dist, which
# host/server embeds into the microlearn binary when it is compiled (its build.rs watches
# dist). Run it before `cargo build`; scripts/demo.sh and scripts/test.sh do.
#
#   scripts/build-dashboard.sh            # npm ci when the lock file changed, then vite build,
#                                         # both skipped when dist is newer than the sources
#   scripts/build-dashboard.sh --force    # rebuild anyway
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo/dashboard"

force=0
[[ "${1:-}" == "--force" ]] && force=1

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "error: Node.js 20.19+ with npm is needed to build the dashboard (https://nodejs.org, or your package manager)" >&2
    exit 1
fi
# Vite 8 needs Node 20.19+ (or 22.12+).
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)||(a===21)?0:1)'; then
    echo "error: Node.js $(node --version) is too old for the dashboard's build (Vite 8): install 20.19+ or 22.12+" >&2
    exit 1
fi

sources=(package.json package-lock.json vite.config.js index.html src public)
if [[ $force -eq 0 && -f dist/index.html && -d node_modules ]] \
    && [[ -z "$(find "${sources[@]}" -newer dist/index.html -print -quit)" ]]; then
    echo "dashboard: dist is up to date"
    exit 0
fi

# npm ci wipes node_modules, so only when the lock file is newer than the last install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "dashboard: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi
echo "dashboard: vite build"
npm run --silent build -- --logLevel warn
test -f dist/index.html || { echo "error: the build left no dashboard/dist/index.html" >&2; exit 1; }
echo "dashboard: built $(find dist -type f | wc -l | tr -d ' ') files into dashboard/dist"
