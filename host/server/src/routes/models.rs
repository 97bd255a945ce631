//! `/v1/models`: list, get, delete, evaluation (metrics and curves per evaluator), bundle
//! download.

use super::check_id;
use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::Caller;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
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

/// Delete a model and its bundle (freeing its storage), refused (409) while a deployment
/// serves it, on either side of a canary, or while its pipeline still runs (the pipeline may
/// still deploy it). A deployment that only keeps it as an earlier model forgets it, so a
/// later rollback skips it.
pub(crate) async fn remove(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
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
    if !shared {
        let path = app.store.artefacts().path(&m.bundle.sha256);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            // The record is gone, so the tenant is no longer charged; the file is garbage.
            tracing::warn!(model = %id, error = %e, "removing a deleted model's bundle");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
