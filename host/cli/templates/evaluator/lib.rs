//! `{{id}}`: a MicroLearn evaluator.
//!
//! A cost-sensitive business metric for binary classification: each false positive costs
//! `cost_fp`, each false negative `cost_fn`, and a row is predicted positive when its
//! probability reaches the cost-optimal (Bayes) threshold `cost_fp / (cost_fp + cost_fn)`.
//! The metric `expected_cost` is the mean cost per row (smaller is better), so it can be the
//! pipeline's objective: `microlearn run … --evaluator {{id}} --metric expected_cost`.
//!
//! Config (JSON, every field optional): `{"cost_fp": 1.0, "cost_fn": 5.0}`.

use microlearn_sdk::config;
use microlearn_sdk::prelude::*;
use serde::Deserialize;

/// The JSON Schema of the configuration.
const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "cost_fp": {"type": "number", "exclusiveMinimum": 0, "default": 1.0},
    "cost_fn": {"type": "number", "exclusiveMinimum": 0, "default": 5.0}
  }
}"#;

/// The configuration; `{}` means the defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Cost of one false positive.
    pub cost_fp: f64,
    /// Cost of one false negative.
    pub cost_fn: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cost_fp: 1.0,
            cost_fn: 5.0,
        }
    }
}

/// The plugin.
pub struct {{Type}};

impl Evaluator for {{Type}} {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "{{id}}",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Evaluator,
            "{{description}}",
        )
        .with_schema(SCHEMA)
    }

    fn tasks() -> Vec<Task> {
        vec![Task::Binary]
    }

    fn evaluate(request: &EvaluationRequest) -> Result<Evaluation, PluginError> {
        let config: Config = config::parse(&request.config)?;
        for (field, value) in [("cost_fp", config.cost_fp), ("cost_fn", config.cost_fn)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(PluginError::config(format!(
                    "`{field}` must be a positive number, got {value}"
                )));
            }
        }
        if request.task != Task::Binary {
            return Err(PluginError::unsupported(format!(
                "{{id}} scores binary classification, not {} tasks",
                request.task.as_str()
            )));
        }
        let Predictions::Probabilities(proba) = &request.predictions else {
            return Err(PluginError::input(
                "binary classification needs class probabilities",
            ));
        };
        let rows = request.y_true.len();
        if rows == 0 || proba.len() != rows * 2 {
            return Err(PluginError::input(format!(
                "{} probabilities for {rows} rows; expected 2 per row",
                proba.len()
            )));
        }
        let threshold = config.cost_fp / (config.cost_fp + config.cost_fn);
        let mut cost = 0.0;
        for (row, &truth) in request.y_true.iter().enumerate() {
            let positive = proba[row * 2 + 1] >= threshold;
            match (truth == 1.0, positive) {
                (false, true) => cost += config.cost_fp,
                (true, false) => cost += config.cost_fn,
                _ => {}
            }
        }
        Ok(Evaluation {
            metrics: vec![Metric::minimize("expected_cost", cost / rows as f64)],
            ..Evaluation::default()
        })
    }
}

microlearn_sdk::export_evaluator!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    fn request(y_true: Vec<f64>, p1: &[f64], config: &str) -> EvaluationRequest {
        EvaluationRequest {
            task: Task::Binary,
            labels: vec!["no".into(), "yes".into()],
            y_true,
            predictions: Predictions::Probabilities(p1.iter().flat_map(|&p| [1.0 - p, p]).collect()),
            curves: false,
            config: config.to_string(),
        }
    }

    #[test]
    fn charges_each_error_its_cost_at_the_bayes_threshold() {
        // Threshold 1 / (1 + 3) = 0.25: rows 0 and 3 are predicted positive.
        let r = request(vec![0.0, 1.0, 0.0, 1.0], &[0.3, 0.2, 0.1, 0.9], r#"{"cost_fn": 3}"#);
        let e = {{Type}}::evaluate(&r).expect("evaluates");
        // Row 0 is a false positive (1), row 1 a false negative (3): 4 / 4 rows.
        assert_eq!(e.metric("expected_cost").expect("metric").value, 1.0);
    }

    #[test]
    fn rejects_a_non_positive_cost() {
        let r = request(vec![0.0], &[0.5], r#"{"cost_fp": 0}"#);
        assert!(matches!({{Type}}::evaluate(&r), Err(PluginError::InvalidConfig(_))));
    }
}
