//! `/v1/deployments`: create from a model, replace (outright or as a canary), promote a canary,
//! roll back, delete, predict (JSON rows), batch scoring (a file in, a file out) and stats.
//!
//! A canary is a deployment whose decision gives the newest model less than 100% of traffic
//! while it has an earlier model: serving splits requests between the two (see
//! `serving::Route`), `promote` hands the new model all traffic and `rollback` ends the canary
//! by serving the earlier model again.

use super::{Reply, blocking, check_id, check_name, query};
use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::serving::{
    OutputFormat, ROUTING_KEY_HEADER, Route, StatsView, TextChunks, TrafficSide, finish_scored,
    route_plan, rows_to_table, scored_json, write_scored_piece,
};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use microlearn_core::stages::{Decision, DeployAction, ServingMode};
use microlearn_core::{ColumnSchema, Task};
use microlearn_store::{DeploymentRecord, now_ms};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Instant;

/// Rows per predict call; larger jobs belong to batch scoring.
const MAX_PREDICT_ROWS: usize = 100_000;

/// A scoring failure as the caller should see it: bad rows or a bad file are the caller's
/// (`invalid`), a preparer past its deadline is 504 and any other plugin or stage failure 502,
/// both with the stage error, which names the plugin and the function but no host path; the
/// rest is the host's own failure (500, detail in the log).
fn scoring_error(
    e: microlearn_pipeline::PipelineError,
    invalid: ProblemKind,
    name: &str,
) -> ApiError {
    use microlearn_pipeline::PipelineError as P;
    match e {
        P::Data(d) => ApiError::new(invalid, format!("{name}{d}")),
        P::Plugin {
            source: source @ microlearn_plugins::PluginError::Timeout { .. },
            stage,
        } => ApiError::new(ProblemKind::Timeout, format!("{stage} stage: {source}"))
            .with("stage", stage.to_string()),
        P::Plugin { stage, source } => ApiError::new(
            ProblemKind::PluginFailed,
            format!("{stage} stage: {source}"),
        )
        .with("stage", stage.to_string()),
        P::Stage { stage, message } => ApiError::new(
            ProblemKind::PluginFailed,
            format!("{stage} stage: {message}"),
        )
        .with("stage", stage.to_string()),
        other => ApiError::internal(other),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateDeployment {
    /// The deployment's name: 1–64 letters, digits, `-`, `_` or `.`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    name: String,
    /// The model to serve.
    model_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplaceDeployment {
    /// The model to serve.
    model_id: String,
    /// The new model's share of traffic while the current one keeps the rest (a canary);
    /// 100 (the default) replaces the current model outright.
    #[schemars(range(min = 1, max = 100))]
    traffic_percent: Option<u8>,
}

/// Response header naming the model that scored a request (canaries split between two).
pub(crate) const MODEL_HEADER: &str = "x-microlearn-model";

/// A deployment: the model it serves, its history and decision, and how serving stands.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DeploymentView {
    /// Name.
    name: String,
    /// The model it serves (the canary's during a canary).
    model_id: String,
    /// Earlier models, oldest first (for rollback).
    history: Vec<String>,
    /// The decision that put the model there.
    decision: Decision,
    /// Last change.
    updated_at_ms: i64,
    /// Whether that model is loaded and answering.
    loaded: bool,
    /// Predict and batch calls so far.
    requests: u64,
    /// Whether a canary splits traffic.
    canary: bool,
    /// Each model's share and counters (`null` while nothing is loaded).
    traffic: Option<Vec<TrafficSide>>,
    /// What a predict call takes, from the loaded bundle (`null` while nothing is loaded).
    input: Option<DeploymentInput>,
}

/// The input a deployment's model expects: the dashboard builds its try-it form from this,
/// and clients can validate rows before sending them.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DeploymentInput {
    model_id: String,
    /// Model kind.
    kind: String,
    task: Task,
    /// The column it predicts.
    target: String,
    /// Class labels in index order (empty for regression).
    labels: Vec<String>,
    /// The feature columns a row has.
    columns: Vec<ColumnSchema>,
}

/// `GET /v1/deployments`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DeploymentList {
    deployments: Vec<DeploymentView>,
}

/// `GET /v1/deployments/{name}/stats`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DeploymentStats {
    name: String,
    model_id: String,
    stats: StatsView,
    /// Each model's share and counters (`null` while nothing is loaded).
    traffic: Option<Vec<TrafficSide>>,
}

/// The answer of a predict call: one prediction per row, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Predictions {
    /// The model that scored the rows (also the `X-MicroLearn-Model` header).
    model_id: String,
    #[schemars(schema_with = "prediction_rows")]
    predictions: Vec<Value>,
}

/// What [`scored_json`] writes per row.
fn prediction_rows(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "description": "`prediction` (the class label for classification, the value for regression), then `proba_<label>` per class. A number that is not finite is null.",
            "required": ["prediction"],
            "properties": {
                "prediction": { "type": ["string", "number", "null"] }
            },
            "additionalProperties": { "type": ["number", "null"] }
        }
    })
}

/// Which side of a canary a call goes to: its routing key when it sends one.
fn routing_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(ROUTING_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
}

fn find(app: &App, tenant: &str, name: &str) -> ApiResult<DeploymentRecord> {
    check_id("deployment", name)?;
    app.store
        .tenant(tenant)
        .deployment(name)?
        .ok_or_else(|| ApiError::not_found("deployment", name))
}

fn deployment_view(app: &App, tenant: &str, d: &DeploymentRecord) -> DeploymentView {
    let route = app.serving.get(tenant, &d.name);
    let input = route.as_ref().map(|r| {
        let s = &r.primary;
        let h = &s.model.header;
        DeploymentInput {
            model_id: s.model_id.clone(),
            kind: h.kind.clone(),
            task: h.task,
            target: h.target.clone(),
            labels: h.labels.clone(),
            columns: h.input_schema.columns.clone(),
        }
    });
    DeploymentView {
        name: d.name.clone(),
        model_id: d.model_id.clone(),
        history: d.history.clone(),
        decision: d.decision.clone(),
        updated_at_ms: d.updated_at_ms,
        loaded: route
            .as_ref()
            .is_some_and(|r| r.primary.model_id == d.model_id),
        requests: app
            .serving
            .stats(tenant, &d.name)
            .map_or(0, |s| s.requests.load(std::sync::atomic::Ordering::Relaxed)),
        canary: route.as_ref().is_some_and(|r| r.stable.is_some()),
        traffic: route.as_ref().map(|r| r.traffic()),
        input,
    }
}

fn manual_decision(model_id: &str, what: &str, key_id: &str, traffic_percent: u8) -> Decision {
    Decision {
        action: DeployAction::Promote(model_id.to_string()),
        mode: ServingMode::Both,
        traffic_percent,
        reason: format!("{what} through the API (key {key_id})"),
    }
}

/// Load the model into serving first, then record the change: a model that cannot be served
/// is refused and the deployment is left as it was.
fn apply(app: &App, tenant: &str, d: &DeploymentRecord) -> ApiResult<()> {
    app.serving.load(app, tenant, d)?;
    app.store.tenant(tenant).put_deployment(d)?;
    Ok(())
}

pub(crate) async fn list(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<Reply<DeploymentList>> {
    let all = app.store.tenant(&caller.tenant).deployments()?;
    Ok(Reply(DeploymentList {
        deployments: all
            .iter()
            .map(|d| deployment_view(&app, &caller.tenant, d))
            .collect(),
    }))
}

pub(crate) async fn create(
    State(app): State<App>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateDeployment>,
) -> ApiResult<impl IntoResponse> {
    check_name("name", &req.name)?;
    let tenant = app.store.tenant(&caller.tenant);
    // Held until the record is written: the quota counts it (and the deployments running
    // pipelines will make) in one step with the commit.
    let gate = app.gate(&caller.tenant).await?;
    gate.check_deployment(&tenant, &req.name)?;
    super::models::find(&app, &caller.tenant, &req.model_id)?;
    if tenant.deployment(&req.name)?.is_some() {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!(
                "deployment '{}' exists; PUT /v1/deployments/{} replaces its model",
                req.name, req.name
            ),
        ));
    }
    let d = DeploymentRecord {
        name: req.name.clone(),
        model_id: req.model_id.clone(),
        decision: manual_decision(&req.model_id, "deployed", &caller.key_id, 100),
        history: vec![],
        updated_at_ms: now_ms(),
    };
    let app2 = app.clone();
    let tenant_name = caller.tenant.clone();
    let d2 = d.clone();
    blocking(move || apply(&app2, &tenant_name, &d2)).await?;
    drop(gate);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/deployments/{}", d.name))],
        Reply(deployment_view(&app, &caller.tenant, &d)),
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Reply<DeploymentView>> {
    let d = find(&app, &caller.tenant, &name)?;
    Ok(Reply(deployment_view(&app, &caller.tenant, &d)))
}

pub(crate) async fn replace(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<ReplaceDeployment>,
) -> ApiResult<Reply<DeploymentView>> {
    let percent = req.traffic_percent.unwrap_or(100);
    if !(1..=100).contains(&percent) {
        return Err(ApiError::invalid(
            "traffic_percent",
            format!("traffic_percent is {percent}; it must be 1–100 (100 replaces the model)"),
        ));
    }
    let mut d = find(&app, &caller.tenant, &name)?;
    super::models::find(&app, &caller.tenant, &req.model_id)?;
    let what = if percent < 100 {
        format!("canary with {percent}% of traffic")
    } else {
        "replaced".to_string()
    };
    if d.model_id != req.model_id {
        d.history.push(d.model_id.clone());
        d.model_id = req.model_id.clone();
    } else if route_plan(&d).2 == percent {
        // Already served this way: nothing to record.
        return Ok(Reply(deployment_view(&app, &caller.tenant, &d)));
    }
    d.decision = manual_decision(&req.model_id, &what, &caller.key_id, percent);
    // Serving decides whether a record splits traffic; ask it rather than repeat its rule.
    if percent < 100 && route_plan(&d).1.is_none() {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!(
                "deployment '{name}' serves only '{}'; a canary needs an earlier model to split \
                 traffic with (PUT another model_id with traffic_percent)",
                d.model_id
            ),
        )
        .with("field", "traffic_percent"));
    }
    d.updated_at_ms = now_ms();
    let (app2, t, d2) = (app.clone(), caller.tenant.clone(), d.clone());
    blocking(move || apply(&app2, &t, &d2)).await?;
    Ok(Reply(deployment_view(&app, &caller.tenant, &d)))
}

/// End a canary in the new model's favour: it takes all traffic; the earlier model stays in
/// the history for a rollback.
pub(crate) async fn promote(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Reply<DeploymentView>> {
    let mut d = find(&app, &caller.tenant, &name)?;
    if route_plan(&d).1.is_none() {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!(
                "deployment '{name}' runs no canary: '{}' already takes all traffic",
                d.model_id
            ),
        ));
    }
    d.decision = manual_decision(&d.model_id, "canary promoted", &caller.key_id, 100);
    d.updated_at_ms = now_ms();
    let (app2, t, d2) = (app.clone(), caller.tenant.clone(), d.clone());
    blocking(move || apply(&app2, &t, &d2)).await?;
    Ok(Reply(deployment_view(&app, &caller.tenant, &d)))
}

pub(crate) async fn rollback(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Reply<DeploymentView>> {
    let mut d = find(&app, &caller.tenant, &name)?;
    let Some(previous) = d.history.pop() else {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!("deployment '{name}' has no earlier model to roll back to"),
        ));
    };
    super::models::find(&app, &caller.tenant, &previous).map_err(|_| {
        ApiError::new(
            ProblemKind::Conflict,
            format!("the earlier model '{previous}' of deployment '{name}' no longer exists"),
        )
    })?;
    d.model_id = previous.clone();
    d.decision = manual_decision(&previous, "rolled back", &caller.key_id, 100);
    d.updated_at_ms = now_ms();
    let (app2, t, d2) = (app.clone(), caller.tenant.clone(), d.clone());
    blocking(move || apply(&app2, &t, &d2)).await?;
    Ok(Reply(deployment_view(&app, &caller.tenant, &d)))
}

pub(crate) async fn remove(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    find(&app, &caller.tenant, &name)?;
    app.store.tenant(&caller.tenant).delete_deployment(&name)?;
    app.serving.reload(&app, &caller.tenant, &name);
    Ok(StatusCode::NO_CONTENT)
}

/// `{"rows": [{…}, …]}`, a bare array of row objects, or one row object.
fn rows_of(body: Value) -> ApiResult<Vec<Map<String, Value>>> {
    let rows = match body {
        Value::Object(mut o) if o.len() == 1 && o.get("rows").is_some_and(Value::is_array) => {
            match o.remove("rows") {
                Some(Value::Array(a)) => a,
                _ => vec![],
            }
        }
        Value::Object(o) => return Ok(vec![o]),
        Value::Array(a) => a,
        other => {
            return Err(ApiError::new(
                ProblemKind::InvalidRows,
                format!(
                    "expected a row object, an array of rows or {{\"rows\": [...]}}, got {}",
                    type_name(&other)
                ),
            ));
        }
    };
    if rows.is_empty() {
        return Err(ApiError::new(ProblemKind::InvalidRows, "no rows to score"));
    }
    if rows.len() > MAX_PREDICT_ROWS {
        return Err(ApiError::new(
            ProblemKind::InvalidRows,
            format!(
                "{} rows in one call; the limit is {MAX_PREDICT_ROWS} (use /batch for files)",
                rows.len()
            ),
        ));
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Value::Object(o) => Ok(o),
            other => Err(ApiError::new(
                ProblemKind::InvalidRows,
                format!("row {i} is {}, not an object", type_name(&other)),
            )
            .with("row", i)),
        })
        .collect()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The fast path: the deployment's bundle is in memory; the rows are checked against its
/// input schema, run through the preparer transform and the model, inline for small calls.
pub(crate) async fn predict(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<impl IntoResponse> {
    let started = Instant::now();
    let route = app
        .serving
        .get(&caller.tenant, &name)
        .ok_or_else(|| ApiError::not_found("deployment", &name))?;
    let served = route.pick(routing_key(&headers)).clone();
    fn score(
        served: &crate::serving::Served,
        rows: &[Map<String, Value>],
    ) -> ApiResult<(Predictions, usize)> {
        let table = rows_to_table(rows, &served.model.header.input_schema)?;
        let scored = served
            .model
            .predict(table)
            .map_err(|e| scoring_error(e, ProblemKind::InvalidRows, ""))?;
        Ok((
            Predictions {
                model_id: served.model_id.clone(),
                predictions: scored_json(&scored),
            },
            rows.len(),
        ))
    }
    // Even one row runs a preparer, which is plugin code: it never runs on an async thread
    // (a plugin that blocks there stalls every connection that thread serves, and WASI's
    // blocking calls panic inside the runtime). The pool admits it within the tenant's and
    // the deployment's share and answers 503/504 rather than waiting forever.
    let result = match rows_of(body) {
        Ok(rows) => {
            let s = served.clone();
            app.serving
                .scoring
                .run(
                    &caller.tenant,
                    Some(&name),
                    app.serving.limits.predict_timeout,
                    move || score(&s, &rows),
                )
                .await
        }
        Err(e) => Err(e),
    };
    record(&route, &served, started, &result);
    result.map(|(v, _)| ([(MODEL_HEADER, served.model_id.clone())], Reply(v)))
}

/// Count a call for the deployment and for the model that answered it.
fn record<T>(
    route: &Route,
    served: &crate::serving::Served,
    started: Instant,
    result: &ApiResult<(T, usize)>,
) {
    let (n, ok) = match result {
        Ok((_, n)) => (*n, true),
        Err(_) => (0, false),
    };
    let micros = started.elapsed().as_micros() as u64;
    route.stats.record(micros, n, ok);
    served.stats.record(micros, n, ok);
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchQuery {
    /// File name (its extension picks the input format unless `format` is given).
    name: Option<String>,
    /// Input format: csv, tsv, json, ndjson or parquet (also `tab`, `jsonl`, `pq`; any case).
    format: Option<String>,
    /// Output format: csv (default), tsv, json or ndjson (any case).
    output: Option<String>,
}

/// Score an uploaded table (any input format) into CSV, TSV, JSON or NDJSON, one row per
/// input row, in order.
///
/// Memory stays bounded by a piece, not the file: CSV, TSV and NDJSON are read, scored and
/// written `batch_chunk_rows` records at a time; JSON arrays and Parquet are read whole
/// (bounded by the upload cap) and scored in pieces of as many rows. The output goes to a
/// temporary file that is streamed back, so a failure anywhere is still a proper problem
/// answer (nothing has been sent yet) and the answer is never held in memory.
pub(crate) async fn batch(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    let started = Instant::now();
    let q: BatchQuery = query(req.uri())?;
    let output = q.output.as_deref().unwrap_or("csv").to_ascii_lowercase();
    let format = OutputFormat::parse(&output).ok_or_else(|| {
        ApiError::invalid(
            "output",
            format!("unknown output '{output}': use csv, tsv, json or ndjson"),
        )
    })?;
    let route = app
        .serving
        .get(&caller.tenant, &name)
        .ok_or_else(|| ApiError::not_found("deployment", &name))?;
    let served = route.pick(routing_key(req.headers())).clone();
    // Receiving holds an upload slot (a file of up to the cap on disk); scoring then takes a
    // scoring slot in the deployment's share.
    let receiving = app
        .serving
        .uploads
        .admit(&caller.tenant, None, app.serving.limits.upload_timeout)
        .await?;
    let upload = super::datasets::receive_table(
        &app,
        req,
        super::datasets::UploadQuery {
            name: q.name.clone(),
            format: q.format.clone(),
        },
        "file to score",
    )
    .await?;
    drop(receiving);
    let tmp_dir = app.config.home.join("tmp");
    let chunk_rows = app.serving.limits.batch_chunk_rows;
    let served2 = served.clone();
    let result = app
        .serving
        .scoring
        .run(
            &caller.tenant,
            Some(&name),
            app.serving.limits.batch_timeout,
            move || {
                let out = tempfile::Builder::new()
                    .prefix(".scored-")
                    .tempfile_in(&tmp_dir)
                    .map_err(ApiError::internal)?;
                let rows = score_file(&served2, &upload, format, chunk_rows, out.as_file())?;
                // The open handle keeps the content readable after the name is removed.
                let file = out.reopen().map_err(ApiError::internal)?;
                Ok((file, rows))
            },
        )
        .await;
    record(&route, &served, started, &result);
    let (file, _) = result?;
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::HeaderName::from_static(MODEL_HEADER),
                served.model_id.clone(),
            ),
        ],
        axum::body::Body::from_stream(file_stream(file)),
    ))
}

/// Read, score and write `upload` piece by piece into `out`; returns the rows scored.
fn score_file(
    served: &crate::serving::Served,
    upload: &super::datasets::Upload,
    format: OutputFormat,
    chunk_rows: usize,
    out: &std::fs::File,
) -> ApiResult<usize> {
    use microlearn_data::FileFormat;
    let mut writer = std::io::BufWriter::new(out);
    let model = &served.model;
    let name = &upload.name;
    let mut rows = 0usize;
    let mut score_piece = |dataset: microlearn_data::Dataset, label: &str| -> ApiResult<()> {
        let scored = model
            .predict_dataset(dataset)
            .map_err(|e| scoring_error(e, ProblemKind::InvalidDataset, &format!("{label}: ")))?;
        write_scored_piece(&mut writer, &scored, format, rows == 0).map_err(ApiError::internal)?;
        rows += scored.len();
        Ok(())
    };
    match upload.format {
        FileFormat::Csv | FileFormat::Tsv | FileFormat::Ndjson => {
            let file = std::fs::File::open(upload.path()).map_err(ApiError::internal)?;
            let delimited = upload.format != FileFormat::Ndjson;
            let sep = (upload.format == FileFormat::Tsv).then_some(b'\t');
            let mut pieces =
                TextChunks::new(std::io::BufReader::new(file), chunk_rows, delimited, sep);
            let mut first_row = 0usize;
            while let Some((bytes, n)) = pieces.next_piece().map_err(ApiError::internal)? {
                // Line numbers in a piece's errors count from that piece's header.
                let label = if first_row == 0 {
                    name.clone()
                } else {
                    format!("{name} (the part from data row {})", first_row + 1)
                };
                let dataset = microlearn_data::read_dataset_bytes(&bytes, upload.format, &label)
                    .map_err(|e| ApiError::new(ProblemKind::InvalidDataset, e.to_string()))?;
                score_piece(dataset, &label)?;
                first_row += n;
            }
        }
        FileFormat::Json | FileFormat::Parquet => {
            let path = upload.path();
            let dataset = microlearn_data::read_dataset(path).map_err(|e| {
                ApiError::new(
                    ProblemKind::InvalidDataset,
                    e.to_string().replace(&path.display().to_string(), name),
                )
            })?;
            let total = dataset.table.num_rows();
            if total <= chunk_rows {
                score_piece(dataset, name)?;
            } else {
                let microlearn_data::Dataset {
                    table,
                    schema,
                    format: read_as,
                    source,
                    bool_labels,
                } = dataset;
                for start in (0..total).step_by(chunk_rows.max(1)) {
                    let idx: Vec<usize> = (start..(start + chunk_rows).min(total)).collect();
                    let piece = microlearn_data::Dataset {
                        table: table.take(&idx),
                        schema: schema.clone(),
                        format: read_as,
                        source: source.clone(),
                        bool_labels: bool_labels.clone(),
                    };
                    score_piece(piece, name)?;
                }
            }
        }
    }
    finish_scored(&mut writer, format).map_err(ApiError::internal)?;
    std::io::Write::flush(&mut writer).map_err(ApiError::internal)?;
    Ok(rows)
}

/// A file's content as a body stream, read in 64 KiB pieces on the blocking pool.
fn file_stream(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> + Send {
    futures_util::stream::try_unfold(tokio::fs::File::from_std(file), |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 << 10];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((axum::body::Bytes::from(buf), f)))
    })
}

pub(crate) async fn stats(
    State(app): State<App>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Reply<DeploymentStats>> {
    let d = find(&app, &caller.tenant, &name)?;
    let stats = app
        .serving
        .stats(&caller.tenant, &name)
        .map_or_else(|| crate::serving::Stats::default().view(), |s| s.view());
    let traffic = app.serving.get(&caller.tenant, &name).map(|r| r.traffic());
    Ok(Reply(DeploymentStats {
        name: d.name,
        model_id: d.model_id,
        stats,
        traffic,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlearn_pipeline::PipelineError;
    use microlearn_plugins::PluginError;

    #[test]
    fn a_stage_past_its_deadline_is_504_with_the_stage_error() {
        let e = scoring_error(
            PipelineError::Plugin {
                stage: microlearn_core::Stage::Preparing,
                source: PluginError::Timeout {
                    plugin: "hostile".into(),
                    function: "preparer.transform",
                    limit: std::time::Duration::from_secs(5),
                },
            },
            ProblemKind::InvalidRows,
            "",
        );
        assert_eq!(e.kind, ProblemKind::Timeout);
        assert_eq!(e.kind.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(
            e.detail
                .contains("plugin 'hostile' (preparer.transform) ran past its 5s"),
            "{}",
            e.detail
        );
        let e = scoring_error(
            PipelineError::Plugin {
                stage: microlearn_core::Stage::Preparing,
                source: PluginError::Trap {
                    plugin: "hostile".into(),
                    function: "preparer.transform",
                    message: "unreachable".into(),
                },
            },
            ProblemKind::InvalidRows,
            "",
        );
        assert_eq!(e.kind, ProblemKind::PluginFailed);
        assert!(e.detail.contains("crashed: unreachable"), "{}", e.detail);
    }
}
