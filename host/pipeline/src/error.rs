use microlearn_core::Stage;

/// Why a pipeline (or a bundle operation) failed. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The input file or target is unusable.
    #[error(transparent)]
    Data(#[from] microlearn_data::DataError),
    /// A plugin failed or misbehaved in a stage.
    #[error("{stage} stage: {source}")]
    Plugin {
        /// The stage.
        stage: Stage,
        /// The plugin failure (names the plugin and function).
        source: microlearn_plugins::PluginError,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] microlearn_store::StoreError),
    /// Training failed.
    #[error("training {kind}: {source}")]
    Train {
        /// Model kind.
        kind: String,
        /// Cause.
        source: microlearn_train::TrainError,
    },
    /// The configuration is invalid.
    #[error("invalid pipeline configuration: {0}")]
    Config(String),
    /// A stage produced something the next stage cannot use.
    #[error("{stage} stage: {message}")]
    Stage {
        /// The stage.
        stage: Stage,
        /// What went wrong.
        message: String,
    },
    /// No trial completed within the budget.
    #[error(
        "no model finished training within the budget ({budget_secs:.0} s); {failed} trials failed{first_error}. Raise --budget or check the data"
    )]
    NoModel {
        /// Budget.
        budget_secs: f64,
        /// Failed trials.
        failed: usize,
        /// The first failure, formatted as `: …`.
        first_error: String,
    },
    /// A model bundle is unreadable.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// The pipeline was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The run stopped because the host is shutting down; the pipeline stays unfinished and
    /// resumes on the next start.
    #[error("interrupted by a shutdown; the pipeline resumes on the next start")]
    Interrupted,
}

impl PipelineError {
    pub(crate) fn plugin(stage: Stage) -> impl FnOnce(microlearn_plugins::PluginError) -> Self {
        move |source| PipelineError::Plugin { stage, source }
    }
}
