"""ml.Client against a real `microlearn serve` started on a free loopback port."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import TITANIC

import microlearn as ml


def test_upload_run_wait_leaderboard_trials_predict_deploy(
    client: ml.Client, titanic: pd.DataFrame
) -> None:
    dataset = client.upload(TITANIC)
    assert dataset.startswith("ds_")
    events: list[dict] = []
    run = client.run(
        dataset, target="survived", budget=20, seed=0, deployment="titanic", max_trials=6
    )
    assert run.wait(progress=events.append) is run
    assert run.status == "done"
    kinds = [e["event"] for e in events]
    assert kinds.count("stage_finished") == 7 and kinds.count("trial_finished") == 6

    board = run.leaderboard()
    assert len(board) >= 1 and board["best"].sum() == 1
    assert board.loc[1, "model_id"] == run.best_model
    assert "valid_roc_auc" in board and "test_roc_auc" in board
    trials = run.trials()
    assert len(trials) == 6 and set(trials["status"]) <= {"complete", "pruned", "failed"}

    # The pipeline's deployer promoted its best model to "titanic".
    # The API takes the model's input columns only (the CLI's predict ignores extra ones).
    rows = titanic.head(10).drop(columns=["survived"])
    scored = client.predict("titanic", rows)
    assert list(scored.columns) == ["prediction", "proba_died", "proba_survived"]
    assert len(scored) == 10 and set(scored["prediction"]) <= {"died", "survived"}
    assert scored.attrs["model_id"] == run.best_model
    # A file goes through /batch and scores the same rows the same way.
    batch = client.predict_file("titanic", TITANIC)
    assert len(batch) == len(titanic)
    assert batch["prediction"].head(10).tolist() == scored["prediction"].tolist()

    # A second deployment of the runner-up, then a canary of it on "titanic".
    assert len(board) >= 2, board
    other = board["model_id"].iloc[1]
    created = client.deploy(other, "titanic-b")
    assert created["name"] == "titanic-b"
    canary = client.deploy(other, "titanic", traffic_percent=10)
    assert canary["name"] == "titanic" and other in json.dumps(canary)
    with pytest.raises(ml.MicroLearnError, match="does not exist yet"):
        client.deploy(other, "nothing-yet", traffic_percent=10)


def test_problems_become_exceptions_with_type_field_and_row(
    client: ml.Client, titanic: pd.DataFrame
) -> None:
    dataset = client.upload(titanic, name="titanic.csv")
    with pytest.raises(ml.ApiError) as e:
        client.run(dataset, target="survivd", budget=5)
    assert e.value.status == 422 and e.value.field == "target"
    assert e.value.type.startswith("urn:microlearn:problem:")
    assert "survivd" in e.value.detail

    with pytest.raises(ml.ApiError) as e:
        client.predict("no-such-deployment", titanic.head(2))
    assert e.value.status == 404 and e.value.kind == "not-found"

    run = client.run(
        dataset, target="survived", budget=20, seed=0, deployment="rows", max_trials=3
    ).wait(progress=False)
    assert run.status == "done"
    bad = titanic.head(3).drop(columns=["survived"]).astype(object)
    bad.loc[2, "age"] = "old"
    with pytest.raises(ml.ApiError) as e:
        client.predict("rows", bad)
    assert e.value.kind == "invalid-rows", e.value.problem
    assert e.value.row == 2, e.value.problem

    with pytest.raises(ml.ApiError) as e:
        ml.Client(client.url, api_key="mlk_wrong_key_123456").upload(TITANIC)
    assert e.value.status == 401


def test_wait_prints_the_stages_and_a_failed_run_raises(
    client: ml.Client,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
) -> None:
    monkeypatch.setattr("microlearn._progress._tqdm", lambda: None)
    dataset = client.upload(TITANIC)
    client.run(dataset, target="survived", budget=20, seed=1, max_trials=3).wait()
    err = capsys.readouterr().err
    for stage in ("ingest", "preparing", "optimizing", "deploying"):
        assert f"✓ {stage}: " in err, err
    assert "trial 1:" in err

    # A target with one class passes the request checks and fails in the pipeline: wait()
    # raises with the pipeline's own error.
    one_class = tmp_path / "one.csv"
    one_class.write_text("x,y\n" + "".join(f"{i},a\n" for i in range(40)))
    run = client.run(client.upload(one_class), target="y", budget=5)
    with pytest.raises(ml.MicroLearnError, match="only one class") as e:
        run.wait(progress=False)
    assert run.id in str(e.value) and "failed" in str(e.value)
