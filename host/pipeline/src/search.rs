//! The optimizing stage: run scheduled trials on worker threads until the trial budget or the
//! deadline is spent. Each trial is scored on validation units — the folds of a stratified
//! k-fold split, or growing row fractions against one holdout — rung by rung, and ASHA prunes
//! the ones that fall behind. Complete trials keep their out-of-fold predictions for the
//! ensemble.

use crate::control::RunControl;
use crate::observer::Observer;
use crate::trials::RungEnd;
use microlearn_core::stages::{EvaluationRequest, PredictionValues};
use microlearn_core::{Direction, Params, Task};
use microlearn_hpo::{Poll, ResumedTrial, Scheduler, TrialProposal};
use microlearn_plugins::EvaluatorHandle;
use microlearn_store::{TenantStore, TrialRecord, TrialStatus, now_ms};
use microlearn_train::{FitOptions, Matrix, Predictions, Target, TrainedModel};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One validation unit: train on `x_fit`, score on `x_valid`. It travels to cluster workers
/// inside a search's context blob.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Unit {
    pub x_fit: Matrix,
    pub y_fit: Target,
    /// Shared: a holdout's rungs all score on the same rows, so they hold one matrix.
    #[serde(with = "shared_matrix")]
    pub x_valid: Arc<Matrix>,
    pub y_valid: Target,
    /// Objective inputs for the validation rows.
    pub y_valid_true: Vec<f64>,
    /// Which training rows the validation rows are (for out-of-fold assembly).
    pub valid_rows: Vec<usize>,
}

/// Serde for the shared validation matrix (the workspace's serde has no `rc` feature; a
/// cluster worker gets its own copy either way).
mod shared_matrix {
    use microlearn_train::Matrix;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(m: &Arc<Matrix>, s: S) -> Result<S::Ok, S::Error> {
        m.as_ref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Matrix>, D::Error> {
        Matrix::deserialize(d).map(Arc::new)
    }
}

/// How trials are validated.
pub(crate) struct Validation {
    pub units: Vec<Unit>,
    /// Cross-validation: rung `r` is the mean over units `0..rung_ends[r]`, and a trial that
    /// climbs reuses the folds it already scored. Holdout: rung `r` is unit `r` alone (a larger
    /// row fraction against the same validation rows).
    pub cross_validated: bool,
    pub rung_ends: Vec<usize>,
    /// Rows of the training matrix.
    pub n_train: usize,
    /// Out-of-fold targets: every training row (cross-validation) or the holdout rows.
    pub oof_true: Vec<f64>,
}

impl Validation {
    /// Units scored by the time rung `rung` is complete.
    fn units_for(&self, rung: usize) -> std::ops::Range<usize> {
        if self.cross_validated {
            let start = if rung == 0 {
                0
            } else {
                self.rung_ends[rung - 1]
            };
            start..self.rung_ends[rung]
        } else {
            rung..rung + 1
        }
    }

    /// The rung score from unit scores so far.
    fn rung_score(&self, rung: usize, unit_scores: &[f64]) -> Option<f64> {
        if self.cross_validated {
            let end = self.rung_ends[rung];
            (unit_scores.len() >= end).then(|| unit_scores[..end].iter().sum::<f64>() / end as f64)
        } else {
            unit_scores.get(rung).copied()
        }
    }

    /// Share of the full evaluation `units_done` units represent.
    fn fidelity(&self, units_done: usize) -> f64 {
        if units_done == 0 {
            return 0.0;
        }
        if self.cross_validated {
            units_done as f64 / self.units.len() as f64
        } else {
            let u = &self.units[units_done - 1];
            let full = self.units.last().map_or(1, |l| l.x_fit.n_rows()).max(1);
            u.x_fit.n_rows() as f64 / full as f64
        }
    }

    /// Rung scores of a recorded trial, oriented larger-is-better.
    pub fn resumed(&self, t: &TrialRecord, direction: Direction) -> ResumedTrial {
        let rung_scores = (0..self.rung_ends.len())
            .map_while(|r| self.rung_score(r, &t.fold_scores))
            .map(|s| orient(s, direction))
            .collect();
        ResumedTrial {
            number: t.number,
            kind: t.kind.clone(),
            params: t.params.clone(),
            rung_scores,
        }
    }
}

/// Larger is better.
pub(crate) fn orient(score: f64, direction: Direction) -> f64 {
    match direction {
        Direction::Maximize => score,
        Direction::Minimize => -score,
    }
}

/// A complete trial's out-of-fold predictions.
pub(crate) struct Oof {
    pub number: usize,
    pub kind: String,
    /// Oriented validation score (larger is better).
    pub score: f64,
    pub predictions: Predictions,
}

/// Everything a trial needs, shared read-only by the workers.
pub(crate) struct SearchContext<'a> {
    pub task: Task,
    pub labels: &'a [String],
    /// Probability floor applied to every classifier's predictions (see
    /// `features::probability_floor`).
    pub prob_floor: f64,
    pub validation: &'a Validation,
    pub evaluator: &'a EvaluatorHandle,
    pub evaluator_config: String,
    pub metric: &'a str,
    pub direction: Direction,
    pub seed: u64,
    pub threads_per_trial: usize,
    /// When the whole pipeline must be done.
    pub budget_end: Instant,
    /// Time kept back for refits, evaluation and bundling; the search ends before
    /// `budget_end − reserve`. Recomputed as trials report their cost.
    pub reserve: &'a (dyn Fn(&[TrialCost]) -> Duration + Sync),
    pub pipeline_id: &'a str,
    pub store: &'a TenantStore,
    /// Where the trials' units are fitted.
    pub executor: Executor<'a>,
}

/// Where a search fits its trials' validation units.
pub(crate) enum Executor<'a> {
    /// On this process's threads.
    Local,
    /// On the cluster's workers: each rung goes out as a job naming the search's context blob.
    Remote {
        dispatch: &'a dyn crate::trials::TrialDispatch,
        /// Content hash of the search's context.
        context: String,
    },
}

/// What a complete trial cost, for sizing the time kept back for its refit.
#[derive(Debug, Clone)]
pub(crate) struct TrialCost {
    pub number: usize,
    pub kind: String,
    pub score: f64,
    /// Estimated seconds to refit it on all training rows, single-threaded.
    pub refit_secs: f64,
    /// Measured seconds per row to predict and score (on the validation rows, one thread),
    /// for sizing the time its held-out evaluation needs.
    pub predict_secs_per_row: f64,
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

/// Shared search state: the scheduler, and a condition variable that wakes workers waiting on
/// results (reproducible mode) whenever a trial records or ends.
struct Shared {
    scheduler: Mutex<Scheduler>,
    changed: Condvar,
    costs: Mutex<Vec<TrialCost>>,
    /// Per kind, the most seconds a unit took to predict and score its validation rows.
    predict_secs: Mutex<Vec<(String, f64)>>,
    /// Milliseconds after `epoch` at which the search ends (moves as the reserve is updated).
    end_ms: AtomicU64,
    epoch: Instant,
}

impl Shared {
    /// Expected predict-and-score seconds of a unit of `kind`: the most seen so far, with a
    /// margin (a model fitted on a larger rung is larger), 0 before the first.
    fn predict_estimate(&self, kind: &str) -> f64 {
        self.predict_secs
            .lock()
            .ok()
            .and_then(|p| p.iter().find(|(k, _)| k == kind).map(|(_, s)| 1.5 * s))
            .unwrap_or(0.0)
    }

    fn saw_predict(&self, kind: &str, secs: f64) {
        if let Ok(mut p) = self.predict_secs.lock() {
            match p.iter_mut().find(|(k, _)| k == kind) {
                Some((_, s)) => *s = s.max(secs),
                None => p.push((kind.to_string(), secs)),
            }
        }
    }

    fn search_end(&self) -> Instant {
        self.epoch + Duration::from_millis(self.end_ms.load(Ordering::Relaxed))
    }

    fn update_end(&self, ctx: &SearchContext) {
        let reserve = match self.costs.lock() {
            Ok(c) => (ctx.reserve)(&c),
            Err(_) => return,
        };
        let end = ctx.budget_end.checked_sub(reserve).unwrap_or(self.epoch);
        let ms = end.saturating_duration_since(self.epoch).as_millis() as u64;
        self.end_ms.store(ms, Ordering::Relaxed);
    }

    /// Wait for `f` to be ready, waking on every change; `None` when the search must stop.
    fn wait_for<T>(
        &self,
        stop: &dyn Fn() -> bool,
        mut f: impl FnMut(&mut Scheduler) -> Poll<T>,
    ) -> Option<T> {
        let mut guard = self.scheduler.lock().ok()?;
        loop {
            if let Poll::Ready(v) = f(&mut guard) {
                return Some(v);
            }
            if stop() {
                return None;
            }
            guard = self
                .changed
                .wait_timeout(guard, Duration::from_millis(50))
                .ok()?
                .0;
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Scheduler) -> T) -> Option<T> {
        let out = self.scheduler.lock().ok().map(|mut s| f(&mut s));
        self.changed.notify_all();
        out
    }
}

/// Fitted parameters merged over folds: numbers averaged (integers rounded), the rest from
/// the first fold. Early-stopped rounds thus become the folds' mean best round count.
fn merge_fitted(all: &[Params]) -> Option<Params> {
    let first = all.first()?;
    let mut merged = first.clone();
    for (name, value) in &first.0 {
        let nums: Vec<f64> = all
            .iter()
            .filter_map(|p| p.get(name).and_then(|v| v.as_f64()))
            .collect();
        if nums.len() != all.len() {
            continue;
        }
        let mean = nums.iter().sum::<f64>() / nums.len() as f64;
        match value {
            microlearn_core::ParamValue::Int(_) => merged.set(
                name.clone(),
                microlearn_core::ParamValue::Int(mean.round() as i64),
            ),
            microlearn_core::ParamValue::Float(_) => {
                merged.set(name.clone(), microlearn_core::ParamValue::Float(mean))
            }
            _ => {}
        }
    }
    Some(merged)
}

/// Assemble out-of-fold predictions from per-unit validation predictions.
fn assemble_oof(v: &Validation, preds: &[Option<Predictions>]) -> Option<Predictions> {
    if !v.cross_validated {
        return preds.last().cloned().flatten();
    }
    let first = preds.first()?.as_ref()?;
    match first {
        Predictions::Values(_) => {
            let mut out = vec![f64::NAN; v.n_train];
            for (u, p) in v.units.iter().zip(preds) {
                let Some(Predictions::Values(p)) = p else {
                    return None;
                };
                for (&row, &x) in u.valid_rows.iter().zip(p) {
                    out[row] = x;
                }
            }
            Some(Predictions::Values(out))
        }
        Predictions::Probabilities { n_classes, .. } => {
            let k = *n_classes;
            let mut out = vec![0.0; v.n_train * k];
            for (u, p) in v.units.iter().zip(preds) {
                let Some(Predictions::Probabilities { data, .. }) = p else {
                    return None;
                };
                for (i, &row) in u.valid_rows.iter().enumerate() {
                    out[row * k..(row + 1) * k].copy_from_slice(&data[i * k..(i + 1) * k]);
                }
            }
            Some(Predictions::Probabilities {
                n_classes: k,
                data: out,
            })
        }
    }
}

/// What fitting one validation unit gave.
pub(crate) struct UnitDone {
    pub score: f64,
    pub fitted: Params,
    pub predictions: Predictions,
    /// Single-threaded fit seconds, and the rows fitted.
    pub fit_secs: f64,
    pub fit_rows: usize,
    /// Seconds to predict the validation rows and score them: what a finished model still
    /// costs after its fit, so the search can stop fits early enough (see `UnitsCall`).
    pub predict_secs: f64,
    /// The fitted model (kept by a local search as a fallback; not sent across the cluster).
    pub model: Option<TrainedModel>,
}

/// One trial's units to fit, with everything fitting and scoring them reads.
pub(crate) struct UnitsCall<'a> {
    pub units: &'a [Unit],
    pub range: std::ops::Range<usize>,
    pub task: Task,
    pub labels: &'a [String],
    pub prob_floor: f64,
    pub evaluator: &'a EvaluatorHandle,
    pub evaluator_config: &'a str,
    pub metric: &'a str,
    pub kind: &'a str,
    pub params: &'a Params,
    pub seed: u64,
    pub threads: usize,
    /// When the search ends (read before each unit: it moves as trials report their cost).
    pub deadline: &'a dyn Fn() -> Instant,
    /// Expected seconds to predict and score a unit's validation rows once fitted (the most
    /// this search has seen for the kind; 0 before the first). A fit stops that much before
    /// the deadline, so the trial's scoring ends by it rather than after it.
    pub predict_secs: f64,
    /// Units the trial fitted before these; the first unit of a trial always runs.
    pub units_before: usize,
    pub halt: &'a AtomicBool,
    pub stopped: &'a dyn Fn() -> bool,
}

/// How long past the search's end a finished fit may still predict its validation rows
/// before the trial is given up (counted as stopped by the budget).
const PREDICT_GRACE: Duration = Duration::from_secs(1);

/// Fit and score `call.range` of the validation units in order, stopping at the first failure
/// or when the time is up. The one definition of a unit's work, used by a local search and by
/// a cluster worker serving a rung job alike.
pub(crate) fn fit_units(call: &UnitsCall) -> (Vec<UnitDone>, RungEnd) {
    let mut done = Vec::new();
    for u in call.range.clone() {
        if call.units_before + done.len() > 0
            && (Instant::now() >= (call.deadline)() || (call.stopped)())
        {
            return (done, RungEnd::Budget);
        }
        let unit = &call.units[u];
        let end = (call.deadline)();
        let fit_end = end
            .checked_sub(Duration::from_secs_f64(call.predict_secs.max(0.0)))
            .unwrap_or(end);
        let opts = FitOptions {
            threads: call.threads,
            deadline: Some(fit_end.max(Instant::now() + Duration::from_millis(1))),
            seed: call.seed,
            valid: Some((&unit.x_valid, &unit.y_valid)),
            cancel: Some(call.halt),
        };
        let f0 = Instant::now();
        let fitted = microlearn_train::fit(
            call.kind,
            call.params,
            call.task,
            &unit.x_fit,
            &unit.y_fit,
            &opts,
        )
        .map_err(|e| e.to_string());
        let fit_secs = f0.elapsed().as_secs_f64();
        let p0 = Instant::now();
        // Predicting is cut off too: a slow predictor (kNN on a large holdout) would otherwise
        // hold the search — and the budget — for minutes after its end.
        let predict_end = (call.deadline)().max(fit_end) + PREDICT_GRACE;
        let outcome = fitted.and_then(|model| {
            let halted = || call.halt.load(Ordering::Relaxed);
            let Some(mut p) =
                model.predict_until(&unit.x_valid, call.threads, predict_end, &halted)
            else {
                return Ok(None);
            };
            crate::features::apply_probability_floor(&mut p, call.prob_floor);
            let s = score(
                call.evaluator,
                call.evaluator_config,
                call.task,
                call.labels,
                &unit.y_valid_true,
                &p,
                call.metric,
            )?;
            if !s.is_finite() {
                return Err(format!("{} is not finite ({s})", call.metric));
            }
            Ok(Some((model, p, s)))
        });
        match outcome {
            Ok(None) => return (done, RungEnd::Budget),
            Ok(Some((model, predictions, score))) => {
                let predict_secs = p0.elapsed().as_secs_f64();
                tracing::debug!(
                    kind = call.kind,
                    unit = u,
                    fit_secs,
                    predict_secs,
                    "unit scored"
                );
                // Only the last unit's model is kept (the fallback): fold models are large.
                if let Some(prev) = done.last_mut() {
                    prev.model = None;
                }
                done.push(UnitDone {
                    score,
                    fitted: model.fitted_params(),
                    predictions,
                    fit_secs,
                    fit_rows: unit.x_fit.n_rows(),
                    predict_secs,
                    model: Some(model),
                });
            }
            Err(e) => return (done, RungEnd::Failed(e)),
        }
    }
    (done, RungEnd::Done)
}

/// Run one rung on the cluster and read its units back (their predictions from their blobs).
fn remote_units(
    ctx: &SearchContext,
    shared: &Shared,
    dispatch: &dyn crate::trials::TrialDispatch,
    job: &crate::trials::RungJob,
    stopped: &dyn Fn() -> bool,
) -> (Vec<UnitDone>, RungEnd, Option<String>) {
    // A job the cluster has not answered a little after the search's end is given up: its
    // fit stops at the deadline, so only a lost or starved job waits that long.
    let give_up = || stopped() || Instant::now() >= shared.search_end() + Duration::from_secs(5);
    let result = match dispatch.run(job, &give_up) {
        Ok(Some(r)) => r,
        Ok(None) => return (Vec::new(), RungEnd::Budget, None),
        Err(e) => {
            return (
                Vec::new(),
                RungEnd::Failed(format!("trial dispatch: {e}")),
                None,
            );
        }
    };
    let worker = Some(result.node.clone());
    let mut done = Vec::with_capacity(result.units.len());
    for u in &result.units {
        match crate::trials::load_predictions(ctx.store.store(), &u.predictions) {
            Ok(predictions) => done.push(UnitDone {
                score: u.score,
                fitted: u.fitted.clone(),
                predictions,
                fit_secs: u.fit_secs,
                fit_rows: u.fit_rows,
                predict_secs: u.predict_secs,
                model: None,
            }),
            Err(e) => return (done, RungEnd::Failed(e), worker),
        }
    }
    (done, result.end, worker)
}

/// The seed trial `number` of a search seeded with `seed` fits with.
fn trial_seed(seed: u64, number: usize) -> u64 {
    seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The rung job of trial `t`'s rung `rung` in a distributed search over `context`, as the
/// coordinator sent it (what names its result in the ledger).
fn rung_job(
    ctx: &SearchContext,
    context: &str,
    t: &TrialProposal,
    rung: usize,
) -> crate::trials::RungJob {
    let range = ctx.validation.units_for(rung);
    crate::trials::RungJob {
        tenant: ctx.store.name().to_string(),
        pipeline_id: ctx.pipeline_id.to_string(),
        context: context.to_string(),
        number: t.number,
        kind: t.kind.clone(),
        params: t.params.clone(),
        rung,
        units: (range.start, range.end),
        units_before: 0,
        seed: trial_seed(ctx.seed, t.number),
        deadline_unix_ms: 0,
        predict_secs: 0.0,
    }
}

/// A distributed search taken over from a coordinator that died: the out-of-fold predictions
/// of the complete trials it recorded, read back from the ledger and the predictions blobs, so
/// the ensemble chooses among the same trials as an uninterrupted search. (A local search
/// kept them in memory only: none come back.)
fn recovered_oof(ctx: &SearchContext, resumed: &[TrialRecord]) -> Vec<Oof> {
    let Executor::Remote { context, .. } = &ctx.executor else {
        return Vec::new();
    };
    let v = ctx.validation;
    let mut out = Vec::new();
    'trials: for t in resumed.iter().filter(|t| t.status == TrialStatus::Complete) {
        let Some(score) = t.score else { continue };
        let proposal = TrialProposal {
            number: t.number,
            kind: t.kind.clone(),
            params: t.params.clone(),
            warm_start: t.warm_start,
        };
        let mut preds: Vec<Option<Predictions>> = vec![None; v.units.len()];
        for rung in 0..v.rung_ends.len() {
            let job = rung_job(ctx, context, &proposal, rung);
            let Ok(Some(r)) = ctx
                .store
                .rung::<crate::trials::RungResult>(ctx.pipeline_id, &job.ledger_key())
            else {
                continue 'trials;
            };
            for u in &r.units {
                match crate::trials::load_predictions(ctx.store.store(), &u.predictions) {
                    Ok(p) if u.unit < preds.len() => preds[u.unit] = Some(p),
                    _ => continue 'trials,
                }
            }
        }
        if let Some(predictions) = assemble_oof(v, &preds) {
            out.push(Oof {
                number: t.number,
                kind: t.kind.clone(),
                score: orient(score, ctx.direction),
                predictions,
            });
        }
    }
    out
}

struct TrialRun {
    record: TrialRecord,
    oof: Option<Predictions>,
    /// Single-threaded fit seconds of the last (largest) unit, and that unit's fit rows.
    unit_secs: f64,
    unit_rows: usize,
    /// Seconds the last unit took to predict and score its validation rows.
    predict_secs: f64,
    /// The last unit's model: a fallback when there is no time left to refit on all rows.
    model: Option<TrainedModel>,
}

fn run_trial(
    ctx: &SearchContext,
    shared: &Shared,
    proposal: &TrialProposal,
    halt: &AtomicBool,
    stopped: &dyn Fn() -> bool,
) -> TrialRun {
    let started_at_ms = now_ms();
    let t0 = Instant::now();
    let v = ctx.validation;
    let n_rungs = v.rung_ends.len();
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
        duration_secs: 0.0,
        fidelity: 0.0,
        fold_scores: Vec::new(),
        workers: Vec::new(),
    };
    let mut preds: Vec<Option<Predictions>> = vec![None; v.units.len()];
    let mut fitted = Vec::new();
    let mut last_model = None;
    let (mut fit_secs, mut fit_rows, mut units_done) = (0.0, 0usize, 0usize);
    let mut predict_secs = 0.0;
    let seed = trial_seed(ctx.seed, proposal.number);
    'rungs: for rung in 0..n_rungs {
        let range = v.units_for(rung);
        let (done, end, worker) = match &ctx.executor {
            Executor::Local => {
                let (done, end) = fit_units(&UnitsCall {
                    units: &v.units,
                    range: range.clone(),
                    task: ctx.task,
                    labels: ctx.labels,
                    prob_floor: ctx.prob_floor,
                    evaluator: ctx.evaluator,
                    evaluator_config: &ctx.evaluator_config,
                    metric: ctx.metric,
                    kind: &proposal.kind,
                    params: &proposal.params,
                    seed,
                    threads: ctx.threads_per_trial,
                    deadline: &|| shared.search_end(),
                    predict_secs: shared.predict_estimate(&proposal.kind),
                    units_before: units_done,
                    halt,
                    stopped,
                });
                (done, end, None)
            }
            Executor::Remote { dispatch, context } => {
                let job = crate::trials::RungJob {
                    units_before: units_done,
                    deadline_unix_ms: now_ms()
                        + shared
                            .search_end()
                            .saturating_duration_since(Instant::now())
                            .as_millis() as i64,
                    predict_secs: shared.predict_estimate(&proposal.kind),
                    ..rung_job(ctx, context, proposal, rung)
                };
                remote_units(ctx, shared, *dispatch, &job, stopped)
            }
        };
        record.workers.extend(worker);
        for (u, d) in range.zip(done) {
            fit_secs = d.fit_secs;
            fit_rows = d.fit_rows;
            predict_secs = d.predict_secs;
            shared.saw_predict(&proposal.kind, d.predict_secs);
            fitted.push(d.fitted);
            if d.model.is_some() {
                last_model = d.model;
            }
            preds[u] = Some(d.predictions);
            record.fold_scores.push(d.score);
            units_done += 1;
        }
        match end {
            RungEnd::Done => {}
            RungEnd::Failed(e) => {
                record.status = TrialStatus::Failed;
                record.error = Some(e);
                break 'rungs;
            }
            RungEnd::Budget => {
                record.status = TrialStatus::Pruned;
                record.error = Some(format!(
                    "stopped by the time budget after {units_done} of {} validation units",
                    v.units.len()
                ));
                break 'rungs;
            }
        }
        let Some(rung_score) = v.rung_score(rung, &record.fold_scores) else {
            break;
        };
        record.score = Some(rung_score);
        let oriented = orient(rung_score, ctx.direction);
        let number = proposal.number;
        shared.with(|s| s.record(number, rung, oriented));
        if rung + 1 < n_rungs {
            let stop = || stopped() || Instant::now() >= shared.search_end();
            match shared.wait_for(&stop, |s| s.promote(number, rung)) {
                Some(true) => {}
                Some(false) => {
                    record.status = TrialStatus::Pruned;
                    break;
                }
                None => {
                    record.status = TrialStatus::Pruned;
                    record.error = Some("stopped by the time budget between rungs".into());
                    break;
                }
            }
        }
    }
    record.fidelity = v.fidelity(units_done);
    record.fitted_params = merge_fitted(&fitted);
    record.duration_secs = t0.elapsed().as_secs_f64();
    let oof = if record.status == TrialStatus::Complete {
        assemble_oof(v, &preds)
    } else {
        None
    };
    let complete = record.status == TrialStatus::Complete;
    TrialRun {
        record,
        oof,
        unit_secs: fit_secs,
        unit_rows: fit_rows,
        predict_secs,
        model: if complete { last_model } else { None },
    }
}

/// What the search produced.
pub(crate) struct SearchResult {
    pub trials: Vec<TrialRecord>,
    pub oof: Vec<Oof>,
    /// Estimated refit cost of every complete trial.
    pub costs: Vec<TrialCost>,
    /// The best complete trial's validation model per kind (trial number, model), used when
    /// its refit would not fit in the time left.
    pub fallbacks: Vec<(usize, TrainedModel)>,
}

/// Out-of-fold predictions kept in memory at most (the worst trials' are dropped beyond it).
const OOF_MEMORY_CAP: usize = 512 << 20;

/// Run trials from `scheduler` on `workers` threads. Each finished trial is persisted before
/// it counts, so the records on disk are always a duplicate-free set of trials. `resumed`
/// holds the trials an interrupted attempt recorded: the scheduler knows them and does not
/// propose their numbers again. After a stop, no further trial starts or is recorded.
pub(crate) fn run_search(
    ctx: &SearchContext,
    scheduler: Scheduler,
    workers: usize,
    observer: &dyn Observer,
    control: &RunControl,
    resumed: &[TrialRecord],
) -> Result<SearchResult, microlearn_store::StoreError> {
    let epoch = Instant::now();
    let shared = Shared {
        scheduler: Mutex::new(scheduler),
        changed: Condvar::new(),
        costs: Mutex::new(Vec::new()),
        predict_secs: Mutex::new(Vec::new()),
        end_ms: AtomicU64::new(0),
        epoch,
    };
    shared.update_end(ctx);
    let results: Mutex<Vec<TrialRecord>> = Mutex::new(resumed.to_vec());
    let oofs: Mutex<Vec<Oof>> = Mutex::new({
        let mut recovered = recovered_oof(ctx, resumed);
        cap_oof(&mut recovered);
        recovered
    });
    // Per kind: (oriented score, trial number, model).
    let fallbacks: Mutex<Vec<(String, f64, usize, TrainedModel)>> = Mutex::new(Vec::new());
    let store_error: Mutex<Option<microlearn_store::StoreError>> = Mutex::new(None);
    let failed_store = || store_error.lock().map(|e| e.is_some()).unwrap_or(true);
    let stopped = || control.is_stopped() || failed_store();
    // The search's end moves earlier as finished trials show what their refits will cost,
    // but a fit's deadline is fixed when it starts. A watcher turns the moving end (and a
    // halt) into the flag every local fit polls, so a fit started early stops when the
    // search ends, not when it was due to end at its start.
    let over = AtomicBool::new(false);
    let running = std::sync::atomic::AtomicUsize::new(workers.max(1));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while running.load(Ordering::Acquire) > 0 {
                if control.halt_flag().load(Ordering::Relaxed)
                    || Instant::now() >= shared.search_end()
                {
                    over.store(true, Ordering::Release);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                // Counted down however the worker ends (a panic included), so the watcher
                // always stops.
                struct Leaving<'a>(&'a std::sync::atomic::AtomicUsize);
                impl Drop for Leaving<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                let _leaving = Leaving(&running);
                loop {
                    let out_of_time = || {
                        over.load(Ordering::Acquire)
                            || Instant::now() >= shared.search_end()
                            || stopped()
                    };
                    if out_of_time() {
                        break;
                    }
                    let Some(Some(proposal)) = shared.wait_for(&out_of_time, |s| s.next()) else {
                        break;
                    };
                    let run = run_trial(ctx, &shared, &proposal, &over, &stopped);
                    shared.with(|s| s.end(proposal.number));
                    if control.is_stopped() {
                        // Stopped while it trained: not recorded, so a resume runs it again.
                        break;
                    }
                    if let Err(e) = ctx.store.put_trial(&run.record) {
                        if let Ok(mut slot) = store_error.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                    if run.record.status == TrialStatus::Complete
                        && let Some(score) = run.record.score
                    {
                        let oriented = orient(score, ctx.direction);
                        if let Ok(mut costs) = shared.costs.lock() {
                            let scale = ctx.validation.n_train as f64 / run.unit_rows.max(1) as f64;
                            costs.push(TrialCost {
                                number: run.record.number,
                                kind: run.record.kind.clone(),
                                score: oriented,
                                refit_secs: run.unit_secs * scale,
                                predict_secs_per_row: run.predict_secs
                                    / ctx
                                        .validation
                                        .units
                                        .first()
                                        .map_or(1, |u| u.x_valid.n_rows().max(1))
                                        as f64,
                            });
                        }
                        shared.update_end(ctx);
                        if let Some(model) = run.model
                            && let Ok(mut fb) = fallbacks.lock()
                        {
                            match fb.iter_mut().find(|f| f.0 == run.record.kind) {
                                Some(f) if f.1 >= oriented => {}
                                Some(f) => *f = (f.0.clone(), oriented, run.record.number, model),
                                None => fb.push((
                                    run.record.kind.clone(),
                                    oriented,
                                    run.record.number,
                                    model,
                                )),
                            }
                        }
                        if let Some(predictions) = run.oof
                            && let Ok(mut all) = oofs.lock()
                        {
                            all.push(Oof {
                                number: run.record.number,
                                kind: run.record.kind.clone(),
                                score: oriented,
                                predictions,
                            });
                            cap_oof(&mut all);
                        }
                    }
                    let Ok(mut all) = results.lock() else { break };
                    all.push(run.record);
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
    let mut trials = results.into_inner().unwrap_or_default();
    trials.sort_by_key(|t| t.number);
    let mut oof = oofs.into_inner().unwrap_or_default();
    oof.sort_by_key(|o| o.number);
    Ok(SearchResult {
        trials,
        oof,
        costs: shared.costs.into_inner().unwrap_or_default(),
        fallbacks: fallbacks
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .map(|(_, _, n, m)| (n, m))
            .collect(),
    })
}

fn cap_oof(all: &mut Vec<Oof>) {
    let size = |o: &Oof| o.predictions.raw().len() * 8;
    while all.iter().map(size).sum::<usize>() > OOF_MEMORY_CAP && all.len() > 1 {
        let worst = all
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(i, _)| i)
            .expect("not empty");
        all.swap_remove(worst);
    }
}

/// Best score among complete trials.
pub(crate) fn best_score(trials: &[TrialRecord], direction: Direction) -> Option<f64> {
    trials
        .iter()
        .filter(|t| t.status == TrialStatus::Complete)
        .filter_map(|t| t.score)
        .fold(None, |best, s| match best {
            Some(b) if !direction.better(s, b) => Some(b),
            _ => Some(s),
        })
}

/// The best complete trial of each kind, best first (ties: lower trial number first). When no
/// trial completed (a budget too small for one full evaluation), the best of the partially
/// evaluated ones, so the pipeline still returns a model.
pub(crate) fn best_per_kind(trials: &[TrialRecord], direction: Direction) -> Vec<&TrialRecord> {
    let any_complete = trials
        .iter()
        .any(|t| t.status == TrialStatus::Complete && t.score.is_some());
    let mut best: Vec<&TrialRecord> = Vec::new();
    for t in trials.iter().filter(|t| {
        t.score.is_some()
            && (t.status == TrialStatus::Complete
                || (!any_complete && t.status == TrialStatus::Pruned))
    }) {
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
