//! `/v1/models`: list, get, delete, evaluation (metrics and curves per evaluator), bundle
//! download.

use super::{Reply, check_id};
use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{ApiPath, Caller};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use microlearn_core::stages::Evaluation;
use microlearn_core::{Metric, Params, Task};
use microlearn_store::ModelRecord;
use schemars::JsonSchema;
use serde::Serialize;

pub(crate) fn find(app: &App, tenant: &str, id: &str) -> ApiResult<ModelRecord> {
    check_id("model", id)?;
    app.store
        .tenant(tenant)
        .model(id)?
        .ok_or_else(|| ApiError::not_found("model", id))
}

/// A model refit on the training rows and evaluated on the held-out rows.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ModelView {
    /// Id.
    id: String,
    /// The pipeline that made it.
    pipeline_id: String,
    /// Model kind (`gbdt`, `ensemble`, …).
    kind: String,
    task: Task,
    /// Target column.
    target: String,
    /// Parameters of the refit.
    params: Params,
    /// The trial it came from.
    trial: usize,
    /// The objective.
    metric: String,
    /// That trial's validation score (`null` when not a finite number).
    #[schemars(with = "Option<f64>")]
    validation_score: f64,
    /// Held-out metrics (the first evaluator's first).
    test_metrics: Vec<Metric>,
    /// Refit wall time, seconds.
    fit_seconds: f64,
    /// Size of its bundle, bytes.
    bundle_bytes: u64,
    /// sha256 of its bundle.
    bundle_sha256: String,
    /// Created.
    created_at_ms: i64,
}

impl ModelView {
    fn of(m: &ModelRecord) -> Self {
        ModelView {
            id: m.id.clone(),
            pipeline_id: m.pipeline_id.clone(),
            kind: m.kind.clone(),
            task: m.task,
            target: m.target.clone(),
            params: m.params.clone(),
            trial: m.trial,
            metric: m.metric.clone(),
            validation_score: m.validation_score,
            test_metrics: m.test_metrics.clone(),
            fit_seconds: m.fit_seconds,
            bundle_bytes: m.bundle.size,
            bundle_sha256: m.bundle.sha256.clone(),
            created_at_ms: m.created_at_ms,
        }
    }
}

/// A model with the importance of each prepared feature.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ModelDetail {
    #[serde(flatten)]
    model: ModelView,
    /// `[feature, importance]` pairs, largest first (`null` for an importance that is not a
    /// finite number, which a diverged fit can give).
    #[schemars(with = "Vec<(String, Option<f64>)>")]
    feature_importance: Vec<(String, f64)>,
}

/// `GET /v1/models`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ModelList {
    /// Oldest first.
    models: Vec<ModelView>,
}

/// `GET /v1/models/{id}/evaluation`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ModelEvaluation {
    model_id: String,
    test_metrics: Vec<Metric>,
    /// One per evaluator, in the pipeline's order.
    evaluations: Vec<EvaluatorResult>,
}

/// What one evaluator computed on the held-out rows.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct EvaluatorResult {
    /// The evaluator's plugin id.
    evaluator: String,
    evaluation: Evaluation,
}

pub(crate) async fn list(State(app): State<App>, caller: Caller) -> ApiResult<Reply<ModelList>> {
    let mut all = app.store.tenant(&caller.tenant).models()?;
    all.sort_by_key(|m| m.created_at_ms);
    Ok(Reply(ModelList {
        models: all.iter().map(ModelView::of).collect(),
    }))
}

pub(crate) async fn get(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<ModelDetail>> {
    let m = find(&app, &caller.tenant, &id)?;
    Ok(Reply(ModelDetail {
        model: ModelView::of(&m),
        feature_importance: m.feature_importance,
    }))
}

pub(crate) async fn evaluation(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<ModelEvaluation>> {
    let m = find(&app, &caller.tenant, &id)?;
    Ok(Reply(ModelEvaluation {
        model_id: m.id,
        test_metrics: m.test_metrics,
        evaluations: m
            .evaluations
            .into_iter()
            .map(|(evaluator, evaluation)| EvaluatorResult {
                evaluator,
                evaluation,
            })
            .collect(),
    }))
}

pub(crate) async fn bundle(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    let m = find(&app, &caller.tenant, &id)?;
    let bytes = app.store.artefacts().get(&m.bundle.sha256)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.mlbundle\"", m.id),
            ),
        ],
        bytes,
    ))
}

/// Delete a model and its bundle (freeing its storage), refused (409) while a deployment
/// serves it, on either side of a canary, or while its pipeline still runs (the pipeline may
/// still deploy it). A deployment that only keeps it as an earlier model forgets it, so a
/// later rollback skips it.
pub(crate) async fn remove(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let m = find(&app, &caller.tenant, &id)?;
    let tenant = app.store.tenant(&caller.tenant);
    // Under the gate, so a deployment of this model cannot be created between the check
    // and the delete.
    let gate = app.gate(&caller.tenant).await?;
    let deployments = tenant.deployments()?;
    for d in &deployments {
        let (primary, stable, _) = crate::serving::route_plan(d);
        if primary == id || stable.as_deref() == Some(id.as_str()) {
            return Err(ApiError::new(
                ProblemKind::Conflict,
                format!(
                    "model '{id}' is served by deployment '{}'; deploy another model there or delete the deployment first",
                    d.name
                ),
            )
            .with("deployment", d.name.clone()));
        }
    }
    if let Some(p) = tenant.pipeline(&m.pipeline_id)?
        && !p.status.is_terminal()
    {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!(
                "model '{id}' belongs to pipeline '{}', which is still {}; wait for it to end or cancel it",
                p.id, p.status
            ),
        ));
    }
    for mut d in deployments {
        if d.history.iter().any(|h| h == &id) {
            d.history.retain(|h| h != &id);
            tenant.put_deployment(&d)?;
        }
    }
    tenant.delete_model(&id)?;
    drop(gate);
    // Bundles are content-addressed: another record (of any tenant) may share the file.
    let shared = app
        .store
        .all_models()?
        .iter()
        .any(|(_, other)| other.bundle.sha256 == m.bundle.sha256);
    if !shared && let Err(e) = app.store.artefacts().remove(&m.bundle.sha256) {
        // The record is gone, so the tenant is no longer charged; the file is garbage.
        tracing::warn!(model = %id, error = %e, "removing a deleted model's bundle");
    }
    Ok(StatusCode::NO_CONTENT)
}
