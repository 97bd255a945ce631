//! What a pipeline run is asked to do.

use microlearn_core::Task;
use serde::{Deserialize, Serialize};

/// A plugin to use in a stage, with its JSON configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRef {
    /// Plugin id.
    pub id: String,
    /// JSON configuration (`{}` for the plugin's defaults).
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl PluginRef {
    /// A plugin with default configuration.
    pub fn new(id: &str) -> Self {
        PluginRef {
            id: id.into(),
            config: empty_object(),
        }
    }

    /// Parse `ID` or `ID:JSON` (as given on the command line).
    pub fn parse(spec: &str) -> Result<Self, String> {
        match spec.split_once(':') {
            None => Ok(PluginRef::new(spec)),
            Some((id, json)) => {
                let config: serde_json::Value = serde_json::from_str(json)
                    .map_err(|e| format!("plugin '{id}': config is not valid JSON: {e}"))?;
                if !config.is_object() {
                    return Err(format!("plugin '{id}': config must be a JSON object"));
                }
                Ok(PluginRef {
                    id: id.into(),
                    config,
                })
            }
        }
    }

    pub(crate) fn config_string(&self) -> String {
        self.config.to_string()
    }
}

/// The configuration of one pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Target column.
    pub target: String,
    /// Task; inferred from the target when `None`.
    pub task: Option<Task>,
    /// Wall-clock budget for the whole pipeline, seconds.
    pub budget_secs: f64,
    /// Seed for splits, sampling and training.
    pub seed: u64,
    /// Share of rows held out for the final evaluation (ignored with a separate test file).
    pub test_fraction: f64,
    /// Share of the training rows used to score trials.
    pub validation_fraction: f64,
    /// Stop after this many trials (with a seed, makes runs reproducible).
    pub max_trials: Option<usize>,
    /// Cross-validation folds for scoring trials: `None` chooses by data size and budget
    /// (k-fold for data a search can afford to fit k times, else one holdout of
    /// `validation_fraction`), `Some(1)` forces the holdout, `Some(k)` k folds.
    #[serde(default)]
    pub folds: Option<usize>,
    /// CPU threads for training (default: all).
    pub threads: Option<usize>,
    /// Preparer chain, applied in order.
    pub preparers: Vec<PluginRef>,
    /// Selector.
    pub selector: PluginRef,
    /// Evaluators; empty = every installed evaluator that supports the task.
    pub evaluators: Vec<PluginRef>,
    /// Deployer.
    pub deployer: PluginRef,
    /// Deployment name; default `<dataset stem>-<target>`.
    pub deployment: Option<String>,
    /// Objective metric; default by task (roc_auc, log_loss, rmse).
    pub metric: Option<String>,
    /// How many of the best model kinds to refit and evaluate.
    pub refit_top: usize,
    /// Tenant.
    pub tenant: String,
}

impl PipelineConfig {
    /// Defaults for `target`.
    pub fn new(target: &str) -> Self {
        PipelineConfig {
            target: target.into(),
            task: None,
            budget_secs: 60.0,
            seed: 0,
            test_fraction: 0.25,
            validation_fraction: 0.2,
            max_trials: None,
            folds: None,
            threads: None,
            preparers: vec![PluginRef::new("standard")],
            selector: PluginRef::new("portfolio"),
            evaluators: vec![],
            deployer: PluginRef::new("best-model"),
            deployment: None,
            metric: None,
            refit_top: 3,
            tenant: microlearn_store::DEFAULT_TENANT.into(),
        }
    }

    /// Check ranges before anything runs.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.budget_secs.is_finite() && self.budget_secs > 0.0) {
            return Err(format!(
                "budget must be a positive number of seconds, got {}",
                self.budget_secs
            ));
        }
        if !(0.05..=0.5).contains(&self.test_fraction) {
            return Err(format!(
                "test fraction must be within 0.05..=0.5, got {}",
                self.test_fraction
            ));
        }
        if !(0.05..=0.5).contains(&self.validation_fraction) {
            return Err(format!(
                "validation fraction must be within 0.05..=0.5, got {}",
                self.validation_fraction
            ));
        }
        if self.max_trials == Some(0) {
            return Err("max trials must be at least 1".into());
        }
        if self.threads == Some(0) {
            return Err("threads must be at least 1".into());
        }
        if self.preparers.is_empty() {
            return Err("at least one preparer is needed (e.g. standard)".into());
        }
        if self.folds == Some(0) || self.folds.is_some_and(|k| k > 20) {
            return Err(format!(
                "folds must be between 1 (holdout) and 20, got {}",
                self.folds.unwrap_or(0)
            ));
        }
        if self.refit_top == 0 {
            return Err("refit_top must be at least 1".into());
        }
        Ok(())
    }
}

/// The default objective for a task.
pub fn default_metric(task: Task) -> &'static str {
    match task {
        Task::Binary => "roc_auc",
        Task::Multiclass => "log_loss",
        Task::Regression => "rmse",
    }
}
