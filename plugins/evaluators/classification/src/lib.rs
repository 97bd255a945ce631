//! `classification`: metrics and curves for binary and multiclass predictions.
//!
//! Metrics: `accuracy`, `balanced_accuracy`, `f1` (binary: class index 1 is positive;
//! multiclass: macro average), `roc_auc` (binary; multiclass: macro one-vs-rest), `log_loss`
//! (probabilities clipped to [1e-15, 1 − 1e-15]) and `mcc` (the multiclass generalisation).
//! With `curves`: ROC and precision–recall curves (per class one-vs-rest for multiclass),
//! a 10-bin calibration curve and the confusion matrix.

mod curves;
mod metrics;

use microlearn_sdk::prelude::*;
use microlearn_sdk::{config, log};
use serde::Deserialize;

/// The evaluator.
pub struct Classification;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_curve_points": {"type": "integer", "minimum": 2, "maximum": 10000, "default": 200,
      "description": "Most points per ROC or PR curve; longer curves are downsampled."},
    "calibration_bins": {"type": "integer", "minimum": 2, "maximum": 100, "default": 10}
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_curve_points: usize,
    calibration_bins: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_curve_points: 200,
            calibration_bins: 10,
        }
    }
}

/// Validated input: class indices and a row-major probability matrix.
pub(crate) struct Scored<'a> {
    /// True class index per row.
    pub y: Vec<usize>,
    /// Row-major probabilities, `rows × k`.
    pub proba: &'a [f64],
    /// Number of classes.
    pub k: usize,
}

impl Scored<'_> {
    pub(crate) fn rows(&self) -> usize {
        self.y.len()
    }

    pub(crate) fn row(&self, i: usize) -> &[f64] {
        &self.proba[i * self.k..(i + 1) * self.k]
    }

    /// Predicted class per row: the most probable (ties go to the lower index).
    pub(crate) fn predicted(&self) -> Vec<usize> {
        (0..self.rows())
            .map(|i| {
                let row = self.row(i);
                let mut best = 0;
                for (c, &p) in row.iter().enumerate().skip(1) {
                    if p > row[best] {
                        best = c;
                    }
                }
                best
            })
            .collect()
    }

    /// The probability column of class `c`.
    pub(crate) fn class_scores(&self, c: usize) -> Vec<f64> {
        (0..self.rows())
            .map(|i| self.proba[i * self.k + c])
            .collect()
    }
}

fn validate(request: &EvaluationRequest) -> Result<Scored<'_>, PluginError> {
    let k = request.labels.len();
    match request.task {
        Task::Binary if k != 2 => {
            return Err(PluginError::input(format!(
                "a binary task needs exactly 2 labels, got {k}"
            )));
        }
        Task::Multiclass if k < 2 => {
            return Err(PluginError::input(format!(
                "a multiclass task needs at least 2 labels, got {k}"
            )));
        }
        Task::Regression => {
            return Err(PluginError::unsupported(
                "the classification evaluator does not score regression; use `regression`",
            ));
        }
        _ => {}
    }
    let Predictions::Probabilities(proba) = &request.predictions else {
        return Err(PluginError::input(
            "classification needs class probabilities, got one value per row",
        ));
    };
    let rows = request.y_true.len();
    if rows == 0 {
        return Err(PluginError::input("there are no rows to evaluate"));
    }
    if proba.len() != rows * k {
        return Err(PluginError::input(format!(
            "expected {rows} rows × {k} labels = {} probabilities, got {}",
            rows * k,
            proba.len()
        )));
    }
    let mut y = Vec::with_capacity(rows);
    for (i, &t) in request.y_true.iter().enumerate() {
        if !(t.is_finite() && t >= 0.0 && t.fract() == 0.0 && (t as usize) < k) {
            return Err(PluginError::row(
                i,
                format!("y_true is {t}; expected a class index from 0 to {}", k - 1),
            ));
        }
        y.push(t as usize);
    }
    if let Some(pos) = proba.iter().position(|p| !p.is_finite()) {
        return Err(PluginError::row(
            pos / k,
            format!(
                "probability of class '{}' is {}",
                request.labels[pos % k],
                proba[pos]
            ),
        ));
    }
    Ok(Scored { y, proba, k })
}

impl Evaluator for Classification {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "classification",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Evaluator,
            "Classification metrics with ROC, PR and calibration curves and a confusion matrix.",
        )
        .with_schema(SCHEMA)
    }

    fn tasks() -> Vec<Task> {
        vec![Task::Binary, Task::Multiclass]
    }

    fn evaluate(request: &EvaluationRequest) -> Result<Evaluation, PluginError> {
        let config: Config = config::parse(&request.config)?;
        config::check_range("max_curve_points", config.max_curve_points, 2, 10_000)?;
        config::check_range("calibration_bins", config.calibration_bins, 2, 100)?;
        let scored = validate(request)?;
        let predicted = scored.predicted();
        let confusion = metrics::confusion(&scored.y, &predicted, scored.k);

        let mut out = Evaluation::default();
        out.metrics.push(Metric::maximize(
            "accuracy",
            metrics::accuracy(&confusion, scored.k),
        ));
        out.metrics.push(Metric::maximize(
            "balanced_accuracy",
            metrics::balanced_accuracy(&confusion, scored.k),
        ));
        let f1 = if request.task == Task::Binary {
            metrics::f1_binary(&confusion)
        } else {
            metrics::f1_macro(&confusion, scored.k)
        };
        out.metrics.push(Metric::maximize("f1", f1));
        let auc = if request.task == Task::Binary {
            metrics::roc_auc(&scored.class_scores(1), &scored.y, 1)
        } else {
            metrics::roc_auc_ovr_macro(&scored)
        };
        match auc {
            Some(auc) => out.metrics.push(Metric::maximize("roc_auc", auc)),
            // Undefined when y_true holds a single class; a NaN would poison comparisons.
            None => log::warn!("roc_auc is undefined: y_true holds a single class"),
        }
        out.metrics
            .push(Metric::minimize("log_loss", metrics::log_loss(&scored)));
        out.metrics
            .push(Metric::maximize("mcc", metrics::mcc(&confusion, scored.k)));

        if request.curves {
            curves::add_curves(
                &mut out,
                &scored,
                &request.labels,
                request.task,
                &config_limits(&config),
            );
            out.matrices.push(Matrix {
                name: "confusion".into(),
                labels: request.labels.clone(),
                values: confusion.iter().map(|&c| c as f64).collect(),
            });
        }
        Ok(out)
    }
}

fn config_limits(c: &Config) -> curves::Limits {
    curves::Limits {
        max_points: c.max_curve_points,
        calibration_bins: c.calibration_bins,
    }
}

microlearn_sdk::export_evaluator!(Classification);

#[cfg(test)]
mod tests;
