//! The pipeline's stages, one module each, in the order a run takes them:
//!
//! | stage | reads | produces |
//! |---|---|---|
//! | [`ingest`] | the input files | [`ingest::Ingested`]: training and held-out rows |
//! | [`prepare`] | `Ingested`, preparers | [`prepare::Prepared`]: the fitted chain, matrices |
//! | [`select`] | `Ingested`, `Prepared`'s width, selector | [`select::Selected`]: candidates |
//! | `optimize` | `Ingested`, `Prepared`, `Selected`, evaluators | `Optimized`: trials, ensemble |
//! | `train` | `Ingested`, `Prepared`, `Optimized` | `Trained`: the leaderboard models |
//! | `evaluate` | `Ingested`, `Prepared`, `Trained`, evaluators | `Evaluated`: held-out results |
//! | `deploy` | `Ingested`, `Prepared`, `Evaluated`, deployer | `Deployed`: records, decision |
//!
//! Each stage is a function from its input to its output; `RunCtx::run_stages` records every
//! stage's start and end around it. The first three touch no store, so they are `pub` for the
//! crate's integration tests (`host/pipeline/tests/`), which drive them on real plugins; this
//! module is hidden from the docs and is not an API to build on.

pub mod ingest;
pub mod prepare;
pub mod select;

pub(crate) mod deploy;
pub(crate) mod evaluate;
pub(crate) mod optimize;
pub(crate) mod train;

use crate::PipelineError;
use crate::config::{PipelineConfig, PluginRef};
use crate::control::RunControl;
use crate::engine::{Engine, PipelineOutcome, stage_plugin_kind};
use crate::observer::Observer;
use microlearn_core::{PipelineStatus, Stage};
use microlearn_plugins::{DeployerHandle, EvaluatorHandle, PreparerHandle, SelectorHandle};
use microlearn_store::{PipelineRecord, PluginFailure, TenantStore, TrialRecord, now_ms};
use std::time::Instant;

/// The plugins a run's stages call, resolved before any data is read (evaluators after ingest,
/// since which apply depends on the task).
pub(crate) struct StagePlugins<'a> {
    pub preparers: Vec<(PreparerHandle, &'a PluginRef)>,
    pub selector: SelectorHandle,
    pub evaluators: Vec<(EvaluatorHandle, PluginRef)>,
    pub deployer: DeployerHandle,
}

/// What every stage of one run shares: where it records, what it was asked, and how it is
/// steered.
pub(crate) struct RunCtx<'a> {
    pub engine: &'a Engine,
    pub tenant: &'a TenantStore,
    pub config: &'a PipelineConfig,
    pub observer: &'a dyn Observer,
    /// When the budget started (earlier than now for a resumed run: its recorded trials'
    /// span counts as spent).
    pub started: Instant,
    pub control: &'a RunControl,
    /// Trials recorded by an earlier, interrupted attempt of this pipeline.
    pub resumed: &'a [TrialRecord],
    /// Cores the run uses: the search runs one single-threaded trial per core, and the refits
    /// share them.
    pub threads: usize,
}

/// A stage's output, which says in one line what the stage did (the stage's end event and
/// the observer's line).
pub(crate) trait StageOutput {
    fn summary(&self) -> String;
}

impl RunCtx<'_> {
    /// Every stage after ingest, in order. Ingest is recorded by the engine, which makes the
    /// pipeline record from what it read.
    pub(crate) fn run_stages(
        &self,
        pipeline: &mut PipelineRecord,
        data: &mut ingest::Ingested,
        plugins: &StagePlugins<'_>,
    ) -> Result<PipelineOutcome, PipelineError> {
        let mut prepared = self.stage(pipeline, Stage::Preparing, |_| {
            prepare::run(prepare::PrepareInput {
                data,
                preparers: &plugins.preparers,
            })
        })?;
        let selected = self.stage(pipeline, Stage::Selecting, |_| {
            select::run(
                select::SelectInput {
                    data,
                    prepared_features: prepared.x_train.n_cols(),
                    selector: &plugins.selector,
                    threads: self.threads,
                },
                self.config,
                self.observer,
            )
        })?;
        // Every later stage works on the prepared matrices; a large table's raw features
        // should not be held beside them through training.
        data.release_raw_features();
        let optimized = self.stage(pipeline, Stage::Optimizing, |pipeline| {
            optimize::run(
                self,
                pipeline,
                optimize::OptimizeInput {
                    data: &mut *data,
                    prepared: &mut prepared,
                    candidates: selected.candidates,
                    evaluators: &plugins.evaluators,
                },
            )
        })?;
        let (data, prepared) = (&*data, prepared);
        let trained = self.stage(pipeline, Stage::Training, |pipeline| {
            train::run(
                self,
                pipeline,
                train::TrainInput {
                    data,
                    prepared: &prepared,
                    optimized: &optimized,
                },
            )
        })?;
        let objective = &optimized.objective;
        let evaluated = self.stage(pipeline, Stage::Evaluating, |pipeline| {
            evaluate::run(
                self,
                pipeline,
                evaluate::EvaluateInput {
                    data,
                    prepared: &prepared,
                    models: trained.models,
                    evaluators: &plugins.evaluators,
                    objective: objective.evaluator,
                    metric: &objective.metric,
                    prob_floor: optimized.prob_floor,
                },
            )
        })?;
        let deployed = self.stage(pipeline, Stage::Deploying, |pipeline| {
            deploy::run(
                self,
                pipeline,
                deploy::DeployInput {
                    data,
                    prepared: &prepared,
                    models: evaluated.models,
                    deployer: &plugins.deployer,
                    metric: &objective.metric,
                    prob_floor: optimized.prob_floor,
                },
            )
        })?;
        pipeline.status = PipelineStatus::Done;
        pipeline.updated_at_ms = now_ms();
        self.tenant.put_pipeline(pipeline)?;
        self.engine.store().flush()?;

        let deploy::Deployed {
            leaderboard,
            mut bundles,
            best,
            decision,
            ..
        } = deployed;
        Ok(PipelineOutcome {
            pipeline: pipeline.clone(),
            trials: optimized.trials,
            best_bundle: bundles.swap_remove(best),
            leaderboard,
            best,
            decision,
            metric: (objective.metric.clone(), objective.direction),
            test_rows: data.test_x.num_rows(),
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        })
    }

    /// Run one stage between its recorded start and end: `run` gets the pipeline record (a
    /// stage may record a plugin failure on it), and the end is recorded with the output's
    /// summary.
    fn stage<T: StageOutput>(
        &self,
        pipeline: &mut PipelineRecord,
        stage: Stage,
        run: impl FnOnce(&mut PipelineRecord) -> Result<T, PipelineError>,
    ) -> Result<T, PipelineError> {
        self.begin(pipeline, stage)?;
        let output = run(pipeline)?;
        self.end(pipeline, stage, &output.summary())?;
        Ok(output)
    }

    fn begin(&self, pipeline: &mut PipelineRecord, stage: Stage) -> Result<(), PipelineError> {
        self.control.check()?;
        pipeline.start_stage(stage, now_ms());
        self.tenant.put_pipeline(pipeline)?;
        self.engine.event(
            self.tenant,
            &pipeline.id,
            "stage_started",
            stage.as_str(),
            serde_json::json!({ "stage": stage }),
        )?;
        self.observer.stage_started(stage);
        Ok(())
    }

    fn end(
        &self,
        pipeline: &mut PipelineRecord,
        stage: Stage,
        summary: &str,
    ) -> Result<(), PipelineError> {
        // After a stop nothing more is written but the final state (a cancel may already have
        // been recorded by whoever asked for it).
        self.control.check()?;
        self.engine
            .finish(self.tenant, pipeline, stage, summary, self.observer)
    }

    /// Record a plugin failure the pipeline goes on without: on the pipeline record (stored at
    /// once), as an event, and as a note to the user.
    pub(crate) fn plugin_failed(
        &self,
        pipeline: &mut PipelineRecord,
        stage: Stage,
        plugin: &str,
        error: &dyn std::fmt::Display,
        consequence: &str,
    ) -> Result<(), PipelineError> {
        let error = error.to_string();
        tracing::warn!(pipeline = %pipeline.id, %stage, plugin, %error, "plugin failed; continuing");
        self.observer.note(&format!(
            "{stage}: {} '{plugin}' failed ({consequence}): {error}",
            stage_plugin_kind(stage)
        ));
        self.engine.event(
            self.tenant,
            &pipeline.id,
            "plugin_failed",
            &format!("{stage}: '{plugin}' failed: {error}"),
            serde_json::json!({ "stage": stage, "plugin": plugin, "error": error, "consequence": consequence }),
        )?;
        pipeline.plugin_errors.push(PluginFailure {
            stage,
            plugin: plugin.to_string(),
            error,
            consequence: consequence.to_string(),
        });
        self.tenant.put_pipeline(pipeline)?;
        Ok(())
    }
}
