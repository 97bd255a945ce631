//! Train: refit the finalists (the best trial of each top kind, and the ensemble's members) on
//! all training rows in parallel within what is left of the budget, and assemble the ensemble
//! from the refit members.

use crate::PipelineError;
use crate::features::train_target;
use crate::search::{orient, refit_params};
use crate::stages::ingest::Ingested;
use crate::stages::optimize::Optimized;
use crate::stages::prepare::Prepared;
use crate::stages::{RunCtx, StageOutput};
use microlearn_core::{Params, Task};
use microlearn_store::{PipelineRecord, TrialRecord};
use microlearn_train::{EnsembleModel, FitOptions, TrainedModel};
use std::time::{Duration, Instant};

/// What the train stage reads.
pub(crate) struct TrainInput<'a, 'o> {
    pub data: &'a Ingested,
    pub prepared: &'a Prepared,
    pub optimized: &'a Optimized<'o>,
}

/// What the train stage produced: the models headed for the leaderboard.
pub(crate) struct Trained {
    /// The ensemble (when there is one) first, then the best single model of each top kind,
    /// best validation score first.
    pub models: Vec<Finalist>,
    /// How many finalists were refit on all rows.
    pub refit_count: usize,
    /// Finalists whose validation model stands in for lack of time, for the summary.
    pub kept: Vec<String>,
}

impl StageOutput for Trained {
    fn summary(&self) -> String {
        format!(
            "{} refits for {} leaderboard models{}",
            self.refit_count,
            self.models.len(),
            if self.kept.is_empty() {
                String::new()
            } else {
                format!(", {} validation models kept", self.kept.len())
            }
        )
    }
}

/// A refit model headed for the leaderboard.
pub(crate) struct Finalist {
    pub kind: String,
    pub trial: usize,
    pub params: Params,
    pub validation_score: f64,
    pub model: TrainedModel,
    pub fit_secs: f64,
    /// Whether it was refit on all training rows (else it is the trial's validation model,
    /// because the refit would not have fitted in the budget).
    pub refit: bool,
    /// Whether it is one of the best single models of its kind (listed on the leaderboard);
    /// ensemble-only members are refit for the ensemble and not listed alone.
    pub single: bool,
}

#[allow(clippy::too_many_lines)]
pub(crate) fn run(
    ctx: &RunCtx<'_>,
    pipeline: &PipelineRecord,
    input: TrainInput<'_, '_>,
) -> Result<Trained, PipelineError> {
    let TrainInput {
        data,
        prepared,
        optimized: opt,
    } = input;
    let refit_top = ctx.config.refit_top;
    let budget = ctx.config.budget_secs;
    let ranked = &opt.ranked;
    let direction = opt.objective.direction;
    // An attempt interrupted after its refits recorded models that this attempt replaces,
    // except those a deployment serves or can roll back to: an attempt that crashed after
    // storing its deployment but before marking the pipeline done left one, and deleting
    // it would leave that deployment pointing at nothing.
    let deployed: std::collections::HashSet<String> = ctx
        .tenant
        .deployments()?
        .into_iter()
        .flat_map(|d| std::iter::once(d.model_id).chain(d.history))
        .collect();
    for stale in ctx.tenant.models()? {
        if stale.pipeline_id == pipeline.id && !deployed.contains(&stale.id) {
            ctx.tenant.delete_model(&stale.id)?;
        }
    }
    let y_train = train_target(&data.train_y, &data.train_rows());
    // Refit order is priority order: the best single model first (the pipeline must
    // return it), then ensemble members by weight, then the other kinds' best.
    let mut order: Vec<&TrialRecord> = vec![opt.best()];
    if let Some(sel) = &opt.ensemble {
        let mut members = sel.members.clone();
        members.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (number, _) in members {
            if let Some(t) = opt.trials.iter().find(|t| t.number == number)
                && !order.iter().any(|o| o.number == number)
            {
                order.push(t);
            }
        }
    }
    for t in ranked.iter().take(refit_top).skip(1) {
        if !order.iter().any(|o| o.number == t.number) {
            order.push(t);
        }
    }
    let refit_deadline = opt
        .budget_end
        .checked_sub(Duration::from_secs_f64(opt.eval_secs))
        .unwrap_or(opt.budget_end)
        .max(Instant::now() + Duration::from_secs_f64(budget * 0.05));
    let jobs: Vec<RefitJob> = order
        .iter()
        .map(|t| RefitJob {
            trial: t,
            estimate_secs: opt
                .costs
                .iter()
                .find(|c| c.number == t.number)
                .map_or(0.0, |c| c.refit_secs),
            fallback: opt
                .fallbacks
                .iter()
                .find(|(n, _)| *n == t.number)
                .map(|(_, m)| m),
        })
        .collect();
    let refits = refit_all(
        &jobs,
        data.train_y.task,
        &prepared.x_train,
        &y_train,
        ctx.threads,
        ctx.config.seed,
        refit_deadline,
        ctx.control.halt_flag(),
    );
    ctx.control.check()?;
    let mut finalists: Vec<Finalist> = Vec::new();
    for (trial, result) in order.iter().zip(refits) {
        let (model, secs, refit) = match result {
            Ok(Refit::Fitted(model, secs)) => (model, secs, true),
            Ok(Refit::Kept(model)) => (model, 0.0, false),
            Ok(Refit::Skipped) => {
                ctx.observer.note(&format!(
                    "no time left to refit ensemble member trial {} ({}); the ensemble goes without it",
                    trial.number, trial.kind
                ));
                continue;
            }
            // The best model must refit; a failing extra is left out with a note.
            Err(source) if trial.number == opt.best().number => {
                return Err(PipelineError::Train {
                    kind: trial.kind.clone(),
                    source,
                });
            }
            Err(e) => {
                ctx.observer.note(&format!(
                    "refit of trial {} ({}) failed and is left out: {e}",
                    trial.number, trial.kind
                ));
                continue;
            }
        };
        finalists.push(Finalist {
            refit,
            kind: trial.kind.clone(),
            trial: trial.number,
            params: refit_params(trial),
            validation_score: trial.score.unwrap_or(f64::NAN),
            model,
            fit_secs: secs,
            single: ranked
                .iter()
                .take(refit_top)
                .any(|r| r.number == trial.number),
        });
    }
    let kept: Vec<String> = finalists
        .iter()
        .filter(|f| !f.refit)
        .map(|f| format!("trial {} ({})", f.trial, f.kind))
        .collect();
    if !kept.is_empty() {
        ctx.observer.note(&format!(
            "no time left to refit {} on all rows; the validation model stands in",
            kept.join(", ")
        ));
    }
    let refit_count = finalists.iter().filter(|f| f.refit).count();
    let mut models: Vec<Finalist> = Vec::new();
    if let Some(sel) = &opt.ensemble {
        let members: Vec<(f64, TrainedModel)> = sel
            .members
            .iter()
            .filter_map(|(number, count)| {
                finalists
                    .iter()
                    .find(|f| f.trial == *number)
                    .map(|f| (*count as f64, f.model.clone()))
            })
            .collect();
        let heaviest = sel
            .members
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map_or(opt.best().number, |m| m.0);
        let fit_secs: f64 = finalists
            .iter()
            .filter(|f| sel.members.iter().any(|(n, _)| *n == f.trial))
            .map(|f| f.fit_secs)
            .sum();
        if members.len() >= 2 {
            match EnsembleModel::new(members) {
                Ok(e) => {
                    let model = TrainedModel::Ensemble(e);
                    models.push(Finalist {
                        kind: microlearn_train::ENSEMBLE.into(),
                        trial: heaviest,
                        params: model.fitted_params(),
                        validation_score: orient(sel.score, direction),
                        model,
                        fit_secs,
                        refit: true,
                        single: false,
                    });
                }
                Err(e) => ctx.observer.note(&format!("ensemble left out: {e}")),
            }
        }
    }
    models.extend(finalists.into_iter().filter(|f| f.single));
    Ok(Trained {
        models,
        refit_count,
        kept,
    })
}

/// What became of one refit job.
enum Refit {
    /// Refit on all training rows, in this many seconds.
    Fitted(TrainedModel, f64),
    /// Not refit for lack of time: the trial's validation model stands in.
    Kept(TrainedModel),
    /// Not refit for lack of time and nothing to stand in (an ensemble-only member).
    Skipped,
}

/// One refit to do.
struct RefitJob<'a> {
    trial: &'a TrialRecord,
    /// Estimated single-threaded seconds on all training rows.
    estimate_secs: f64,
    /// The trial's own validation model, used if the refit would not finish in time.
    fallback: Option<&'a TrainedModel>,
}

/// Refit each trial on all training rows, in parallel (`threads` cores shared so that every
/// refit gets at least one); results in `jobs`' order, with whether a refit happened. A refit
/// estimated to overrun the deadline is not started when the trial's validation model can
/// stand in: a model trained on most of the rows beats one cut off after a few rounds.
#[allow(clippy::too_many_arguments)]
fn refit_all(
    jobs: &[RefitJob],
    task: Task,
    x: &microlearn_train::Matrix,
    y: &microlearn_train::Target,
    threads: usize,
    seed: u64,
    deadline: Instant,
    halt: &std::sync::atomic::AtomicBool,
) -> Vec<Result<Refit, microlearn_train::TrainError>> {
    type Slot = std::sync::Mutex<Option<Result<Refit, microlearn_train::TrainError>>>;
    let workers = threads.min(jobs.len()).max(1);
    let per_fit = (threads / workers).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<Slot> = jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let left = deadline
                        .saturating_duration_since(Instant::now())
                        .as_secs_f64();
                    let too_long = job.estimate_secs * 1.3 / per_fit as f64 > left;
                    let result = match job.fallback {
                        Some(model) if too_long => Ok(Refit::Kept(model.clone())),
                        // An ensemble-only member that cannot refit in time is left out
                        // rather than cut short.
                        None if too_long && i > 0 => Ok(Refit::Skipped),
                        _ => {
                            let t0 = Instant::now();
                            microlearn_train::fit(
                                &job.trial.kind,
                                &refit_params(job.trial),
                                task,
                                x,
                                y,
                                &FitOptions {
                                    threads: per_fit,
                                    deadline: Some(deadline),
                                    seed,
                                    valid: None,
                                    // A cancelled refit ends at its next round; the caller's
                                    // `control.check()` then ends the pipeline instead of
                                    // recording the partial model.
                                    cancel: Some(halt),
                                },
                            )
                            .map(|m| Refit::Fitted(m, t0.elapsed().as_secs_f64()))
                        }
                    };
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(microlearn_train::TrainError::EmptyData {
                    what: "refit did not run".into(),
                })
            })
        })
        .collect()
}
