"""FLAML on one train/test pair (see _common.py for the job and result files).

AutoML(task, time_budget, metric = the dataset's metric, n_jobs = the job's CPU count, seed),
with FLAML's default estimator list; FLAML then retrains the best configuration on all
training rows (its default), which is part of the fit time."""
import os
import sys

# No __pycache__ in the source tree from the peers' interpreters.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Clock, load_frames, read_job, versions, write_result  # noqa: E402


def main():
    job = read_job()
    from flaml import AutoML

    train, test = load_frames(job)
    target = job["target"]
    x_train, y_train = train.drop(columns=[target]), train[target]
    x_test = test.drop(columns=[target], errors="ignore")

    automl = AutoML()
    with Clock() as fit:
        automl.fit(
            X_train=x_train, y_train=y_train,
            task="regression" if job["task"] == "regression" else "classification",
            metric=job["metric"], time_budget=job["budget"], n_jobs=job["cpus"],
            seed=job["seed"], verbose=0,
            log_file_name=os.path.join(job["workdir"], "flaml.log"),
        )
    with Clock() as pred:
        if job["task"] == "regression":
            values = automl.predict(x_test)
        else:
            proba = automl.predict_proba(x_test)
    details = {"best_estimator": automl.best_estimator,
               "best_config": automl.best_config,
               "best_loss_on_validation": automl.best_loss}
    vers = versions("flaml", "lightgbm", "xgboost", "scikit-learn", "pandas", "numpy")
    if job["task"] == "regression":
        write_result(job, fit_s=fit.seconds, predict_s=pred.seconds, versions=vers,
                     values=values, details=details)
    else:
        write_result(job, fit_s=fit.seconds, predict_s=pred.seconds, versions=vers,
                     labels=list(automl.classes_), proba=proba, details=details)


if __name__ == "__main__":
    main()
