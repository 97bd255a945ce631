//! Selectors: rank the host's model kinds for a dataset and budget.

use crate::{Param, ParamSpec, PluginError, PluginInfo, Task};
use serde::{Deserialize, Serialize};

/// Statistics of the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFeatures {
    /// The task.
    pub task: Task,
    /// Training rows.
    pub rows: u64,
    /// Feature columns before preparation.
    pub raw_features: u32,
    /// Feature columns after preparation.
    pub prepared_features: u32,
    /// Raw numeric feature columns.
    pub numeric_features: u32,
    /// Raw categorical or text feature columns.
    pub categorical_features: u32,
    /// Raw datetime feature columns.
    pub datetime_features: u32,
    /// Share of missing cells in the raw features, in [0, 1].
    pub missing_fraction: f64,
    /// Number of classes (0 for regression).
    pub classes: u32,
    /// Share of the rarest class (0 for regression).
    pub minority_class_fraction: f64,
}

/// How expensive a model kind is, relative to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cost {
    /// Cheap.
    Low,
    /// Moderate.
    Medium,
    /// Expensive.
    High,
}

/// A model kind the host can train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelKind {
    /// Identifier, e.g. `gbdt`.
    pub name: String,
    /// One sentence.
    pub description: String,
    /// Tasks it supports.
    pub tasks: Vec<Task>,
    /// Its full hyperparameter space.
    pub params: Vec<ParamSpec>,
    /// Relative training cost.
    pub cost: Cost,
}

impl ModelKind {
    /// The parameter named `name`, if the kind declares it.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// The machine the pipeline runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    /// CPU threads available to training.
    pub cpus: u32,
    /// Memory available, in bytes.
    pub memory_bytes: u64,
    /// Usable GPUs.
    pub gpus: u32,
}

/// Everything a selector decides from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionRequest {
    /// Dataset statistics.
    pub meta: MetaFeatures,
    /// Model kinds the host offers.
    pub catalogue: Vec<ModelKind>,
    /// Wall-clock budget of the whole pipeline, seconds.
    pub budget_seconds: f64,
    /// Hardware.
    pub hardware: Hardware,
    /// JSON configuration (`{}` for defaults).
    pub config: String,
}

/// A ranked candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The model kind (a [`ModelKind::name`] from the catalogue).
    pub kind: String,
    /// Share of the search budget to spend on it, in (0, 1]; the host normalises.
    pub budget_share: f64,
    /// The space to search: a subset of the kind's params, possibly narrowed.
    pub search_space: Vec<ParamSpec>,
    /// Configurations to try first, in order; unspecified params take their defaults.
    pub warm_starts: Vec<Vec<Param>>,
    /// Why this candidate, for a person.
    pub reason: String,
}

/// A model-selection stage.
pub trait Selector {
    /// Describe this plugin.
    fn describe() -> PluginInfo;

    /// Rank candidates, best first. Must return at least one candidate from the catalogue.
    fn select(request: &SelectionRequest) -> Result<Vec<Candidate>, PluginError>;
}

/// Export a [`Selector`] as the component's `microlearn:plugin/selector` interface.
///
/// Invoke once, at the crate root of a `cdylib` crate; expands to nothing off Wasm.
#[macro_export]
macro_rules! export_selector {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __MicrolearnSelectorPlugin = $plugin;

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        // The generated bindings are FFI glue: they need `unsafe` and do not follow our lints.
        #[allow(unsafe_code, unused, missing_docs, clippy::all)]
        mod __microlearn_selector_export {
            $crate::__microlearn_generate_world!("selector-plugin");
            use exports::microlearn::plugin::selector as w;
            use $crate::__private::convert as c;
            use $crate::selector as s;
            type P = super::__MicrolearnSelectorPlugin;

            struct Export;

            fn meta_from_wit(m: w::MetaFeatures) -> s::MetaFeatures {
                s::MetaFeatures {
                    task: c::task_from_wit(m.task),
                    rows: m.rows,
                    raw_features: m.raw_features,
                    prepared_features: m.prepared_features,
                    numeric_features: m.numeric_features,
                    categorical_features: m.categorical_features,
                    datetime_features: m.datetime_features,
                    missing_fraction: m.missing_fraction,
                    classes: m.classes,
                    minority_class_fraction: m.minority_class_fraction,
                }
            }

            fn kind_from_wit(k: w::ModelKind) -> s::ModelKind {
                s::ModelKind {
                    name: k.name,
                    description: k.description,
                    tasks: k.tasks.into_iter().map(c::task_from_wit).collect(),
                    params: k.params.into_iter().map(c::param_spec_from_wit).collect(),
                    cost: match k.cost {
                        w::Cost::Low => s::Cost::Low,
                        w::Cost::Medium => s::Cost::Medium,
                        w::Cost::High => s::Cost::High,
                    },
                }
            }

            fn candidate_to_wit(k: s::Candidate) -> w::Candidate {
                w::Candidate {
                    kind: k.kind,
                    budget_share: k.budget_share,
                    search_space: k
                        .search_space
                        .into_iter()
                        .map(c::param_spec_to_wit)
                        .collect(),
                    warm_starts: k
                        .warm_starts
                        .into_iter()
                        .map(|ps| ps.into_iter().map(c::param_to_wit).collect())
                        .collect(),
                    reason: k.reason,
                }
            }

            impl w::Guest for Export {
                fn describe() -> w::PluginInfo {
                    c::info_to_wit(<P as $crate::Selector>::describe())
                }

                fn select(
                    request: w::SelectionRequest,
                ) -> Result<Vec<w::Candidate>, w::PluginError> {
                    let request = s::SelectionRequest {
                        meta: meta_from_wit(request.meta),
                        catalogue: request.catalogue.into_iter().map(kind_from_wit).collect(),
                        budget_seconds: request.budget_seconds,
                        hardware: s::Hardware {
                            cpus: request.hardware.cpus,
                            memory_bytes: request.hardware.memory_bytes,
                            gpus: request.hardware.gpus,
                        },
                        config: request.config,
                    };
                    <P as $crate::Selector>::select(&request)
                        .map(|cs| cs.into_iter().map(candidate_to_wit).collect())
                        .map_err(c::error_to_wit)
                }
            }

            export!(Export);
        }
    };
}
