//! `/v1/pipelines`: create (queued for the worker pool), list, get with stages, trials,
//! leaderboard, cancel, delete, and the event stream (SSE).

use super::{Reply, check_id, check_name, query};
use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::jobs::{SOURCE_API, mark_cancelled};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use microlearn_core::stages::Decision;
use microlearn_core::{Direction, Metric, Params, PipelineId, PipelineStatus, Stage, Task};
use microlearn_pipeline::{PipelineConfig, PluginRef, default_deployment_name};
use microlearn_plugins::PluginHost;
use microlearn_store::{
    EventRecord, ModelRecord, PipelineRecord, PluginFailure, StageRecord, TrialRecord, now_ms,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::time::Duration;

/// A pipeline request: the dataset and target, and optionally everything `microlearn run`
/// takes. Plugins are `"id"`, `"id:{json}"` or `{"id": …, "config": {…}}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePipeline {
    /// The training table.
    #[schemars(length(min = 1))]
    dataset_id: String,
    /// The column to predict.
    #[schemars(length(min = 1))]
    target: String,
    /// A table to evaluate on instead of a split of the training table.
    test_dataset_id: Option<String>,
    /// Inferred from the target when absent.
    task: Option<Task>,
    /// Wall-clock budget of the whole pipeline, seconds (at most one day).
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = MAX_BUDGET_SECS))]
    budget_secs: Option<f64>,
    /// Seed of the search.
    seed: Option<u64>,
    /// Trials to run at most.
    #[schemars(range(min = 1, max = MAX_TRIALS))]
    max_trials: Option<usize>,
    /// Cross-validation folds (1: one holdout).
    #[schemars(range(min = 1, max = MAX_FOLDS))]
    folds: Option<usize>,
    /// CPU threads; at most the host's share per pipeline (default), which a 422 names.
    #[schemars(range(min = 1))]
    threads: Option<usize>,
    /// Share of the rows held out for evaluation.
    #[schemars(range(min = 0.05, max = 0.5))]
    test_fraction: Option<f64>,
    /// Share of the training rows a holdout validates on.
    #[schemars(range(min = 0.05, max = 0.5))]
    validation_fraction: Option<f64>,
    /// The objective: any metric an evaluator computes (default by task).
    #[schemars(length(min = 1, max = MAX_METRIC_LEN))]
    metric: Option<String>,
    /// Trials refit on all training rows.
    #[schemars(range(min = 1, max = MAX_REFIT_TOP))]
    refit_top: Option<usize>,
    /// The preparer chain, in order.
    #[schemars(with = "Option<Vec<PluginSpec>>", length(max = MAX_PLUGINS_PER_STAGE))]
    preparers: Option<Vec<Value>>,
    /// The selector.
    #[schemars(with = "Option<PluginSpec>")]
    selector: Option<Value>,
    /// The evaluators; the first one's metrics come first.
    #[schemars(with = "Option<Vec<PluginSpec>>", length(max = MAX_PLUGINS_PER_STAGE))]
    evaluators: Option<Vec<Value>>,
    /// The deployer.
    #[schemars(with = "Option<PluginSpec>")]
    deployer: Option<Value>,
    /// The deployment the deployer acts on (default: from the dataset's name and the target).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    deployment: Option<String>,
}

/// A plugin for a stage: `"id"`, `"id:{json config}"`, or an object with the id and its
/// configuration. The fields are read as `plugin_ref` reads them.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documents the accepted shapes; requests are read as JSON values.
enum PluginSpec {
    /// `id` or `id:{json}`.
    Spec(String),
    /// `{"id": …, "config": {…}}`.
    Object {
        /// The plugin's id.
        id: String,
        /// Its configuration (`{}` for its defaults).
        #[serde(default)]
        config: Map<String, Value>,
    },
}

fn plugin_ref(field: &str, v: &Value) -> ApiResult<PluginRef> {
    match v {
        Value::String(s) => PluginRef::parse(s).map_err(|e| ApiError::invalid(field, e)),
        Value::Object(_) => serde_json::from_value::<PluginRef>(v.clone())
            .map_err(|e| ApiError::invalid(field, format!("{field}: {e}")))
            .and_then(|r| {
                if r.config.is_object() {
                    Ok(r)
                } else {
                    Err(ApiError::invalid(
                        field,
                        format!("{field}: config must be a JSON object"),
                    ))
                }
            }),
        _ => Err(ApiError::invalid(
            field,
            format!(
                "{field}: expected \"id\", \"id:{{json}}\" or {{\"id\": …, \"config\": {{…}}}}"
            ),
        )),
    }
}

fn check_plugins(host: &PluginHost, c: &PipelineConfig) -> ApiResult<()> {
    let unknown = |field: &str, e: microlearn_plugins::PluginError| {
        ApiError::invalid(field, format!("{field}: {e}"))
    };
    for (i, p) in c.preparers.iter().enumerate() {
        host.preparer(&p.id)
            .map_err(|e| unknown(&format!("preparers[{i}]"), e))?;
    }
    host.selector(&c.selector.id)
        .map_err(|e| unknown("selector", e))?;
    host.deployer(&c.deployer.id)
        .map_err(|e| unknown("deployer", e))?;
    for (i, p) in c.evaluators.iter().enumerate() {
        host.evaluator(&p.id)
            .map_err(|e| unknown(&format!("evaluators[{i}]"), e))?;
    }
    Ok(())
}

pub(crate) async fn create(
    State(app): State<App>,
    caller: Caller,
    ApiJson(req): ApiJson<CreatePipeline>,
) -> ApiResult<impl IntoResponse> {
    let dataset = super::datasets::find(&app, &caller.tenant, &req.dataset_id)?;
    if dataset.schema.column(&req.target).is_none() {
        return Err(ApiError::invalid(
            "target",
            format!(
                "dataset '{}' ({}) has no column '{}'; its columns are: {}",
                dataset.id,
                dataset.name,
                req.target,
                dataset
                    .schema
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Some(t) = &req.test_dataset_id {
        super::datasets::find(&app, &caller.tenant, t)?;
    }
    check_knobs(&req, app.threads_per_pipeline())?;
    let mut c = PipelineConfig::new(&req.target);
    c.tenant = caller.tenant.clone();
    c.task = req.task;
    c.budget_secs = req.budget_secs.unwrap_or(c.budget_secs);
    c.seed = req.seed.unwrap_or(c.seed);
    c.max_trials = req.max_trials;
    c.folds = req.folds;
    // Unset means this host's share per pipeline, never "every core".
    c.threads = Some(req.threads.unwrap_or_else(|| app.threads_per_pipeline()));
    c.test_fraction = req.test_fraction.unwrap_or(c.test_fraction);
    c.validation_fraction = req.validation_fraction.unwrap_or(c.validation_fraction);
    c.metric = req.metric.clone();
    c.refit_top = req.refit_top.unwrap_or(c.refit_top);
    if let Some(p) = &req.preparers {
        c.preparers = p
            .iter()
            .enumerate()
            .map(|(i, v)| plugin_ref(&format!("preparers[{i}]"), v))
            .collect::<ApiResult<_>>()?;
    }
    if let Some(v) = &req.selector {
        c.selector = plugin_ref("selector", v)?;
    }
    if let Some(e) = &req.evaluators {
        c.evaluators = e
            .iter()
            .enumerate()
            .map(|(i, v)| plugin_ref(&format!("evaluators[{i}]"), v))
            .collect::<ApiResult<_>>()?;
    }
    if let Some(v) = &req.deployer {
        c.deployer = plugin_ref("deployer", v)?;
    }
    let deployment = match &req.deployment {
        Some(d) => {
            check_name("deployment", d)?;
            d.clone()
        }
        None => default_deployment_name(std::path::Path::new(&dataset.name), &req.target),
    };
    c.deployment = Some(deployment);
    c.validate()
        .map_err(|e| ApiError::new(ProblemKind::InvalidRequest, e))?;
    // The rescan hashes changed components: blocking work, off the async threads.
    let (app2, tenant2) = (app.clone(), caller.tenant.clone());
    let host = super::blocking(move || app2.plugins_for(&tenant2)).await?;
    check_plugins(&host, &c)?;

    let tenant = app.store.tenant(&caller.tenant);
    // Checked and recorded under the tenant's gate: two requests racing for the last slot
    // cannot both see it free.
    let gate = app.gate(&caller.tenant).await?;
    gate.check_pipeline_slot(&tenant)?;
    if let Some(d) = &c.deployment {
        gate.check_deployment(&tenant, d)?;
    }
    gate.check_storage_left(&app)?;

    let mut config = serde_json::to_value(&c).map_err(ApiError::internal)?;
    if let Some(o) = config.as_object_mut() {
        o.insert("source".into(), json!(SOURCE_API));
        o.insert("test_dataset_id".into(), json!(req.test_dataset_id));
    }
    let now = now_ms();
    let record = PipelineRecord {
        deployment: c.deployment.clone(),
        ..PipelineRecord::created(
            PipelineId::generate().0,
            dataset.id.clone(),
            req.target.clone(),
            config,
            now,
        )
    };
    // Persisted before it is acknowledged (and before a worker can see it).
    tenant.put_pipeline(&record)?;
    // A lease that cannot be taken right now (the database is failing over) leaves the
    // pipeline queued in the store: a node's sweep picks it up once the lease expires.
    let _ = crate::jobs::take(&app, &caller.tenant, &record.id);
    drop(gate);
    let location = format!("/v1/pipelines/{}", record.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Reply(PipelineView::new(record, 0)),
    ))
}

/// The most a request may ask for of each count and share; a request beyond is refused with
/// the field named rather than run until the host gives out.
const MAX_BUDGET_SECS: f64 = 24.0 * 3600.0;
const MAX_TRIALS: usize = 100_000;
const MAX_FOLDS: usize = 20;
const MAX_REFIT_TOP: usize = 20;
const MAX_PLUGINS_PER_STAGE: usize = 16;
const MAX_METRIC_LEN: usize = 128;

/// Every numeric knob of a pipeline request within its range, or a 422 naming the field and
/// the range.
fn check_knobs(req: &CreatePipeline, max_threads: usize) -> ApiResult<()> {
    let out_of_range = |field: &str, range: String, got: String| {
        ApiError::invalid(field, format!("{field} must be {range}, got {got}")).with("range", range)
    };
    if let Some(b) = req.budget_secs
        && !(b.is_finite() && b > 0.0 && b <= MAX_BUDGET_SECS)
    {
        return Err(out_of_range(
            "budget_secs",
            format!("more than 0 and at most {MAX_BUDGET_SECS} (one day)"),
            b.to_string(),
        ));
    }
    let ints = [
        ("max_trials", req.max_trials, MAX_TRIALS),
        ("folds", req.folds, MAX_FOLDS),
        ("threads", req.threads, max_threads),
        ("refit_top", req.refit_top, MAX_REFIT_TOP),
    ];
    for (field, value, max) in ints {
        if let Some(v) = value
            && !(1..=max).contains(&v)
        {
            let mut e = out_of_range(field, format!("between 1 and {max}"), v.to_string());
            if field == "threads" {
                e = ApiError::invalid(
                    field,
                    format!(
                        "threads must be between 1 and {max}: this host gives each pipeline at most {max} CPU threads, got {v}"
                    ),
                )
                .with("range", format!("between 1 and {max}"));
            }
            return Err(e.with("limit", max));
        }
    }
    for (field, value) in [
        ("test_fraction", req.test_fraction),
        ("validation_fraction", req.validation_fraction),
    ] {
        if let Some(f) = value
            && !(0.05..=0.5).contains(&f)
        {
            return Err(out_of_range(
                field,
                "between 0.05 and 0.5".into(),
                f.to_string(),
            ));
        }
    }
    for (field, n) in [
        ("preparers", req.preparers.as_ref().map(Vec::len)),
        ("evaluators", req.evaluators.as_ref().map(Vec::len)),
    ] {
        if let Some(n) = n
            && n > MAX_PLUGINS_PER_STAGE
        {
            return Err(out_of_range(
                field,
                format!("a list of at most {MAX_PLUGINS_PER_STAGE} plugins"),
                format!("{n}"),
            ));
        }
    }
    // Characters, not bytes: the bound the OpenAPI document states (`maxLength`).
    if let Some(m) = &req.metric
        && (m.is_empty() || m.chars().count() > MAX_METRIC_LEN)
    {
        return Err(out_of_range(
            "metric",
            format!("a metric name of 1 to {MAX_METRIC_LEN} characters"),
            format!("{} characters", m.chars().count()),
        ));
    }
    Ok(())
}

/// Where a pipeline stands, as one word: `created`, the stage it is running, `done`, `failed`
/// or `cancelled` (its `Display`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusName(pub PipelineStatus);

impl Serialize for StatusName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl JsonSchema for StatusName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PipelineStatus".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<String> = std::iter::once(PipelineStatus::Created)
            .chain(Stage::ALL.map(PipelineStatus::Running))
            .chain([
                PipelineStatus::Done,
                PipelineStatus::Failed,
                PipelineStatus::Cancelled,
            ])
            .map(|s| s.to_string())
            .collect();
        schemars::json_schema!({
            "description": "Where the pipeline stands: created, the stage it is running, or how it ended.",
            "type": "string",
            "enum": names,
        })
    }
}

/// A pipeline: the stored record, its status as one word, whether it ended, its trial count.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PipelineView {
    /// Id.
    id: String,
    /// Dataset id.
    dataset_id: String,
    /// Target column.
    target: String,
    /// Task (known after ingest).
    task: Option<Task>,
    /// The configuration it was started with: the engine's settings with every plugin's own
    /// configuration, which the plugin defines (so an open object).
    #[schemars(with = "Map<String, Value>")]
    config: Value,
    /// Where it stands.
    status: StatusName,
    /// Whether it ended (done, failed or cancelled).
    terminal: bool,
    /// Stages run so far, in order.
    stages: Vec<StageRecord>,
    /// The error that failed it.
    error: Option<String>,
    /// Models refit and evaluated, best first.
    leaderboard: Vec<String>,
    /// The best model.
    best_model: Option<String>,
    /// The deployment it acts on.
    deployment: Option<String>,
    /// The deployer's decision.
    decision: Option<Decision>,
    /// Plugins that failed where the pipeline could go on without them.
    plugin_errors: Vec<PluginFailure>,
    /// Trials recorded so far.
    trial_count: usize,
    /// Created.
    created_at_ms: i64,
    /// Last change.
    updated_at_ms: i64,
}

impl PipelineView {
    fn new(p: PipelineRecord, trial_count: usize) -> Self {
        PipelineView {
            status: StatusName(p.status),
            terminal: p.status.is_terminal(),
            trial_count,
            id: p.id,
            dataset_id: p.dataset_id,
            target: p.target,
            task: p.task,
            config: p.config,
            stages: p.stages,
            error: p.error,
            leaderboard: p.leaderboard,
            best_model: p.best_model,
            deployment: p.deployment,
            decision: p.decision,
            plugin_errors: p.plugin_errors,
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        }
    }
}

/// A pipeline in the list: what an overview shows without a call per pipeline.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PipelineSummary {
    id: String,
    dataset_id: String,
    /// The dataset's name (`null` once the dataset is deleted).
    dataset_name: Option<String>,
    target: String,
    task: Option<Task>,
    status: StatusName,
    terminal: bool,
    stages: Vec<StageRecord>,
    /// The budget it was started with, seconds.
    #[schemars(with = "Option<f64>")]
    budget_secs: Option<Value>,
    trial_count: usize,
    best_model: Option<String>,
    /// The best model's kind and scores (`null` before there is one).
    best: Option<BestModel>,
    deployment: Option<String>,
    error: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
}

/// The best model's kind and its objective score, on validation and on the held-out rows.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct BestModel {
    model_id: String,
    kind: String,
    /// The objective.
    metric: String,
    /// Whether larger or smaller is better (`null` when no evaluator computed the objective).
    direction: Option<Direction>,
    /// Cross-validated score (`null` when not a finite number).
    #[schemars(with = "Option<f64>")]
    validation_score: f64,
    /// Held-out score (`null` when no evaluator computed it or it is not finite).
    test_score: Option<f64>,
}

impl BestModel {
    fn of(m: &ModelRecord) -> Self {
        let test = m.test_metrics.iter().find(|t| t.name == m.metric);
        BestModel {
            model_id: m.id.clone(),
            kind: m.kind.clone(),
            metric: m.metric.clone(),
            direction: test.map(|t| t.direction),
            validation_score: m.validation_score,
            test_score: test.map(|t| t.value),
        }
    }
}

/// `GET /v1/pipelines`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PipelineList {
    pipelines: Vec<PipelineSummary>,
}

/// `GET /v1/pipelines/{id}/trials`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TrialList {
    /// By number.
    trials: Vec<TrialRecord>,
}

/// `GET /v1/pipelines/{id}/leaderboard`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Leaderboard {
    pipeline_id: String,
    status: StatusName,
    /// Best first.
    models: Vec<LeaderboardEntry>,
    /// The deployer's decision.
    decision: Option<Decision>,
}

/// One refit and evaluated model of a leaderboard.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LeaderboardEntry {
    /// 1 for the best.
    rank: usize,
    model_id: String,
    kind: String,
    params: Params,
    metric: String,
    /// Cross-validated score (`null` when not a finite number).
    #[schemars(with = "Option<f64>")]
    validation_score: f64,
    test_metrics: Vec<Metric>,
    fit_seconds: f64,
    /// Whether it is the pipeline's best model.
    best: bool,
}

pub(crate) fn find(app: &App, tenant: &str, id: &str) -> ApiResult<PipelineRecord> {
    check_id("pipeline", id)?;
    app.store
        .tenant(tenant)
        .pipeline(id)?
        .ok_or_else(|| ApiError::not_found("pipeline", id))
}

/// The list carries what an overview shows without a call per pipeline: stage timings (the
/// dashboard's timeline), the dataset's name, the trial count and the best model's score.
pub(crate) async fn list(State(app): State<App>, caller: Caller) -> ApiResult<Reply<PipelineList>> {
    let tenant = app.store.tenant(&caller.tenant);
    let all = tenant.pipelines()?;
    let mut dataset_names: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    let mut items = Vec::with_capacity(all.len());
    for p in &all {
        let dataset_name = match dataset_names.get(&p.dataset_id) {
            Some(n) => n.clone(),
            None => {
                let n = tenant.dataset(&p.dataset_id)?.map(|d| d.name);
                dataset_names.insert(p.dataset_id.clone(), n.clone());
                n
            }
        };
        let best = match &p.best_model {
            Some(id) => tenant.model(id)?.map(|m| BestModel::of(&m)),
            None => None,
        };
        items.push(PipelineSummary {
            id: p.id.clone(),
            dataset_id: p.dataset_id.clone(),
            dataset_name,
            target: p.target.clone(),
            task: p.task,
            status: StatusName(p.status),
            terminal: p.status.is_terminal(),
            stages: p.stages.clone(),
            budget_secs: p.config.get("budget_secs").cloned(),
            trial_count: tenant.trial_count(&p.id)?,
            best_model: p.best_model.clone(),
            best,
            deployment: p.deployment.clone(),
            error: p.error.clone(),
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        });
    }
    Ok(Reply(PipelineList { pipelines: items }))
}

pub(crate) async fn get(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<PipelineView>> {
    let p = find(&app, &caller.tenant, &id)?;
    let trials = app.store.tenant(&caller.tenant).trial_count(&id)?;
    Ok(Reply(PipelineView::new(p, trials)))
}

pub(crate) async fn trials(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<TrialList>> {
    find(&app, &caller.tenant, &id)?;
    let trials = app.store.tenant(&caller.tenant).trials(&id)?;
    Ok(Reply(TrialList { trials }))
}

pub(crate) async fn leaderboard(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<Leaderboard>> {
    let p = find(&app, &caller.tenant, &id)?;
    let tenant = app.store.tenant(&caller.tenant);
    let mut models = Vec::new();
    for (rank, mid) in p.leaderboard.iter().enumerate() {
        if let Some(m) = tenant.model(mid)? {
            models.push(LeaderboardEntry {
                rank: rank + 1,
                best: p.best_model.as_deref() == Some(m.id.as_str()),
                model_id: m.id,
                kind: m.kind,
                params: m.params,
                metric: m.metric,
                validation_score: m.validation_score,
                test_metrics: m.test_metrics,
                fit_seconds: m.fit_seconds,
            });
        }
    }
    Ok(Reply(Leaderboard {
        pipeline_id: p.id,
        status: StatusName(p.status),
        models,
        decision: p.decision,
    }))
}

pub(crate) async fn cancel(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<PipelineView>> {
    let p = find(&app, &caller.tenant, &id)?;
    if p.status.is_terminal() {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!("pipeline '{id}' already ended ({})", p.status),
        ));
    }
    // Signal the worker (it stops before the next stage or trial, and records nothing more),
    // then record the cancel now, so it takes effect at once for every reader.
    if app.jobs.cancel(&id) == crate::jobs::Cancel::TooLate {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!(
                "pipeline '{id}' is already writing its result (deployment and record); it can no longer be cancelled"
            ),
        ));
    }
    let tenant = app.store.tenant(&caller.tenant);
    if app.store.is_shared() {
        // It may run on another node of the cluster: that node sees this within a second
        // and stops it.
        tenant.request_cancel(&id)?;
    }
    mark_cancelled(&tenant, &id);
    let p = find(&app, &caller.tenant, &id)?;
    let trials = tenant.trial_count(&id)?;
    Ok(Reply(PipelineView::new(p, trials)))
}

pub(crate) async fn remove(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let p = find(&app, &caller.tenant, &id)?;
    if !p.status.is_terminal() {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!("pipeline '{id}' is still {}; cancel it first", p.status),
        ));
    }
    // A cluster's distributed trials leave predictions blobs behind a ledger entry each.
    microlearn_pipeline::forget_trial_ledger(&app.store, &caller.tenant, &id)?;
    app.store.tenant(&caller.tenant).delete_pipeline(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Only events after this sequence number (wins over `Last-Event-ID`).
    after: Option<u64>,
}

/// Server-sent events: every stored event after `?after=` (or `Last-Event-ID`), then new ones
/// as they are recorded, ending with an `end` event once the pipeline has ended.
pub(crate) async fn events(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    find(&app, &caller.tenant, &id)?;
    let q: EventsQuery = query(&uri)?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let after = q.after.or(last);
    let tenant = app.store.tenant(&caller.tenant);
    struct St {
        app: App,
        tenant: microlearn_store::TenantStore,
        id: String,
        after: Option<u64>,
        done: bool,
        first: bool,
    }
    let st = St {
        app: app.clone(),
        tenant,
        id,
        after,
        done: false,
        first: true,
    };
    let s = stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            if !st.first {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            st.first = false;
            let terminal = match st.tenant.pipeline(&st.id) {
                Ok(Some(p)) => p.status.is_terminal(),
                _ => true,
            };
            // A stopping host ends its streams (the pipeline resumes on the next start, and a
            // client reconnects with Last-Event-ID); an open stream would hold the stop.
            let stopping = st.app.jobs.is_shutting_down();
            let new: Vec<EventRecord> = match st.after {
                Some(a) => st.tenant.events_after(&st.id, a),
                None => st.tenant.events(&st.id),
            }
            .unwrap_or_default();
            if let Some(last) = new.last() {
                st.after = Some(last.seq);
            }
            let mut out: Vec<Result<Event, Infallible>> = new
                .iter()
                .map(|e| {
                    Ok(Event::default()
                        .id(e.seq.to_string())
                        .event(e.kind.clone())
                        .data(serde_json::to_string(e).unwrap_or_default()))
                })
                .collect();
            // Read the status before the events, so an end is sent only after every event the
            // pipeline recorded before it ended.
            if terminal {
                out.push(Ok(Event::default().event("end").data("{}")));
                st.done = true;
            } else if stopping {
                out.push(Ok(Event::default().event("shutdown").data(
                    r#"{"reason":"the server is stopping; reconnect with Last-Event-ID"}"#,
                )));
                st.done = true;
            }
            if !out.is_empty() {
                return Some((stream::iter(out), st));
            }
        }
    })
    .flatten();
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}
