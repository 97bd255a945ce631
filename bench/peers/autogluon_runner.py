"""AutoGluon-Tabular on one train/test pair (see _common.py for the job and result files).

TabularPredictor(label, problem_type = the task, eval_metric = the dataset's metric) fitted with
time_limit = the budget, presets = the job's preset (medium_quality or best_quality) and
num_cpus = the job's CPU count. The venv has LightGBM, CatBoost and XGBoost but no torch, so
AutoGluon skips its neural-network models (it logs that it does), and no ray: ray takes 5-15 s
to start on two busy cores, which AutoGluon counts against the time limit (at a 10 s budget
best_quality then has no time left at all); without it, bagged folds are fitted one after the
other, each with all the job's CPUs.

raise_on_no_models_fitted=False works around an AutoGluon 1.6 bug: best_quality first runs a
"DyStack" sub-fit on a quarter of the time; without ray that runs in-process, and when it
trains no model in its share of time it raises, the exception is caught but the predictor's
learner is left in its fitted state, and the main fit then dies with "Learner is already fit"
(seen at 5-10 s budgets on a loaded machine). With the flag, the sub-fit returns with no models,
DyStack keeps its default stacking, and the main fit runs. When the main fit trains nothing,
predicting fails and the run is recorded as failed, as it would have been."""
import os
import sys

# No __pycache__ in the source tree from the peers' interpreters.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Clock, load_frames, read_job, versions, write_result  # noqa: E402


def main():
    job = read_job()
    from autogluon.tabular import TabularPredictor

    train, test = load_frames(job)
    target = job["target"]
    x_test = test.drop(columns=[target], errors="ignore")

    predictor = TabularPredictor(
        label=target, problem_type=job["task"], eval_metric=job["metric"],
        path=os.path.join(job["workdir"], "ag-models"), verbosity=job.get("verbosity", 1),
    )
    with Clock() as fit:
        predictor.fit(train, time_limit=job["budget"], presets=job["preset"],
                      num_cpus=job["cpus"], num_gpus=0, raise_on_no_models_fitted=False)
    with Clock() as pred:
        if job["task"] == "regression":
            values = predictor.predict(x_test)
        else:
            proba = predictor.predict_proba(x_test, as_multiclass=True)
    board = predictor.leaderboard(silent=True)
    details = {"preset": job["preset"], "best_model": predictor.model_best,
               "models_trained": int(len(board)),
               "models": [str(m) for m in board["model"].tolist()]}
    vers = versions("autogluon.tabular", "autogluon.core", "lightgbm", "catboost", "xgboost",
                    "xgboost-cpu", "scikit-learn", "pandas", "numpy", "torch")
    if job["task"] == "regression":
        write_result(job, fit_s=fit.seconds, predict_s=pred.seconds, versions=vers,
                     values=values.to_numpy(), details=details)
    else:
        write_result(job, fit_s=fit.seconds, predict_s=pred.seconds, versions=vers,
                     labels=list(proba.columns), proba=proba.to_numpy(), details=details)


if __name__ == "__main__":
    main()
