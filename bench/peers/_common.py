"""What the peer runners share: reading the job, loading the two CSV files the same way for every
peer, and writing the result file that bench/automl_vs_peers.py scores.

A runner is started as `VENV/bin/python bench/peers/<peer>_runner.py JOB.json`. The job names the
train and test files, target, task, metric, budget (seconds), seed, CPU count, a scratch folder,
the peer's options and where to write the result. The result holds the test predictions (class
probabilities with their label order, or values), the fit and predict wall seconds measured
around the two calls, and the versions of the packages that did the work.
"""
import json
import os
import platform
import sys
import time
from importlib import metadata


def read_job():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} JOB.json")
    with open(sys.argv[1]) as f:
        return json.load(f)


def load_frames(job):
    """Train and test as pandas frames, typed the same way for every peer.

    The target of a classification task is read as text, so the class names the peer reports
    are exactly the strings in the file (no 0/1 → 0.0/1.0 or "01" → 1 surprises) and the scorer
    can match them to the test labels. Columns the dataset's manifest marks as timestamps are
    parsed (as naive UTC) so that each peer can expand them itself; read as text they would be
    categories with thousands of levels. pandas 3 reads text as its `str` dtype, which not every
    peer's preprocessing recognises as categorical; `object` is what they all expect."""
    import pandas as pd

    target = job["target"]
    dtype = {target: str} if job["task"] != "regression" else None
    frames = []
    for path in (job["train"], job["test"]):
        df = pd.read_csv(path, dtype=dtype)
        for col, fmt in (job.get("datetime_columns") or {}).items():
            if col in df.columns:
                df[col] = pd.to_datetime(df[col], format=fmt or None, utc=True,
                                         errors="coerce").dt.tz_localize(None)
        for col in df.columns:
            if isinstance(df[col].dtype, pd.StringDtype) or str(df[col].dtype) == "str":
                df[col] = df[col].astype(object)
        frames.append(df)
    train, test = frames
    if target not in train.columns:
        sys.exit(f"{job['train']}: no column named {target!r}")
    return train, test


def versions(*packages):
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


class Clock:
    """Wall seconds of a block: `with Clock() as c: ...; c.seconds`."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        return False


def write_result(job, *, fit_s, predict_s, versions, labels=None, proba=None, values=None,
                 details=None):
    """Write the result file atomically (rename), so a runner killed mid-write leaves none."""
    out = {"fit_s": fit_s, "predict_s": predict_s, "versions": versions,
           "details": details or {}}
    if job["task"] == "regression":
        out["values"] = [float(v) for v in values]
    else:
        out["labels"] = [str(l) for l in labels]
        out["proba"] = [[float(v) for v in row] for row in proba]
    tmp = job["out"] + ".part"
    with open(tmp, "w") as f:
        # Peers' details hold numpy scalars now and then; their plain value or text will do.
        json.dump(out, f, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    os.replace(tmp, job["out"])
