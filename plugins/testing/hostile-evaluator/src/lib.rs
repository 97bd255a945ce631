//! `hostile-evaluator`: an evaluator that misbehaves on request, so the host's tests can prove
//! that `evaluate` is contained like every other call. **Never install it for users.**
//!
//! The request's config picks the misbehaviour (`microlearn_test_misbehave::Mode`):
//! `{"mode": "block", "millis": 3600000}` sleeps in a blocking WASI call for an hour. In `ok`
//! mode (and after a finished wait) it reports one metric, `rows`, the number of rows scored.

use microlearn_sdk::prelude::*;
use microlearn_test_misbehave::{CONFIG_SCHEMA, act, parse};

/// The test-only evaluator.
pub struct HostileEvaluator;

impl Evaluator for HostileEvaluator {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-evaluator",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Evaluator,
            "Test-only evaluator that misbehaves on request; never install for users.",
        )
        .with_schema(CONFIG_SCHEMA)
    }

    fn tasks() -> Vec<Task> {
        vec![Task::Binary, Task::Multiclass, Task::Regression]
    }

    fn evaluate(request: &EvaluationRequest) -> Result<Evaluation, PluginError> {
        let config = parse(&request.config).map_err(PluginError::InvalidConfig)?;
        act(&config).map_err(PluginError::input)?;
        Ok(Evaluation {
            metrics: vec![Metric::maximize("rows", request.y_true.len() as f64)],
            ..Evaluation::default()
        })
    }
}

microlearn_sdk::export_evaluator!(HostileEvaluator);
