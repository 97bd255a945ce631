//! `regression`: metrics and plots for real-valued predictions.
//!
//! Metrics: `rmse`, `mae`, `r2` and `mape` (a fraction, computed on the rows whose target is
//! non-zero; omitted when every target is zero). With `curves`: a residual scatter
//! (predicted vs actual − predicted) and a predicted-vs-actual scatter, each downsampled to at
//! most 500 evenly spaced rows.

use microlearn_sdk::prelude::*;
use microlearn_sdk::{config, log};
use serde::Deserialize;

/// The evaluator.
pub struct Regression;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_scatter_points": {"type": "integer", "minimum": 2, "maximum": 100000, "default": 500}
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_scatter_points: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_scatter_points: 500,
        }
    }
}

fn validate(request: &EvaluationRequest) -> Result<&[f64], PluginError> {
    if request.task != Task::Regression {
        return Err(PluginError::unsupported(format!(
            "the regression evaluator does not score {} tasks; use `classification`",
            request.task
        )));
    }
    let Predictions::Values(pred) = &request.predictions else {
        return Err(PluginError::input(
            "regression needs one predicted value per row, got class probabilities",
        ));
    };
    let rows = request.y_true.len();
    if rows == 0 {
        return Err(PluginError::input("there are no rows to evaluate"));
    }
    if pred.len() != rows {
        return Err(PluginError::input(format!(
            "expected {rows} predictions (one per row of y_true), got {}",
            pred.len()
        )));
    }
    if let Some(i) = request.y_true.iter().position(|v| !v.is_finite()) {
        return Err(PluginError::row(
            i,
            format!("y_true is {}", request.y_true[i]),
        ));
    }
    if let Some(i) = pred.iter().position(|v| !v.is_finite()) {
        return Err(PluginError::row(i, format!("prediction is {}", pred[i])));
    }
    Ok(pred)
}

/// The metrics, in order: rmse, mae, r2, then mape when defined.
pub fn metrics(y: &[f64], pred: &[f64]) -> Vec<Metric> {
    let n = y.len() as f64;
    let (mut se, mut ae, mut ape, mut nonzero, mut sum_y) = (0.0, 0.0, 0.0, 0usize, 0.0);
    for (&t, &p) in y.iter().zip(pred) {
        let e = t - p;
        se += e * e;
        ae += e.abs();
        sum_y += t;
        if t != 0.0 {
            ape += (e / t).abs();
            nonzero += 1;
        }
    }
    let mean = sum_y / n;
    let ss_tot: f64 = y.iter().map(|&t| (t - mean) * (t - mean)).sum();
    // A constant target has no variance to explain: perfect predictions score 1, others 0
    // (scikit-learn's convention), never ±inf.
    let r2 = if ss_tot == 0.0 {
        if se == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - se / ss_tot
    };
    let mut out = vec![
        Metric::minimize("rmse", (se / n).sqrt()),
        Metric::minimize("mae", ae / n),
        Metric::maximize("r2", r2),
    ];
    if nonzero > 0 {
        if nonzero < y.len() {
            log::info!("mape skips {} rows whose target is 0", y.len() - nonzero);
        }
        out.push(Metric::minimize("mape", ape / nonzero as f64));
    } else {
        log::warn!("mape is undefined: every target is 0");
    }
    out
}

/// Evenly spaced row indices, at most `max` of them.
fn sample_rows(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        (0..n).collect()
    } else {
        (0..max).map(|j| j * (n - 1) / (max - 1)).collect()
    }
}

impl Evaluator for Regression {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "regression",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Evaluator,
            "Regression metrics (RMSE, MAE, R², MAPE) with residual and predicted-vs-actual plots.",
        )
        .with_schema(SCHEMA)
    }

    fn tasks() -> Vec<Task> {
        vec![Task::Regression]
    }

    fn evaluate(request: &EvaluationRequest) -> Result<Evaluation, PluginError> {
        let config: Config = config::parse(&request.config)?;
        config::check_range("max_scatter_points", config.max_scatter_points, 2, 100_000)?;
        let pred = validate(request)?;
        let y = &request.y_true;
        let mut out = Evaluation {
            metrics: metrics(y, pred),
            ..Evaluation::default()
        };
        if request.curves {
            let rows = sample_rows(y.len(), config.max_scatter_points);
            let predicted: Vec<f64> = rows.iter().map(|&i| pred[i]).collect();
            let actual: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
            let residual: Vec<f64> = rows.iter().map(|&i| y[i] - pred[i]).collect();
            out.curves.push(Curve {
                name: "residuals".into(),
                x_label: "predicted".into(),
                y_label: "residual (actual − predicted)".into(),
                x: predicted.clone(),
                y: residual,
                style: CurveStyle::Scatter,
            });
            out.curves.push(Curve {
                name: "predicted_vs_actual".into(),
                x_label: "actual".into(),
                y_label: "predicted".into(),
                x: actual,
                y: predicted,
                style: CurveStyle::Scatter,
            });
        }
        Ok(out)
    }
}

microlearn_sdk::export_evaluator!(Regression);

#[cfg(test)]
mod tests {
    use super::*;

    fn request(y: &[f64], p: &[f64], curves: bool) -> EvaluationRequest {
        EvaluationRequest {
            task: Task::Regression,
            labels: vec![],
            y_true: y.to_vec(),
            predictions: Predictions::Values(p.to_vec()),
            curves,
            config: "{}".into(),
        }
    }

    fn value(e: &Evaluation, name: &str) -> f64 {
        e.metric(name).unwrap().value
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        // errors: 1, -2, 0, 1 → se = 6, ae = 4; mean y = 2.5, ss_tot = 5
        let e = Regression::evaluate(&request(
            &[1.0, 2.0, 3.0, 4.0],
            &[0.0, 4.0, 3.0, 3.0],
            false,
        ))
        .unwrap();
        assert!((value(&e, "rmse") - (6.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((value(&e, "mae") - 1.0).abs() < 1e-12);
        assert!((value(&e, "r2") - (1.0 - 6.0 / 5.0)).abs() < 1e-12);
        let mape = (1.0 / 1.0 + 2.0 / 2.0 + 0.0 + 1.0 / 4.0) / 4.0;
        assert!((value(&e, "mape") - mape).abs() < 1e-12);
        assert_eq!(e.metric("r2").unwrap().direction, Direction::Maximize);
        assert_eq!(e.metric("rmse").unwrap().direction, Direction::Minimize);
    }

    #[test]
    fn mape_skips_zero_targets() {
        let e = Regression::evaluate(&request(&[0.0, 2.0], &[5.0, 1.0], false)).unwrap();
        assert!((value(&e, "mape") - 0.5).abs() < 1e-12);
        let e = Regression::evaluate(&request(&[0.0, 0.0], &[5.0, 1.0], false)).unwrap();
        assert!(e.metric("mape").is_none());
    }

    #[test]
    fn constant_target_gives_finite_r2() {
        let e = Regression::evaluate(&request(&[2.0, 2.0], &[2.0, 2.0], false)).unwrap();
        assert_eq!(value(&e, "r2"), 1.0);
        let e = Regression::evaluate(&request(&[2.0, 2.0], &[1.0, 2.0], false)).unwrap();
        assert_eq!(value(&e, "r2"), 0.0);
    }

    #[test]
    fn scatter_plots_are_downsampled_to_500_points() {
        let y: Vec<f64> = (0..2000).map(f64::from).collect();
        let p: Vec<f64> = y.iter().map(|v| v + 1.0).collect();
        let e = Regression::evaluate(&request(&y, &p, true)).unwrap();
        let res = e.curve("residuals").unwrap();
        assert_eq!(res.x.len(), 500);
        assert!(res.y.iter().all(|&r| r == -1.0));
        let pva = e.curve("predicted_vs_actual").unwrap();
        assert_eq!((pva.x[0], pva.y[0]), (0.0, 1.0));
        assert_eq!(*pva.x.last().unwrap(), 1999.0);
    }

    #[test]
    fn rejects_nan_prediction_naming_row_and_length_mismatch() {
        let err = Regression::evaluate(&request(&[1.0, 2.0], &[1.0, f64::NAN], false)).unwrap_err();
        assert!(matches!(
            err,
            PluginError::InvalidInput { row: Some(1), .. }
        ));
        let err = Regression::evaluate(&request(&[1.0, 2.0], &[1.0], false)).unwrap_err();
        assert!(err.to_string().contains("expected 2 predictions"));
    }

    #[test]
    fn classification_tasks_are_unsupported() {
        let mut r = request(&[1.0], &[1.0], false);
        r.task = Task::Binary;
        assert!(matches!(
            Regression::evaluate(&r),
            Err(PluginError::Unsupported(_))
        ));
    }
}
