//! `best-model`: promote the host's best candidate (the first listed: the host ranks candidates
//! by cross-validated score) when it beats the current deployment on the held-out primary
//! metric by at least `min_improvement`; otherwise keep the current one and say why.
//!
//! Config: `{"min_improvement": 0.0, "canary_percent": 100, "mode": "rest"}`.

use microlearn_sdk::config;
use microlearn_sdk::prelude::*;
use serde::Deserialize;

/// The deployer.
pub struct BestModel;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "min_improvement": {"type": "number", "minimum": 0, "default": 0.0,
      "description": "How much better (in the metric's units) a candidate must be than the current deployment to replace it."},
    "canary_percent": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100,
      "description": "Share of traffic a promoted model receives while a model is already deployed; 100 replaces it."},
    "mode": {"enum": ["rest", "batch", "both"], "default": "rest"}
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    min_improvement: f64,
    canary_percent: u8,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Rest,
    Batch,
    Both,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_improvement: 0.0,
            canary_percent: 100,
            mode: Mode::Rest,
        }
    }
}

impl Config {
    fn parse(json: &str) -> Result<Config, PluginError> {
        let c: Config = config::parse(json)?;
        if !c.min_improvement.is_finite() || c.min_improvement < 0.0 {
            return Err(PluginError::config(format!(
                "`min_improvement` is {}; expected a finite number ≥ 0",
                c.min_improvement
            )));
        }
        config::check_range("canary_percent", c.canary_percent, 1, 100)?;
        Ok(c)
    }
}

/// Format a metric value compactly for reasons.
fn fmt_value(v: f64) -> String {
    format!("{v:.6}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

impl Deployer for BestModel {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "best-model",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Deployer,
            "Promotes the best candidate by validation score when it beats the current deployment on the held-out primary metric.",
        )
        .with_schema(SCHEMA)
    }

    fn decide(request: &DeployRequest) -> Result<Decision, PluginError> {
        let config = Config::parse(&request.config)?;
        let metric_name = request.primary_metric.as_str();
        if request.candidates.is_empty() {
            return Err(PluginError::input(
                "there are no candidate models to deploy",
            ));
        }

        // The host lists candidates best first by validation (cross-validated) score, and that
        // ranking decides: choosing among them by the held-out metric would make the held-out
        // score a biased estimate of the chosen model. The held-out metric is the yardstick
        // against the current deployment only. The first candidate with a finite primary metric
        // is the pick.
        let best: Option<(&ModelSummary, &Metric)> = request.candidates.iter().find_map(|c| {
            c.metric(metric_name)
                .filter(|m| m.value.is_finite())
                .map(|m| (c, m))
        });
        let Some((best, best_metric)) = best else {
            let available: Vec<&str> = request.candidates[0]
                .metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            return Err(PluginError::input(format!(
                "no candidate has a finite value for the primary metric `{metric_name}` (the first candidate has: {})",
                available.join(", ")
            )));
        };
        let mode = match config.mode {
            Mode::Rest => ServingMode::Rest,
            Mode::Batch => ServingMode::Batch,
            Mode::Both => ServingMode::Both,
        };
        let best_desc = format!(
            "{} ({}) with {metric_name} = {}",
            best.model_id,
            best.kind,
            fmt_value(best_metric.value)
        );

        let Some(current) = &request.current else {
            return Ok(Decision {
                action: Action::Promote(best.model_id.clone()),
                mode,
                // Nothing to split traffic with: the first deployment takes all of it.
                traffic_percent: 100,
                reason: format!("nothing is deployed yet; promoting {best_desc}"),
            });
        };
        if current.model_id == best.model_id {
            return Ok(Decision {
                action: Action::Keep,
                mode,
                traffic_percent: 100,
                reason: format!("the best candidate {best_desc} is already deployed"),
            });
        }
        let promote = |reason: String| Decision {
            action: Action::Promote(best.model_id.clone()),
            mode,
            traffic_percent: config.canary_percent,
            reason: if config.canary_percent < 100 {
                format!(
                    "{reason}; canary with {}% of traffic",
                    config.canary_percent
                )
            } else {
                reason
            },
        };
        let current_value = current
            .metric(metric_name)
            .map(|m| m.value)
            .filter(|v| v.is_finite());
        let Some(current_value) = current_value else {
            return Ok(promote(format!(
                "the current deployment {} has no finite {metric_name} to compare; promoting {best_desc}",
                current.model_id
            )));
        };
        let direction = best_metric.direction;
        let gain = direction.improvement(best_metric.value, current_value);
        let (b, c) = (fmt_value(best_metric.value), fmt_value(current_value));
        if direction.better(best_metric.value, current_value) && gain >= config.min_improvement {
            Ok(promote(format!(
                "{} beats the current deployment {} on {metric_name}: {b} vs {c} (improvement {}, required {})",
                best.model_id,
                current.model_id,
                fmt_value(gain),
                fmt_value(config.min_improvement)
            )))
        } else {
            Ok(Decision {
                action: Action::Keep,
                mode,
                traffic_percent: 100,
                reason: format!(
                    "keeping {}: the best candidate {} has {metric_name} = {b} vs the current {c} ({} is better), improvement {} is below the required {}",
                    current.model_id,
                    best.model_id,
                    match direction {
                        Direction::Maximize => "higher",
                        Direction::Minimize => "lower",
                    },
                    fmt_value(gain),
                    fmt_value(config.min_improvement)
                ),
            })
        }
    }
}

microlearn_sdk::export_deployer!(BestModel);

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, metric: Metric) -> ModelSummary {
        ModelSummary {
            model_id: id.into(),
            kind: "gbdt".into(),
            metrics: vec![metric],
            fit_seconds: 1.0,
            size_bytes: 1000,
        }
    }

    fn request(
        candidates: Vec<ModelSummary>,
        current: Option<ModelSummary>,
        config: &str,
    ) -> DeployRequest {
        DeployRequest {
            task: Task::Binary,
            primary_metric: "roc_auc".into(),
            candidates,
            current,
            config: config.into(),
        }
    }

    #[test]
    fn promotes_the_first_candidate_when_nothing_is_deployed() {
        // The host's validation ranking decides, not the held-out metric: picking by the
        // held-out rows would bias the score reported for them.
        let d = BestModel::decide(&request(
            vec![
                model("a", Metric::maximize("roc_auc", 0.80)),
                model("b", Metric::maximize("roc_auc", 0.90)),
            ],
            None,
            "{}",
        ))
        .unwrap();
        assert_eq!(d.action, Action::Promote("a".into()));
        assert_eq!(d.traffic_percent, 100);
        assert_eq!(d.mode, ServingMode::Rest);
    }

    #[test]
    fn keeps_current_when_improvement_is_below_margin_and_quotes_both_values() {
        let d = BestModel::decide(&request(
            vec![model("new", Metric::maximize("roc_auc", 0.905))],
            Some(model("old", Metric::maximize("roc_auc", 0.9))),
            r#"{"min_improvement": 0.01}"#,
        ))
        .unwrap();
        assert_eq!(d.action, Action::Keep);
        assert!(d.reason.contains("0.905"), "{}", d.reason);
        assert!(d.reason.contains("0.9 "), "{}", d.reason);
    }

    #[test]
    fn promotes_when_margin_is_met_with_canary_share() {
        let d = BestModel::decide(&request(
            vec![model("new", Metric::maximize("roc_auc", 0.95))],
            Some(model("old", Metric::maximize("roc_auc", 0.9))),
            r#"{"min_improvement": 0.01, "canary_percent": 10}"#,
        ))
        .unwrap();
        assert_eq!(d.action, Action::Promote("new".into()));
        assert_eq!(d.traffic_percent, 10);
    }

    #[test]
    fn respects_minimize_direction() {
        let rmse = |v| Metric::minimize("rmse", v);
        let mut req = request(
            vec![model("better", rmse(1.0)), model("worse", rmse(2.0))],
            Some(model("old", rmse(1.5))),
            "{}",
        );
        req.primary_metric = "rmse".into();
        let d = BestModel::decide(&req).unwrap();
        assert_eq!(d.action, Action::Promote("better".into()));

        req.current = Some(model("old", rmse(0.5)));
        assert_eq!(BestModel::decide(&req).unwrap().action, Action::Keep);
    }

    #[test]
    fn equal_score_keeps_current() {
        let d = BestModel::decide(&request(
            vec![model("new", Metric::maximize("roc_auc", 0.9))],
            Some(model("old", Metric::maximize("roc_auc", 0.9))),
            "{}",
        ))
        .unwrap();
        assert_eq!(d.action, Action::Keep);
    }

    #[test]
    fn rejects_requests_without_the_primary_metric() {
        let err = BestModel::decide(&request(
            vec![model("a", Metric::maximize("accuracy", 0.9))],
            None,
            "{}",
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("roc_auc") && msg.contains("accuracy"), "{msg}");
    }

    #[test]
    fn rejects_out_of_range_canary() {
        let err = BestModel::decide(&request(
            vec![model("a", Metric::maximize("roc_auc", 0.9))],
            None,
            r#"{"canary_percent": 0}"#,
        ))
        .unwrap_err();
        assert!(matches!(err, PluginError::InvalidConfig(_)));
    }
}
