"""``AutoML`` (train, rank, predict) and ``Model`` (a bundle: predict, save, load)."""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import pandas as pd

from . import _engine
from ._data import TableLike, index_of, is_polars, to_file
from ._progress import Progress, ProgressArg
from .errors import MicroLearnError

#: A plugin for a stage: ``"id"``, ``"id:{json}"``, or ``("id", {config})``.
PluginSpec = Union[str, "tuple[str, dict[str, Any]]"]

_MAGIC = b"MLBUNDLE"


def _plugin_arg(spec: PluginSpec) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict):
        return f"{spec[0]}:{json.dumps(spec[1])}"
    raise TypeError(f"a plugin is 'id', 'id:{{json}}' or ('id', {{config}}), got {spec!r}")


def _read_header(data: bytes, origin: str) -> dict[str, Any]:
    """The bundle's JSON header (the engine validates the rest when it scores)."""
    if not data.startswith(_MAGIC):
        raise MicroLearnError(
            f"{origin} is not a MicroLearn model bundle (it does not start with MLBUNDLE)"
        )
    try:
        _version, length = struct.unpack_from("<II", data, len(_MAGIC))
        start = len(_MAGIC) + 8
        header = json.loads(data[start : start + length].decode("utf-8"))
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise MicroLearnError(f"{origin}: the bundle's header is damaged ({e})") from e
    if not isinstance(header, dict):
        raise MicroLearnError(f"{origin}: the bundle's header is not a JSON object")
    return header


def _typed_labels(labels: Sequence[str], known: Optional[Sequence[Any]]) -> dict[str, Any]:
    """Map the engine's label text back to Python values: the training target's own values
    when known (a DataFrame fit), else integers when every label is one (a 0/1 target read
    from a file reads back as 0/1, as pandas reads it), else the text."""
    if known is not None:
        out: dict[str, Any] = {}
        for v in known:
            for text in _label_texts(v):
                out.setdefault(text, v)
        if all(label in out for label in labels):
            return {label: out[label] for label in labels}
    if labels and all(re.fullmatch(r"-?\d+", label) for label in labels):
        return {label: int(label) for label in labels}
    return {label: label for label in labels}


def _label_texts(v: Any) -> list[str]:
    texts = [str(v)]
    if isinstance(v, bool):
        texts.append(str(v).lower())
    elif isinstance(v, float) and v.is_integer():
        texts.append(str(int(v)))
    elif hasattr(v, "item"):  # numpy scalars
        texts.extend(_label_texts(v.item()))
    return texts


class Model:
    """A trained model bundle (``*.mlbundle``), the same file ``microlearn run`` writes.

    ``header`` is the bundle's header (model id, kind, task, target, labels, input schema,
    held-out metrics); :meth:`predict` scores with the engine, exactly as
    ``microlearn predict`` does.
    """

    def __init__(self, bundle: bytes, origin: str = "model bundle") -> None:
        self._bundle = bundle
        self.header: dict[str, Any] = _read_header(bundle, origin)
        self._label_values = _typed_labels(self.labels, None)

    @property
    def model_id(self) -> str:
        return str(self.header.get("model_id", ""))

    @property
    def kind(self) -> str:
        return str(self.header.get("kind", ""))

    @property
    def task(self) -> str:
        """``binary``, ``multiclass`` or ``regression``."""
        return str(self.header.get("task", ""))

    @property
    def target(self) -> str:
        return str(self.header.get("target", ""))

    @property
    def labels(self) -> list[str]:
        """Class labels as the engine writes them (empty for regression)."""
        return [str(label) for label in self.header.get("labels", [])]

    @property
    def classes_(self) -> list[Any]:
        """Class labels as Python values, in the order of :meth:`predict_proba`'s columns."""
        return [self._label_values[label] for label in self.labels]

    def to_bytes(self) -> bytes:
        """The bundle's bytes."""
        return self._bundle

    def save(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Write the bundle; ``microlearn predict --model PATH`` scores with it."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self._bundle)
        os.replace(tmp, path)
        return path

    def predict_file(self, data: TableLike, output: Union[str, "os.PathLike[str]"]) -> Path:
        """Score ``data`` into ``output`` (.csv/.tsv/.json/.ndjson), byte for byte what
        ``microlearn predict --model BUNDLE DATA -o OUTPUT`` writes."""
        output = Path(output)
        with _engine.Workdir() as work:
            bundle = work.path / "model.mlbundle"
            bundle.write_bytes(self._bundle)
            file, rename = to_file(data, work.path, "rows")
            _engine.run(
                ["predict", "--model", str(bundle), str(file), "-o", str(output)],
                rename=rename,
            )
        return output

    def _scored(self, data: TableLike) -> pd.DataFrame:
        with _engine.Workdir() as work:
            out = work.path / "predictions.csv"
            self.predict_file(data, out)
            # Labels stay text here and are typed by _label_values, so "007" stays "007".
            dtype = {"prediction": str} if self.labels else None
            scored = pd.read_csv(out, dtype=dtype, keep_default_na=not self.labels)
        index = index_of(data)
        if index is not None and len(index) == len(scored):
            scored.index = index
        return scored

    def predict(self, data: TableLike) -> pd.Series:
        """Predictions, one per row, in order (class labels or numbers), named after the
        target; a pandas input keeps its index."""
        scored = self._scored(data)
        pred = scored["prediction"]
        if self.labels:
            pred = pred.map(self._label_values)
        return pred.rename(self.target or "prediction")

    def predict_proba(self, data: TableLike) -> pd.DataFrame:
        """Class probabilities: one column per class, in the order of :attr:`classes_`."""
        if not self.labels:
            raise MicroLearnError(
                f"model {self.model_id} is a {self.task} model: it has no class probabilities"
            )
        scored = self._scored(data)
        proba = scored[[f"proba_{label}" for label in self.labels]]
        proba.columns = pd.Index(self.classes_)
        return proba

    def __repr__(self) -> str:
        return f"Model({self.model_id}, {self.kind}, {self.task}, target={self.target!r})"


def load(path: Union[str, "os.PathLike[str]"]) -> Model:
    """Load a bundle written by :meth:`Model.save`, :meth:`AutoML.save` or ``microlearn run``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise MicroLearnError(f"{path}: {e.strerror or e}") from e
    return Model(data, str(path))


class AutoML:
    """Train with the MicroLearn engine: ``fit``, then ``leaderboard``, ``predict``, ``save``.

    The options are ``microlearn run``'s: ``budget`` (seconds for the whole pipeline), ``seed``,
    ``task`` (``binary``/``multiclass``/``regression``, inferred when omitted), ``metric``,
    ``max_trials``, ``folds``, ``threads``, ``test_fraction``, ``preparers``, ``selector``,
    ``evaluators``, ``deployer``, ``deployment``. Plugins are ``"id"``, ``"id:{json}"`` or
    ``("id", {config})``.

    Each fit uses a fresh temporary data directory unless ``home`` names one (then the run's
    records stay there, as with ``microlearn --home``). ``progress`` is ``True`` (stage lines
    and a search bar; tqdm when installed), ``False``, or a callable receiving every event.
    """

    def __init__(
        self,
        target: str,
        budget: float = 60,
        seed: int = 0,
        *,
        task: Optional[str] = None,
        metric: Optional[str] = None,
        max_trials: Optional[int] = None,
        folds: Optional[int] = None,
        threads: Optional[int] = None,
        test_fraction: Optional[float] = None,
        preparers: Optional[Sequence[PluginSpec]] = None,
        selector: Optional[PluginSpec] = None,
        evaluators: Optional[Sequence[PluginSpec]] = None,
        deployer: Optional[PluginSpec] = None,
        deployment: Optional[str] = None,
        home: Union[str, "os.PathLike[str]", None] = None,
        progress: ProgressArg = True,
    ) -> None:
        self.target = target
        self.budget = budget
        self.seed = seed
        self.task = task
        self.metric = metric
        self.max_trials = max_trials
        self.folds = folds
        self.threads = threads
        self.test_fraction = test_fraction
        self.preparers = preparers
        self.selector = selector
        self.evaluators = evaluators
        self.deployer = deployer
        self.deployment = deployment
        self.home = home
        self.progress = progress
        self.model_: Optional[Model] = None
        #: The engine's outcome (``microlearn run --json``) of the last fit.
        self.outcome_: Optional[dict[str, Any]] = None

    def _run_args(self, train: Path, test: Optional[Path], bundle: Path) -> list[str]:
        args = ["run", str(train), "--target", self.target, "--budget", str(self.budget)]
        args += ["--seed", str(self.seed), "--json", "--progress", "json", "-o", str(bundle)]
        for flag, value in (
            ("--task", self.task),
            ("--metric", self.metric),
            ("--max-trials", self.max_trials),
            ("--folds", self.folds),
            ("--threads", self.threads),
            ("--test-fraction", self.test_fraction),
            ("--deployment", self.deployment),
        ):
            if value is not None:
                args += [flag, str(value)]
        if test is not None:
            args += ["--test", str(test)]
        for p in self.preparers or []:
            args += ["--preparer", _plugin_arg(p)]
        for e in self.evaluators or []:
            args += ["--evaluator", _plugin_arg(e)]
        if self.selector is not None:
            args += ["--selector", _plugin_arg(self.selector)]
        if self.deployer is not None:
            args += ["--deployer", _plugin_arg(self.deployer)]
        return args

    def fit(self, data: TableLike, test: Optional[TableLike] = None) -> "AutoML":
        """Run the pipeline on ``data`` (a pandas/polars DataFrame or a file path); ``test`` is
        an optional held-out table instead of a split of ``data``. Returns ``self``."""
        known: Optional[list[Any]] = None
        if isinstance(data, pd.DataFrame) and self.target in data.columns:
            known = list(pd.unique(data[self.target].dropna()))
        elif is_polars(data) and self.target in data.columns:  # type: ignore[union-attr]
            known = data[self.target].drop_nulls().unique().to_list()  # type: ignore[index,union-attr]
        progress = Progress(self.progress)
        with _engine.Workdir() as work:
            train, rename = to_file(data, work.path, "train")
            test_file = None
            if test is not None:
                test_file, more = to_file(test, work.path, "test")
                rename = {**rename, **{k: "<test DataFrame>" for k in more}}
            bundle = work.path / "model.mlbundle"
            args = self._run_args(train, test_file, bundle)
            if self.home is not None:
                args = ["--home", str(self.home), *args]
            else:
                args = ["--home", str(work.path / "home"), *args]
            try:
                stdout = _engine.run(args, on_event=progress.handle, rename=rename)
            finally:
                progress.close()
            model = Model(bundle.read_bytes(), "the fitted model")
        self.outcome_ = json.loads(stdout)
        if isinstance(data, (str, os.PathLike)) and self.outcome_ is not None:
            self.outcome_["train"] = str(data)
        model._label_values = _typed_labels(model.labels, known)
        self.model_ = model
        return self

    def _model(self) -> Model:
        if self.model_ is None:
            raise MicroLearnError("this AutoML has not been fitted yet: call fit() first")
        return self.model_

    def leaderboard(self) -> pd.DataFrame:
        """The ranked models of the last fit: rank, model id, kind, validation score,
        held-out metrics (``test_<name>``), fit seconds, ``deployed`` (the model the deployer
        promoted) and the parameters."""
        if self.outcome_ is None:
            raise MicroLearnError("this AutoML has not been fitted yet: call fit() first")
        metric = self.outcome_.get("metric", "score")
        decision = self.outcome_.get("decision") or {}
        promoted = (decision.get("action") or {}) if isinstance(decision, dict) else {}
        promoted_id = promoted.get("promote") if isinstance(promoted, dict) else None
        rows = []
        for rank, entry in enumerate(self.outcome_.get("leaderboard", []), start=1):
            row: dict[str, Any] = {
                "rank": rank,
                "model_id": entry["model"],
                "kind": entry["kind"],
                f"valid_{metric}": entry["validation_score"],
            }
            for m in entry.get("test_metrics", []):
                row[f"test_{m['name']}"] = m["value"]
            row["fit_seconds"] = entry.get("fit_seconds")
            row["deployed"] = entry["model"] == promoted_id
            row["params"] = entry.get("params")
            rows.append(row)
        return pd.DataFrame(rows).set_index("rank")

    @property
    def classes_(self) -> list[Any]:
        return self._model().classes_

    def predict(self, data: TableLike) -> pd.Series:
        """Predictions of the best model, one per row (see :meth:`Model.predict`)."""
        return self._model().predict(data)

    def predict_proba(self, data: TableLike) -> pd.DataFrame:
        """Class probabilities of the best model (see :meth:`Model.predict_proba`)."""
        return self._model().predict_proba(data)

    def predict_file(self, data: TableLike, output: Union[str, "os.PathLike[str]"]) -> Path:
        """Score into a file, as ``microlearn predict`` does (see :meth:`Model.predict_file`)."""
        return self._model().predict_file(data, output)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Write the best model's bundle (the file ``microlearn run -o`` writes)."""
        return self._model().save(path)

    def __repr__(self) -> str:
        state = f", model={self.model_.model_id}" if self.model_ is not None else ""
        return f"AutoML(target={self.target!r}, budget={self.budget}, seed={self.seed}{state})"
