//! Evaluate: score every leaderboard model on the held-out rows with every evaluator plugin.
//! An evaluator other than the objective's that fails is dropped from every model's results,
//! with the failure recorded; the objective's evaluator must not fail.

use crate::PipelineError;
use crate::config::PluginRef;
use crate::features::y_true;
use crate::scoring::{Scored, to_scored};
use crate::stages::ingest::Ingested;
use crate::stages::prepare::Prepared;
use crate::stages::train::Finalist;
use crate::stages::{RunCtx, StageOutput};
use microlearn_core::stages::{Evaluation, EvaluationRequest};
use microlearn_core::{Metric, Stage};
use microlearn_plugins::EvaluatorHandle;
use microlearn_store::PipelineRecord;

/// What the evaluate stage reads.
pub(crate) struct EvaluateInput<'a> {
    pub data: &'a Ingested,
    pub prepared: &'a Prepared,
    /// The train stage's leaderboard models, in leaderboard order.
    pub models: Vec<Finalist>,
    pub evaluators: &'a [(EvaluatorHandle, PluginRef)],
    /// The evaluator that scored the trials: it ranks the leaderboard, so it must not fail.
    pub objective: &'a EvaluatorHandle,
    pub metric: &'a str,
    pub prob_floor: f64,
}

/// A leaderboard model with its held-out results.
pub(crate) struct EvaluatedModel {
    pub finalist: Finalist,
    /// Each evaluator's results, by evaluator id (failed evaluators left out).
    pub evaluations: Vec<(String, Evaluation)>,
    /// The metrics of all evaluations, the first evaluator's value where two name the same.
    pub test_metrics: Vec<Metric>,
    /// Its predictions on the held-out rows.
    pub predictions: Scored,
}

/// What the evaluate stage produced.
pub(crate) struct Evaluated {
    /// In leaderboard order.
    pub models: Vec<EvaluatedModel>,
    /// Ids of the evaluators that failed.
    pub failed_evaluators: Vec<String>,
    metric: String,
}

impl StageOutput for Evaluated {
    fn summary(&self) -> String {
        let metric = &self.metric;
        let best_test = self
            .models
            .first()
            .and_then(|e| e.test_metrics.iter().find(|m| &m.name == metric))
            .map_or(f64::NAN, |m| m.value);
        let mut summary = format!("held-out {metric} {best_test:.4}");
        for id in &self.failed_evaluators {
            summary.push_str(&format!(
                "; evaluator '{id}' failed, its metrics are left out"
            ));
        }
        summary
    }
}

pub(crate) fn run(
    ctx: &RunCtx<'_>,
    pipeline: &mut PipelineRecord,
    input: EvaluateInput<'_>,
) -> Result<Evaluated, PipelineError> {
    let task = input.data.train_y.task;
    let labels = &input.data.train_y.labels;
    // A resumed run evaluates and deploys again; failures of the attempt before are stale.
    pipeline
        .plugin_errors
        .retain(|f| !matches!(f.stage, Stage::Evaluating | Stage::Deploying));
    let test_y = &input.data.test_y;
    let test_true = y_true(test_y, &(0..test_y.y.len()).collect::<Vec<_>>());
    let objective_id = input.objective.info().id.clone();
    // Evaluators that failed (never the objective's, which is needed to rank and deploy):
    // each is dropped from every model's results, so the leaderboard compares like with
    // like, and the search and refits are kept.
    let mut failed_evaluators: Vec<String> = Vec::new();
    let mut evaluated = Vec::new();
    for finalist in input.models {
        let mut preds = finalist.model.predict(&input.prepared.x_test);
        crate::features::apply_probability_floor(&mut preds, input.prob_floor);
        let values = crate::features::prediction_values(&preds);
        let mut evaluations: Vec<(String, Evaluation)> = Vec::new();
        for (h, r) in input.evaluators {
            let id = &h.info().id;
            if failed_evaluators.contains(id) {
                continue;
            }
            let result = h.evaluate(&EvaluationRequest {
                task,
                labels: labels.clone(),
                y_true: test_true.clone(),
                predictions: values.clone(),
                curves: true,
                config: r.config_string(),
            });
            match result {
                Ok(eval) => evaluations.push((id.clone(), eval)),
                Err(e) if *id != objective_id => {
                    let consequence = format!(
                        "its metrics are left out; the leaderboard is scored by '{objective_id}'"
                    );
                    ctx.plugin_failed(pipeline, Stage::Evaluating, id, &e, &consequence)?;
                    failed_evaluators.push(id.clone());
                }
                Err(e) => return Err(PipelineError::plugin(Stage::Evaluating)(e)),
            }
        }
        evaluated.push((finalist, evaluations, to_scored(&preds, labels)));
    }
    let models = evaluated
        .into_iter()
        .map(|(finalist, mut evaluations, predictions)| {
            evaluations.retain(|(id, _)| !failed_evaluators.contains(id));
            let mut test_metrics: Vec<Metric> = Vec::new();
            for (_, e) in &evaluations {
                for m in &e.metrics {
                    if !test_metrics.iter().any(|x| x.name == m.name) {
                        test_metrics.push(m.clone());
                    }
                }
            }
            EvaluatedModel {
                finalist,
                evaluations,
                test_metrics,
                predictions,
            }
        })
        .collect();
    Ok(Evaluated {
        models,
        failed_evaluators,
        metric: input.metric.to_string(),
    })
}
