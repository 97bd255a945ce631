//! The optimizing stage: run planned trials on worker threads until the trial budget or the
//! deadline is spent, scoring each on the validation split through the objective's evaluator.

use crate::control::RunControl;
use crate::observer::Observer;
use microlearn_core::stages::{EvaluationRequest, PredictionValues};
use microlearn_core::{Direction, Params, Task};
use microlearn_hpo::{TrialPlanner, TrialProposal};
use microlearn_plugins::EvaluatorHandle;
use microlearn_store::{TenantStore, TrialRecord, TrialStatus, now_ms};
use microlearn_train::{FitOptions, Matrix, Predictions, Target, TrainedModel};
use std::sync::Mutex;
use std::time::Instant;

/// Everything a trial needs, shared read-only by the workers.
pub(crate) struct SearchContext<'a> {
    pub task: Task,
    pub labels: &'a [String],
    pub x_fit: &'a Matrix,
    pub y_fit: &'a Target,
    pub x_valid: &'a Matrix,
    pub y_valid: &'a Target,
    pub y_valid_true: &'a [f64],
    pub evaluator: &'a EvaluatorHandle,
    pub evaluator_config: String,
    pub metric: &'a str,
    pub direction: Direction,
    pub seed: u64,
    pub threads_per_trial: usize,
    pub deadline: Instant,
    pub pipeline_id: &'a str,
    pub store: &'a TenantStore,
}

/// Score predictions with the objective's evaluator.
pub(crate) fn score(
    evaluator: &EvaluatorHandle,
    config: &str,
    task: Task,
    labels: &[String],
    y_true: &[f64],
    predictions: &Predictions,
    metric: &str,
) -> Result<f64, String> {
    let predictions = crate::features::prediction_values(predictions);
    let eval = evaluator
        .evaluate(&EvaluationRequest {
            task,
            labels: labels.to_vec(),
            y_true: y_true.to_vec(),
            predictions,
            curves: false,
            config: config.to_string(),
        })
        .map_err(|e| e.to_string())?;
    eval.metric(metric).map(|m| m.value).ok_or_else(|| {
        format!(
            "evaluator '{}' returned no metric '{metric}' (it returned: {})",
            evaluator.info().id,
            eval.metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn run_trial(
    ctx: &SearchContext,
    proposal: &TrialProposal,
    cancel: &std::sync::atomic::AtomicBool,
) -> TrialRecord {
    let started_at_ms = now_ms();
    let t0 = Instant::now();
    let opts = FitOptions {
        threads: ctx.threads_per_trial,
        deadline: Some(ctx.deadline),
        seed: ctx.seed ^ (proposal.number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        valid: Some((ctx.x_valid, ctx.y_valid)),
        cancel: Some(cancel),
    };
    let outcome: Result<(TrainedModel, f64), String> = microlearn_train::fit(
        &proposal.kind,
        &proposal.params,
        ctx.task,
        ctx.x_fit,
        ctx.y_fit,
        &opts,
    )
    .map_err(|e| e.to_string())
    .and_then(|model| {
        let preds = model.predict(ctx.x_valid);
        let s = score(
            ctx.evaluator,
            &ctx.evaluator_config,
            ctx.task,
            ctx.labels,
            ctx.y_valid_true,
            &preds,
            ctx.metric,
        )?;
        Ok((model, s))
    });
    let duration_secs = t0.elapsed().as_secs_f64();
    let mut record = TrialRecord {
        pipeline_id: ctx.pipeline_id.to_string(),
        number: proposal.number,
        kind: proposal.kind.clone(),
        params: proposal.params.clone(),
        fitted_params: None,
        warm_start: proposal.warm_start,
        status: TrialStatus::Complete,
        metric: ctx.metric.to_string(),
        score: None,
        error: None,
        started_at_ms,
        duration_secs,
    };
    match outcome {
        Ok((model, s)) if s.is_finite() => {
            record.fitted_params = Some(model.fitted_params());
            record.score = Some(s);
        }
        Ok((_, s)) => {
            record.status = TrialStatus::Failed;
            record.error = Some(format!("{} is not finite ({s})", ctx.metric));
        }
        Err(e) => {
            record.status = TrialStatus::Failed;
            record.error = Some(e);
        }
    }
    record
}

/// Run trials from `planner` on `workers` threads. Each finished trial is persisted before it
/// counts, so the records on disk are always a prefix-free, duplicate-free set of trials.
/// `resumed` holds the trials an interrupted attempt recorded: the planner's proposals with
/// those numbers are skipped (the seeded planner proposes the same sequence again), so a resume
/// neither repeats nor loses a trial. After a stop, no further trial starts or is recorded.
pub(crate) fn run_search(
    ctx: &SearchContext,
    planner: TrialPlanner,
    workers: usize,
    observer: &dyn Observer,
    control: &RunControl,
    resumed: &[TrialRecord],
) -> Result<Vec<TrialRecord>, microlearn_store::StoreError> {
    let done: std::collections::HashSet<usize> = resumed.iter().map(|t| t.number).collect();
    let planner = Mutex::new(planner);
    let results: Mutex<Vec<TrialRecord>> = Mutex::new(resumed.to_vec());
    let store_error: Mutex<Option<microlearn_store::StoreError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    if Instant::now() >= ctx.deadline
                        || control.is_stopped()
                        || store_error.lock().map(|e| e.is_some()).unwrap_or(true)
                    {
                        break;
                    }
                    let proposal = match planner.lock() {
                        Ok(mut p) => loop {
                            match p.next() {
                                Some(t) if done.contains(&t.number) => continue,
                                other => break other,
                            }
                        },
                        Err(_) => None,
                    };
                    let Some(proposal) = proposal else { break };
                    let record = run_trial(ctx, &proposal, control.halt_flag());
                    if control.is_stopped() {
                        // Stopped while it trained: not recorded, so a resume runs it again.
                        break;
                    }
                    if let Err(e) = ctx.store.put_trial(&record) {
                        if let Ok(mut slot) = store_error.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                    let Ok(mut all) = results.lock() else { break };
                    all.push(record);
                    let best = best_score(&all, ctx.direction);
                    let last = all.last().expect("just pushed");
                    observer.trial_finished(last, best);
                }
            });
        }
    });
    if let Some(e) = store_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut all = results.into_inner().unwrap_or_default();
    all.sort_by_key(|t| t.number);
    Ok(all)
}

/// Best score among complete trials.
pub(crate) fn best_score(trials: &[TrialRecord], direction: Direction) -> Option<f64> {
    trials
        .iter()
        .filter_map(|t| t.score)
        .fold(None, |best, s| match best {
            Some(b) if !direction.better(s, b) => Some(b),
            _ => Some(s),
        })
}

/// The best complete trial of each kind, best first (ties: lower trial number first).
pub(crate) fn best_per_kind(trials: &[TrialRecord], direction: Direction) -> Vec<&TrialRecord> {
    let mut best: Vec<&TrialRecord> = Vec::new();
    for t in trials.iter().filter(|t| t.score.is_some()) {
        match best.iter_mut().find(|b| b.kind == t.kind) {
            Some(b) => {
                if direction.better(t.score.unwrap_or(f64::NAN), b.score.unwrap_or(f64::NAN)) {
                    *b = t;
                }
            }
            None => best.push(t),
        }
    }
    best.sort_by(|a, b| {
        let (sa, sb) = (a.score.unwrap_or(f64::NAN), b.score.unwrap_or(f64::NAN));
        if direction.better(sa, sb) {
            std::cmp::Ordering::Less
        } else if direction.better(sb, sa) {
            std::cmp::Ordering::Greater
        } else {
            a.number.cmp(&b.number)
        }
    });
    best
}

/// Parameters to refit a trial with: what it actually fitted, else what it was given.
pub(crate) fn refit_params(trial: &TrialRecord) -> Params {
    trial
        .fitted_params
        .clone()
        .unwrap_or_else(|| trial.params.clone())
}

/// Check the objective exists and learn its direction, before spending the budget: score the
/// validation targets against a trivial prediction.
pub(crate) fn probe_objective(
    evaluator: &EvaluatorHandle,
    config: &str,
    task: Task,
    labels: &[String],
    y_true: &[f64],
    metric: &str,
) -> Result<Direction, String> {
    let preds = if task.is_classification() {
        let k = labels.len().max(1);
        let mut data = vec![0.0; y_true.len() * k];
        for (row, &y) in y_true.iter().enumerate() {
            for c in 0..k {
                // Mostly right, never certain: every metric is defined on this.
                data[row * k + c] = if c == y as usize {
                    0.6
                } else {
                    0.4 / (k - 1).max(1) as f64
                };
            }
        }
        PredictionValues::Probabilities(data)
    } else {
        let mean = y_true.iter().sum::<f64>() / y_true.len().max(1) as f64;
        PredictionValues::Values(y_true.iter().map(|y| 0.5 * y + 0.5 * mean).collect())
    };
    let eval = evaluator
        .evaluate(&EvaluationRequest {
            task,
            labels: labels.to_vec(),
            y_true: y_true.to_vec(),
            predictions: preds,
            curves: false,
            config: config.to_string(),
        })
        .map_err(|e| e.to_string())?;
    eval.metric(metric).map(|m| m.direction).ok_or_else(|| {
        format!(
            "evaluator '{}' does not compute '{metric}'; it computes: {}",
            evaluator.info().id,
            eval.metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
