//! Deployers: decide whether, where and how a new model is served.

use crate::{Metric, PluginError, PluginInfo, Task};
use serde::{Deserialize, Serialize};

/// A model that could be deployed, or the one that is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Host model id.
    pub model_id: String,
    /// Model kind, e.g. `gbdt`.
    pub kind: String,
    /// Held-out metrics.
    pub metrics: Vec<Metric>,
    /// Training wall time, seconds.
    pub fit_seconds: f64,
    /// Bundle size, bytes.
    pub size_bytes: u64,
}

impl ModelSummary {
    /// The metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// How a promoted model is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServingMode {
    /// Online REST endpoint.
    Rest,
    /// Batch scoring only.
    Batch,
    /// Both.
    Both,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Deploy this model id.
    Promote(String),
    /// Leave the current deployment as it is.
    Keep,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// How to serve a promoted model.
    pub mode: ServingMode,
    /// Share of traffic (1–100) the promoted model receives; 100 replaces the current one.
    pub traffic_percent: u8,
    /// Why, for a person.
    pub reason: String,
}

/// Everything a deployer decides from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The task.
    pub task: Task,
    /// Name of the primary metric.
    pub primary_metric: String,
    /// Candidates from this pipeline, best first by validation score.
    pub candidates: Vec<ModelSummary>,
    /// The model currently deployed under this name, if any.
    pub current: Option<ModelSummary>,
    /// JSON configuration (`{}` for defaults).
    pub config: String,
}

/// A deployment-decision stage.
pub trait Deployer {
    /// Describe this plugin.
    fn describe() -> PluginInfo;

    /// Decide.
    fn decide(request: &DeployRequest) -> Result<Decision, PluginError>;
}

/// Export a [`Deployer`] as the component's `microlearn:plugin/deployer` interface.
///
/// Invoke once, at the crate root of a `cdylib` crate; expands to nothing off Wasm.
#[macro_export]
macro_rules! export_deployer {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __MicrolearnDeployerPlugin = $plugin;

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        // The generated bindings are FFI glue: they need `unsafe` and do not follow our lints.
        #[allow(unsafe_code, unused, missing_docs, clippy::all)]
        mod __microlearn_deployer_export {
            $crate::__microlearn_generate_world!("deployer-plugin");
            use exports::microlearn::plugin::deployer as w;
            use $crate::__private::convert as c;
            use $crate::deployer as s;
            type P = super::__MicrolearnDeployerPlugin;

            struct Export;

            fn summary_from_wit(m: w::ModelSummary) -> s::ModelSummary {
                s::ModelSummary {
                    model_id: m.model_id,
                    kind: m.kind,
                    metrics: m.metrics.into_iter().map(c::metric_from_wit).collect(),
                    fit_seconds: m.fit_seconds,
                    size_bytes: m.size_bytes,
                }
            }

            fn decision_to_wit(d: s::Decision) -> w::Decision {
                w::Decision {
                    action: match d.action {
                        s::Action::Promote(id) => w::Action::Promote(id),
                        s::Action::Keep => w::Action::Keep,
                    },
                    mode: match d.mode {
                        s::ServingMode::Rest => w::ServingMode::Rest,
                        s::ServingMode::Batch => w::ServingMode::Batch,
                        s::ServingMode::Both => w::ServingMode::Both,
                    },
                    traffic_percent: d.traffic_percent,
                    reason: d.reason,
                }
            }

            impl w::Guest for Export {
                fn describe() -> w::PluginInfo {
                    c::info_to_wit(<P as $crate::Deployer>::describe())
                }

                fn decide(request: w::DeployRequest) -> Result<w::Decision, w::PluginError> {
                    let request = s::DeployRequest {
                        task: c::task_from_wit(request.task),
                        primary_metric: request.primary_metric,
                        candidates: request
                            .candidates
                            .into_iter()
                            .map(summary_from_wit)
                            .collect(),
                        current: request.current.map(summary_from_wit),
                        config: request.config,
                    };
                    <P as $crate::Deployer>::decide(&request)
                        .map(decision_to_wit)
                        .map_err(c::error_to_wit)
                }
            }

            export!(Export);
        }
    };
}
