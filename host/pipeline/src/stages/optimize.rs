//! Optimize: size the search to memory, choose how trials are validated, pick the objective's
//! evaluator, run the seeded search under the budget (continuing a resumed pipeline's recorded
//! trials), and select an ensemble from the trials' out-of-fold predictions.
//!
//! The search loop itself is in `crate::search`; this stage decides its inputs and reads its
//! result.

use crate::PipelineError;
use crate::config::{PipelineConfig, PluginRef, default_metric};
use crate::ensemble::SelectionByTrial;
use crate::features::{train_target, y_true};
use crate::search::{
    Executor, Oof, SearchContext, SearchResult, TrialCost, Unit, Validation, best_per_kind, orient,
    probe_objective, run_search, score,
};
use crate::stages::ingest::Ingested;
use crate::stages::prepare::Prepared;
use crate::stages::{RunCtx, StageOutput};
use microlearn_core::{Direction, Task};
use microlearn_data::TargetInfo;
use microlearn_hpo::{PlannerCandidate, Scheduler};
use microlearn_plugins::EvaluatorHandle;
use microlearn_store::{PipelineRecord, TrialRecord, TrialStatus};
use microlearn_train::{Matrix, Predictions, TrainedModel};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the optimize stage reads. The data is borrowed mutably for one reason: a holdout
/// search reorders the training rows and their targets (see `build_validation`).
pub(crate) struct OptimizeInput<'d, 'a> {
    pub data: &'d mut Ingested,
    pub prepared: &'d mut Prepared,
    /// The selector's planned candidates.
    pub candidates: Vec<PlannerCandidate>,
    /// Evaluators for this task; the first that computes the objective scores the trials.
    pub evaluators: &'a [(EvaluatorHandle, PluginRef)],
}

/// The objective the trials were scored by, and so the leaderboard is ranked by.
pub(crate) struct Objective<'a> {
    pub metric: String,
    pub direction: Direction,
    pub evaluator: &'a EvaluatorHandle,
}

/// What the optimize stage produced.
pub(crate) struct Optimized<'a> {
    /// Every trial, by number (the resumed ones included).
    pub trials: Vec<TrialRecord>,
    /// The best complete trial of each kind, best first; never empty.
    pub ranked: Vec<TrialRecord>,
    /// Estimated refit cost of every complete trial.
    pub costs: Vec<TrialCost>,
    /// The best complete trial's validation model per kind (trial number, model).
    pub fallbacks: Vec<(usize, TrainedModel)>,
    /// The ensemble's members by trial number, when a mix beats the best single trial.
    pub ensemble: Option<SelectionByTrial>,
    pub objective: Objective<'a>,
    /// Probability floor every classifier's predictions get (see
    /// `features::probability_floor`).
    pub prob_floor: f64,
    /// When the whole pipeline must be done.
    pub budget_end: Instant,
    /// Seconds kept for held-out evaluation, the deployer and writing bundles.
    pub eval_secs: f64,
}

impl Optimized<'_> {
    /// The best trial (the first refit, and the model the pipeline must return).
    pub fn best(&self) -> &TrialRecord {
        &self.ranked[0]
    }
}

impl StageOutput for Optimized<'_> {
    fn summary(&self) -> String {
        let metric = &self.objective.metric;
        let complete = self
            .trials
            .iter()
            .filter(|t| t.status == TrialStatus::Complete)
            .count();
        let pruned = self
            .trials
            .iter()
            .filter(|t| t.status == TrialStatus::Pruned)
            .count();
        format!(
            "{} trials ({complete} complete, {pruned} pruned), best {metric} {:.4}{}",
            self.trials.len(),
            self.best().score.unwrap_or(f64::NAN),
            match &self.ensemble {
                Some(e) => format!(
                    "; ensemble of {} members, {metric} {:.4} out of fold",
                    e.members.len(),
                    orient(e.score, self.objective.direction)
                ),
                None => String::new(),
            }
        )
    }
}

#[allow(clippy::too_many_lines)]
pub(crate) fn run<'a>(
    ctx: &RunCtx<'_>,
    pipeline: &PipelineRecord,
    input: OptimizeInput<'_, 'a>,
) -> Result<Optimized<'a>, PipelineError> {
    let config = ctx.config;
    let (n_rows, n_cols) = (
        input.prepared.x_train.n_rows(),
        input.prepared.x_train.n_cols(),
    );
    let task = input.data.train_y.task;
    let n_labels = input.data.train_y.labels.len();
    let planned = input.candidates;
    let threads = ctx.threads;
    let metric = config
        .metric
        .clone()
        .unwrap_or_else(|| default_metric(task).to_string());
    let threads_f = threads as f64;
    // Trials run concurrently only as far as memory allows; when even one would not fit,
    // the search trains on a seeded sample of the rows (the refit still uses them all).
    let per_trial = planned
        .iter()
        .map(|c| microlearn_train::estimate_fit_bytes(&c.kind, n_rows, n_cols, n_labels, 1))
        .max()
        .unwrap_or(0);
    let memory = microlearn_train::plan_memory(
        per_trial,
        threads,
        microlearn_train::available_memory_bytes(),
    );
    if memory.row_fraction < 1.0 {
        ctx.observer.note(&format!(
            "memory: a trial on all {n_rows} rows needs about {} MiB; the search fits on {:.0}% of them",
            per_trial >> 20,
            100.0 * memory.row_fraction
        ));
    }
    if memory.workers < threads {
        ctx.observer.note(&format!(
            "memory: {} trials at a time instead of {threads} (about {} MiB each)",
            memory.workers,
            per_trial >> 20
        ));
    }
    let validation = build_validation(
        config,
        &mut input.data.train_y,
        &mut input.prepared.x_train,
        memory.row_fraction,
    );
    let (data, x_train, x_test) = (
        &*input.data,
        &input.prepared.x_train,
        &input.prepared.x_test,
    );
    let labels = &data.train_y.labels;
    ctx.observer.note(&validation_summary(&validation));
    // The first evaluator that computes the objective scores the trials; each is probed
    // once, and the reasons of those that do not are kept for the error.
    let mut refusals = Vec::new();
    let mut objective = None;
    for (h, r) in input.evaluators {
        match probe_objective(
            h,
            &r.config_string(),
            task,
            labels,
            &validation.oof_true,
            &metric,
        ) {
            Ok(direction) => {
                objective = Some((h, direction, r));
                break;
            }
            Err(why) => refusals.push(why),
        }
    }
    let (objective_eval, direction, objective_ref) = objective.ok_or_else(|| {
        PipelineError::Config(format!(
            "no evaluator computes the objective '{metric}' for {task} tasks ({})",
            refusals.join("; ")
        ))
    })?;
    let budget_end = ctx.started + Duration::from_secs_f64(config.budget_secs);
    // Trials are scored with the floor the deployed model will use, so the search selects
    // for what ships.
    let prob_floor = crate::features::probability_floor(x_train.n_rows(), labels.len());
    let budget = config.budget_secs;
    let refit_top = config.refit_top;
    let test_rows = x_test.n_rows();
    // What the search keeps back: refitting the likely finalists (the best trial of each
    // of the top kinds, and two more ensemble members) on the cores in parallel, plus
    // evaluating them on the held-out rows at the speed each predicted in the search, and
    // bundling. Between 5% and 45% of the budget.
    let reserve = move |costs: &[TrialCost]| -> Duration {
        let finalists = likely_finalists(costs, refit_top);
        let refit: f64 = finalists.iter().map(|c| c.refit_secs).sum();
        let secs = 1.25 * refit / threads_f.max(1.0)
            + eval_reserve_secs(budget, test_rows, threads_f, &finalists);
        Duration::from_secs_f64(secs.clamp(0.05 * budget, 0.45 * budget))
    };
    // A seeded search with a trial count is reproducible: trial n sees exactly the results
    // of the trials numbered below n − lag. The lag is a constant, not this machine's core
    // count, so the sequence is the same on any machine and on a cluster of any size (which
    // then runs at most about `lag` of its trials at a time).
    let lag = config.max_trials.map(|_| REPRODUCIBLE_LAG);
    let mut scheduler = Scheduler::new(
        planned,
        config.seed,
        config.max_trials,
        validation.rung_ends.len(),
        3.0,
        lag,
    );
    scheduler.resume(
        &ctx.resumed
            .iter()
            .map(|t| validation.resumed(t, direction))
            .collect::<Vec<_>>(),
    );
    // In a cluster the trials go to the workers, which read the validation units from one
    // content-addressed blob per search.
    let executor = match ctx.engine.trials() {
        Some(dispatch) => {
            let bytes = crate::trials::encode_context(
                &pipeline.id,
                task,
                labels,
                prob_floor,
                &objective_ref.id,
                &objective_ref.config_string(),
                &metric,
                &validation.units,
            )
            .map_err(PipelineError::Config)?;
            let context = ctx.engine.store().artefacts().put(&bytes)?.sha256;
            Executor::Remote { dispatch, context }
        }
        None => Executor::Local,
    };
    // Locally, trials run one per core (as far as memory allows); in a cluster, one per
    // live worker slot.
    let workers = match &executor {
        Executor::Local => memory.workers,
        Executor::Remote { dispatch, .. } => dispatch.slots().max(1),
    };
    let context_blob = match &executor {
        Executor::Remote { context, .. } => Some(context.clone()),
        Executor::Local => None,
    };
    let search = SearchContext {
        task,
        labels,
        prob_floor,
        validation: &validation,
        evaluator: objective_eval,
        evaluator_config: objective_ref.config_string(),
        metric: &metric,
        direction,
        seed: config.seed,
        threads_per_trial: 1,
        budget_end,
        reserve: &reserve,
        pipeline_id: &pipeline.id,
        store: ctx.tenant,
        executor,
    };
    ctx.observer.search_started(
        budget_end
            .checked_sub(reserve(&[]))
            .unwrap_or(budget_end)
            .saturating_duration_since(Instant::now()),
    );
    // Trials run one per core; each trial trains single-threaded, which keeps every core
    // busy without oversubscribing.
    let SearchResult {
        trials,
        oof,
        costs,
        fallbacks,
    } = run_search(
        &search,
        scheduler,
        workers,
        ctx.observer,
        ctx.control,
        ctx.resumed,
    )?;
    if let Some(sha) = context_blob {
        // No job of this search runs after it (a late one finds its pipeline ended); a
        // coordinator taking over stores the same bytes again.
        if let Err(e) = ctx.engine.store().artefacts().remove(&sha) {
            tracing::warn!(pipeline = %pipeline.id, error = %e, "removing the search context");
        }
    }
    ctx.control.check()?;
    let eval_secs = eval_reserve_secs(
        budget,
        test_rows,
        threads_f,
        &likely_finalists(&costs, refit_top),
    );
    let ranked: Vec<TrialRecord> = best_per_kind(&trials, direction)
        .into_iter()
        .cloned()
        .collect();
    if ranked.is_empty() {
        let failed: Vec<&TrialRecord> = trials
            .iter()
            .filter(|t| t.status == TrialStatus::Failed)
            .collect();
        return Err(PipelineError::NoModel {
            budget_secs: config.budget_secs,
            failed: failed.len(),
            first_error: failed
                .first()
                .and_then(|t| t.error.as_ref())
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
        });
    }
    // Ensemble selection over the out-of-fold predictions of complete trials.
    let ensemble = select_ensemble(
        &oof,
        &validation.oof_true,
        &metric,
        task,
        direction,
        |p: &Predictions| {
            score(
                objective_eval,
                &objective_ref.config_string(),
                task,
                labels,
                &validation.oof_true,
                p,
                &metric,
            )
            .map(|s| orient(s, direction))
            .unwrap_or(f64::NEG_INFINITY)
        },
    );
    Ok(Optimized {
        trials,
        ranked,
        costs,
        fallbacks,
        ensemble,
        objective: Objective {
            metric,
            direction,
            evaluator: objective_eval,
        },
        prob_floor,
        budget_end,
        eval_secs,
    })
}

/// Trials a reproducible (seeded, counted) search may have in flight: see `run`.
const REPRODUCIBLE_LAG: usize = 4;

/// Rows per stratified fold below which one fold is too noisy to judge a trial by: such
/// searches score every fold of every trial (no pruning).
const MIN_ROWS_FOR_PRUNING: usize = 2_000;

/// Cells (rows × prepared columns) per budget-minute up to which k-fold cross-validation is
/// affordable; larger data is scored on one holdout whose fit rows grow by rung.
const CV_CELLS_PER_MINUTE: f64 = 2.5e6;

/// Fit rows per rung at the smallest row fraction below which a holdout search is not pruned.
const MIN_RUNG_ROWS: usize = 5_000;

/// Rows a holdout search scores every trial on, at most (see `build_validation`).
const MAX_HOLDOUT_ROWS: usize = 200_000;

/// Cells (rows × prepared columns) of the first rung of a large holdout search: see
/// `rung_sizes`.
const FIRST_RUNG_CELLS: f64 = 2.0e6;

/// Choose and build the validation units: k stratified folds when the data is small enough
/// for the budget (or `config.folds` says so), else one stratified holdout whose fit rows grow
/// by rung (…, 1/9, 1/3, all) so ASHA can drop weak configurations cheaply. The holdout
/// reorders the training rows (and their targets) so its units are views; see below.
fn build_validation(
    config: &PipelineConfig,
    train_y: &mut TargetInfo,
    x_train: &mut Matrix,
    row_fraction: f64,
) -> Validation {
    let n = x_train.n_rows();
    let cells = n as f64 * x_train.n_cols().max(1) as f64;
    let affordable = cells <= CV_CELLS_PER_MINUTE * (config.budget_secs / 60.0);
    let k = match config.folds {
        Some(k) => k,
        None if affordable && row_fraction >= 1.0 && n >= 10 => 5,
        None => 1,
    }
    .min(n / 2)
    .max(1);
    if k >= 2 {
        let folds = microlearn_data::stratified_folds(train_y, k, config.seed.wrapping_add(1));
        let units = (0..k)
            .map(|f| {
                let valid = folds[f].clone();
                let fit: Vec<usize> = folds
                    .iter()
                    .enumerate()
                    .filter(|&(g, _)| g != f)
                    .flat_map(|(_, rows)| rows.iter().copied())
                    .collect();
                let x_valid = Arc::new(x_train.take_rows(&valid));
                unit(train_y, x_train, &fit, valid, x_valid)
            })
            .collect();
        let rung_ends = if n < MIN_ROWS_FOR_PRUNING {
            vec![k]
        } else {
            vec![1, k]
        };
        return Validation {
            units,
            cross_validated: true,
            rung_ends,
            n_train: n,
            oof_true: y_true(train_y, &(0..train_y.y.len()).collect::<Vec<_>>()),
        };
    }
    // A holdout of a few hundred thousand rows ranks trials as surely as a fifth of ten
    // million does, and every trial predicts it: large data keeps the rest for fitting.
    let fraction = config
        .validation_fraction
        .min(MAX_HOLDOUT_ROWS as f64 / n.max(1) as f64);
    let split = microlearn_data::stratified_split(train_y, fraction, config.seed.wrapping_add(1));
    // Each rung fits on a seeded random sample of the fit rows (files are often ordered by
    // time or class, so a prefix of the file would be a biased sample). The training rows are
    // reordered once — fit rows shuffled, then the holdout — so that every rung is a prefix
    // of the matrix and the holdout its tail: views of one matrix, not copies (on millions of
    // rows the copies were 1.4× the matrix). The refits see the same rows in the new order.
    // Under memory pressure the largest rung is itself a sample.
    let n_fit = split.train.len();
    let mut order = microlearn_data::shuffle_rows(&split.train, config.seed.wrapping_add(2));
    order.extend_from_slice(&split.test);
    x_train.permute_rows(&order);
    train_y.y = order.iter().map(|&r| train_y.y[r]).collect();
    drop(order);
    let full = ((n_fit as f64 * row_fraction.min(1.0)) as usize).max(1);
    let takes = rung_sizes(full, x_train.n_cols());
    let valid: Vec<usize> = (n_fit..n).collect();
    // Every rung scores on the same holdout rows: one view and one set of targets for all.
    let x_valid = Arc::new(x_train.rows(n_fit..n));
    let (y_valid, oof_true) = (train_target(train_y, &valid), y_true(train_y, &valid));
    let units: Vec<Unit> = takes
        .iter()
        .map(|&take| Unit {
            x_fit: x_train.rows(0..take),
            y_fit: train_target(train_y, &(0..take).collect::<Vec<_>>()),
            x_valid: x_valid.clone(),
            y_valid: y_valid.clone(),
            y_valid_true: oof_true.clone(),
            valid_rows: valid.clone(),
        })
        .collect();
    Validation {
        rung_ends: (1..=units.len()).collect(),
        units,
        cross_validated: false,
        n_train: n,
        oof_true,
    }
}

/// Fit rows of each rung of a holdout search, smallest first: a third of the next, from all
/// `full` rows down while a rung keeps [`MIN_RUNG_ROWS`], three rungs at most — except that
/// large data gets more, until the first rung is about [`FIRST_RUNG_CELLS`], so the first
/// trials report within seconds even on millions of rows (at 10M rows a ninth of the fit rows
/// took longer than a 60 s budget leaves to the search).
fn rung_sizes(full: usize, cols: usize) -> Vec<usize> {
    let mut sizes = vec![full];
    loop {
        let last = *sizes.last().expect("starts non-empty");
        let next = last / 3;
        let large = (last * cols.max(1)) as f64 > FIRST_RUNG_CELLS;
        if next < MIN_RUNG_ROWS || (sizes.len() >= 3 && !large) {
            break;
        }
        sizes.push(next);
    }
    sizes.reverse();
    sizes
}

/// A unit fitting on rows `fit` and scoring on rows `valid`, whose matrix is `x_valid` (shared
/// by the units that score on the same rows).
fn unit(
    train_y: &TargetInfo,
    x_train: &Matrix,
    fit: &[usize],
    valid: Vec<usize>,
    x_valid: Arc<Matrix>,
) -> Unit {
    Unit {
        x_fit: x_train.take_rows(fit),
        y_fit: train_target(train_y, fit),
        x_valid,
        y_valid: train_target(train_y, &valid),
        y_valid_true: y_true(train_y, &valid),
        valid_rows: valid,
    }
}

fn validation_summary(v: &Validation) -> String {
    if v.cross_validated {
        format!(
            "validation: {}-fold stratified cross-validation{}",
            v.units.len(),
            if v.rung_ends.len() > 1 {
                "; trials that rank in the bottom two thirds on the first fold are pruned"
            } else {
                ""
            }
        )
    } else {
        format!(
            "validation: one holdout of {} rows; trials fit on {} rows at successive rungs",
            v.oof_true.len(),
            v.units
                .iter()
                .map(|u| u.x_fit.n_rows().to_string())
                .collect::<Vec<_>>()
                .join(" → ")
        )
    }
}

/// The trials most likely to reach the leaderboard, so the ones whose refit and evaluation
/// the search keeps time for: the best of each of the top `refit_top` kinds, and two more
/// (ensemble members).
fn likely_finalists(costs: &[TrialCost], refit_top: usize) -> Vec<&TrialCost> {
    let mut sorted: Vec<&TrialCost> = costs.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kinds: Vec<&str> = Vec::new();
    let mut picked: Vec<&TrialCost> = Vec::new();
    for c in &sorted {
        if kinds.len() < refit_top && !kinds.contains(&c.kind.as_str()) {
            kinds.push(&c.kind);
            picked.push(c);
        }
    }
    let extras: Vec<&TrialCost> = sorted
        .iter()
        .filter(|c| !picked.iter().any(|p| p.number == c.number))
        .take(2)
        .copied()
        .collect();
    picked.extend(extras);
    picked
}

/// Seconds kept for held-out evaluation, the deployer and writing bundles: a small share of
/// the budget, a per-row cost of the metrics, curves and predictions written for each
/// finalist, and each finalist's own prediction speed as measured in the search (on one
/// thread; evaluation predicts on all `threads`), half as much again since its refit on all
/// rows is a larger model than the one measured (a forest's trees grow deeper). So a slow
/// predictor on many test rows does not push the run past its budget. Before any trial has
/// finished, one finalist at the fixed cost.
fn eval_reserve_secs(budget: f64, test_rows: usize, threads: f64, finalists: &[&TrialCost]) -> f64 {
    const PER_ROW: f64 = 3e-6;
    let rows = test_rows as f64;
    let measured: f64 = finalists
        .iter()
        .map(|c| rows * (PER_ROW + 1.5 * c.predict_secs_per_row / threads.max(1.0)))
        .sum();
    0.02 * budget + 0.3 + measured.max(rows * PER_ROW)
}

/// Caruana selection over the complete trials' out-of-fold predictions: `None` when fewer
/// than two trials completed or no mix beats the best single trial.
fn select_ensemble(
    oof: &[Oof],
    y: &[f64],
    metric: &str,
    task: Task,
    direction: Direction,
    plugin_score: impl Fn(&Predictions) -> f64,
) -> Option<SelectionByTrial> {
    let native = crate::ensemble::native_metric(metric, task).is_some();
    // The plugin path costs a component call per evaluation: fewer candidates and rounds.
    let (max_candidates, rounds, max_rows) = if native {
        (24, 40, 20_000)
    } else {
        (8, 12, usize::MAX)
    };
    let cands = crate::ensemble::candidates(oof, max_candidates);
    if cands.len() < 2 {
        return None;
    }
    let preds: Vec<&Predictions> = cands.iter().map(|c| &c.predictions).collect();
    let sel = if native {
        let (y_sub, p_sub) = crate::ensemble::restrict(y, &preds, max_rows);
        let scorer = crate::ensemble::native_scorer(metric, task, direction, y_sub)?;
        let refs: Vec<&Predictions> = p_sub.iter().collect();
        crate::ensemble::select(&refs, rounds, &scorer)?
    } else {
        crate::ensemble::select(&preds, rounds, &plugin_score)?
    };
    if sel.members.len() < 2 || sel.score <= sel.best_single {
        return None;
    }
    // The reported validation score comes from the objective's evaluator, like every trial's.
    let total: usize = sel.members.iter().map(|m| m.1).sum();
    let mut mixed = preds[0].zeros_like();
    for &(i, count) in &sel.members {
        mixed.add_weighted(preds[i], count as f64 / total as f64);
    }
    // Rows a regression trial left unpredicted (NaN) would poison the score: keep the
    // native restriction's view in that case.
    let score = plugin_score(&mixed);
    Some(SelectionByTrial {
        members: sel
            .members
            .iter()
            .map(|&(i, c)| (cands[i].number, c))
            .collect(),
        score: if score.is_finite() { score } else { sel.score },
    })
}

#[cfg(test)]
mod tests {
    use super::rung_sizes;

    #[test]
    fn holdout_rungs_keep_three_thirds_until_the_data_is_large() {
        assert_eq!(rung_sizes(4_000, 20), vec![4_000]);
        assert_eq!(rung_sizes(20_000, 20), vec![6_666, 20_000]);
        assert_eq!(rung_sizes(640_000, 20), vec![71_111, 213_333, 640_000]);
        // Millions of rows: the first rung stays near FIRST_RUNG_CELLS, so the first trials
        // report within seconds.
        let big = rung_sizes(6_400_000, 20);
        assert_eq!(big.len(), 5, "{big:?}");
        assert!(big[0] * 20 <= 2_000_000 && big[0] >= 5_000, "{big:?}");
        assert!(big.windows(2).all(|w| w[0] * 3 <= w[1] + 2), "{big:?}");
        assert_eq!(*big.last().unwrap(), 6_400_000);
    }
}
