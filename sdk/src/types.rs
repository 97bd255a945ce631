//! Plain Rust mirrors of the records shared by every stage (`microlearn:plugin/types`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The learning task of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Two classes; class index 1 is the positive class.
    Binary,
    /// Three or more classes.
    Multiclass,
    /// A real-valued target.
    Regression,
}

impl Task {
    /// Whether the task predicts classes.
    pub fn is_classification(self) -> bool {
        !matches!(self, Task::Regression)
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which stage a plugin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Cleans and encodes tables.
    Preparer,
    /// Proposes model candidates.
    Selector,
    /// Computes metrics and curves.
    Evaluator,
    /// Decides what gets deployed.
    Deployer,
}

/// What a plugin says about itself; the host checks it against the plugin's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Stable identifier, lowercase with dashes, e.g. `standard`.
    pub id: String,
    /// Semantic version of the plugin itself.
    pub version: String,
    /// The stage it serves.
    pub kind: PluginKind,
    /// One sentence for listings.
    pub description: String,
    /// JSON Schema (draft 2020-12) of the JSON configuration the plugin accepts.
    pub config_schema: String,
}

impl PluginInfo {
    /// Info with an empty-object config schema; chain [`PluginInfo::with_schema`] to set one.
    pub fn new(
        id: impl Into<String>,
        version: impl Into<String>,
        kind: PluginKind,
        description: impl Into<String>,
    ) -> Self {
        PluginInfo {
            id: id.into(),
            version: version.into(),
            kind,
            description: description.into(),
            config_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false}"#.to_string(),
        }
    }

    /// Replace the config schema.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.config_schema = schema.into();
        self
    }
}

/// Whether larger or smaller values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Larger is better (accuracy, ROC-AUC, R²).
    Maximize,
    /// Smaller is better (log-loss, RMSE).
    Minimize,
}

impl Direction {
    /// Whether `a` is strictly better than `b`; NaN is never better, anything beats NaN.
    pub fn better(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        match self {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        }
    }

    /// How much better `a` is than `b` (positive when better), in the metric's own units.
    pub fn improvement(self, a: f64, b: f64) -> f64 {
        match self {
            Direction::Maximize => a - b,
            Direction::Minimize => b - a,
        }
    }
}

/// One named metric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Name, lowercase with underscores, e.g. `roc_auc`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Whether larger or smaller is better.
    pub direction: Direction,
}

impl Metric {
    /// A metric where larger is better.
    pub fn maximize(name: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            value,
            direction: Direction::Maximize,
        }
    }

    /// A metric where smaller is better.
    pub fn minimize(name: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            value,
            direction: Direction::Minimize,
        }
    }
}

/// A hyperparameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParamValue {
    /// A real value.
    Float(f64),
    /// An integer value.
    Int(i64),
    /// A choice among named options.
    Choice(String),
    /// A flag.
    Flag(bool),
}

impl ParamValue {
    /// As f64 (integers widen, flags are 0/1, choices are `None`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Float(v) => Some(*v),
            ParamValue::Int(v) => Some(*v as f64),
            ParamValue::Flag(b) => Some(if *b { 1.0 } else { 0.0 }),
            ParamValue::Choice(_) => None,
        }
    }
}

/// One hyperparameter assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// Parameter name as declared by the model kind.
    pub name: String,
    /// Its value.
    pub value: ParamValue,
}

impl Param {
    /// `name = value`.
    pub fn new(name: impl Into<String>, value: ParamValue) -> Self {
        Param {
            name: name.into(),
            value,
        }
    }

    /// A real-valued assignment.
    pub fn float(name: impl Into<String>, value: f64) -> Self {
        Param::new(name, ParamValue::Float(value))
    }

    /// An integer assignment.
    pub fn int(name: impl Into<String>, value: i64) -> Self {
        Param::new(name, ParamValue::Int(value))
    }

    /// A choice assignment.
    pub fn choice(name: impl Into<String>, value: impl Into<String>) -> Self {
        Param::new(name, ParamValue::Choice(value.into()))
    }
}

/// The values a hyperparameter may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParamDomain {
    /// Reals in `[low, high]`, log-uniform when `log` (both bounds > 0).
    Float {
        /// Lower bound, inclusive.
        low: f64,
        /// Upper bound, inclusive.
        high: f64,
        /// Sample on a log scale.
        log: bool,
    },
    /// Integers in `[low, high]`, log-uniform when `log` (both bounds > 0).
    Int {
        /// Lower bound, inclusive.
        low: i64,
        /// Upper bound, inclusive.
        high: i64,
        /// Sample on a log scale.
        log: bool,
    },
    /// One of these options.
    Choice(Vec<String>),
    /// True or false.
    Flag,
}

impl ParamDomain {
    /// Whether `value` lies in the domain.
    pub fn contains(&self, value: &ParamValue) -> bool {
        match (self, value) {
            (ParamDomain::Float { low, high, .. }, ParamValue::Float(x)) => x >= low && x <= high,
            (ParamDomain::Float { low, high, .. }, ParamValue::Int(x)) => {
                (*x as f64) >= *low && (*x as f64) <= *high
            }
            (ParamDomain::Int { low, high, .. }, ParamValue::Int(x)) => x >= low && x <= high,
            (ParamDomain::Choice(options), ParamValue::Choice(s)) => options.contains(s),
            (ParamDomain::Flag, ParamValue::Flag(_)) => true,
            _ => false,
        }
    }
}

/// One dimension of a search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Parameter name.
    pub name: String,
    /// Allowed values.
    pub domain: ParamDomain,
    /// The value used when the parameter is not searched.
    pub default: ParamValue,
}
