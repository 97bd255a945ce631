"""Fixtures: the real engine (the installed ``microlearn`` command) and a real server."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

import microlearn as ml
from microlearn import _engine

REPO = Path(__file__).resolve().parents[2]
TITANIC = REPO / "examples" / "data" / "titanic.csv"

# Small budgets: every fit stops after a few trials, so a test takes seconds on 2 cores.
FAST = {"budget": 20, "max_trials": 6}


@pytest.fixture(scope="session")
def titanic() -> pd.DataFrame:
    return pd.read_csv(TITANIC)


@pytest.fixture(scope="session")
def exe() -> Path:
    return ml.binary()


class Server:
    def __init__(self, url: str, key: str, proc: subprocess.Popen) -> None:
        self.url, self.key, self.proc = url, key, proc


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``microlearn serve`` on a free loopback port (port 0: the server picks and prints it)."""
    home = tmp_path_factory.mktemp("serve-home")
    key = "mlk_test_" + secrets.token_hex(16)
    # stderr to a file: a pipe nobody reads would block the server once it filled.
    log = open(home / "serve.log", "w")
    proc = subprocess.Popen(
        [
            str(ml.binary()),
            "--home",
            str(home),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-key",
            key,
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=_engine.environment(),
    )
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening on "):
            url = line.split()[-1]
            break
    if url is None:
        proc.kill()
        log.close()
        raise RuntimeError(f"microlearn serve did not start: {(home / 'serve.log').read_text()}")
    yield Server(url, key, proc)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture()
def client(server: Server) -> ml.Client:
    return ml.Client(server.url, api_key=server.key)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The command itself, as a user runs it (with the package's plugins and cache)."""
    return subprocess.run(
        [str(ml.binary()), *args], capture_output=True, text=True, env=_engine.environment()
    )


@pytest.fixture()
def cli_home(tmp_path: Path) -> str:
    return str(tmp_path / "home")


@pytest.fixture(autouse=True)
def _no_stray_data_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The engine's default data directory is ./microlearn-data: run each test in its own folder.
    monkeypatch.chdir(tmp_path)
    os.environ.pop("MICROLEARN_HOME", None)
