//! Metric values and their direction.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether larger or smaller is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Larger is better.
    Maximize,
    /// Smaller is better.
    Minimize,
}

impl Direction {
    /// Whether `a` is strictly better than `b`. NaN is never better.
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
}

/// A named metric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metric {
    /// Name, e.g. `roc_auc`.
    pub name: String,
    /// Value (`null` when it is not a finite number).
    // JSON has no NaN or infinity: serde_json writes a non-finite value (a plugin may compute
    // one) as null, so the schema says so.
    #[schemars(with = "Option<f64>")]
    pub value: f64,
    /// Direction.
    pub direction: Direction,
}
