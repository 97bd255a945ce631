//! The pipeline engine: resolves a run's plugins, ingests its input, makes (or continues) its
//! pipeline record, and hands over to the stages (`crate::stages`), each of which is recorded
//! before the next starts. How a run ends (done, failed, cancelled, or left to resume after an
//! interrupt) is decided here.

use crate::PipelineError;
use crate::config::{PipelineConfig, PluginRef};
use crate::control::RunControl;
use crate::events::{log_events, progress_events};
use crate::observer::Observer;
use crate::scoring::Scored;
use crate::stages::{RunCtx, StagePlugins, ingest};
use microlearn_core::stages::{Decision, PluginKind};
use microlearn_core::{Direction, PipelineId, Stage, Task};
use microlearn_data::Dataset;
use microlearn_plugins::{EvaluatorHandle, PluginHost};
use microlearn_store::{
    DatasetRecord, EventRecord, ModelRecord, PipelineRecord, Store, TenantStore, TrialRecord,
    now_ms,
};
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
    /// Where searches send their trials; `None` runs them on this process's threads.
    trials: Option<std::sync::Arc<dyn crate::trials::TrialDispatch>>,
    /// The host's storage quota; `None` stores without limit (the CLI's own home).
    storage: Option<std::sync::Arc<dyn crate::storage::StorageGate>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("distributed_trials", &self.trials.is_some())
            .finish()
    }
}

impl Engine {
    /// An engine over a store and a plugin host.
    pub fn new(store: Store, plugins: PluginHost) -> Self {
        Engine {
            store,
            plugins,
            trials: None,
            storage: None,
        }
    }

    /// Send searches' trials to `dispatch` (a cluster's workers) instead of running them on
    /// this process's threads. The seeded reproducible mode proposes the same trials either
    /// way.
    pub fn with_trials(
        mut self,
        dispatch: std::sync::Arc<dyn crate::trials::TrialDispatch>,
    ) -> Self {
        self.trials = Some(dispatch);
        self
    }

    /// Ask `gate` before writing each artefact of a run (the tenant's storage quota).
    pub fn with_storage_gate(
        mut self,
        gate: std::sync::Arc<dyn crate::storage::StorageGate>,
    ) -> Self {
        self.storage = Some(gate);
        self
    }

    /// Promise `bytes` of `tenant`'s storage for `what` before writing them; `Ok(None)` when
    /// no quota applies. The error is the user's whole message.
    pub(crate) fn reserve_storage(
        &self,
        tenant: &str,
        bytes: u64,
        what: &str,
    ) -> Result<Option<crate::storage::StoragePromise>, String> {
        match &self.storage {
            Some(gate) => gate.reserve(tenant, bytes, what).map(Some),
            None => Ok(None),
        }
    }

    /// Where searches send their trials, if not to this process's threads.
    pub(crate) fn trials(&self) -> Option<&dyn crate::trials::TrialDispatch> {
        self.trials.as_deref()
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
        let mut data = ingest::load(input, config)?;
        let task = data.train_y.task;
        let evaluators = self.resolve_evaluators(config, task)?;

        let dataset = self.store_dataset(&tenant, &data.dataset)?;
        // Stored (file, schema, profile): from here on only the split parts are used, and a
        // large table would otherwise be held twice through training.
        data.dataset.table = Default::default();
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
        // A plugin's progress reports and log lines become pipeline events (rate-limited), so
        // a dashboard or an SSE client sees a long preparation move.
        let progress = progress_events(tenant.clone(), pipeline.id.clone());
        let log = log_events(tenant.clone(), pipeline.id.clone());
        let plugins = StagePlugins {
            preparers: preparers
                .into_iter()
                .map(|(h, r)| (h.with_progress(progress.clone()).with_log(log.clone()), r))
                .collect(),
            selector: selector
                .with_progress(progress.clone())
                .with_log(log.clone()),
            evaluators: evaluators
                .into_iter()
                .map(|(h, r)| (h.with_progress(progress.clone()).with_log(log.clone()), r))
                .collect(),
            deployer: deployer
                .with_progress(progress.clone())
                .with_log(log.clone()),
        };
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
            &data.summary(),
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
            threads: config
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        };
        match ctx.run_stages(&mut pipeline, &mut data, &plugins) {
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

    pub(crate) fn finish(
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

    pub(crate) fn event(
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
