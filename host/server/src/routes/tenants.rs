//! `/v1/tenants` (admin keys only): tenants with quotas and usage, and their API keys.

use super::check_id;
use crate::App;
use crate::auth::{new_key, valid_tenant_name};
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{Admin, ApiJson};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use microlearn_store::{DEFAULT_TENANT, Quotas, TenantRecord, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    name: String,
    quotas: Option<Quotas>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateTenant {
    quotas: Quotas,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    #[serde(default)]
    label: String,
    #[serde(default)]
    admin: bool,
}

fn find(app: &App, name: &str) -> ApiResult<TenantRecord> {
    check_id("tenant", name)?;
    app.store
        .tenant_record(name)?
        .ok_or_else(|| ApiError::not_found("tenant", name))
}

fn tenant_json(app: &App, t: &TenantRecord) -> ApiResult<Value> {
    let store = app.store.tenant(&t.name);
    let active = store
        .pipelines()?
        .iter()
        .filter(|p| !p.status.is_terminal())
        .count();
    Ok(json!({
        "name": t.name,
        "quotas": t.quotas,
        "created_at_ms": t.created_at_ms,
        "usage": {
            "storage_bytes": store.storage_bytes()?,
            "active_pipelines": active,
            "deployments": store.deployments()?.len(),
        },
    }))
}

pub(crate) async fn list(State(app): State<App>, _a: Admin) -> ApiResult<Json<Value>> {
    let all = app.store.tenants()?;
    let items = all
        .iter()
        .map(|t| tenant_json(&app, t))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(json!({ "tenants": items })))
}

pub(crate) async fn create(
    State(app): State<App>,
    Admin(caller): Admin,
    ApiJson(req): ApiJson<CreateTenant>,
) -> ApiResult<impl IntoResponse> {
    if !valid_tenant_name(&req.name) {
        return Err(ApiError::invalid(
            "name",
            format!(
                "'{}' is not a valid tenant name: use 1–64 lowercase letters, digits, '-' or '_'",
                req.name
            ),
        ));
    }
    if app.store.tenant_record(&req.name)?.is_some() {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!("tenant '{}' exists", req.name),
        ));
    }
    let t = TenantRecord {
        name: req.name.clone(),
        quotas: req
            .quotas
            .unwrap_or_else(|| app.config.default_quotas.clone()),
        created_at_ms: now_ms(),
    };
    app.store.put_tenant(&t)?;
    let (key, record) = new_key(
        &t.name,
        false,
        &format!("first key (created by {})", caller.key_id),
    );
    app.store.put_api_key(&record)?;
    let mut body = tenant_json(&app, &t)?;
    if let Some(o) = body.as_object_mut() {
        o.insert("api_key".into(), json!({ "id": record.id, "key": key }));
    }
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/tenants/{}", t.name))],
        Json(body),
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    _a: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(tenant_json(&app, &find(&app, &name)?)?))
}

pub(crate) async fn update(
    State(app): State<App>,
    _a: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<UpdateTenant>,
) -> ApiResult<Json<Value>> {
    let mut t = find(&app, &name)?;
    t.quotas = req.quotas;
    app.store.put_tenant(&t)?;
    Ok(Json(tenant_json(&app, &t)?))
}

/// Removes the tenant and revokes its keys. Its records stay in the store (nothing can reach
/// them without a key), so deleting a tenant by mistake loses no work.
pub(crate) async fn remove(
    State(app): State<App>,
    _a: Admin,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    find(&app, &name)?;
    if name == DEFAULT_TENANT {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            "the default tenant cannot be deleted",
        ));
    }
    let tenant = app.store.tenant(&name);
    if tenant.pipelines()?.iter().any(|p| !p.status.is_terminal()) {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!("tenant '{name}' has pipelines queued or running; cancel them first"),
        ));
    }
    for k in app.store.api_keys()?.iter().filter(|k| k.tenant == name) {
        app.store.remove_api_key(&k.sha256)?;
    }
    for d in tenant.deployments()? {
        tenant.delete_deployment(&d.name)?;
        app.serving.reload(&app, &name, &d.name);
    }
    app.store.remove_tenant(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_keys(
    State(app): State<App>,
    _a: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    find(&app, &name)?;
    let keys: Vec<Value> = app
        .store
        .api_keys()?
        .iter()
        .filter(|k| k.tenant == name)
        .map(|k| json!({ "id": k.id, "label": k.label, "admin": k.admin, "created_at_ms": k.created_at_ms }))
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

pub(crate) async fn create_key(
    State(app): State<App>,
    _a: Admin,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    find(&app, &name)?;
    let body = axum::body::to_bytes(body, 64 * 1024).await.map_err(|e| {
        let text = e.to_string();
        let status = if text.contains("length limit") {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        crate::extract::body_rejection(status, &text)
    })?;
    // The body is optional: an empty one means defaults.
    let req: CreateKey = if body.is_empty() {
        CreateKey::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let (key, record) = new_key(&name, req.admin, &req.label);
    app.store.put_api_key(&record)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": record.id,
            "tenant": name,
            "admin": record.admin,
            "label": record.label,
            "key": key,
            "note": "the key is shown only once; the host keeps only its sha256",
        })),
    ))
}

pub(crate) async fn revoke_key(
    State(app): State<App>,
    _a: Admin,
    Path((name, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    find(&app, &name)?;
    let Some(k) = app
        .store
        .api_keys()?
        .into_iter()
        .find(|k| k.tenant == name && k.id == key_id)
    else {
        return Err(ApiError::not_found("key", &key_id));
    };
    app.store.remove_api_key(&k.sha256)?;
    Ok(StatusCode::NO_CONTENT)
}
