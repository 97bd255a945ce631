//! `refusing-evaluator`: a test-only evaluator that installs and describes itself like any
//! other but fails every `evaluate` call, standing for a third-party metric that breaks on the
//! held-out rows. The end-to-end suite checks that such a failure (in an evaluator that is not
//! the objective's) costs the pipeline that evaluator's metrics, not the search and refits.

use microlearn_sdk::prelude::*;

/// The evaluator.
pub struct Refusing;

impl Evaluator for Refusing {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "refusing-evaluator",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Evaluator,
            "Test-only evaluator whose every evaluate call fails.",
        )
    }

    fn tasks() -> Vec<Task> {
        vec![Task::Binary, Task::Multiclass, Task::Regression]
    }

    fn evaluate(request: &EvaluationRequest) -> Result<Evaluation, PluginError> {
        Err(PluginError::input(format!(
            "refusing-evaluator refuses to score {} rows (it fails on purpose)",
            request.y_true.len()
        )))
    }
}

microlearn_sdk::export_evaluator!(Refusing);
