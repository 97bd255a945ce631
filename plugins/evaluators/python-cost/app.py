"""python-cost: a MicroLearn evaluator written in Python, componentized with componentize-py.

A cost-sensitive business metric for binary classification. Each false positive costs
`cost_fp`, each false negative `cost_fn`; a row is predicted positive when its probability
reaches the cost-optimal (Bayes) threshold cost_fp / (cost_fp + cost_fn). The metric
`expected_cost` is the mean cost per row (smaller is better), so it can be the pipeline's
objective:

    microlearn run data.csv -t y --evaluator python-cost --evaluator classification \
        --metric expected_cost

Config (JSON, every field optional): {"cost_fp": 1.0, "cost_fn": 5.0}. The same metric is the
Rust evaluator template (`microlearn plugin new --kind evaluator`), which makes the two
directly comparable.
"""

import json
import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import evaluator
from wit_world.imports import host, types

VERSION = "0.1.0"

SCHEMA = json.dumps(
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "cost_fp": {"type": "number", "exclusiveMinimum": 0, "default": 1.0},
            "cost_fn": {"type": "number", "exclusiveMinimum": 0, "default": 5.0},
        },
    }
)


def _config(text):
    """Parse the JSON config; an unknown key or a non-positive cost is an invalid-config error."""
    try:
        raw = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise Err(types.PluginError_InvalidConfig(f"config is not JSON: {e}"))
    if not isinstance(raw, dict):
        raise Err(types.PluginError_InvalidConfig("config must be a JSON object"))
    unknown = sorted(set(raw) - {"cost_fp", "cost_fn"})
    if unknown:
        raise Err(types.PluginError_InvalidConfig(f"unknown field `{unknown[0]}`"))
    costs = {"cost_fp": 1.0, "cost_fn": 5.0}
    for key in costs:
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Err(types.PluginError_InvalidConfig(f"`{key}` must be a number"))
            if not (math.isfinite(value) and value > 0):
                raise Err(
                    types.PluginError_InvalidConfig(f"`{key}` must be positive, got {value}")
                )
            costs[key] = float(value)
    return costs["cost_fp"], costs["cost_fn"]


def _input_error(message):
    return Err(types.PluginError_InvalidInput(types.InputProblem(None, None, message)))


class Evaluator(exports.Evaluator):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            id="python-cost",
            version=VERSION,
            kind=types.PluginKind.EVALUATOR,
            description="Expected misclassification cost per row (cost-sensitive), in Python.",
            config_schema=SCHEMA,
        )

    def tasks(self):
        return [types.Task.BINARY]

    def evaluate(self, request: evaluator.EvaluationRequest) -> evaluator.Evaluation:
        cost_fp, cost_fn = _config(request.config)
        if request.task != types.Task.BINARY:
            raise Err(types.PluginError_Unsupported("python-cost scores binary tasks only"))
        if not isinstance(request.predictions, evaluator.Predictions_Probabilities):
            raise _input_error("binary classification needs class probabilities")
        proba = request.predictions.value
        y_true = request.y_true
        rows = len(y_true)
        if rows == 0 or len(proba) != 2 * rows:
            raise _input_error(f"{len(proba)} probabilities for {rows} rows; expected 2 per row")
        threshold = cost_fp / (cost_fp + cost_fn)
        # Column 1 of the row-major probabilities is the positive class.
        positive = proba[1::2]
        fp = sum(1 for t, p in zip(y_true, positive) if t != 1.0 and p >= threshold)
        fn = sum(1 for t, p in zip(y_true, positive) if t == 1.0 and p < threshold)
        host.log(host.LogLevel.DEBUG, f"{fp} false positives, {fn} false negatives")
        value = (fp * cost_fp + fn * cost_fn) / rows
        return evaluator.Evaluation(
            metrics=[types.Metric("expected_cost", value, types.Direction.MINIMIZE)],
            curves=[],
            matrices=[],
        )
