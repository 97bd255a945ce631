"""A client for ``microlearn serve``'s REST API, on the standard library's ``urllib``.

Errors come back as :class:`~microlearn.errors.ApiError` carrying the problem's ``type``,
``field`` and ``row``.
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import pandas as pd

from ._data import TableLike, index_of, is_polars
from ._progress import Progress, ProgressArg
from .errors import ApiError, MicroLearnError


class Client:
    """``Client("http://127.0.0.1:8080", api_key="mlk_…")``; the key defaults to
    ``MICROLEARN_API_KEY``. ``timeout`` applies to each request (not to a run's
    :meth:`Run.wait`)."""

    def __init__(self, url: str, api_key: Optional[str] = None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("MICROLEARN_API_KEY")
        self.timeout = timeout

    # -- plumbing ---------------------------------------------------------------------------

    def _open(
        self,
        method: str,
        path: str,
        *,
        body: Optional[bytes] = None,
        json_body: Any = None,
        params: Optional[dict[str, Any]] = None,
        content_type: Optional[str] = None,
        timeout: Optional[float] = None,
        accept: str = "application/json",
    ) -> Any:
        url = self.url + path
        if params:
            query = {k: v for k, v in params.items() if v is not None}
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": accept}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            raise _problem(e) from None
        except urllib.error.URLError as e:
            raise MicroLearnError(f"{method} {url}: {e.reason}") from e

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        with self._open(method, path, **kw) as resp:
            data = resp.read()
        return json.loads(data) if data else None

    # -- datasets ---------------------------------------------------------------------------

    def upload(self, data: TableLike, name: Optional[str] = None) -> str:
        """Upload a table (a file path, or a pandas/polars DataFrame sent as CSV/Parquet);
        returns the dataset id."""
        if isinstance(data, (str, os.PathLike)):
            path = Path(data)
            try:
                body = path.read_bytes()
            except OSError as e:
                raise MicroLearnError(f"{path}: {e.strerror or e}") from e
            name = name or path.name
        elif isinstance(data, pd.DataFrame):
            body = data.to_csv(index=False).encode("utf-8")
            name = name or "dataframe.csv"
        elif is_polars(data):
            buf = io.BytesIO()
            data.write_parquet(buf)
            body = buf.getvalue()
            name = name or "dataframe.parquet"
        else:
            raise TypeError(f"expected a file path or a DataFrame, got {type(data).__name__}")
        out = self._json(
            "POST",
            "/v1/datasets",
            body=body,
            params={"name": name},
            content_type="application/octet-stream",
        )
        return str(out["id"])

    def datasets(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/v1/datasets")["datasets"])

    # -- pipelines --------------------------------------------------------------------------

    def run(
        self,
        dataset_id: str,
        target: str,
        budget: Optional[float] = None,
        seed: Optional[int] = None,
        deployment: Optional[str] = None,
        **options: Any,
    ) -> "Run":
        """Start a pipeline (202: it runs in the server's worker pool). ``options`` are the
        other fields of ``POST /v1/pipelines``: task, metric, max_trials, folds, threads,
        test_fraction, test_dataset_id, preparers, selector, evaluators, deployer."""
        body: dict[str, Any] = {"dataset_id": dataset_id, "target": target}
        for key, value in (
            ("budget_secs", budget),
            ("seed", seed),
            ("deployment", deployment),
            *options.items(),
        ):
            if value is not None:
                body[key] = value
        record = self._json("POST", "/v1/pipelines", json_body=body)
        return Run(self, record)

    def pipeline(self, pipeline_id: str) -> "Run":
        """A run by its id."""
        return Run(self, self._json("GET", f"/v1/pipelines/{_seg(pipeline_id)}"))

    # -- models and deployments -------------------------------------------------------------

    def deploy(
        self, model_id: str, name: str, traffic_percent: Optional[int] = None
    ) -> dict[str, Any]:
        """Serve ``model_id`` as deployment ``name``: creates it, or replaces its model
        (``traffic_percent`` < 100 starts a canary beside the current model)."""
        try:
            self._json("GET", f"/v1/deployments/{_seg(name)}")
        except ApiError as e:
            if e.status != 404:
                raise
            if traffic_percent not in (None, 100):
                raise MicroLearnError(
                    f"deployment '{name}' does not exist yet: a canary needs a model to split "
                    "traffic with; deploy without traffic_percent first"
                ) from None
            return dict(
                self._json(
                    "POST",
                    "/v1/deployments",
                    json_body={"name": name, "model_id": model_id},
                )
            )
        body: dict[str, Any] = {"model_id": model_id}
        if traffic_percent is not None:
            body["traffic_percent"] = traffic_percent
        return dict(self._json("PUT", f"/v1/deployments/{_seg(name)}", json_body=body))

    def deployment(self, name: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/deployments/{_seg(name)}"))

    def predict(self, deployment: str, data: TableLike) -> pd.DataFrame:
        """Score rows with a deployment: a DataFrame with ``prediction`` and, for a classifier,
        ``proba_<class>`` columns, one row per input row (a pandas input keeps its index)."""
        if isinstance(data, (str, os.PathLike)):
            return self.predict_file(deployment, data)
        if is_polars(data):
            frame = data.to_pandas()
        elif isinstance(data, pd.DataFrame):
            frame = data
        else:
            raise TypeError(f"expected a DataFrame or a file path, got {type(data).__name__}")
        # pandas' JSON writer turns NaN into null and dates into ISO text, as the API expects.
        rows = json.loads(frame.to_json(orient="records", date_format="iso"))
        out = self._json(
            "POST", f"/v1/deployments/{_seg(deployment)}/predict", json_body={"rows": rows}
        )
        scored = pd.DataFrame(out["predictions"])
        index = index_of(data)
        if index is not None and len(index) == len(scored):
            scored.index = index
        scored.attrs["model_id"] = out.get("model_id")
        return scored

    def predict_file(self, deployment: str, path: Union[str, "os.PathLike[str]"]) -> pd.DataFrame:
        """Score a file with ``/batch`` (any input format the server reads)."""
        path = Path(path)
        body = path.read_bytes()
        with self._open(
            "POST",
            f"/v1/deployments/{_seg(deployment)}/batch",
            body=body,
            params={"name": path.name, "output": "csv"},
            content_type="application/octet-stream",
            accept="text/csv",
        ) as resp:
            text = resp.read()
        return pd.read_csv(io.BytesIO(text), dtype={"prediction": str})


class Run:
    """A pipeline on the server. ``record`` is its latest JSON (``GET /v1/pipelines/{id}``)."""

    def __init__(self, client: Client, record: dict[str, Any]) -> None:
        self.client = client
        self.record = record
        self.id: str = record["id"]

    @property
    def status(self) -> str:
        return str(self.record.get("status"))

    @property
    def best_model(self) -> Optional[str]:
        """The id of the model the pipeline ranked first, once it has finished."""
        return self.record.get("best_model")

    @property
    def deployment(self) -> Optional[str]:
        return self.record.get("deployment")

    def refresh(self) -> "Run":
        self.record = self.client._json("GET", f"/v1/pipelines/{_seg(self.id)}")
        return self

    def events(self, after: Optional[int] = None) -> Iterator[dict[str, Any]]:
        """The pipeline's events from the SSE stream (stored ones first, then new ones as
        they happen), ending with the ``end`` event."""
        resp = self.client._open(
            "GET",
            f"/v1/pipelines/{_seg(self.id)}/events",
            params={"after": after},
            accept="text/event-stream",
            # The stream sends a keep-alive comment every 15 s; a minute of silence is a
            # dead connection, not a long trial.
            timeout=max(self.client.timeout, 60.0),
        )
        with resp:
            kind, data = "message", []  # type: tuple[str, list[str]]
            for raw in resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        text = "\n".join(data)
                        yield {"event": kind, **_loads(text)}
                        if kind == "end":
                            return
                    kind, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))

    def wait(self, progress: ProgressArg = True, timeout: Optional[float] = None) -> "Run":
        """Follow the event stream until the pipeline ends, showing its progress; raises
        :class:`MicroLearnError` with the pipeline's error if it failed or was cancelled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        shown = Progress(progress)
        try:
            for e in self.events():
                if e["event"] != "end":
                    shown.server_event(e["event"], e.get("message", ""), e.get("data") or {})
                if deadline is not None and time.monotonic() > deadline:
                    raise MicroLearnError(f"pipeline {self.id} has not ended after {timeout} s")
        finally:
            shown.close()
        self.refresh()
        if self.status != "done":
            error = self.record.get("error") or "no error recorded"
            raise MicroLearnError(f"pipeline {self.id} {self.status}: {error}")
        return self

    def leaderboard(self) -> pd.DataFrame:
        """The ranked models: rank, model id, kind, validation score, held-out metrics
        (``test_<name>``), fit seconds, ``best``, params."""
        out = self.client._json("GET", f"/v1/pipelines/{_seg(self.id)}/leaderboard")
        rows = []
        for m in out.get("models", []):
            row: dict[str, Any] = {
                "rank": m["rank"],
                "model_id": m["model_id"],
                "kind": m["kind"],
                f"valid_{m['metric']}": m["validation_score"],
            }
            for t in m.get("test_metrics", []):
                row[f"test_{t['name']}"] = t["value"]
            row["fit_seconds"] = m.get("fit_seconds")
            row["best"] = m.get("best", False)
            row["params"] = m.get("params")
            rows.append(row)
        frame = pd.DataFrame(rows)
        return frame.set_index("rank") if rows else frame

    def trials(self) -> pd.DataFrame:
        """Every trial: number, kind, status, score, fidelity, duration, params, …"""
        out = self.client._json("GET", f"/v1/pipelines/{_seg(self.id)}/trials")
        return pd.DataFrame(out.get("trials", []))

    def cancel(self) -> "Run":
        self.record = self.client._json("POST", f"/v1/pipelines/{_seg(self.id)}/cancel")
        return self

    def __repr__(self) -> str:
        return f"Run({self.id}, {self.status})"


def _seg(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _loads(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"data": text}
    return value if isinstance(value, dict) else {"data": value}


def _problem(e: urllib.error.HTTPError) -> ApiError:
    raw = e.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = raw.decode("utf-8", "replace").strip()
        return ApiError(e.code, "about:blank", e.reason or "error", text or str(e))
    return ApiError(
        int(body.get("status", e.code)),
        str(body.get("type", "about:blank")),
        str(body.get("title", e.reason)),
        str(body.get("detail", "")),
        field=body.get("field"),
        row=body.get("row"),
        problem=body,
    )
