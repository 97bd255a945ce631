"""scikit-learn estimators over the engine: ``fit(X, y)``, ``predict``, ``predict_proba``.

They follow scikit-learn's conventions (parameters only stored by ``__init__``, fitted state in
``*_`` attributes, ``classes_``), so ``clone``, ``Pipeline``, ``GridSearchCV`` and
``cross_val_score`` work. scikit-learn is an optional dependency: ``pip install
microlearn[sklearn]``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ._progress import ProgressArg
from .automl import AutoML, Model, PluginSpec


def _frame(X: Any, names: Optional[Sequence[str]] = None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    if type(X).__module__.split(".")[0] == "polars":
        return X.to_pandas()
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional (rows × features), got shape {arr.shape}")
    cols = list(names) if names is not None else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=cols)


class _MicroLearnEstimator(BaseEstimator):
    _task: Optional[str] = None

    def __init__(
        self,
        budget: float = 30,
        seed: int = 0,
        *,
        metric: Optional[str] = None,
        max_trials: Optional[int] = None,
        folds: Optional[int] = None,
        threads: Optional[int] = None,
        test_fraction: Optional[float] = None,
        preparers: Optional[Sequence[PluginSpec]] = None,
        selector: Optional[PluginSpec] = None,
        evaluators: Optional[Sequence[PluginSpec]] = None,
        deployer: Optional[PluginSpec] = None,
        progress: ProgressArg = False,
    ) -> None:
        self.budget = budget
        self.seed = seed
        self.metric = metric
        self.max_trials = max_trials
        self.folds = folds
        self.threads = threads
        self.test_fraction = test_fraction
        self.preparers = preparers
        self.selector = selector
        self.evaluators = evaluators
        self.deployer = deployer
        self.progress = progress

    def _target_name(self, columns: Sequence[str]) -> str:
        name = "target"
        while name in columns:
            name = f"_{name}"
        return name

    def _fit(self, X: Any, y: Any, task: Optional[str]) -> "_MicroLearnEstimator":
        frame = _frame(X)
        y_arr = np.asarray(y)
        if y_arr.ndim != 1 or len(y_arr) != len(frame):
            raise ValueError(
                f"y must be 1-dimensional with one value per row of X ({len(frame)}), "
                f"got shape {y_arr.shape}"
            )
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        target = self._target_name([str(c) for c in frame.columns])
        frame = frame.assign(**{target: y_arr})
        automl = AutoML(
            target,
            budget=self.budget,
            seed=self.seed,
            task=task,
            metric=self.metric,
            max_trials=self.max_trials,
            folds=self.folds,
            threads=self.threads,
            test_fraction=self.test_fraction,
            preparers=self.preparers,
            selector=self.selector,
            evaluators=self.evaluators,
            deployer=self.deployer,
            progress=self.progress,
        )
        automl.fit(frame)
        self.automl_ = automl
        self.model_: Model = automl._model()
        return self

    def _rows(self, X: Any) -> pd.DataFrame:
        names = list(getattr(self, "feature_names_in_", []))
        frame = _frame(X, names if not isinstance(X, pd.DataFrame) else None)
        return frame

    def predict(self, X: Any) -> np.ndarray:
        """Predictions as a numpy array, one per row of ``X``."""
        return self.model_.predict(self._rows(X)).to_numpy()

    def leaderboard(self) -> pd.DataFrame:
        """The ranked models of the fit (see :meth:`AutoML.leaderboard`)."""
        return self.automl_.leaderboard()


class MicroLearnClassifier(ClassifierMixin, _MicroLearnEstimator):
    """AutoML classification as a scikit-learn estimator (binary or multiclass from ``y``)."""

    def fit(self, X: Any, y: Any) -> "MicroLearnClassifier":
        classes = np.unique(np.asarray(y))
        if len(classes) < 2:
            raise ValueError(f"y has {len(classes)} class; a classifier needs at least 2")
        self._fit(X, y, "binary" if len(classes) == 2 else "multiclass")
        by_text = dict(zip(self.model_.labels, self.model_.classes_))
        # classes_ in the engine's label order, which is predict_proba's column order.
        self.classes_ = np.asarray([by_text[label] for label in self.model_.labels])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return self.model_.predict_proba(self._rows(X)).to_numpy()


class MicroLearnRegressor(RegressorMixin, _MicroLearnEstimator):
    """AutoML regression as a scikit-learn estimator."""

    def fit(self, X: Any, y: Any) -> "MicroLearnRegressor":
        return self._fit(X, y, "regression")  # type: ignore[return-value]

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(super().predict(X), dtype=float)
