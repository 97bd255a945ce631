//! `{{id}}`: a MicroLearn deployer.
//!
//! It promotes the best candidate on the primary metric when there is no deployed model, or
//! when the candidate beats the deployed one by at least `min_improvement`; otherwise it keeps
//! the current deployment. Use it with `microlearn run … --deployer {{id}}`.
//!
//! Config (JSON, every field optional): `{"min_improvement": 0.0, "canary_percent": 100}`.

use microlearn_sdk::config;
use microlearn_sdk::prelude::*;
use serde::Deserialize;

/// The JSON Schema of the configuration.
const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "min_improvement": {"type": "number", "minimum": 0, "default": 0.0},
    "canary_percent": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}
  }
}"#;

/// The configuration; `{}` means the defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How much better (in the metric's units) a candidate must be to replace the current model.
    pub min_improvement: f64,
    /// Share of traffic a newly promoted model gets.
    pub canary_percent: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_improvement: 0.0,
            canary_percent: 100,
        }
    }
}

/// The plugin.
pub struct {{Type}};

impl Deployer for {{Type}} {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "{{id}}",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Deployer,
            "{{description}}",
        )
        .with_schema(SCHEMA)
    }

    fn decide(request: &DeployRequest) -> Result<Decision, PluginError> {
        let config: Config = config::parse(&request.config)?;
        config::check_range("min_improvement", config.min_improvement, 0.0, f64::MAX)?;
        config::check_range("canary_percent", config.canary_percent, 1, 100)?;
        let name = &request.primary_metric;
        let score = |m: &ModelSummary| m.metric(name).map(|m| (m.value, m.direction));
        let best = request
            .candidates
            .iter()
            .filter_map(|c| score(c).map(|s| (c, s)))
            .reduce(|a, b| if b.1.1.better(b.1.0, a.1.0) { b } else { a });
        let Some((best, (value, direction))) = best else {
            return Err(PluginError::input(format!(
                "no candidate has the primary metric '{name}'"
            )));
        };
        let keep = |reason: String| Decision {
            action: Action::Keep,
            mode: ServingMode::Both,
            traffic_percent: 100,
            reason,
        };
        if let Some(current) = &request.current
            && let Some((current_value, _)) = score(current)
            && direction.improvement(value, current_value) < config.min_improvement
        {
            return Ok(keep(format!(
                "{} ({name} = {value:.6}) does not beat the deployed {} ({current_value:.6}) by {}",
                best.model_id, current.model_id, config.min_improvement
            )));
        }
        Ok(Decision {
            action: Action::Promote(best.model_id.clone()),
            mode: ServingMode::Both,
            traffic_percent: config.canary_percent,
            reason: format!("promoting {} ({name} = {value:.6})", best.model_id),
        })
    }
}

microlearn_sdk::export_deployer!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, rmse: f64) -> ModelSummary {
        ModelSummary {
            model_id: id.into(),
            kind: "gbdt".into(),
            metrics: vec![Metric::minimize("rmse", rmse)],
            fit_seconds: 1.0,
            size_bytes: 1,
        }
    }

    #[test]
    fn keeps_the_current_model_unless_beaten_by_the_margin() {
        let request = |config: &str| DeployRequest {
            task: Task::Regression,
            primary_metric: "rmse".into(),
            candidates: vec![model("a", 1.0), model("b", 0.9)],
            current: Some(model("old", 0.95)),
            config: config.into(),
        };
        let d = {{Type}}::decide(&request("{}")).expect("decides");
        assert_eq!(d.action, Action::Promote("b".into()));
        let d = {{Type}}::decide(&request(r#"{"min_improvement": 0.1}"#)).expect("decides");
        assert_eq!(d.action, Action::Keep);
    }
}
