//! The pipeline engine: ingest → prepare → select → optimize → train → evaluate → deploy, each
//! transition persisted before the next stage starts.

use crate::PipelineError;
use crate::bundle::{Bundle, BundleHeader, BundledPreparer};
use crate::config::{PipelineConfig, PluginRef, default_metric};
use crate::control::RunControl;
use crate::features::{
    meta_features, subset_target, table_to_matrix, target_column, train_target, y_true,
};
use crate::observer::Observer;
use crate::scoring::{Scored, to_scored};
use crate::search::{
    Oof, SearchContext, SearchResult, TrialCost, Unit, Validation, best_per_kind, orient,
    probe_objective, refit_params, run_search, score,
};
use microlearn_core::stages::{
    Decision, DeployAction, DeployRequest, Evaluation, EvaluationRequest, Hardware, ModelSummary,
    PluginKind, SelectionRequest,
};
use microlearn_core::{
    Column, Direction, ModelId, Params, PipelineId, PipelineStatus, Schema, Stage, Table, Task,
};
use microlearn_data::{Dataset, TargetInfo};
use microlearn_hpo::{PlannerCandidate, Scheduler};
use microlearn_plugins::{EvaluatorHandle, PluginHost, PreparerHandle};
use microlearn_store::{
    DatasetRecord, DeploymentRecord, EventRecord, ModelRecord, PipelineRecord, PluginFailure,
    Store, TenantStore, TrialRecord, TrialStatus, now_ms,
};
use microlearn_train::{EnsembleModel, FitOptions, Predictions, TrainedModel};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The files a pipeline reads.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// Training data (and the held-out split, unless `test` is given).
    pub train: PathBuf,
    /// Optional separate held-out file with the same columns.
    pub test: Option<PathBuf>,
}

/// A refit, evaluated model on the leaderboard.
#[derive(Debug, Clone)]
pub struct LeaderboardEntry {
    /// The stored record.
    pub model: ModelRecord,
    /// Its predictions on the held-out rows.
    pub test_predictions: Scored,
}

/// What a finished pipeline produced.
#[derive(Debug, Clone)]
pub struct PipelineOutcome {
    /// The final pipeline record.
    pub pipeline: PipelineRecord,
    /// Every trial, by number.
    pub trials: Vec<TrialRecord>,
    /// Refit models, best validation score first.
    pub leaderboard: Vec<LeaderboardEntry>,
    /// Index into `leaderboard` of the model the pipeline recommends (the promoted one, or the
    /// best by validation score when the deployer kept the current deployment).
    pub best: usize,
    /// The best model's bundle bytes.
    pub best_bundle: Vec<u8>,
    /// The deployer's decision; `None` when the deployer failed and nothing was deployed (the
    /// reason is in `pipeline.plugin_errors`, and the models and `best_bundle` are kept).
    pub decision: Option<Decision>,
    /// Objective metric and its direction.
    pub metric: (String, Direction),
    /// Held-out rows.
    pub test_rows: usize,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
}

/// Runs pipelines against one store and one plugin host.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    plugins: PluginHost,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .finish()
    }
}

struct Prepared {
    states: Vec<Vec<u8>>,
    fitted: Table,
}

impl Engine {
    /// An engine over a store and a plugin host.
    pub fn new(store: Store, plugins: PluginHost) -> Self {
        Engine { store, plugins }
    }

    /// The plugin host.
    pub fn plugins(&self) -> &PluginHost {
        &self.plugins
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Run a whole pipeline. Bad input (file, target, config, unknown plugin) is rejected before
    /// anything is written; after that every stage is recorded, and a failure marks the
    /// pipeline failed with the error.
    pub fn run(
        &self,
        input: &RunInput,
        config: &PipelineConfig,
        observer: &dyn Observer,
    ) -> Result<PipelineOutcome, PipelineError> {
        self.run_with(input, config, observer, &RunControl::default())
    }

    /// Run a pipeline under `control`: continue the recorded pipeline it names (a record made
    /// ahead of the run, or one a crash left unfinished; its recorded trials are kept and the
    /// seeded scheduler skips them, so nothing is lost or run twice), and stop when it says so.
    /// A cancel ends the pipeline `cancelled`; an interrupt leaves it unfinished to resume.
    pub fn run_with(
        &self,
        input: &RunInput,
        config: &PipelineConfig,
        observer: &dyn Observer,
        control: &RunControl,
    ) -> Result<PipelineOutcome, PipelineError> {
        config.validate().map_err(PipelineError::Config)?;
        control.check()?;
        let tenant = self.store.tenant(&config.tenant);
        let previous = match &control.pipeline_id {
            Some(id) => tenant.pipeline(id)?,
            None => None,
        };
        if let Some(p) = &previous
            && p.status.is_terminal()
        {
            return Err(PipelineError::Config(format!(
                "pipeline {} already ended ({})",
                p.id, p.status
            )));
        }
        let resumed: Vec<TrialRecord> = match &previous {
            Some(p) => tenant.trials(&p.id)?,
            None => Vec::new(),
        };
        // A resumed search continues with what is left of its budget: the span its recorded
        // trials took is counted as already spent.
        let spent = resumed_search_span(&resumed);
        let started = Instant::now()
            .checked_sub(spent)
            .unwrap_or_else(Instant::now);

        // Resolve every plugin first: an unknown id should fail before any data is read.
        let preparers = config
            .preparers
            .iter()
            .map(|r| {
                self.plugins
                    .preparer(&r.id)
                    .map(|h| (h, r))
                    .map_err(PipelineError::plugin(Stage::Preparing))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let selector = self
            .plugins
            .selector(&config.selector.id)
            .map_err(PipelineError::plugin(Stage::Selecting))?;
        let deployer = self
            .plugins
            .deployer(&config.deployer.id)
            .map_err(PipelineError::plugin(Stage::Deploying))?;

        observer.stage_started(Stage::Ingest);
        let ingest_started = now_ms();
        let data = load_input(input, config)?;
        let task = data.train_y.task;
        let evaluators = self.resolve_evaluators(config, task)?;

        let dataset = self.store_dataset(&tenant, &data.dataset)?;
        let fresh_id = control
            .pipeline_id
            .clone()
            .unwrap_or_else(|| PipelineId::generate().0);
        let mut pipeline = previous.unwrap_or_else(|| {
            PipelineRecord::created(
                fresh_id,
                dataset.id.clone(),
                config.target.clone(),
                serde_json::to_value(config).unwrap_or(serde_json::Value::Null),
                ingest_started,
            )
        });
        pipeline.dataset_id = dataset.id.clone();
        pipeline.task = Some(task);
        // A preparer's progress reports become pipeline events (rate-limited), so a dashboard
        // or an SSE client sees a long preparation move.
        let progress = progress_events(tenant.clone(), pipeline.id.clone());
        let log = log_events(tenant.clone(), pipeline.id.clone());
        let preparers: Vec<_> = preparers
            .into_iter()
            .map(|(h, r)| (h.with_progress(progress.clone()).with_log(log.clone()), r))
            .collect();
        let selector = selector
            .with_progress(progress.clone())
            .with_log(log.clone());
        let deployer = deployer
            .with_progress(progress.clone())
            .with_log(log.clone());
        let evaluators: Vec<_> = evaluators
            .into_iter()
            .map(|(h, r)| (h.with_progress(progress.clone()).with_log(log.clone()), r))
            .collect();
        if !resumed.is_empty() {
            self.event(
                &tenant,
                &pipeline.id,
                "resumed",
                &format!("resuming with {} recorded trials", resumed.len()),
                serde_json::json!({ "trials": resumed.len() }),
            )?;
        }
        pipeline.start_stage(Stage::Ingest, ingest_started);
        let mut summary = format!(
            "{} rows × {} columns, task {task}, {} train / {} test rows",
            data.dataset.table.num_rows(),
            data.dataset.table.num_columns(),
            data.train_x.num_rows(),
            data.test_x.num_rows()
        );
        for note in &data.notes {
            summary.push_str("; ");
            summary.push_str(note);
        }
        control.check()?;
        // The split's sizes ride on the event, so a client following the pipeline over the API
        // (`microlearn run` submitting to a server) can print the same leaderboard header.
        let rows = serde_json::json!({
            "train_rows": data.train_x.num_rows(),
            "test_rows": data.test_x.num_rows(),
        });
        self.finish_with(
            &tenant,
            &mut pipeline,
            Stage::Ingest,
            &summary,
            rows,
            observer,
        )?;

        let ctx = RunCtx {
            engine: self,
            tenant: &tenant,
            config,
            observer,
            started,
            control,
            resumed: &resumed,
        };
        let result = ctx.run_stages(
            &mut pipeline,
            &data,
            &preparers,
            &selector,
            &evaluators,
            &deployer,
        );
        match result {
            Ok(outcome) => Ok(outcome),
            // Left unfinished on purpose: the next start resumes it.
            Err(PipelineError::Interrupted) => Err(PipelineError::Interrupted),
            Err(PipelineError::Cancelled) => {
                pipeline.cancel(now_ms());
                tenant.put_pipeline(&pipeline)?;
                self.event(
                    &tenant,
                    &pipeline.id,
                    "pipeline_cancelled",
                    "cancelled",
                    serde_json::Value::Null,
                )?;
                Err(PipelineError::Cancelled)
            }
            Err(e) => {
                pipeline.fail(e.to_string(), now_ms());
                // The original error matters more than a failure to record it.
                let _ = tenant.put_pipeline(&pipeline);
                let _ = self.event(
                    &tenant,
                    &pipeline.id,
                    "pipeline_failed",
                    &e.to_string(),
                    serde_json::Value::Null,
                );
                Err(e)
            }
        }
    }

    fn resolve_evaluators(
        &self,
        config: &PipelineConfig,
        task: Task,
    ) -> Result<Vec<(EvaluatorHandle, PluginRef)>, PipelineError> {
        let refs: Vec<PluginRef> = if config.evaluators.is_empty() {
            let mut ids: Vec<String> = self
                .plugins
                .list()
                .into_iter()
                .filter(|p| p.info.kind == PluginKind::Evaluator)
                .map(|p| p.info.id)
                .collect();
            ids.sort();
            ids.iter().map(|id| PluginRef::new(id)).collect()
        } else {
            config.evaluators.clone()
        };
        let mut out = Vec::new();
        for r in refs {
            let h = self
                .plugins
                .evaluator(&r.id)
                .map_err(PipelineError::plugin(Stage::Evaluating))?;
            let tasks = h
                .tasks()
                .map_err(PipelineError::plugin(Stage::Evaluating))?;
            if tasks.contains(&task) {
                out.push((h, r));
            } else if !config.evaluators.is_empty() {
                return Err(PipelineError::Config(format!(
                    "evaluator '{}' does not support {task} tasks",
                    r.id
                )));
            }
        }
        if out.is_empty() {
            return Err(PipelineError::Config(format!(
                "no installed evaluator supports {task} tasks; install one (see `microlearn plugins list`)"
            )));
        }
        Ok(out)
    }

    fn store_dataset(
        &self,
        tenant: &TenantStore,
        dataset: &Dataset,
    ) -> Result<DatasetRecord, PipelineError> {
        let file = self.store.artefacts().put_file(&dataset.source)?;
        let id = format!("ds_{}", &file.sha256[..16]);
        if let Some(existing) = tenant.dataset(&id)? {
            return Ok(existing);
        }
        let record = DatasetRecord {
            id,
            name: dataset
                .source
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            format: format!("{:?}", dataset.format).to_lowercase(),
            file,
            rows: dataset.table.num_rows() as u64,
            schema: dataset.schema.clone(),
            profile: serde_json::to_value(microlearn_data::profile(dataset))
                .unwrap_or(serde_json::Value::Null),
            created_at_ms: now_ms(),
        };
        tenant.put_dataset(&record)?;
        Ok(record)
    }

    fn finish(
        &self,
        tenant: &TenantStore,
        pipeline: &mut PipelineRecord,
        stage: Stage,
        summary: &str,
        observer: &dyn Observer,
    ) -> Result<(), PipelineError> {
        let none = serde_json::Value::Object(Default::default());
        self.finish_with(tenant, pipeline, stage, summary, none, observer)
    }

    /// [`Self::finish`] with more fields on the event's data (`extra` is an object).
    fn finish_with(
        &self,
        tenant: &TenantStore,
        pipeline: &mut PipelineRecord,
        stage: Stage,
        summary: &str,
        extra: serde_json::Value,
        observer: &dyn Observer,
    ) -> Result<(), PipelineError> {
        pipeline.finish_stage(stage, now_ms());
        tenant.put_pipeline(pipeline)?;
        // The summary also stands alone in the data, so a reader need not cut it out of the
        // message.
        let mut data = serde_json::json!({ "stage": stage, "summary": summary });
        if let (Some(d), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
            d.extend(more);
        }
        self.event(
            tenant,
            &pipeline.id,
            "stage_finished",
            &format!("{stage}: {summary}"),
            data,
        )?;
        observer.stage_finished(stage, summary);
        Ok(())
    }

    fn event(
        &self,
        tenant: &TenantStore,
        pipeline_id: &str,
        kind: &str,
        message: &str,
        data: serde_json::Value,
    ) -> Result<(), PipelineError> {
        tenant.append_event(pipeline_id, EventRecord::now(kind, message, data))?;
        Ok(())
    }
}

/// The input after ingest: features and targets of the training and held-out parts.
struct InputData {
    dataset: Dataset,
    feature_schema: Schema,
    train_x: Table,
    train_y: TargetInfo,
    test_x: Table,
    test_y: TargetInfo,
    /// What ingest left out, for its summary.
    notes: Vec<String>,
}

/// Rows whose target is missing can be neither learned from nor scored against; a partly
/// labelled file is normal data, not an error. They are left out (the stored dataset keeps
/// them) and ingest's summary says how many. A target missing everywhere still fails, in
/// `split_target`.
fn without_missing_target(
    dataset: &Dataset,
    target: &str,
    notes: &mut Vec<String>,
) -> Option<Dataset> {
    let column = dataset.table.column(target)?;
    let missing = column.null_count();
    if missing == 0 || missing == column.len() {
        return None;
    }
    let keep: Vec<usize> = (0..column.len()).filter(|&r| column.is_valid(r)).collect();
    let first = (0..column.len()).find(|&r| !column.is_valid(r))?;
    // The file name only: on a shared host the folder is not the tenant's business.
    let file = dataset.source.file_name().map_or_else(
        || dataset.source.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    notes.push(format!(
        "left out {missing} row(s) of {file} with no '{target}' (the first at data row {})",
        first + 1
    ));
    Some(Dataset {
        table: dataset.table.take(&keep),
        schema: dataset.schema.clone(),
        format: dataset.format,
        source: dataset.source.clone(),
        bool_labels: dataset.bool_labels.clone(),
    })
}

fn load_input(input: &RunInput, config: &PipelineConfig) -> Result<InputData, PipelineError> {
    let dataset = microlearn_data::read_dataset(&input.train)?;
    let mut notes = Vec::new();
    let labelled = without_missing_target(&dataset, &config.target, &mut notes);
    let (features, target) = microlearn_data::split_target(
        labelled.as_ref().unwrap_or(&dataset),
        &config.target,
        config.task,
    )?;
    let feature_schema = Schema {
        columns: dataset
            .schema
            .columns
            .iter()
            .filter(|c| c.name != config.target)
            .cloned()
            .collect(),
    };
    let (train_x, train_y, test_x, test_y) = match &input.test {
        None => {
            let split =
                microlearn_data::stratified_split(&target, config.test_fraction, config.seed);
            (
                features.take(&split.train),
                subset_target(&target, &split.train),
                features.take(&split.test),
                subset_target(&target, &split.test),
            )
        }
        Some(test_path) => {
            let mut test_ds = microlearn_data::read_dataset(test_path)?;
            microlearn_data::conform_dates(&mut test_ds, &dataset.schema)?;
            let test_labelled = without_missing_target(&test_ds, &config.target, &mut notes);
            let (test_features, test_target) = microlearn_data::split_target(
                test_labelled.as_ref().unwrap_or(&test_ds),
                &config.target,
                Some(target.task),
            )?;
            let test_x = microlearn_data::apply_schema(test_features, &feature_schema)?;
            let test_y = align_labels(&target, test_target, test_path)?;
            (features, target, test_x, test_y)
        }
    };
    let min_rows = if train_y.task.is_classification() {
        10
    } else {
        8
    };
    if train_x.num_rows() < min_rows || test_x.num_rows() == 0 {
        return Err(PipelineError::Config(format!(
            "{}: too few rows to train and evaluate ({} training, {} held-out); need at least {min_rows} training rows",
            input.train.display(),
            train_x.num_rows(),
            test_x.num_rows()
        )));
    }
    Ok(InputData {
        dataset,
        feature_schema,
        train_x,
        train_y,
        test_x,
        test_y,
        notes,
    })
}

/// Re-index a held-out file's class labels to the training labels.
fn align_labels(
    train: &TargetInfo,
    test: TargetInfo,
    path: &Path,
) -> Result<TargetInfo, PipelineError> {
    if !train.task.is_classification() {
        return Ok(test);
    }
    let mut map = Vec::with_capacity(test.labels.len());
    for label in &test.labels {
        match train.labels.iter().position(|l| l == label) {
            Some(i) => map.push(i as f64),
            None => {
                return Err(PipelineError::Config(format!(
                    "{}: target '{}' has class '{label}' that the training file never shows (training classes: {})",
                    path.display(),
                    train.name,
                    train.labels.join(", ")
                )));
            }
        }
    }
    Ok(TargetInfo {
        name: test.name,
        task: train.task,
        labels: train.labels.clone(),
        y: test.y.iter().map(|&y| map[y as usize]).collect(),
    })
}

struct RunCtx<'a> {
    engine: &'a Engine,
    tenant: &'a TenantStore,
    config: &'a PipelineConfig,
    observer: &'a dyn Observer,
    started: Instant,
    control: &'a RunControl,
    /// Trials recorded by an earlier, interrupted attempt of this pipeline.
    resumed: &'a [TrialRecord],
}

/// The wall time the recorded trials of an interrupted search spanned.
fn resumed_search_span(trials: &[TrialRecord]) -> Duration {
    let start = trials.iter().map(|t| t.started_at_ms).min();
    let end = trials
        .iter()
        .map(|t| t.started_at_ms + (t.duration_secs * 1000.0) as i64)
        .max();
    match (start, end) {
        (Some(s), Some(e)) if e > s => Duration::from_millis((e - s) as u64),
        _ => Duration::ZERO,
    }
}

impl RunCtx<'_> {
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
    fn plugin_failed(
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

    #[allow(clippy::too_many_lines)]
    fn run_stages(
        &self,
        pipeline: &mut PipelineRecord,
        data: &InputData,
        preparers: &[(PreparerHandle, &PluginRef)],
        selector: &microlearn_plugins::SelectorHandle,
        evaluators: &[(EvaluatorHandle, PluginRef)],
        deployer: &microlearn_plugins::DeployerHandle,
    ) -> Result<PipelineOutcome, PipelineError> {
        let config = self.config;
        let task = data.train_y.task;
        let labels = &data.train_y.labels;

        // ── prepare ───────────────────────────────────────────────────────────────────────
        self.begin(pipeline, Stage::Preparing)?;
        let all_train: Vec<usize> = (0..data.train_x.num_rows()).collect();
        // Preparers are fitted once on all training rows; trials validate on row subsets of
        // the prepared matrix. The bundled preparer's only target statistics (of integer
        // codes) are computed out of fold in the table its fit returns, so no row's own label
        // reaches its features; a target-aware third-party preparer must do the same
        // (documented in the SDK).
        let final_prep = fit_chain(
            preparers,
            &data.train_x,
            &target_column(&data.train_y, &all_train),
            task,
        )?;
        let test_prepared = transform_chain(
            preparers,
            &final_prep.states,
            &data.test_x,
            &final_prep.fitted,
        )?;
        let x_train = table_to_matrix(&final_prep.fitted, Stage::Preparing)?;
        let x_test = table_to_matrix(&test_prepared, Stage::Preparing)?;
        self.end(
            pipeline,
            Stage::Preparing,
            &format!(
                "{} raw → {} prepared features",
                data.train_x.num_columns(),
                x_train.n_cols()
            ),
        )?;

        // ── select ────────────────────────────────────────────────────────────────────────
        self.begin(pipeline, Stage::Selecting)?;
        let catalogue: Vec<_> = microlearn_train::catalogue()
            .into_iter()
            .filter(|k| k.tasks.contains(&task))
            .collect();
        let threads = config
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let request = SelectionRequest {
            meta: meta_features(
                task,
                &data.train_x,
                &data.dataset.schema,
                &data.train_y,
                &all_train,
                x_train.n_cols(),
            ),
            catalogue: catalogue.clone(),
            budget_seconds: config.budget_secs,
            hardware: Hardware {
                cpus: threads as u32,
                memory_bytes: available_memory(),
                gpus: microlearn_train::gpu_count() as u32,
            },
            config: config.selector.config_string(),
        };
        let candidates = selector
            .select(&request)
            .map_err(PipelineError::plugin(Stage::Selecting))?;
        let planned = plan_candidates(
            &candidates,
            &catalogue,
            selector.info().id.as_str(),
            self.observer,
        )?;
        let summary = planned
            .iter()
            .map(|c| format!("{} ({:.0}%)", c.kind, 100.0 * c.budget_share))
            .collect::<Vec<_>>()
            .join(", ");
        self.end(pipeline, Stage::Selecting, &summary)?;

        // ── optimize ──────────────────────────────────────────────────────────────────────
        self.begin(pipeline, Stage::Optimizing)?;
        let metric = config
            .metric
            .clone()
            .unwrap_or_else(|| default_metric(task).to_string());
        let threads_f = threads as f64;
        // Trials run concurrently only as far as memory allows; when even one would not fit,
        // the search trains on a seeded sample of the rows (the refit still uses them all).
        let per_trial = planned
            .iter()
            .map(|c| {
                microlearn_train::estimate_fit_bytes(
                    &c.kind,
                    x_train.n_rows(),
                    x_train.n_cols(),
                    labels.len(),
                    1,
                )
            })
            .max()
            .unwrap_or(0);
        let memory = microlearn_train::plan_memory(
            per_trial,
            threads,
            microlearn_train::available_memory_bytes(),
        );
        if memory.row_fraction < 1.0 {
            self.observer.note(&format!(
                "memory: a trial on all {} rows needs about {} MiB; the search fits on {:.0}% of them",
                x_train.n_rows(),
                per_trial >> 20,
                100.0 * memory.row_fraction
            ));
        }
        if memory.workers < threads {
            self.observer.note(&format!(
                "memory: {} trials at a time instead of {threads} (about {} MiB each)",
                memory.workers,
                per_trial >> 20
            ));
        }
        let validation = build_validation(config, &data.train_y, &x_train, memory.row_fraction);
        self.observer.note(&validation_summary(&validation));
        // The first evaluator that computes the objective scores the trials; each is probed
        // once, and the reasons of those that do not are kept for the error.
        let mut refusals = Vec::new();
        let mut objective = None;
        for (h, r) in evaluators {
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
        let budget_end = self.started + Duration::from_secs_f64(config.budget_secs);
        // Trials are scored with the floor the deployed model will use, so the search selects
        // for what ships.
        let prob_floor = crate::features::probability_floor(x_train.n_rows(), labels.len());
        let budget = config.budget_secs;
        let refit_top = config.refit_top;
        let eval_secs = eval_reserve_secs(budget, x_test.n_rows(), refit_top);
        // What the search keeps back: refitting the likely finalists (the best trial of each
        // of the top kinds, and two more ensemble members) on the cores in parallel, plus
        // evaluation and bundling. Between 5% and 45% of the budget.
        let reserve = move |costs: &[TrialCost]| -> Duration {
            let mut sorted: Vec<&TrialCost> = costs.iter().collect();
            sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
            let mut kinds: Vec<&str> = Vec::new();
            let mut counted: Vec<usize> = Vec::new();
            let mut total = 0.0;
            for c in &sorted {
                if kinds.len() < refit_top && !kinds.contains(&c.kind.as_str()) {
                    kinds.push(&c.kind);
                    counted.push(c.number);
                    total += c.refit_secs;
                }
            }
            total += sorted
                .iter()
                .filter(|c| !counted.contains(&c.number))
                .take(2)
                .map(|c| c.refit_secs)
                .sum::<f64>();
            let secs = 1.25 * total / threads_f.max(1.0) + eval_secs;
            Duration::from_secs_f64(secs.clamp(0.05 * budget, 0.45 * budget))
        };
        let lag = config.max_trials.map(|_| memory.workers.max(1));
        let mut scheduler = Scheduler::new(
            planned,
            config.seed,
            config.max_trials,
            validation.rung_ends.len(),
            3.0,
            lag,
        );
        scheduler.resume(
            &self
                .resumed
                .iter()
                .map(|t| validation.resumed(t, direction))
                .collect::<Vec<_>>(),
        );
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
            store: self.tenant,
        };
        self.observer.search_started(
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
            memory.workers,
            self.observer,
            self.control,
            self.resumed,
        )?;
        self.control.check()?;
        let complete = trials
            .iter()
            .filter(|t| t.status == TrialStatus::Complete)
            .count();
        let pruned = trials
            .iter()
            .filter(|t| t.status == TrialStatus::Pruned)
            .count();
        let ranked = best_per_kind(&trials, direction);
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
        let selection = select_ensemble(
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
        self.end(
            pipeline,
            Stage::Optimizing,
            &format!(
                "{} trials ({complete} complete, {pruned} pruned), best {metric} {:.4}{}",
                trials.len(),
                ranked[0].score.unwrap_or(f64::NAN),
                match &selection {
                    Some(e) => format!(
                        "; ensemble of {} members, {metric} {:.4} out of fold",
                        e.members.len(),
                        orient(e.score, direction)
                    ),
                    None => String::new(),
                }
            ),
        )?;

        // ── train (refit finalists on all training rows) ──────────────────────────────────
        self.begin(pipeline, Stage::Training)?;
        // An attempt interrupted after its refits recorded models that this attempt replaces,
        // except those a deployment serves or can roll back to: an attempt that crashed after
        // storing its deployment but before marking the pipeline done left one, and deleting
        // it would leave that deployment pointing at nothing.
        let deployed: std::collections::HashSet<String> = self
            .tenant
            .deployments()?
            .into_iter()
            .flat_map(|d| std::iter::once(d.model_id).chain(d.history))
            .collect();
        for stale in self.tenant.models()? {
            if stale.pipeline_id == pipeline.id && !deployed.contains(&stale.id) {
                self.tenant.delete_model(&stale.id)?;
            }
        }
        let y_train = train_target(&data.train_y, &all_train);
        // Refit order is priority order: the best single model first (the pipeline must
        // return it), then ensemble members by weight, then the other kinds' best.
        let mut order: Vec<&TrialRecord> = vec![ranked[0]];
        if let Some(sel) = &selection {
            let mut members = sel.members.clone();
            members.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (number, _) in members {
                if let Some(t) = trials.iter().find(|t| t.number == number)
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
        let refit_deadline = budget_end
            .checked_sub(Duration::from_secs_f64(eval_secs))
            .unwrap_or(budget_end)
            .max(Instant::now() + Duration::from_secs_f64(budget * 0.05));
        let jobs: Vec<RefitJob> = order
            .iter()
            .map(|t| RefitJob {
                trial: t,
                estimate_secs: costs
                    .iter()
                    .find(|c| c.number == t.number)
                    .map_or(0.0, |c| c.refit_secs),
                fallback: fallbacks
                    .iter()
                    .find(|(n, _)| *n == t.number)
                    .map(|(_, m)| m),
            })
            .collect();
        let refits = refit_all(
            &jobs,
            task,
            &x_train,
            &y_train,
            threads,
            config.seed,
            refit_deadline,
            self.control.halt_flag(),
        );
        self.control.check()?;
        let mut finalists: Vec<Finalist> = Vec::new();
        for (trial, result) in order.iter().zip(refits) {
            let (model, secs, refit) = match result {
                Ok(Refit::Fitted(model, secs)) => (model, secs, true),
                Ok(Refit::Kept(model)) => (model, 0.0, false),
                Ok(Refit::Skipped) => {
                    self.observer.note(&format!(
                        "no time left to refit ensemble member trial {} ({}); the ensemble goes without it",
                        trial.number, trial.kind
                    ));
                    continue;
                }
                // The best model must refit; a failing extra is left out with a note.
                Err(source) if trial.number == ranked[0].number => {
                    return Err(PipelineError::Train {
                        kind: trial.kind.clone(),
                        source,
                    });
                }
                Err(e) => {
                    self.observer.note(&format!(
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
            self.observer.note(&format!(
                "no time left to refit {} on all rows; the validation model stands in",
                kept.join(", ")
            ));
        }
        let refit_count = finalists.iter().filter(|f| f.refit).count();
        let mut leaderboard_models: Vec<Finalist> = Vec::new();
        if let Some(sel) = &selection {
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
                .map_or(ranked[0].number, |m| m.0);
            let fit_secs: f64 = finalists
                .iter()
                .filter(|f| sel.members.iter().any(|(n, _)| *n == f.trial))
                .map(|f| f.fit_secs)
                .sum();
            if members.len() >= 2 {
                match EnsembleModel::new(members) {
                    Ok(e) => {
                        let model = TrainedModel::Ensemble(e);
                        leaderboard_models.push(Finalist {
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
                    Err(e) => self.observer.note(&format!("ensemble left out: {e}")),
                }
            }
        }
        leaderboard_models.extend(finalists.into_iter().filter(|f| f.single));
        self.end(
            pipeline,
            Stage::Training,
            &format!(
                "{refit_count} refits for {} leaderboard models{}",
                leaderboard_models.len(),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!(", {} validation models kept", kept.len())
                }
            ),
        )?;

        // ── evaluate on the held-out rows ──────────────────────────────────────────────────
        self.begin(pipeline, Stage::Evaluating)?;
        // A resumed run evaluates and deploys again; failures of the attempt before are stale.
        pipeline
            .plugin_errors
            .retain(|f| !matches!(f.stage, Stage::Evaluating | Stage::Deploying));
        let test_true = y_true(&data.test_y, &all_rows(&data.test_y));
        let objective_id = objective_eval.info().id.clone();
        // Evaluators that failed (never the objective's, which is needed to rank and deploy):
        // each is dropped from every model's results, so the leaderboard compares like with
        // like, and the search and refits are kept.
        let mut failed_evaluators: Vec<String> = Vec::new();
        let mut evaluated = Vec::new();
        for finalist in leaderboard_models {
            let mut preds = finalist.model.predict(&x_test);
            crate::features::apply_probability_floor(&mut preds, prob_floor);
            let values = crate::features::prediction_values(&preds);
            let mut evaluations: Vec<(String, Evaluation)> = Vec::new();
            for (h, r) in evaluators {
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
                        self.plugin_failed(pipeline, Stage::Evaluating, id, &e, &consequence)?;
                        failed_evaluators.push(id.clone());
                    }
                    Err(e) => return Err(PipelineError::plugin(Stage::Evaluating)(e)),
                }
            }
            evaluated.push((finalist, evaluations, to_scored(&preds, labels)));
        }
        let evaluated: Vec<_> = evaluated
            .into_iter()
            .map(|(finalist, mut evaluations, scored)| {
                evaluations.retain(|(id, _)| !failed_evaluators.contains(id));
                let mut test_metrics: Vec<microlearn_core::Metric> = Vec::new();
                for (_, e) in &evaluations {
                    for m in &e.metrics {
                        if !test_metrics.iter().any(|x| x.name == m.name) {
                            test_metrics.push(m.clone());
                        }
                    }
                }
                (finalist, evaluations, test_metrics, scored)
            })
            .collect();
        let best_test = evaluated
            .first()
            .and_then(|e| e.2.iter().find(|m| m.name == metric))
            .map_or(f64::NAN, |m| m.value);
        let mut summary = format!("held-out {metric} {best_test:.4}");
        for id in &failed_evaluators {
            summary.push_str(&format!(
                "; evaluator '{id}' failed, its metrics are left out"
            ));
        }
        self.end(pipeline, Stage::Evaluating, &summary)?;

        // ── deploy ────────────────────────────────────────────────────────────────────────
        self.begin(pipeline, Stage::Deploying)?;
        let mut leaderboard = Vec::new();
        let mut bundles = Vec::new();
        for (finalist, evaluations, test_metrics, scored) in evaluated {
            let Finalist {
                kind,
                trial,
                params,
                validation_score,
                model,
                fit_secs,
                ..
            } = finalist;
            let model_id = ModelId::generate().0;
            let importance = model.feature_importance();
            let mut feature_importance: Vec<(String, f64)> =
                x_train.names().iter().cloned().zip(importance).collect();
            feature_importance.sort_by(|a, b| b.1.total_cmp(&a.1));
            let bundle = Bundle::new(
                BundleHeader {
                    format: crate::bundle::FORMAT_VERSION,
                    microlearn_version: env!("CARGO_PKG_VERSION").into(),
                    model_id: model_id.clone(),
                    kind: kind.clone(),
                    task,
                    target: config.target.clone(),
                    labels: labels.clone(),
                    input_schema: data.feature_schema.clone(),
                    prepared_features: x_train.names().to_vec(),
                    params: params.clone(),
                    metrics: test_metrics.clone(),
                    created_at_ms: now_ms(),
                    payload_sha256: String::new(),
                    probability_floor: prob_floor,
                },
                preparers
                    .iter()
                    .zip(&final_prep.states)
                    .map(|((h, r), state)| BundledPreparer {
                        id: h.info().id.clone(),
                        version: h.info().version.clone(),
                        config: r.config_string(),
                        state: state.clone(),
                        component_sha256: h.sha256().to_string(),
                        component: h.component_bytes().to_vec(),
                    })
                    .collect(),
                model,
            );
            let bytes = bundle.to_bytes()?;
            let artefact = self.engine.store.artefacts().put(&bytes)?;
            let record = ModelRecord {
                id: model_id,
                pipeline_id: pipeline.id.clone(),
                kind,
                params,
                task,
                target: config.target.clone(),
                trial,
                validation_score,
                metric: metric.clone(),
                test_metrics,
                evaluations,
                feature_importance,
                fit_seconds: fit_secs,
                bundle: artefact,
                created_at_ms: now_ms(),
            };
            self.tenant.put_model(&record)?;
            bundles.push(bytes);
            leaderboard.push(LeaderboardEntry {
                model: record,
                test_predictions: scored,
            });
        }
        let deployment_name = config
            .deployment
            .clone()
            .unwrap_or_else(|| default_deployment_name(&data.dataset.source, &config.target));
        let current = self.tenant.deployment(&deployment_name)?;
        let current_summary = match &current {
            Some(d) => self.tenant.model(&d.model_id)?.map(|m| summary_of(&m)),
            None => None,
        };
        // A deployer that fails (or names a model that is not a candidate) deploys nothing,
        // but the models and their bundles are already stored: the pipeline ends with them,
        // the failure recorded, and the current deployment (if any) left as it was.
        let decided = deployer
            .decide(&DeployRequest {
                task,
                primary_metric: metric.clone(),
                candidates: leaderboard.iter().map(|e| summary_of(&e.model)).collect(),
                current: current_summary,
                config: config.deployer.config_string(),
            })
            .map_err(|e| e.to_string())
            .and_then(|decision| match &decision.action {
                DeployAction::Promote(id) => {
                    match leaderboard.iter().position(|e| &e.model.id == id) {
                        Some(pos) => Ok((decision, Some(pos))),
                        None => Err(format!(
                            "deployer '{}' promoted '{id}', which is not a candidate of this pipeline",
                            deployer.info().id
                        )),
                    }
                }
                DeployAction::Keep => Ok((decision, None)),
            });
        let (decision, best, deploy_summary) = match decided {
            Ok((decision, promoted)) => {
                let reason = decision.reason.clone();
                (Some(decision), promoted, reason)
            }
            Err(error) => {
                let consequence = match &current {
                    Some(c) => format!(
                        "nothing was deployed; '{deployment_name}' keeps serving {}",
                        c.model_id
                    ),
                    None => "nothing was deployed".to_string(),
                };
                self.plugin_failed(
                    pipeline,
                    Stage::Deploying,
                    &deployer.info().id,
                    &error,
                    &consequence,
                )?;
                let summary = format!(
                    "{consequence}: deployer '{}' failed: {error}",
                    deployer.info().id
                );
                (None, None, summary)
            }
        };
        // The point of no return: a cancel that came while the deployer decided wins (the
        // models stay stored, nothing switches); one that comes after this is refused, so a
        // deployment never switches under a pipeline recorded as cancelled.
        self.control.commit()?;
        let best = match (&decision, best) {
            (Some(decision), Some(pos)) => {
                let id = &leaderboard[pos].model.id;
                let mut history = current
                    .as_ref()
                    .map(|c| c.history.clone())
                    .unwrap_or_default();
                if let Some(c) = &current {
                    history.push(c.model_id.clone());
                }
                self.tenant.put_deployment(&DeploymentRecord {
                    name: deployment_name.clone(),
                    model_id: id.clone(),
                    decision: (*decision).clone(),
                    history,
                    updated_at_ms: now_ms(),
                })?;
                self.engine.event(
                    self.tenant,
                    &pipeline.id,
                    "deployment",
                    &format!("{deployment_name} now serves {id}"),
                    serde_json::json!({ "deployment": deployment_name, "model": id }),
                )?;
                pos
            }
            // Kept the current deployment, or failed: the best by validation score.
            _ => 0,
        };
        pipeline.leaderboard = leaderboard.iter().map(|e| e.model.id.clone()).collect();
        pipeline.best_model = Some(leaderboard[best].model.id.clone());
        // The deployment is named only when the deployer decided about it.
        pipeline.deployment = decision.as_ref().map(|_| deployment_name);
        pipeline.decision.clone_from(&decision);
        self.end(pipeline, Stage::Deploying, &deploy_summary)?;
        pipeline.status = PipelineStatus::Done;
        pipeline.updated_at_ms = now_ms();
        self.tenant.put_pipeline(pipeline)?;
        self.engine.store.flush()?;

        Ok(PipelineOutcome {
            pipeline: pipeline.clone(),
            trials,
            best_bundle: bundles.swap_remove(best),
            leaderboard,
            best,
            decision,
            metric: (metric, direction),
            test_rows: data.test_x.num_rows(),
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// The kind of plugin a stage runs (`evaluator` for evaluating), for messages.
pub fn stage_plugin_kind(stage: Stage) -> &'static str {
    match stage {
        Stage::Preparing => "preparer",
        Stage::Selecting => "selector",
        Stage::Evaluating => "evaluator",
        Stage::Deploying => "deployer",
        _ => "plugin",
    }
}

fn all_rows(t: &TargetInfo) -> Vec<usize> {
    (0..t.y.len()).collect()
}

fn summary_of(m: &ModelRecord) -> ModelSummary {
    ModelSummary {
        model_id: m.id.clone(),
        kind: m.kind.clone(),
        metrics: m.test_metrics.clone(),
        fit_seconds: m.fit_seconds,
        size_bytes: m.bundle.size,
    }
}

/// `<file stem>-<target>`, lowercased, with anything but letters, digits and dashes replaced.
pub fn default_deployment_name(path: &Path, target: &str) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let stem = stem.split('.').next().unwrap_or("model").to_string();
    // Letters and digits joined by single dashes: `prix €` gives `prix`, not `prix--`, since
    // the name goes into URLs and people type it.
    let mut name = String::new();
    for c in format!("{stem}-{target}").chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "model".to_string()
    } else {
        name.to_string()
    }
}

fn fit_chain(
    preparers: &[(PreparerHandle, &PluginRef)],
    table: &Table,
    target: &Column,
    task: Task,
) -> Result<Prepared, PipelineError> {
    let mut current = table.clone();
    let mut states = Vec::with_capacity(preparers.len());
    for (h, r) in preparers {
        let rows = current.num_rows();
        let (state, out) = h
            .fit(&current, target, task, &r.config_string())
            .map_err(PipelineError::plugin(Stage::Preparing))?;
        if out.num_rows() != rows {
            return Err(PipelineError::Stage {
                stage: Stage::Preparing,
                message: format!(
                    "preparer '{}' fit returned {} rows for {rows}",
                    h.info().id,
                    out.num_rows()
                ),
            });
        }
        states.push(state);
        current = out;
    }
    if current.num_columns() == 0 {
        return Err(PipelineError::Stage {
            stage: Stage::Preparing,
            message: "no usable feature is left after preparation (every column was constant, an identifier, or empty)".into(),
        });
    }
    Ok(Prepared {
        states,
        fitted: current,
    })
}

fn transform_chain(
    preparers: &[(PreparerHandle, &PluginRef)],
    states: &[Vec<u8>],
    table: &Table,
    fitted: &Table,
) -> Result<Table, PipelineError> {
    let mut current = table.clone();
    let last = preparers.len().saturating_sub(1);
    for (i, ((h, _), state)) in preparers.iter().zip(states).enumerate() {
        let rows = current.num_rows();
        // The last preparer's output must match what it produced at fit, column for column and
        // type for type: a model can only score rows prepared the way it was trained.
        current = if i == last {
            h.transform_like(state, &current, fitted)
        } else {
            h.transform(state, &current)
        }
        .map_err(PipelineError::plugin(Stage::Preparing))?;
        if current.num_rows() != rows {
            return Err(PipelineError::Stage {
                stage: Stage::Preparing,
                message: format!(
                    "preparer '{}' transform returned {} rows for {rows}",
                    h.info().id,
                    current.num_rows()
                ),
            });
        }
    }
    if current.names() != fitted.names() {
        return Err(PipelineError::Stage {
            stage: Stage::Preparing,
            message: format!(
                "transform produced columns [{}] but fit produced [{}]",
                current.names().join(", "),
                fitted.names().join(", ")
            ),
        });
    }
    Ok(current)
}

/// Least time between two stored progress events of one plugin function; the last report
/// (fraction 1) always gets through.
const PROGRESS_EVENT_INTERVAL: Duration = Duration::from_millis(500);

/// A callback storing plugins' progress reports as `plugin_progress` events of `pipeline_id`,
/// at most one per plugin function per [`PROGRESS_EVENT_INTERVAL`]: a plugin that reports every
/// row must not flood the store. Storage errors are logged, not raised: progress is advisory.
fn progress_events(
    tenant: TenantStore,
    pipeline_id: String,
) -> microlearn_plugins::ProgressCallback {
    let last: std::sync::Mutex<std::collections::HashMap<String, Instant>> = Default::default();
    std::sync::Arc::new(move |e: microlearn_plugins::ProgressEvent<'_>| {
        let key = format!("{}/{}", e.plugin, e.function);
        let now = Instant::now();
        {
            let Ok(mut last) = last.lock() else { return };
            let due = last
                .get(&key)
                .is_none_or(|t| now.duration_since(*t) >= PROGRESS_EVENT_INTERVAL);
            if !due && e.fraction < 1.0 {
                return;
            }
            last.insert(key, now);
        }
        let record = EventRecord::now(
            "plugin_progress",
            format!(
                "{} {}: {:.0}% {}",
                e.plugin,
                e.function,
                e.fraction * 100.0,
                e.message
            ),
            serde_json::json!({
                "plugin": e.plugin,
                "function": e.function,
                "fraction": e.fraction,
                "message": e.message,
            }),
        );
        if let Err(err) = tenant.append_event(&pipeline_id, record) {
            tracing::warn!(%err, "cannot store a plugin progress event");
        }
    })
}

/// Most `plugin_log` events stored per plugin function and pipeline: an evaluator runs once per
/// trial, and one that logs every call must not write thousands of events. Later lines still
/// reach tracing.
const MAX_LOG_EVENTS_PER_FUNCTION: u32 = 50;

/// A callback storing plugins' `info`/`warn`/`error` lines as `plugin_log` events of
/// `pipeline_id`, at most [`MAX_LOG_EVENTS_PER_FUNCTION`] per plugin function (the line that
/// reaches the cap says so). Storage errors are logged, not raised.
fn log_events(tenant: TenantStore, pipeline_id: String) -> microlearn_plugins::LogCallback {
    let counts: std::sync::Mutex<std::collections::HashMap<String, u32>> = Default::default();
    std::sync::Arc::new(move |e: microlearn_plugins::LogEvent<'_>| {
        let n = {
            let Ok(mut counts) = counts.lock() else {
                return;
            };
            let n = counts
                .entry(format!("{}/{}", e.plugin, e.function))
                .or_insert(0);
            *n += 1;
            *n
        };
        if n > MAX_LOG_EVENTS_PER_FUNCTION {
            return;
        }
        let capped = if n == MAX_LOG_EVENTS_PER_FUNCTION {
            " (log event limit reached; later lines only go to the host log)"
        } else {
            ""
        };
        let record = EventRecord::now(
            "plugin_log",
            format!(
                "{} {} [{}] {}{capped}",
                e.plugin, e.function, e.level, e.message
            ),
            serde_json::json!({
                "plugin": e.plugin,
                "function": e.function,
                "level": e.level,
                "message": e.message,
            }),
        );
        if let Err(err) = tenant.append_event(&pipeline_id, record) {
            tracing::warn!(%err, "cannot store a plugin log event");
        }
    })
}

/// Turn a selector's candidates into planner input, checking them against the catalogue: an
/// unknown kind is skipped, an unknown parameter dropped, each with a note to the user.
fn plan_candidates(
    candidates: &[microlearn_core::stages::Candidate],
    catalogue: &[microlearn_core::stages::ModelKindInfo],
    selector_id: &str,
    observer: &dyn Observer,
) -> Result<Vec<PlannerCandidate>, PipelineError> {
    let mut out: Vec<PlannerCandidate> = Vec::new();
    for c in candidates {
        let Some(kind) = catalogue.iter().find(|k| k.name == c.kind) else {
            observer.note(&format!(
                "selector '{selector_id}' proposed unknown model kind '{}'; skipped",
                c.kind
            ));
            continue;
        };
        if out.iter().any(|p| p.kind == c.kind) {
            continue;
        }
        let known = |name: &str| kind.params.iter().any(|p| p.name == name);
        let mut space = Vec::new();
        for spec in &c.search_space {
            if known(&spec.name) {
                space.push(spec.clone());
            } else {
                observer.note(&format!(
                    "selector '{selector_id}': {} has no parameter '{}'; not searched",
                    c.kind, spec.name
                ));
            }
        }
        let warm_starts = c
            .warm_starts
            .iter()
            .map(|w| {
                let mut p = w.clone();
                p.0.retain(|name, _| known(name));
                p
            })
            .collect();
        let share = if c.budget_share.is_finite() && c.budget_share > 0.0 {
            c.budget_share
        } else {
            0.1
        };
        out.push(PlannerCandidate {
            kind: c.kind.clone(),
            budget_share: share,
            search_space: space,
            warm_starts,
        });
    }
    if out.is_empty() {
        return Err(PipelineError::Stage {
            stage: Stage::Selecting,
            message: format!(
                "selector '{selector_id}' proposed no model kind the host offers (offered: {})",
                catalogue
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let total: f64 = out.iter().map(|c| c.budget_share).sum();
    for c in &mut out {
        c.budget_share /= total;
    }
    Ok(out)
}

/// Available memory in bytes (Linux `MemAvailable`), 0 when unknown.
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A refit model headed for the leaderboard.
struct Finalist {
    kind: String,
    trial: usize,
    params: Params,
    validation_score: f64,
    model: TrainedModel,
    fit_secs: f64,
    /// Whether it was refit on all training rows (else it is the trial's validation model,
    /// because the refit would not have fitted in the budget).
    refit: bool,
    /// Whether it is one of the best single models of its kind (listed on the leaderboard);
    /// ensemble-only members are refit for the ensemble and not listed alone.
    single: bool,
}

/// Rows per stratified fold below which one fold is too noisy to judge a trial by: such
/// searches score every fold of every trial (no pruning).
const MIN_ROWS_FOR_PRUNING: usize = 2_000;

/// Cells (rows × prepared columns) per budget-minute up to which k-fold cross-validation is
/// affordable; larger data is scored on one holdout whose fit rows grow by rung.
const CV_CELLS_PER_MINUTE: f64 = 2.5e6;

/// Fit rows per rung at the smallest row fraction below which a holdout search is not pruned.
const MIN_RUNG_ROWS: usize = 5_000;

/// Choose and build the validation units: k stratified folds when the data is small enough
/// for the budget (or `config.folds` says so), else one stratified holdout whose fit rows grow
/// by rung (1/9, 1/3, all) so ASHA can drop weak configurations cheaply.
fn build_validation(
    config: &PipelineConfig,
    train_y: &TargetInfo,
    x_train: &microlearn_train::Matrix,
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
                unit(train_y, x_train, &fit, valid)
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
            oof_true: y_true(train_y, &all_rows(train_y)),
        };
    }
    let split = microlearn_data::stratified_split(
        train_y,
        config.validation_fraction,
        config.seed.wrapping_add(1),
    );
    // Each rung fits on a seeded random sample of the fit rows (files are often ordered by
    // time or class, so a prefix would be a biased sample). Under memory pressure the largest
    // rung is itself a sample.
    let n_fit = split.train.len();
    let full = ((n_fit as f64 * row_fraction.min(1.0)) as usize).max(1);
    let fractions: &[f64] = if full >= 9 * MIN_RUNG_ROWS {
        &[1.0 / 9.0, 1.0 / 3.0, 1.0]
    } else if full >= 3 * MIN_RUNG_ROWS {
        &[1.0 / 3.0, 1.0]
    } else {
        &[1.0]
    };
    let units: Vec<Unit> = fractions
        .iter()
        .map(|f| {
            let take = ((full as f64 * f).round() as usize).clamp(1, full);
            let fit: Vec<usize> =
                microlearn_data::sample_rows(n_fit, take, config.seed.wrapping_add(2))
                    .into_iter()
                    .map(|i| split.train[i])
                    .collect();
            unit(train_y, x_train, &fit, split.test.clone())
        })
        .collect();
    Validation {
        rung_ends: (1..=units.len()).collect(),
        units,
        cross_validated: false,
        n_train: n,
        oof_true: y_true(train_y, &split.test),
    }
}

fn unit(
    train_y: &TargetInfo,
    x_train: &microlearn_train::Matrix,
    fit: &[usize],
    valid: Vec<usize>,
) -> Unit {
    Unit {
        x_fit: x_train.take_rows(fit),
        y_fit: train_target(train_y, fit),
        x_valid: x_train.take_rows(&valid),
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

/// Seconds kept for held-out evaluation, the deployer and writing bundles: a small share of
/// the budget plus a per-row cost of predicting and scoring the test rows for each finalist.
fn eval_reserve_secs(budget: f64, test_rows: usize, refit_top: usize) -> f64 {
    0.02 * budget + 0.3 + test_rows as f64 * 3e-6 * (refit_top + 1) as f64
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
) -> Option<crate::ensemble::SelectionByTrial> {
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
    Some(crate::ensemble::SelectionByTrial {
        members: sel
            .members
            .iter()
            .map(|&(i, c)| (cands[i].number, c))
            .collect(),
        score: if score.is_finite() { score } else { sel.score },
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

#[cfg(test)]
mod deployment_name_tests {
    use super::default_deployment_name;
    use std::path::Path;

    #[test]
    fn default_names_are_url_friendly() {
        let name = |file: &str, target: &str| default_deployment_name(Path::new(file), target);
        assert_eq!(name("data/titanic.csv", "survived"), "titanic-survived");
        assert_eq!(name("uni.csv", "prix €"), "uni-prix");
        assert_eq!(name("My Data.tar.csv", "Is_Fraud"), "my-data-is-fraud");
        assert_eq!(name("été.csv", "ü"), "t");
        assert_eq!(name("€.csv", "ü"), "model");
    }
}
