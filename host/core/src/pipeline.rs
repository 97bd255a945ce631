//! The pipeline state machine: `created → preparing → selecting → optimizing → training →
//! evaluating → deploying → done | failed | cancelled`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A stage of the pipeline, in execution order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Ingest, schema, split.
    Ingest,
    /// Preparer chain fit/transform.
    Preparing,
    /// Selector plugin.
    Selecting,
    /// Hyperparameter search.
    Optimizing,
    /// Refit of the winners on all training data.
    Training,
    /// Evaluator plugins on the held-out split.
    Evaluating,
    /// Deployer plugin and bundle.
    Deploying,
}

impl Stage {
    /// All stages in order.
    pub const ALL: [Stage; 7] = [
        Stage::Ingest,
        Stage::Preparing,
        Stage::Selecting,
        Stage::Optimizing,
        Stage::Training,
        Stage::Evaluating,
        Stage::Deploying,
    ];

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Preparing => "preparing",
            Stage::Selecting => "selecting",
            Stage::Optimizing => "optimizing",
            Stage::Training => "training",
            Stage::Evaluating => "evaluating",
            Stage::Deploying => "deploying",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a pipeline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PipelineStatus {
    /// Recorded, not started.
    Created,
    /// Running the given stage.
    Running(Stage),
    /// Finished successfully.
    Done,
    /// Stopped by an error.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl PipelineStatus {
    /// Whether the pipeline will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PipelineStatus::Done | PipelineStatus::Failed | PipelineStatus::Cancelled
        )
    }
}

impl fmt::Display for PipelineStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineStatus::Created => f.write_str("created"),
            PipelineStatus::Running(s) => f.write_str(s.as_str()),
            PipelineStatus::Done => f.write_str("done"),
            PipelineStatus::Failed => f.write_str("failed"),
            PipelineStatus::Cancelled => f.write_str("cancelled"),
        }
    }
}
