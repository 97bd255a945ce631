//! The records kept in the metadata store. Timestamps are milliseconds since the Unix epoch.

use crate::ArtefactRef;
use microlearn_core::stages::{Decision, Evaluation};
use microlearn_core::{Metric, Params, PipelineStatus, Schema, Stage, Task};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An uploaded dataset. The original file is kept as an artefact; the schema is inferred once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// Id, derived from the content hash so one file is stored once.
    pub id: String,
    /// Original file name.
    pub name: String,
    /// File format (`csv`, `json`, …).
    pub format: String,
    /// The original file.
    pub file: ArtefactRef,
    /// Rows.
    pub rows: u64,
    /// Inferred schema.
    pub schema: Schema,
    /// Column profile (JSON, see `microlearn-data`'s `DatasetProfile`).
    pub profile: serde_json::Value,
    /// When it was stored.
    pub created_at_ms: i64,
}

/// Timing and outcome of one stage of one pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageRecord {
    /// Which stage.
    pub stage: Stage,
    /// Start time.
    pub started_at_ms: i64,
    /// End time, when finished.
    pub finished_at_ms: Option<i64>,
    /// How many times it was started (resumes count).
    pub attempts: u32,
    /// The error that ended it, if any.
    pub error: Option<String>,
}

/// A pipeline run: configuration, state, per-stage timings and results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineRecord {
    /// Id.
    pub id: String,
    /// Dataset id.
    pub dataset_id: String,
    /// Target column.
    pub target: String,
    /// Task (known after ingest).
    pub task: Option<Task>,
    /// The configuration it was started with (JSON of the engine's `PipelineConfig`).
    pub config: serde_json::Value,
    /// Where it stands.
    pub status: PipelineStatus,
    /// Stages run so far, in order.
    pub stages: Vec<StageRecord>,
    /// The error that failed it.
    pub error: Option<String>,
    /// Models refit and evaluated, best first.
    pub leaderboard: Vec<String>,
    /// The best model.
    pub best_model: Option<String>,
    /// Deployment name the deployer decided on.
    pub deployment: Option<String>,
    /// The deployer's decision.
    pub decision: Option<Decision>,
    /// Plugins that failed where the pipeline could go on without them (an evaluator that is
    /// not the objective, the deployer), each with what it said. Older records have none.
    #[serde(default)]
    pub plugin_errors: Vec<PluginFailure>,
    /// Created.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
}

/// A plugin failure a pipeline finished in spite of: the work of the other stages is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PluginFailure {
    /// The stage it failed in.
    pub stage: Stage,
    /// The plugin's id.
    pub plugin: String,
    /// The error (names the plugin function and what went wrong).
    pub error: String,
    /// What the pipeline did instead.
    pub consequence: String,
}

impl PipelineRecord {
    /// A pipeline just created: nothing run, nothing decided. One constructor, so a field
    /// added to the record is filled everywhere a pipeline is born.
    pub fn created(
        id: String,
        dataset_id: String,
        target: String,
        config: serde_json::Value,
        now_ms: i64,
    ) -> PipelineRecord {
        PipelineRecord {
            id,
            dataset_id,
            target,
            task: None,
            config,
            status: PipelineStatus::Created,
            stages: vec![],
            error: None,
            leaderboard: vec![],
            best_model: None,
            deployment: None,
            decision: None,
            plugin_errors: vec![],
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    /// Start `stage` now (a new attempt if it was started before).
    pub fn start_stage(&mut self, stage: Stage, now_ms: i64) {
        self.status = PipelineStatus::Running(stage);
        self.updated_at_ms = now_ms;
        if let Some(s) = self.stages.iter_mut().find(|s| s.stage == stage) {
            s.attempts += 1;
            s.started_at_ms = now_ms;
            s.finished_at_ms = None;
            s.error = None;
        } else {
            self.stages.push(StageRecord {
                stage,
                started_at_ms: now_ms,
                finished_at_ms: None,
                attempts: 1,
                error: None,
            });
        }
    }

    /// Finish `stage` now.
    pub fn finish_stage(&mut self, stage: Stage, now_ms: i64) {
        self.updated_at_ms = now_ms;
        if let Some(s) = self.stages.iter_mut().find(|s| s.stage == stage) {
            s.finished_at_ms = Some(now_ms);
        }
    }

    /// Mark the pipeline failed in its current stage.
    pub fn fail(&mut self, error: String, now_ms: i64) {
        if let PipelineStatus::Running(stage) = self.status
            && let Some(s) = self.stages.iter_mut().find(|s| s.stage == stage)
        {
            s.finished_at_ms = Some(now_ms);
            s.error = Some(error.clone());
        }
        self.status = PipelineStatus::Failed;
        self.error = Some(error);
        self.updated_at_ms = now_ms;
    }
}

impl PipelineRecord {
    /// Mark the pipeline cancelled; the stage it was in ends with the error `cancelled`.
    pub fn cancel(&mut self, now_ms: i64) {
        if let PipelineStatus::Running(stage) = self.status
            && let Some(s) = self.stages.iter_mut().find(|s| s.stage == stage)
        {
            s.finished_at_ms = Some(now_ms);
            s.error = Some("cancelled".into());
        }
        self.status = PipelineStatus::Cancelled;
        self.updated_at_ms = now_ms;
    }
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrialStatus {
    /// Trained and scored.
    Complete,
    /// Stopped early by the scheduler.
    Pruned,
    /// Training or scoring failed.
    Failed,
}

/// One hyperparameter trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrialRecord {
    /// Pipeline.
    pub pipeline_id: String,
    /// 0-based number within the pipeline.
    pub number: usize,
    /// Model kind.
    pub kind: String,
    /// Parameters proposed.
    pub params: Params,
    /// Parameters as fitted (e.g. rounds after early stopping).
    pub fitted_params: Option<Params>,
    /// Whether it came from a warm start.
    pub warm_start: bool,
    /// Outcome.
    pub status: TrialStatus,
    /// Objective metric name.
    pub metric: String,
    /// Validation score on `metric`.
    pub score: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Start time.
    pub started_at_ms: i64,
    /// Wall time, seconds.
    pub duration_secs: f64,
    /// How much of the full evaluation the trial reached: 1.0 when every fold (or, on a
    /// holdout, all fit rows) was scored; less when the scheduler pruned it early or the budget
    /// ran out between folds. Records written before fidelities existed read as 1.0.
    #[serde(default = "full_fidelity")]
    pub fidelity: f64,
    /// The objective on each fold scored so far (cross-validation), or at each rung's row
    /// fraction (holdout); `score` summarises them (the mean over folds, the last rung). A
    /// score that is not a finite number is written as `null`.
    #[serde(default)]
    #[schemars(with = "Vec<Option<f64>>")]
    pub fold_scores: Vec<f64>,
    /// The cluster workers that fitted it, one per rung, in order (empty when it ran in the
    /// process running its pipeline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<String>,
}

fn full_fidelity() -> f64 {
    1.0
}

/// A model refit on the full training split and evaluated on the held-out split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Id.
    pub id: String,
    /// Pipeline.
    pub pipeline_id: String,
    /// Model kind.
    pub kind: String,
    /// Parameters used for the refit.
    pub params: Params,
    /// Task.
    pub task: Task,
    /// Target column.
    pub target: String,
    /// Trial it came from.
    pub trial: usize,
    /// Validation score of that trial.
    pub validation_score: f64,
    /// Objective metric.
    pub metric: String,
    /// Held-out metrics (first evaluator's first, then the others').
    pub test_metrics: Vec<Metric>,
    /// Full evaluation with curves, per evaluator id.
    pub evaluations: Vec<(String, Evaluation)>,
    /// Importance per prepared feature, largest first.
    pub feature_importance: Vec<(String, f64)>,
    /// Refit wall time, seconds.
    pub fit_seconds: f64,
    /// The model bundle.
    pub bundle: ArtefactRef,
    /// Created.
    pub created_at_ms: i64,
}

/// What is deployed under a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Deployment name.
    pub name: String,
    /// Model served.
    pub model_id: String,
    /// The decision that put it there.
    pub decision: Decision,
    /// Earlier models, oldest first (for rollback).
    pub history: Vec<String>,
    /// Last change.
    pub updated_at_ms: i64,
}

/// A pipeline event, for the log and the dashboard's live view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventRecord {
    /// Sequence number (assigned on append).
    pub seq: u64,
    /// When.
    pub at_ms: i64,
    /// Kind: `stage_started`, `stage_finished`, `trial_finished`, `best_changed`, `deployment`, `log`.
    pub kind: String,
    /// For a person.
    pub message: String,
    /// Details.
    pub data: serde_json::Value,
}

impl EventRecord {
    /// An event stamped now; `seq` is assigned when it is appended.
    pub fn now(kind: &str, message: impl Into<String>, data: serde_json::Value) -> EventRecord {
        EventRecord {
            seq: 0,
            at_ms: crate::now_ms(),
            kind: kind.into(),
            message: message.into(),
            data,
        }
    }
}

/// Limits on what one tenant may hold or run at once; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Quotas {
    /// Bytes of datasets, model bundles and uploaded plugins the tenant may store.
    #[serde(default)]
    pub storage_bytes: Option<u64>,
    /// Pipelines that may be queued or running at the same time.
    #[serde(default)]
    pub concurrent_pipelines: Option<u32>,
    /// Deployments the tenant may have (a pipeline queued or running counts the deployment
    /// it names, so its deploying stage never goes over).
    #[serde(default)]
    pub deployments: Option<u32>,
    /// Plugins the tenant may upload (their components also count as storage).
    #[serde(default)]
    pub plugins: Option<u32>,
}

/// A tenant of a shared host: every other record is keyed under its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Name (letters, digits, `-`, `_`; the key prefix of its records).
    pub name: String,
    /// Its limits.
    pub quotas: Quotas,
    /// Created.
    pub created_at_ms: i64,
}

/// An API key. Only the sha256 of the secret is stored, so a stolen database reveals no key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id of the key (for listing and revoking).
    pub id: String,
    /// Lowercase hex sha256 of the secret key.
    pub sha256: String,
    /// Tenant the key acts for.
    pub tenant: String,
    /// Whether the key may manage keys: a key of the default tenant manages every tenant (a
    /// global admin), any other admin key only its own tenant.
    pub admin: bool,
    /// Registered from the configuration (`MICROLEARN_ADMIN_KEY`, `[serve] admin_key`): it
    /// stays valid only while the configuration names it, so rotating the configured key
    /// revokes the old one on the next start.
    #[serde(default)]
    pub configured: bool,
    /// A note for people (who or what uses the key).
    pub label: String,
    /// Created.
    pub created_at_ms: i64,
}
