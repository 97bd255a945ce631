#!/usr/bin/env bash
# Property-based API tests of the real server against its own OpenAPI document: schemathesis
# generates requests for every documented operation (valid and invalid ones) and checks that
# no answer is a server error (not_a_server_error) and that every answer matches the schema
# documented for its status (response_schema_conformance). 0 failures is the bar.
#
# It starts `microlearn serve` ($MICROLEARN_BIN) on a fresh data directory and a free loopback
# port with an admin key, creates a tenant and its key through the API, uploads a small table
# from tests/data, runs a short pipeline on it (so a model and a deployment exist), then hands
# schemathesis the ids so requests reach real resources as well as missing ones.
#
# Installs nothing: schemathesis comes from $SCHEMATHESIS, else the virtual environment that
# .ci/run creates under $CARGO_TARGET_DIR (schemathesis-venv). Plugins come from
# $MICROLEARN_PLUGIN_BUILD_DIR/microlearn-plugins (scripts/build-plugins.sh).
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 20 per operation and phase)
# SCHEMATHESIS_CHECKS replaces the checks (e.g. `all`), SCHEMATHESIS_SEED the seed (1),
# SCHEMATHESIS_REPORTS adds report formats (har, ndjson) and SCHEMATHESIS_REPORT_DIR keeps them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bin="${MICROLEARN_BIN:-$target_dir/release/microlearn}"
plugins="${MICROLEARN_PLUGIN_BUILD_DIR:-$target_dir}/microlearn-plugins"
st="${SCHEMATHESIS:-$target_dir/schemathesis-venv/bin/schemathesis}"
python="$(dirname "$st")/python"
[[ -x "$python" ]] || python=python3
max_examples="${1:-20}"

[[ -x "$bin" ]] || { echo "error: no microlearn binary at $bin (set MICROLEARN_BIN)" >&2; exit 1; }
[[ -f "$plugins/standard/plugin.toml" ]] || {
    echo "error: no built plugins in $plugins (run scripts/build-plugins.sh)" >&2
    exit 1
}
if [[ ! -x "$st" ]]; then
    if [[ -n "${CI:-}" ]]; then
        echo "error: schemathesis is not installed at $st; .ci/run installs it" >&2
        exit 1
    fi
    echo "SKIPPED: schemathesis is not installed at $st (.ci/run installs it, or set SCHEMATHESIS)"
    exit 0
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

admin="mlk_schemathesis_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# Port 0: the kernel picks a free loopback port and serve prints it.
MICROLEARN_HOME="$work/home" MICROLEARN_PLUGIN_PATH="$plugins" MICROLEARN_ADMIN_KEY="$admin" \
    MICROLEARN_LOG="${MICROLEARN_LOG:-warn}" \
    "$bin" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
base=""
for _ in $(seq 1 300); do
    base="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")"
    [[ -n "$base" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$base" ]] || { echo "error: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
echo "server: $base (data in $work/home)"

# The fixture, through the API. Each call fails the script on an unexpected status.
api() { # METHOD PATH KEY [curl args...] -> body on stdout
    local method="$1" path="$2" key="$3"
    shift 3
    local out status
    out="$(mktemp -p "$work")"
    status="$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $key" "$@" "$base$path")"
    if [[ "$status" != 2* ]]; then
        echo "error: $method $path answered $status: $(cat "$out")" >&2
        exit 1
    fi
    cat "$out"
}
field() { "$python" -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[int(k)] if isinstance(v,list) else v[k]
print(v)' "$1"; }

tenant="fuzz"
tenant_key="$(api POST /v1/tenants "$admin" -H 'content-type: application/json' \
    -d "{\"name\": \"$tenant\", \"quotas\": {\"concurrent_pipelines\": 1}}" | field api_key.key)"
dataset_id="$(api POST '/v1/datasets?name=iris.csv' "$tenant_key" --data-binary @"$repo/tests/data/iris.csv" | field id)"
deployment="fuzz-iris"
pipeline_id="$(api POST /v1/pipelines "$tenant_key" -H 'content-type: application/json' \
    -d "{\"dataset_id\": \"$dataset_id\", \"target\": \"target\", \"budget_secs\": 15, \"max_trials\": 6, \"seed\": 1, \"deployment\": \"$deployment\"}" | field id)"
for _ in $(seq 1 240); do
    status="$(api GET "/v1/pipelines/$pipeline_id" "$tenant_key" | field status)"
    [[ "$status" == done || "$status" == failed || "$status" == cancelled ]] && break
    sleep 1
done
[[ "$status" == done ]] || { echo "error: the fixture pipeline ended $status" >&2; exit 1; }
models="$(api GET "/v1/pipelines/$pipeline_id/leaderboard" "$tenant_key" \
    | "$python" -c 'import json,sys; print(" ".join(m["model_id"] for m in json.load(sys.stdin)["models"]))')"
api GET "/v1/deployments/$deployment" "$tenant_key" >/dev/null
echo "fixture: tenant $tenant, dataset $dataset_id, pipeline $pipeline_id, deployment $deployment, models $models"

# What the DELETE passes may remove (they run last): a second dataset, a second pipeline, the
# fixture's models that no deployment serves, a plugin the tenant uploaded, a minted key and
# a tenant of their own. The fixture's other resources are never given to a DELETE.
# (Other bytes than the fixture's table, which an upload of the same bytes would return, and
# no pipeline reads it.)
head -n 101 "$repo/tests/data/iris.csv" >"$work/iris-head.csv"
doomed_dataset="$(api POST '/v1/datasets?name=iris-head.csv' "$tenant_key" --data-binary @"$work/iris-head.csv" | field id)"
doomed_pipeline="$(api POST /v1/pipelines "$tenant_key" -H 'content-type: application/json' \
    -d "{\"dataset_id\": \"$dataset_id\", \"target\": \"target\", \"budget_secs\": 5, \"max_trials\": 2, \"seed\": 2, \"deployment\": \"$deployment\"}" | field id)"
for _ in $(seq 1 120); do
    status="$(api GET "/v1/pipelines/$doomed_pipeline" "$tenant_key" | field status)"
    [[ "$status" == done || "$status" == failed || "$status" == cancelled ]] && break
    sleep 0.5
done
# Its models but the one it deployed: the other passes never deploy these (their ids are the
# first pipeline's), so a DELETE can remove them.
served="$(api GET "/v1/deployments/$deployment" "$tenant_key" | field model_id)"
doomed_models="$(api GET "/v1/pipelines/$doomed_pipeline/leaderboard" "$tenant_key" \
    | "$python" -c 'import json,sys; print(" ".join(m["model_id"] for m in json.load(sys.stdin)["models"] if m["model_id"] != sys.argv[1]))' "$served")"
api POST /v1/plugins "$tenant_key" -F "manifest=@$plugins/regression/plugin.toml" \
    -F "component=@$plugins/regression/regression.wasm" >/dev/null
doomed_key="$(api POST "/v1/tenants/$tenant/keys" "$admin" -H 'content-type: application/json' -d '{}' | field id)"
api POST /v1/tenants "$admin" -H 'content-type: application/json' -d '{"name": "doomed"}' >/dev/null
echo "for the DELETE passes: dataset $doomed_dataset, pipeline $doomed_pipeline, models $doomed_models, plugin regression, key $doomed_key, tenant doomed"

# The document schemathesis reads: the server's own, plus request examples that fit the
# fixture (rows with the iris columns for predict and batch, a short pipeline on the real
# target), so its examples phase reaches scoring and training and not only the validation
# in front of them. Only `example` members are added; every schema is the server's.
curl -sS -o "$work/openapi.server.json" "$base/v1/openapi.json"
"$python" - "$work/openapi.server.json" "$work/openapi.json" "$repo/tests/data/iris.csv" "$dataset_id" <<'EOF'
import csv, io, json, sys
doc = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[3])))
features = [c for c in rows[0] if c != "target"]
sample = [{c: float(r[c]) for c in features} for r in rows[:3]]
table = io.StringIO()
w = csv.writer(table, lineterminator="\n")
w.writerow(features)
for r in rows[:3]:
    w.writerow([r[c] for c in features])
def body(path, media):
    return doc["paths"][path]["post"]["requestBody"]["content"][media]
body("/v1/deployments/{name}/predict", "application/json")["example"] = {"rows": sample}
body("/v1/deployments/{name}/batch", "application/octet-stream")["example"] = table.getvalue()
body("/v1/datasets", "application/octet-stream")["example"] = open(sys.argv[3]).read()
for path in ["/v1/deployments/{name}/batch", "/v1/datasets"]:
    for param in doc["paths"][path]["post"].get("parameters", []):
        if param.get("in") == "query" and param["name"] == "format":
            param["example"] = "csv"
body("/v1/pipelines", "application/json")["example"] = {
    "dataset_id": sys.argv[4], "target": "target", "budget_secs": 5, "max_trials": 2, "seed": 1}
json.dump(doc, open(sys.argv[2], "w"))
EOF

# Four passes, each with one key for all its operations (schemathesis 4.32 applies a
# per-operation header to every operation):
#   tenant, admin   every operation but DELETE, with the tenant's key (all a tenant does) or
#                   the admin key (/metrics, /v1/tenants). Half the ids in paths and bodies
#                   are the fixture's, so requests reach real resources as well as missing
#                   ones.
#   tenant-delete,  the DELETE operations, last; half their ids are the sacrificial ones
#   admin-delete    made above, never the fixture's: those would remove the tenant (and its
#                   key, so every later request would be 401), the admin key, or the dataset,
#                   pipeline, models and deployment the other operations exercise.
# Values seen in answers are not reused (`extra-data-sources`) for the same reason: a DELETE
# would get the fixture's ids from a list. Generated pipelines get the real dataset but never
# its real target column, so none (with a budget of up to a day) trains; the one example
# pipeline added to the document above has a 5 s budget.
write_config() { # FILE KEY DICTIONARIES(yes|delete)
    "$python" - "$1" "$2" "$3" <<EOF
import json, sys
q = json.dumps
out = ['headers = { Authorization = %s }' % q("Bearer " + sys.argv[2])]
for phase in ["coverage", "fuzzing"]:
    out.append('[phases.%s.extra-data-sources]\nresponses = false' % phase)
ids = {
    "datasets": ["$dataset_id"],
    "pipelines": ["$pipeline_id"],
    "models": "$models".split(),
    "deployments": ["$deployment"],
    "plugins": ["standard", "portfolio", "best-model", "classification"],
    "tenants": ["$tenant", "default"],
}
def op(path, params):
    out.append('[[operations]]\ninclude-path = %s' % q(path))
    out.append('parameters = { %s }' % ", ".join(
        '%s = { dictionary = %s, probability = 0.5 }' % (q(k), q(v)) for k, v in params.items()))
if sys.argv[3] == "yes":
    for name, values in ids.items():
        out.append('[dictionaries.%s]\nvalues = %s' % (name, q(values)))
    op("/v1/datasets/{id}", {"path.id": "datasets"})
    for p in ["", "/trials", "/leaderboard", "/cancel", "/events"]:
        op("/v1/pipelines/{id}" + p, {"path.id": "pipelines"})
    op("/v1/pipelines", {"body.dataset_id": "datasets"})
    for p in ["", "/evaluation", "/bundle"]:
        op("/v1/models/{id}" + p, {"path.id": "models"})
    op("/v1/deployments", {"body.model_id": "models"})
    op("/v1/deployments/{name}", {"path.name": "deployments", "body.model_id": "models"})
    for p in ["/rollback", "/promote", "/predict", "/batch", "/stats"]:
        op("/v1/deployments/{name}" + p, {"path.name": "deployments"})
    op("/v1/plugins/{id}", {"path.id": "plugins"})
    for p in ["", "/keys"]:
        op("/v1/tenants/{name}" + p, {"path.name": "tenants"})
if sys.argv[3] == "delete":
    doomed = {
        "datasets": ["$doomed_dataset"],
        "pipelines": ["$doomed_pipeline"],
        "models": "$doomed_models".split(),
        "plugins": ["regression"],
        "tenants": ["doomed"],
        "keys": ["$doomed_key"],
        "key_tenants": ["$tenant"],
    }
    for name, values in doomed.items():
        out.append('[dictionaries.%s]\nvalues = %s' % (name, q(values)))
    op("/v1/datasets/{id}", {"path.id": "datasets"})
    op("/v1/pipelines/{id}", {"path.id": "pipelines"})
    op("/v1/models/{id}", {"path.id": "models"})
    op("/v1/plugins/{id}", {"path.id": "plugins"})
    op("/v1/tenants/{name}", {"path.name": "tenants"})
    op("/v1/tenants/{name}/keys/{key_id}", {"path.name": "key_tenants", "path.key_id": "keys"})
open(sys.argv[1], "w").write("\n".join(out) + "\n")
EOF
}

admin_ops='^/(metrics|v1/tenants.*)$'
echo "==> schemathesis $("$st" --version | awk '{print $NF}'): every operation, at most $max_examples examples each per phase"
rc=0
run_pass() { # NAME KEY DICTIONARIES FILTER...
    local name="$1" key="$2" dicts="$3"
    shift 3
    write_config "$work/$name.toml" "$key" "$dicts"
    echo "--- pass '$name'"
    set +e
    # From the temporary folder: schemathesis keeps a cache of crashes where it runs. One
    # worker: with two, its coverage phase now and then fails inside Hypothesis (a KeyError
    # in a shared cache, reported as "Inconsistent results"), which is not about the API.
    (cd "$work" && "$st" --config-file "$work/$name.toml" run "$work/openapi.json" --url "$base" "$@" \
        --checks "${SCHEMATHESIS_CHECKS:-not_a_server_error,response_schema_conformance}" \
        --phases examples,coverage,fuzzing \
        --max-examples "$max_examples" \
        --seed "${SCHEMATHESIS_SEED:-1}" \
        --generation-database none \
        --workers 1 \
        --request-timeout 30 \
        --no-color \
        --report "junit,har${SCHEMATHESIS_REPORTS:+,$SCHEMATHESIS_REPORTS}" --report-dir "$work/report-$name")
    local pass_rc=$?
    set -e
    if ((pass_rc != 0)); then rc=$pass_rc; fi
}
run_pass tenant "$tenant_key" yes --exclude-path-regex "$admin_ops" --exclude-method DELETE
run_pass admin "$admin" yes --include-path-regex "$admin_ops" --exclude-method DELETE
# Two include filters select the operations either one matches, so methods are excluded.
others=(--exclude-method GET --exclude-method POST --exclude-method PUT --exclude-method PATCH)
run_pass tenant-delete "$tenant_key" delete --exclude-path-regex "$admin_ops" "${others[@]}"
run_pass admin-delete "$admin" delete --include-path-regex "$admin_ops" "${others[@]}"

if [[ -n "${SCHEMATHESIS_REPORT_DIR:-}" ]]; then
    mkdir -p "$SCHEMATHESIS_REPORT_DIR" && cp -r "$work"/report-* "$SCHEMATHESIS_REPORT_DIR"/
fi
"$python" - "$work"/report-*/junit*.xml <<'EOF'
import sys, xml.etree.ElementTree as ET
cases = [c for path in sys.argv[1:] for c in ET.parse(path).getroot().iter("testcase")]
failed = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
skipped = sum(1 for c in cases if c.find("skipped") is not None)
print(f"schemathesis: {len(cases)} operations: {len(cases) - failed - skipped} passed, {failed} failed, {skipped} skipped")
EOF
# Reached, not only answered: every operation must have had at least one answer from past
# its lookup and validation (not 400, 401, 404, 405, 413, 415 or 422), else the fuzzing there
# only ever exercised the request checks. A table of the statuses sent back, per operation,
# shows where the requests went. One exception, named with its reason below.
"$python" - "$work/openapi.json" "$work"/report-*/har-*.json <<'EOF' || rc=1
import collections, json, re, sys, urllib.parse
doc = json.load(open(sys.argv[1]))
ops = {}
for path, methods in doc["paths"].items():
    rx = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")
    for m in methods:
        if m.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            ops[(m.upper(), path)] = rx
seen = collections.defaultdict(collections.Counter)
for har in sys.argv[2:]:
    for e in json.load(open(har))["log"]["entries"]:
        method = e["request"]["method"].upper()
        url = urllib.parse.urlsplit(e["request"]["url"]).path
        for (m, path), rx in ops.items():
            if m == method and rx.match(url):
                seen[(m, path)][e["response"]["status"]] += 1
                break
refused = {400, 401, 404, 405, 413, 415, 422}
# A plugin upload is a multipart form with a WebAssembly component: generated parts never
# form one, so every generated upload is refused (422) before it compiles. Uploads that get
# through are tested over HTTP in host/server/tests/tenancy.rs and tests/all/cluster.rs, and
# the DELETE pass removes a plugin this script uploaded.
exempt = {("POST", "/v1/plugins")}
missing = []
print(f"{'operation':<48} {'requests':>8}  statuses")
for (m, path) in sorted(ops, key=lambda k: (k[1], k[0])):
    c = seen[(m, path)]
    print(f"{m + ' ' + path:<48} {sum(c.values()):>8}  " + ", ".join(f"{s}x{n}" for s, n in sorted(c.items())))
    if (m, path) not in exempt and not any(s not in refused for s in c):
        missing.append(f"{m} {path}")
if missing:
    print("error: never reached past lookup and validation: " + "; ".join(missing), file=sys.stderr)
    sys.exit(1)
print(f"{len(ops) - len(exempt)} of the {len(ops)} operations were reached past their lookup and validation ({len(exempt)} exempt, above)")
EOF
if ((rc != 0)); then
    echo "--- server log (last 50 lines) ---" >&2
    tail -n 50 "$work/serve.err" >&2
fi
exit "$rc"
