#!/usr/bin/env python3
"""Serving benchmark: single-row predict over HTTP on loopback, MicroLearn vs MLflow.

Both servers run in the same run on the same machine and score the same kind of model on
the same data: a GBDT trained on examples/data/titanic.csv.

* MicroLearn: `microlearn serve`; the dataset is uploaded, a pipeline is run through the API,
  and its refit `gbdt` model is deployed and called at POST /v1/deployments/bench/predict.
* MLflow: `mlflow models serve` (--env-manager local) of an sklearn Pipeline
  (ColumnTransformer: median imputation for numbers, most-frequent + one-hot for categories)
  ending in a LightGBM classifier, called at POST /invocations with `dataframe_records`.

The load generator is host/server/examples/loadgen.rs (keep-alive connections, fixed time,
latency percentiles measured by the client, so they include the HTTP round trip). MLflow,
LightGBM and scikit-learn come from PyPI into a virtual environment this script creates.

    python3 bench/serve_bench.py                       # creates /tmp/microlearn-serve-bench-venv
    python3 bench/serve_bench.py --venv /path/to/venv --seconds 10 --connections 1,8
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADMIN = "mlk_serve_bench_admin_key_000000"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def ensure_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"==> creating {venv} (mlflow, lightgbm, scikit-learn, pandas from PyPI)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "mlflow", "lightgbm", "scikit-learn", "pandas"], check=True)
    return py


TRAIN_MLFLOW = r"""
import sys, json, pandas as pd, mlflow.sklearn, lightgbm, sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder
from lightgbm import LGBMClassifier
data, target, out = sys.argv[1], sys.argv[2], sys.argv[3]
df = pd.read_csv(data)
y = df.pop(target)
num = [c for c in df.columns if df[c].dtype.kind in "if"]
cat = [c for c in df.columns if c not in num]
pre = ColumnTransformer([
    ("num", SimpleImputer(strategy="median"), num),
    ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat),
])
model = Pipeline([("pre", pre), ("gbdt", LGBMClassifier(n_estimators=100, num_leaves=31, verbose=-1, n_jobs=1))])
model.fit(df, y)
# cloudpickle, the classic format: MLflow 3.x defaults to skops, which refuses LightGBM types.
mlflow.sklearn.save_model(model, out, input_example=df.head(1), serialization_format="cloudpickle")
print(json.dumps({"mlflow": mlflow.__version__, "lightgbm": lightgbm.__version__, "sklearn": sklearn.__version__}))
"""


def http(method, url, body=None, key=None, ctype="application/json", timeout=60):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_http(url, secs=120):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            status, _ = http("GET", url, timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up within {secs} s")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def first_row(data: Path, target: str, schema: list) -> dict:
    with open(data, newline="") as f:
        row = next(csv.DictReader(f))
    out = {}
    for col in schema:
        name, dtype = col["name"], col["dtype"]
        if name == target:
            continue
        v = row[name]
        if v == "":
            out[name] = None
        elif dtype == "float64":
            out[name] = float(v)
        elif dtype == "int64":
            out[name] = int(float(v))
        elif dtype == "boolean":
            out[name] = v.lower() in ("true", "1", "yes")
        else:
            out[name] = v
    return out


def loadgen(url, body_file, headers, connections, seconds, fresh=False):
    cmd = [str(target_dir() / "release" / "examples" / "loadgen"), "--url", url, "--body", str(body_file),
           "--connections", str(connections), "--seconds", str(seconds), "--warmup", "1"]
    for h in headers:
        cmd += ["--header", h]
    if fresh:
        cmd.append("--fresh")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=Path("/tmp/microlearn-serve-bench-venv"))
    ap.add_argument("--data", type=Path, default=REPO / "examples" / "data" / "titanic.csv")
    ap.add_argument("--target", default="survived")
    ap.add_argument("--budget", type=float, default=15)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", default="1,2,8,32")
    ap.add_argument("--mlflow-workers", type=int, default=2, help="MLflow server worker processes (one per core here)")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]

    py = ensure_venv(args.venv)
    if not args.no_build:
        print("==> building microlearn and the load generator", flush=True)
        subprocess.run(["cargo", "build", "--release", "-p", "microlearn"], cwd=REPO, check=True)
        subprocess.run(["cargo", "build", "--release", "-p", "microlearn-server", "--example", "loadgen"], cwd=REPO, check=True)
    plugins = target_dir() / "microlearn-plugins"
    if not (plugins / "standard" / "plugin.toml").exists():
        raise SystemExit(f"no built plugins in {plugins}: run scripts/build-plugins.sh")

    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    procs = []
    try:
        # ── MLflow ────────────────────────────────────────────────────────────────────────
        print("==> training the MLflow model (sklearn Pipeline + LightGBM)", flush=True)
        versions = json.loads(subprocess.run([str(py), "-c", TRAIN_MLFLOW, str(args.data), args.target, str(work / "mlflow-model")],
                                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        mport = free_port()
        env = dict(os.environ, PATH=f"{args.venv / 'bin'}:{os.environ['PATH']}")
        mlflow_log = open(work / "mlflow.log", "w")
        procs.append(subprocess.Popen([str(args.venv / "bin" / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
                                       "-h", "127.0.0.1", "-p", str(mport), "--env-manager", "local",
                                       "-w", str(args.mlflow_workers)], env=env, stdout=mlflow_log, stderr=subprocess.STDOUT))
        # ── MicroLearn ────────────────────────────────────────────────────────────────────
        print("==> starting microlearn serve and training its model through the API", flush=True)
        menv = dict(os.environ, MICROLEARN_HOME=str(work / "home"), MICROLEARN_PLUGIN_PATH=str(plugins), MICROLEARN_ADMIN_KEY=ADMIN)
        menv.pop("MICROLEARN_LOG", None)
        ml = subprocess.Popen([str(target_dir() / "release" / "microlearn"), "serve", "--listen", "127.0.0.1:0"],
                              env=menv, stdout=subprocess.PIPE, stderr=open(work / "microlearn.log", "w"), text=True)
        procs.append(ml)
        base = None
        for line in ml.stdout:
            if line.startswith("listening on "):
                base = line.split()[-1].strip()
                break
        if not base:
            raise SystemExit("microlearn serve did not start; see " + str(work / "microlearn.log"))
        status, body = http("POST", f"{base}/v1/datasets?name={args.data.name}", args.data.read_bytes(), ADMIN, "text/csv")
        assert status in (200, 201), body
        ds = json.loads(body)
        status, body = http("POST", f"{base}/v1/pipelines", {"dataset_id": ds["id"], "target": args.target,
                                                             "budget_secs": args.budget, "refit_top": 10}, ADMIN)
        assert status == 202, body
        pl = json.loads(body)["id"]
        while True:
            p = json.loads(http("GET", f"{base}/v1/pipelines/{pl}", key=ADMIN)[1])
            if p["terminal"]:
                break
            time.sleep(0.5)
        assert p["status"] == "done", p
        lb = json.loads(http("GET", f"{base}/v1/pipelines/{pl}/leaderboard", key=ADMIN)[1])
        gbdt = [m for m in lb["models"] if m["kind"] == "gbdt"]
        assert gbdt, f"no gbdt model on the leaderboard: {[m['kind'] for m in lb['models']]}"
        model = gbdt[0]
        status, body = http("POST", f"{base}/v1/deployments", {"name": "bench", "model_id": model["model_id"]}, ADMIN)
        assert status == 201, body

        row = first_row(args.data, args.target, ds["schema"]["columns"])
        (work / "ml.json").write_text(json.dumps(row))
        (work / "mlflow.json").write_text(json.dumps({"dataframe_records": [row]}))
        wait_http(f"http://127.0.0.1:{mport}/ping")
        s1, b1 = http("POST", f"{base}/v1/deployments/bench/predict", row, ADMIN)
        s2, b2 = http("POST", f"http://127.0.0.1:{mport}/invocations", {"dataframe_records": [row]})
        assert s1 == 200 and s2 == 200, (s1, b1, s2, b2)
        print(f"    row: {json.dumps(row)}")
        print(f"    microlearn ({model['kind']}, params {json.dumps(model['params'])}): {b1.decode()[:160]}")
        print(f"    mlflow {versions['mlflow']} (lightgbm {versions['lightgbm']}, sklearn {versions['sklearn']}, {args.mlflow_workers} workers): {b2.decode()[:160]}")

        # MLflow is measured twice: with keep-alive connections, and with a fresh connection per
        # request (its keep-alive answers can wait for the client's delayed ACK); the better
        # of the two is its figure, so the comparison never rests on that artefact.
        results = []
        for c in conns:
            for name, url, body, headers, fresh in [
                ("microlearn", f"{base}/v1/deployments/bench/predict", work / "ml.json", [f"Authorization: Bearer {ADMIN}"], False),
                ("mlflow", f"http://127.0.0.1:{mport}/invocations", work / "mlflow.json", [], False),
                ("mlflow", f"http://127.0.0.1:{mport}/invocations", work / "mlflow.json", [], True),
            ]:
                how = "a fresh connection per request" if fresh else "keep-alive"
                print(f"==> {name}, {c} connection(s), {how}, {args.seconds} s", flush=True)
                r = loadgen(url, body, headers, c, args.seconds, fresh)
                r["server"] = name
                results.append(r)
                print("    " + json.dumps(r), flush=True)
        stats = json.loads(http("GET", f"{base}/v1/deployments/bench/stats", key=ADMIN)[1])["stats"]

        print()
        print("| server | connections | mode | requests/s | p50 ms | p99 ms | errors + non-2xx |")
        print("|---|---:|---|---:|---:|---:|---:|")
        for r in results:
            mode = "fresh" if r["fresh_connections"] else "keep-alive"
            print(f"| {r['server']} | {r['connections']} | {mode} | {r['rps']:.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['errors'] + r['non_2xx']} |")
        print()
        for c in conns:
            a = next(r for r in results if r["server"] == "microlearn" and r["connections"] == c)
            b = max((r for r in results if r["server"] == "mlflow" and r["connections"] == c), key=lambda r: r["rps"])
            print(f"{c} connection(s): microlearn/mlflow throughput {a['rps'] / b['rps']:.1f}x, "
                  f"p99 {a['p99_ms']:.3f} ms vs {b['p99_ms']:.3f} ms")
        print(f"microlearn server-side predict time (its own histogram): mean {stats['mean_latency_us']:.1f} µs over {stats['requests']} calls")
        print(json.dumps({"results": results, "server_mean_us": stats["mean_latency_us"], "versions": versions}))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
