"""MicroLearn for Python: AutoML whose pipeline stages are sandboxed WebAssembly components.

>>> import microlearn as ml
>>> m = ml.AutoML(target="survived", budget=30, seed=0)
>>> m.fit("examples/data/titanic.csv")            # or a pandas / polars DataFrame
>>> m.leaderboard()                                 # pandas DataFrame
>>> m.predict(df); m.predict_proba(df)
>>> m.save("titanic.mlbundle"); ml.load("titanic.mlbundle")

The package drives the native ``microlearn`` command that the wheel installs beside it (one
engine for the CLI, the server and Python); :class:`Client` talks to a running
``microlearn serve``. ``MicroLearnClassifier`` / ``MicroLearnRegressor`` (scikit-learn
estimators) need scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._engine import binary
from .automl import AutoML, Model, load
from .client import Client, Run
from .errors import ApiError, MicroLearnError

if TYPE_CHECKING:
    from .sklearn import MicroLearnClassifier, MicroLearnRegressor

__version__ = "0.1.0"

__all__ = [
    "AutoML",
    "ApiError",
    "Client",
    "MicroLearnClassifier",
    "MicroLearnError",
    "MicroLearnRegressor",
    "Model",
    "Run",
    "binary",
    "load",
]


def __getattr__(name: str) -> Any:
    # scikit-learn is optional: the estimators import it only when asked for.
    if name in ("MicroLearnClassifier", "MicroLearnRegressor"):
        from . import sklearn as _sk

        return getattr(_sk, name)
    raise AttributeError(f"module 'microlearn' has no attribute {name!r}")
