//! Evaluators: metrics and curves from predictions.

use crate::{Metric, PluginError, PluginInfo, Task};
use serde::{Deserialize, Serialize};

/// Predictions to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predictions {
    /// One value per row (regression).
    Values(Vec<f64>),
    /// Row-major probabilities: rows × `labels.len()`, each row summing to 1.
    Probabilities(Vec<f64>),
}

/// What to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRequest {
    /// The task.
    pub task: Task,
    /// Class labels in class-index order (empty for regression).
    pub labels: Vec<String>,
    /// True values: class indices as floats for classification, values for regression.
    pub y_true: Vec<f64>,
    /// The predictions, one per row of `y_true`.
    pub predictions: Predictions,
    /// Compute curves and matrices too (slower).
    pub curves: bool,
    /// JSON configuration (`{}` for defaults).
    pub config: String,
}

/// How a curve is best drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CurveStyle {
    /// Points joined in order (ROC, PR, calibration).
    Line,
    /// Unjoined points (residuals).
    Scatter,
}

/// A named 2-D curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Name, e.g. `roc` or `roc:setosa`.
    pub name: String,
    /// Axis label for x.
    pub x_label: String,
    /// Axis label for y.
    pub y_label: String,
    /// X coordinates.
    pub x: Vec<f64>,
    /// Y coordinates, same length as `x`.
    pub y: Vec<f64>,
    /// How to draw it.
    pub style: CurveStyle,
}

/// A named matrix, e.g. a confusion matrix (rows = true class, columns = predicted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// Name, e.g. `confusion`.
    pub name: String,
    /// Row and column labels.
    pub labels: Vec<String>,
    /// Row-major values, `labels.len()`² of them.
    pub values: Vec<f64>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evaluation {
    /// Metrics; the first one whose name equals the requested objective is the score.
    pub metrics: Vec<Metric>,
    /// Curves (empty unless requested).
    pub curves: Vec<Curve>,
    /// Matrices (empty unless requested).
    pub matrices: Vec<Matrix>,
}

impl Evaluation {
    /// The metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The curve named `name`.
    pub fn curve(&self, name: &str) -> Option<&Curve> {
        self.curves.iter().find(|c| c.name == name)
    }

    /// The matrix named `name`.
    pub fn matrix(&self, name: &str) -> Option<&Matrix> {
        self.matrices.iter().find(|m| m.name == name)
    }
}

/// An evaluation stage.
pub trait Evaluator {
    /// Describe this plugin.
    fn describe() -> PluginInfo;

    /// Which tasks this evaluator handles.
    fn tasks() -> Vec<Task>;

    /// Evaluate predictions.
    fn evaluate(request: &EvaluationRequest) -> Result<Evaluation, PluginError>;
}

/// Export an [`Evaluator`] as the component's `microlearn:plugin/evaluator` interface.
///
/// Invoke once, at the crate root of a `cdylib` crate; expands to nothing off Wasm.
#[macro_export]
macro_rules! export_evaluator {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __MicrolearnEvaluatorPlugin = $plugin;

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        // The generated bindings are FFI glue: they need `unsafe` and do not follow our lints.
        #[allow(unsafe_code, unused, missing_docs, clippy::all)]
        mod __microlearn_evaluator_export {
            $crate::__microlearn_generate_world!("evaluator-plugin");
            use exports::microlearn::plugin::evaluator as w;
            use $crate::__private::convert as c;
            use $crate::evaluator as s;
            type P = super::__MicrolearnEvaluatorPlugin;

            struct Export;

            fn request_from_wit(r: w::EvaluationRequest) -> s::EvaluationRequest {
                s::EvaluationRequest {
                    task: c::task_from_wit(r.task),
                    labels: r.labels,
                    y_true: r.y_true,
                    predictions: match r.predictions {
                        w::Predictions::Values(v) => s::Predictions::Values(v),
                        w::Predictions::Probabilities(v) => s::Predictions::Probabilities(v),
                    },
                    curves: r.curves,
                    config: r.config,
                }
            }

            fn evaluation_to_wit(e: s::Evaluation) -> w::Evaluation {
                w::Evaluation {
                    metrics: e.metrics.into_iter().map(c::metric_to_wit).collect(),
                    curves: e
                        .curves
                        .into_iter()
                        .map(|k| w::Curve {
                            name: k.name,
                            x_label: k.x_label,
                            y_label: k.y_label,
                            x: k.x,
                            y: k.y,
                            style: match k.style {
                                s::CurveStyle::Line => w::CurveStyle::Line,
                                s::CurveStyle::Scatter => w::CurveStyle::Scatter,
                            },
                        })
                        .collect(),
                    matrices: e
                        .matrices
                        .into_iter()
                        .map(|m| w::Matrix {
                            name: m.name,
                            labels: m.labels,
                            values: m.values,
                        })
                        .collect(),
                }
            }

            impl w::Guest for Export {
                fn describe() -> w::PluginInfo {
                    c::info_to_wit(<P as $crate::Evaluator>::describe())
                }

                fn tasks() -> Vec<w::Task> {
                    <P as $crate::Evaluator>::tasks()
                        .into_iter()
                        .map(c::task_to_wit)
                        .collect()
                }

                fn evaluate(
                    request: w::EvaluationRequest,
                ) -> Result<w::Evaluation, w::PluginError> {
                    <P as $crate::Evaluator>::evaluate(&request_from_wit(request))
                        .map(evaluation_to_wit)
                        .map_err(c::error_to_wit)
                }
            }

            export!(Export);
        }
    };
}
