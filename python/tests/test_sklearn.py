"""The scikit-learn estimators in scikit-learn's own machinery."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import microlearn as ml

FAST = {"budget": 20, "max_trials": 4}


def test_params_round_trip_and_clone() -> None:
    est = ml.MicroLearnClassifier(budget=5, seed=3, metric="log_loss")
    params = est.get_params()
    assert params["budget"] == 5 and params["seed"] == 3 and params["metric"] == "log_loss"
    est.set_params(budget=7, max_trials=2)
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    assert twin.get_params()["max_trials"] == 2


def test_classifier_in_cross_val_score() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    scores = cross_val_score(ml.MicroLearnClassifier(seed=0, **FAST), X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.85, scores


def test_classifier_classes_and_probabilities_with_text_labels() -> None:
    iris = load_iris(as_frame=True)
    X = iris.data
    y = iris.target.map(dict(enumerate(iris.target_names)))
    est = ml.MicroLearnClassifier(seed=0, **FAST).fit(X, y)
    assert sorted(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert est.n_features_in_ == 4 and list(est.feature_names_in_) == list(X.columns)
    proba = est.predict_proba(X)
    assert proba.shape == (150, 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    pred = est.predict(X)
    # predict is the argmax of predict_proba in classes_ order.
    assert (est.classes_[proba.argmax(axis=1)] == pred).all()
    assert est.score(X, y) > 0.9


def test_regressor_in_a_pipeline_on_numpy_arrays() -> None:
    X, y = load_diabetes(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), ml.MicroLearnRegressor(seed=0, **FAST))
    pipe.fit(X[:300], y[:300])
    pred = pipe.predict(X[300:])
    assert pred.dtype == float and pred.shape == (142,)
    assert pipe.score(X[300:], y[300:]) > 0.3
    assert isinstance(pipe[-1].leaderboard(), pd.DataFrame)
