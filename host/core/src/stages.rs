//! Host-side mirrors of the WIT stage records (selector, evaluator, deployer, plugin info).
//!
//! The wasmtime bindings convert to and from these, so the pipeline, the store and the API never
//! touch generated binding types. Field meanings are documented in `wit/microlearn-plugin@0.1.0`.

use crate::{Metric, ParamSpec, Params, Task};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which stage a plugin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Preparer.
    Preparer,
    /// Selector.
    Selector,
    /// Evaluator.
    Evaluator,
    /// Deployer.
    Deployer,
}

impl PluginKind {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Preparer => "preparer",
            PluginKind::Selector => "selector",
            PluginKind::Evaluator => "evaluator",
            PluginKind::Deployer => "deployer",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PluginKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "preparer" => Ok(PluginKind::Preparer),
            "selector" => Ok(PluginKind::Selector),
            "evaluator" => Ok(PluginKind::Evaluator),
            "deployer" => Ok(PluginKind::Deployer),
            other => Err(format!(
                "unknown plugin kind '{other}': expected preparer, selector, evaluator or deployer"
            )),
        }
    }
}

/// What a plugin's `describe` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Identifier.
    pub id: String,
    /// Version.
    pub version: String,
    /// Stage.
    pub kind: PluginKind,
    /// One sentence.
    pub description: String,
    /// JSON Schema of the config.
    pub config_schema: String,
}

/// Dataset statistics handed to a selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFeatures {
    /// Task.
    pub task: Task,
    /// Training rows.
    pub rows: u64,
    /// Raw feature columns.
    pub raw_features: u32,
    /// Prepared feature columns.
    pub prepared_features: u32,
    /// Raw numeric features.
    pub numeric_features: u32,
    /// Raw categorical/text features.
    pub categorical_features: u32,
    /// Raw datetime features.
    pub datetime_features: u32,
    /// Share of missing raw cells.
    pub missing_fraction: f64,
    /// Classes (0 for regression).
    pub classes: u32,
    /// Share of the rarest class (0 for regression).
    pub minority_class_fraction: f64,
}

/// Relative training cost of a model kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cost {
    /// Cheap.
    Low,
    /// Moderate.
    Medium,
    /// Expensive.
    High,
}

/// A model kind in the host's catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelKindInfo {
    /// Identifier, e.g. `gbdt`.
    pub name: String,
    /// One sentence.
    pub description: String,
    /// Supported tasks.
    pub tasks: Vec<Task>,
    /// Hyperparameter space.
    pub params: Vec<ParamSpec>,
    /// Relative cost.
    pub cost: Cost,
}

/// The machine a pipeline runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    /// CPU threads for training.
    pub cpus: u32,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// GPUs.
    pub gpus: u32,
}

/// Input of a selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionRequest {
    /// Statistics.
    pub meta: MetaFeatures,
    /// Model kinds on offer.
    pub catalogue: Vec<ModelKindInfo>,
    /// Pipeline budget, seconds.
    pub budget_seconds: f64,
    /// Hardware.
    pub hardware: Hardware,
    /// JSON config.
    pub config: String,
}

/// A ranked candidate from a selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Model kind.
    pub kind: String,
    /// Share of the search budget.
    pub budget_share: f64,
    /// Space to search.
    pub search_space: Vec<ParamSpec>,
    /// Configurations to try first.
    pub warm_starts: Vec<Params>,
    /// Why.
    pub reason: String,
}

/// Predictions handed to an evaluator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PredictionValues {
    /// One value per row.
    Values(Vec<f64>),
    /// Row-major probabilities, rows × classes.
    Probabilities(Vec<f64>),
}

/// Input of an evaluator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRequest {
    /// Task.
    pub task: Task,
    /// Class labels in index order (empty for regression).
    pub labels: Vec<String>,
    /// True values (class index as f64 for classification).
    pub y_true: Vec<f64>,
    /// Predictions.
    pub predictions: PredictionValues,
    /// Whether to compute curves and matrices.
    pub curves: bool,
    /// JSON config.
    pub config: String,
}

/// How to draw a curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CurveStyle {
    /// Joined points.
    Line,
    /// Unjoined points.
    Scatter,
}

/// A named curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Curve {
    /// Name.
    pub name: String,
    /// X label.
    pub x_label: String,
    /// Y label.
    pub y_label: String,
    /// X values (`null` where not a finite number).
    // JSON has no NaN or infinity: serde_json writes a non-finite value (a plugin may compute
    // one) as null, so the schema says so.
    #[schemars(with = "Vec<Option<f64>>")]
    pub x: Vec<f64>,
    /// Y values (`null` where not a finite number).
    #[schemars(with = "Vec<Option<f64>>")]
    pub y: Vec<f64>,
    /// Style.
    pub style: CurveStyle,
}

/// A named square matrix (e.g. confusion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LabeledMatrix {
    /// Name.
    pub name: String,
    /// Row/column labels.
    pub labels: Vec<String>,
    /// Row-major values (`null` where not a finite number).
    // JSON has no NaN or infinity: serde_json writes a non-finite value (a plugin may compute
    // one) as null, so the schema says so.
    #[schemars(with = "Vec<Option<f64>>")]
    pub values: Vec<f64>,
}

/// Output of an evaluator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
pub struct Evaluation {
    /// Metrics.
    pub metrics: Vec<Metric>,
    /// Curves.
    pub curves: Vec<Curve>,
    /// Matrices.
    pub matrices: Vec<LabeledMatrix>,
}

impl Evaluation {
    /// The metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// A deployable model, as a deployer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model id.
    pub model_id: String,
    /// Model kind.
    pub kind: String,
    /// Held-out metrics.
    pub metrics: Vec<Metric>,
    /// Training wall time, seconds.
    pub fit_seconds: f64,
    /// Bundle size, bytes.
    pub size_bytes: u64,
}

/// How a promoted model is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServingMode {
    /// REST endpoint.
    Rest,
    /// Batch only.
    Batch,
    /// Both.
    Both,
}

/// A deployer's action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeployAction {
    /// Deploy this model id.
    Promote(String),
    /// Leave things as they are.
    Keep,
}

/// Input of a deployer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// Task.
    pub task: Task,
    /// Primary metric name.
    pub primary_metric: String,
    /// Candidates, best first.
    pub candidates: Vec<ModelSummary>,
    /// Currently deployed model.
    pub current: Option<ModelSummary>,
    /// JSON config.
    pub config: String,
}

/// Output of a deployer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// What to do.
    pub action: DeployAction,
    /// How to serve.
    pub mode: ServingMode,
    /// Traffic share, 1–100.
    pub traffic_percent: u8,
    /// Why.
    pub reason: String,
}
