#!/usr/bin/env python3
"""Peak memory of `microlearn run` end to end on generated tables of growing size.

Usage: bench/memory_bench.sh (installs numpy, builds the binary), or python3 bench/memory_bench.py [--rows 1000000,4000000,10000000] [--cols 20]
       [--budget SECONDS] [--bin PATH] [--keep DIR] [--json OUT]

For each row count the script writes a CSV of `--cols` float features and a regression target
`y` (a fixed nonlinear function of the features plus noise, so the models have something to
learn), then runs `microlearn run FILE --target y` with the default settings (or `--budget`) in
a fresh MICROLEARN_HOME, and reads the process's peak resident set size from the kernel
(wait4's rusage, the whole process). The reference size is the table as f64 values, rows x
(cols + 1) x 8 bytes: the goal is a peak of at most 3x that, at every size, so memory grows
with the data and not faster.

Generating 10M rows writes about 2.4 GB of CSV; `--keep DIR` keeps (and reuses) the files.
The binary defaults to $MICROLEARN_BIN, else target/release/microlearn.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GOAL = 3.0


def write_csv(path, rows, cols, seed=7):
    """Write the table in chunks so this script's own memory stays small."""
    rng = np.random.default_rng(seed)
    header = ",".join([f"x{j}" for j in range(cols)] + ["y"])
    chunk = 200_000
    with open(path, "w") as f:
        f.write(header + "\n")
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            x = rng.normal(size=(n, cols))
            y = (
                2.0 * x[:, 0]
                - 1.5 * x[:, 1] * x[:, 2 % cols]
                + np.sin(3.0 * x[:, 3 % cols])
                + 0.5 * np.abs(x[:, 4 % cols])
                + rng.normal(scale=0.3, size=n)
            )
            block = np.column_stack([x, y])
            np.savetxt(f, block, fmt="%.6g", delimiter=",")
            done += n


def run(binary, csv, budget):
    home = tempfile.mkdtemp(prefix="microlearn-membench-")
    cmd = [binary, "run", csv, "--target", "y"]
    if budget is not None:
        cmd += ["--budget", str(budget)]
    env = dict(os.environ, MICROLEARN_HOME=home, NO_COLOR="1")
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out, _ = proc.communicate()
    # communicate() has reaped the child; its rusage is in the children's totals. Each size
    # runs in a fresh interpreter (see main) so the maximum is this run's own.
    import resource

    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    wall = time.monotonic() - started
    subprocess.run(["rm", "-rf", home])
    return proc.returncode, peak_kib * 1024, wall, out


def one(args):
    """Run one size in this process and print a JSON line (called by main in a subprocess)."""
    rows = args.one
    keep = args.keep or tempfile.mkdtemp(prefix="microlearn-membench-data-")
    os.makedirs(keep, exist_ok=True)
    csv = os.path.join(keep, f"mem_{rows}x{args.cols}.csv")
    if not os.path.exists(csv):
        write_csv(csv + ".tmp", rows, args.cols)
        os.replace(csv + ".tmp", csv)
    size = os.path.getsize(csv)
    code, peak, wall, out = run(args.bin, csv, args.budget)
    if not args.keep:
        os.remove(csv)
    table = rows * (args.cols + 1) * 8
    print(
        json.dumps(
            {
                "rows": rows,
                "cols": args.cols,
                "csv_bytes": size,
                "f64_table_bytes": table,
                "peak_rss_bytes": peak,
                "ratio": peak / table,
                "wall_s": wall,
                "exit": code,
                "tail": out[-1500:] if code != 0 else "",
            }
        )
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="1000000,4000000,10000000")
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--budget", type=float, default=None)
    ap.add_argument(
        "--bin",
        default=os.environ.get(
            "MICROLEARN_BIN", os.path.join(REPO, "target", "release", "microlearn")
        ),
    )
    ap.add_argument("--keep", default=None, help="folder to keep (and reuse) the CSV files in")
    ap.add_argument("--json", default=None, help="write the results here as JSON")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        return one(args)
    if not os.path.isfile(args.bin):
        sys.exit(f"{args.bin} not found: build it with `cargo build --release -p microlearn-cli`")
    results = []
    for rows in [int(r) for r in args.rows.split(",")]:
        cmd = [sys.executable, __file__, "--one", str(rows), "--cols", str(args.cols), "--bin", args.bin]
        if args.budget is not None:
            cmd += ["--budget", str(args.budget)]
        if args.keep:
            cmd += ["--keep", args.keep]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
        r = json.loads(line.splitlines()[-1])
        results.append(r)
        status = "ok" if r["exit"] == 0 else f"FAILED (exit {r['exit']})"
        print(
            f"{rows:>11,} rows x {args.cols + 1}: f64 table {r['f64_table_bytes'] / 1e6:8.0f} MB, "
            f"peak RSS {r['peak_rss_bytes'] / 1e6:8.0f} MB = {r['ratio']:4.2f}x the table "
            f"(goal <= {GOAL:.0f}x), {r['wall_s']:6.1f} s, {status}",
            flush=True,
        )
        if r["exit"] != 0:
            print(r["tail"], file=sys.stderr)
    print()
    print(f"{'rows':>11} | {'f64 table MB':>12} | {'peak RSS MB':>11} | {'peak / table':>12} | goal")
    print(f"{'-' * 11}-+-{'-' * 12}-+-{'-' * 11}-+-{'-' * 12}-+------")
    for r in results:
        print(
            f"{r['rows']:>11,} | {r['f64_table_bytes'] / 1e6:>12.0f} | "
            f"{r['peak_rss_bytes'] / 1e6:>11.0f} | {r['ratio']:>11.2f}x | <= {GOAL:.0f}x"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if any(r["exit"] != 0 for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
