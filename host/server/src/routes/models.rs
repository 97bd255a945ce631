//! `/v1/models`: list, get, evaluation (metrics and curves per evaluator), bundle download.

use super::check_id;
use crate::App;
use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use microlearn_store::ModelRecord;
use serde_json::{Value, json};

pub(crate) fn find(app: &App, tenant: &str, id: &str) -> ApiResult<ModelRecord> {
    check_id("model", id)?;
    app.store
        .tenant(tenant)
        .model(id)?
        .ok_or_else(|| ApiError::not_found("model", id))
}

fn summary(m: &ModelRecord) -> Value {
    json!({
        "id": m.id,
        "pipeline_id": m.pipeline_id,
        "kind": m.kind,
        "task": m.task,
        "target": m.target,
        "params": m.params,
        "trial": m.trial,
        "metric": m.metric,
        "validation_score": m.validation_score,
        "test_metrics": m.test_metrics,
        "fit_seconds": m.fit_seconds,
        "bundle_bytes": m.bundle.size,
        "bundle_sha256": m.bundle.sha256,
        "created_at_ms": m.created_at_ms,
    })
}

pub(crate) async fn list(State(app): State<App>, caller: Caller) -> ApiResult<Json<Value>> {
    let mut all = app.store.tenant(&caller.tenant).models()?;
    all.sort_by_key(|m| m.created_at_ms);
    Ok(Json(
        json!({ "models": all.iter().map(summary).collect::<Vec<_>>() }),
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let m = find(&app, &caller.tenant, &id)?;
    let mut v = summary(&m);
    if let Some(o) = v.as_object_mut() {
        o.insert("feature_importance".into(), json!(m.feature_importance));
    }
    Ok(Json(v))
}

pub(crate) async fn evaluation(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let m = find(&app, &caller.tenant, &id)?;
    let evaluations: Vec<Value> = m
        .evaluations
        .iter()
        .map(|(evaluator, e)| json!({ "evaluator": evaluator, "evaluation": e }))
        .collect();
    Ok(Json(json!({
        "model_id": m.id,
        "test_metrics": m.test_metrics,
        "evaluations": evaluations,
    })))
}

pub(crate) async fn bundle(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
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
