"""ml.AutoML and ml.Model against the real engine on examples/data/titanic.csv."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from conftest import FAST, TITANIC, run_cli

import microlearn as ml
from microlearn import _engine

STAGES = ["ingest", "preparing", "selecting", "optimizing", "training", "evaluating", "deploying"]


def test_the_installed_wheel_carries_the_command_and_the_plugins() -> None:
    exe = ml.binary()
    # The wheel's own command, not a checkout's build (CI runs this without MICROLEARN_BIN).
    assert exe.parent == Path(sysconfig.get_path("scripts")), exe
    plugins = _engine.plugin_dir(exe)
    assert plugins is not None, "the wheel installed no plugins beside the command"
    ids = {p.parent.name for p in plugins.glob("*/plugin.toml")}
    assert {"standard", "portfolio", "classification", "regression", "best-model"} <= ids
    # The bare command finds them too (no MICROLEARN_PLUGIN_PATH): share/microlearn/plugins.
    listed = run_cli("plugin", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "standard" in listed.stdout and "best-model" in listed.stdout


def test_three_lines_train_rank_and_predict_on_a_pandas_frame(titanic: pd.DataFrame) -> None:
    m = ml.AutoML(target="survived", seed=0, progress=False, **FAST)
    assert m.fit(titanic) is m
    board = m.leaderboard()
    assert len(board) >= 1
    assert {"model_id", "kind", "valid_roc_auc", "test_roc_auc", "test_accuracy"} <= set(board)
    assert board["deployed"].sum() == 1
    assert board.index.tolist() == list(range(1, len(board) + 1))
    assert board["test_roc_auc"].iloc[0] > 0.75

    pred = m.predict(titanic)
    assert isinstance(pred, pd.Series) and pred.name == "survived"
    assert len(pred) == len(titanic) and pred.index.equals(titanic.index)
    assert set(pred.unique()) <= {"died", "survived"}
    assert (pred == titanic["survived"]).mean() > 0.75

    proba = m.predict_proba(titanic)
    assert list(proba.columns) == ["died", "survived"] == m.classes_
    assert proba.sum(axis=1).sub(1).abs().max() < 1e-9
    # The predicted class is the most probable one.
    assert (proba.idxmax(axis=1) == pred).all()


def test_a_frame_keeps_its_index_and_its_labels_type(titanic: pd.DataFrame) -> None:
    frame = titanic.assign(survived=titanic["survived"].map({"died": 0, "survived": 1}))
    frame.index = frame.index + 1000
    m = ml.AutoML(target="survived", seed=1, progress=False, **FAST).fit(frame)
    pred = m.predict(frame.head(20))
    assert pred.index.tolist() == list(range(1000, 1020))
    # A 0/1 target comes back as the numbers 0/1, not as the engine's label text "0"/"1".
    assert set(pred) <= {0, 1} and all(not isinstance(v, str) for v in pred)
    assert list(m.predict_proba(frame.head(3)).columns) == [0, 1]


def test_polars_frames_and_file_paths(titanic: pd.DataFrame) -> None:
    frame = pl.read_csv(TITANIC)
    m = ml.AutoML(target="survived", seed=0, progress=False, **FAST).fit(frame)
    from_polars = m.predict(frame)
    from_path = m.predict(TITANIC)
    assert len(from_polars) == frame.height
    assert from_polars.tolist() == from_path.tolist()
    # Parquet (from polars) and CSV (a path) give the same probabilities for the same rows.
    a, b = m.predict_proba(frame), m.predict_proba(str(TITANIC))
    assert (a.to_numpy() - b.to_numpy()).__abs__().max() < 1e-12


def test_bundles_are_interchangeable_with_the_cli(tmp_path: Path, cli_home: str) -> None:
    # Python trains and saves; `microlearn predict` scores with that file.
    m = ml.AutoML(target="survived", seed=0, progress=False, **FAST).fit(TITANIC)
    saved = m.save(tmp_path / "py.mlbundle")
    assert saved.read_bytes() == m.model_.to_bytes()
    cli = run_cli(
        "--home",
        cli_home,
        "predict",
        "--model",
        str(saved),
        str(TITANIC),
        "-o",
        str(tmp_path / "cli.csv"),
    )
    assert cli.returncode == 0, cli.stderr
    m.predict_file(TITANIC, tmp_path / "py.csv")
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    expected = pd.read_csv(tmp_path / "cli.csv")
    assert m.predict(TITANIC).tolist() == expected["prediction"].tolist()
    assert (m.predict_proba(TITANIC)["survived"] == expected["proba_survived"]).all()

    # The CLI trains and writes; ml.load scores with that file, identically.
    out = tmp_path / "cli.mlbundle"
    run = run_cli(
        "--home",
        cli_home,
        "run",
        str(TITANIC),
        "-t",
        "survived",
        "--budget",
        "20",
        "--max-trials",
        "6",
        "--seed",
        "3",
        "-o",
        str(out),
        "--progress",
        "none",
    )
    assert run.returncode == 0, run.stderr
    loaded = ml.load(out)
    assert loaded.target == "survived" and loaded.task == "binary"
    assert loaded.labels == ["died", "survived"] == loaded.classes_
    cli = run_cli(
        "--home",
        cli_home,
        "predict",
        "--model",
        str(out),
        str(TITANIC),
        "-o",
        str(tmp_path / "cli2.csv"),
    )
    assert cli.returncode == 0, cli.stderr
    loaded.predict_file(pd.read_csv(TITANIC), tmp_path / "py2.csv")
    assert (tmp_path / "py2.csv").read_bytes() == (tmp_path / "cli2.csv").read_bytes()
    # Saving a loaded bundle writes the same bytes the CLI wrote.
    assert loaded.save(tmp_path / "again.mlbundle").read_bytes() == out.read_bytes()


def test_progress_reports_every_stage_and_the_trials(titanic: pd.DataFrame) -> None:
    events: list[dict] = []
    ml.AutoML(target="survived", seed=0, progress=events.append, **FAST).fit(titanic)
    finished = [e["stage"] for e in events if e["event"] == "stage_finished"]
    assert finished == STAGES
    trials = [e for e in events if e["event"] == "trial"]
    assert len(trials) == FAST["max_trials"]
    assert all(t["metric"] == "roc_auc" and t["budget_secs"] > 0 for t in trials)
    assert trials[-1]["best"] is not None


def test_plain_progress_lines_without_tqdm(
    titanic: pd.DataFrame, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine without tqdm, whether or not this one has it.
    monkeypatch.setattr("microlearn._progress._tqdm", lambda: None)
    ml.AutoML(target="survived", seed=0, progress=True, **FAST).fit(titanic)
    err = capsys.readouterr().err
    for stage in STAGES:
        assert f"✓ {stage}" in err, err
    assert "trial    0" in err


def test_errors_carry_the_engines_message(titanic: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ml.MicroLearnError) as e:
        ml.AutoML(target="survivd", progress=False, **FAST).fit(titanic)
    assert "target column 'survivd' not found (did you mean 'survived'?)" in str(e.value)
    assert e.value.returncode == 1
    # A DataFrame is named as such, not by the temporary file it was handed over in.
    with pytest.raises(ml.MicroLearnError) as e:
        ml.AutoML(target="survived", progress=False, **FAST).fit(titanic.head(0))
    assert str(e.value) == "'<DataFrame>' has no data rows"

    with pytest.raises(ml.MicroLearnError, match="nowhere.csv: no such file"):
        ml.AutoML(target="survived", progress=False).fit(tmp_path / "nowhere.csv")

    m = ml.AutoML(target="survived", seed=0, progress=False, **FAST).fit(titanic)
    with pytest.raises(ml.MicroLearnError, match="'sex'"):
        m.predict(titanic.drop(columns=["sex"]))

    (tmp_path / "bad.mlbundle").write_bytes(b"not a bundle")
    with pytest.raises(ml.MicroLearnError, match="not a MicroLearn model bundle"):
        ml.load(tmp_path / "bad.mlbundle")
    with pytest.raises(ml.MicroLearnError, match="not been fitted"):
        ml.AutoML(target="survived").predict(titanic)
