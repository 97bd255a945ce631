//! `/v1/tenants` (admin keys only): tenants with quotas and usage, and their API keys.
//!
//! A global admin (an admin key of the default tenant, the host operator's) manages every
//! tenant; a tenant admin (an admin key of any other tenant) sees only its own tenant and
//! manages only its keys: another tenant is 404 to it, and quotas, creating and deleting
//! tenants are the operator's (403).

use super::{Reply, check_id};
use crate::App;
use crate::auth::{new_key, valid_tenant_name};
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{Admin, ApiJson, ApiPath, Caller, GlobalAdmin};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use microlearn_store::{DEFAULT_TENANT, Quotas, TenantRecord, now_ms};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    /// 1–64 lowercase letters, digits, `-` or `_`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9_-]+$"))]
    name: String,
    /// Its limits (default: the host's `[serve.quotas]`).
    quotas: Option<Quotas>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateTenant {
    /// The new limits; an absent one becomes unlimited.
    quotas: Quotas,
}

#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    /// A note for people (who or what uses the key).
    #[serde(default)]
    label: String,
    /// An admin key manages the tenant's keys (a default-tenant admin key: every tenant).
    #[serde(default)]
    admin: bool,
}

/// A tenant with its quotas and what it uses of them.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TenantView {
    name: String,
    quotas: Quotas,
    created_at_ms: i64,
    usage: TenantUsage,
}

/// What a tenant holds and runs now.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TenantUsage {
    /// Bytes of datasets, model bundles and uploaded plugins.
    storage_bytes: u64,
    /// Pipelines queued or running.
    active_pipelines: usize,
    deployments: usize,
    /// Plugins it uploaded.
    plugins: usize,
}

/// `POST /v1/tenants`: the tenant and its first API key, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct CreatedTenant {
    #[serde(flatten)]
    tenant: TenantView,
    api_key: FirstKey,
}

/// A tenant's first key (not an admin key).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct FirstKey {
    /// Public id (for listing and revoking).
    id: String,
    /// The secret, shown only here: the host keeps its sha256.
    key: String,
}

/// `GET /v1/tenants`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TenantList {
    tenants: Vec<TenantView>,
}

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct KeyView {
    id: String,
    label: String,
    admin: bool,
    created_at_ms: i64,
}

/// `GET /v1/tenants/{name}/keys`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct KeyList {
    keys: Vec<KeyView>,
}

/// `POST /v1/tenants/{name}/keys`: the new key, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct CreatedKey {
    id: String,
    tenant: String,
    admin: bool,
    label: String,
    /// The secret.
    key: String,
    /// That the key is not shown again.
    note: &'static str,
}

/// A tenant the caller may manage: any for a global admin, its own for a tenant admin (404
/// otherwise, as for every other tenant's resource).
fn find_scoped(app: &App, caller: &Caller, name: &str) -> ApiResult<TenantRecord> {
    if !(caller.is_global_admin() || caller.tenant == name) {
        return Err(ApiError::not_found("tenant", name));
    }
    find(app, name)
}

fn find(app: &App, name: &str) -> ApiResult<TenantRecord> {
    check_id("tenant", name)?;
    app.store
        .tenant_record(name)?
        .ok_or_else(|| ApiError::not_found("tenant", name))
}

fn tenant_view(app: &App, t: &TenantRecord) -> ApiResult<TenantView> {
    let store = app.store.tenant(&t.name);
    let active = store
        .pipelines()?
        .iter()
        .filter(|p| !p.status.is_terminal())
        .count();
    Ok(TenantView {
        name: t.name.clone(),
        quotas: t.quotas.clone(),
        created_at_ms: t.created_at_ms,
        usage: TenantUsage {
            storage_bytes: crate::quota::storage_used(app, &t.name)?,
            active_pipelines: active,
            deployments: store.deployments()?.len(),
            plugins: tenant_plugin_ids(app, &t.name).len(),
        },
    })
}

/// The ids of the plugins a tenant uploaded (its folder's subfolders with a manifest).
pub(crate) fn tenant_plugin_ids(app: &App, tenant: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(app.tenant_plugin_dir(tenant)) else {
        return vec![];
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join(microlearn_plugins::MANIFEST_FILE).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    ids.sort();
    ids
}

pub(crate) async fn list(
    State(app): State<App>,
    Admin(caller): Admin,
) -> ApiResult<Reply<TenantList>> {
    let mut all = app.store.tenants()?;
    if !caller.is_global_admin() {
        all.retain(|t| t.name == caller.tenant);
    }
    let tenants = all
        .iter()
        .map(|t| tenant_view(&app, t))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Reply(TenantList { tenants }))
}

pub(crate) async fn create(
    State(app): State<App>,
    GlobalAdmin(caller): GlobalAdmin,
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
    let body = CreatedTenant {
        tenant: tenant_view(&app, &t)?,
        api_key: FirstKey { id: record.id, key },
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/tenants/{}", t.name))],
        Reply(body),
    ))
}

pub(crate) async fn get(
    State(app): State<App>,
    Admin(caller): Admin,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Reply<TenantView>> {
    Ok(Reply(tenant_view(
        &app,
        &find_scoped(&app, &caller, &name)?,
    )?))
}

/// Quotas are the operator's: a tenant admin raising its own would make them meaningless.
pub(crate) async fn update(
    State(app): State<App>,
    _a: GlobalAdmin,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateTenant>,
) -> ApiResult<Reply<TenantView>> {
    let mut t = find(&app, &name)?;
    t.quotas = req.quotas;
    app.store.put_tenant(&t)?;
    Ok(Reply(tenant_view(&app, &t)?))
}

/// Removes the tenant and everything it owns: its keys (at once), records (datasets,
/// pipelines with their trials and events, models, deployments), the files no other tenant
/// shares (dataset files, model bundles, their linked copies), its plugins and their
/// precompiled cache entries. Re-creating the name starts empty. Refused (409) while one of
/// its pipelines is queued or running.
pub(crate) async fn remove(
    State(app): State<App>,
    _a: GlobalAdmin,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    find(&app, &name)?;
    if name == DEFAULT_TENANT {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            "the default tenant cannot be deleted",
        ));
    }
    // Under the tenant's gate: nothing quota-counted (datasets, pipelines, deployments,
    // plugins) can be created while its records go, and afterwards the gate refuses.
    let gate = app.gate(&name).await?;
    let tenant = app.store.tenant(&name);
    if tenant.pipelines()?.iter().any(|p| !p.status.is_terminal()) {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!("tenant '{name}' has pipelines queued or running; cancel them first"),
        ));
    }
    let app2 = app.clone();
    let name2 = name.clone();
    super::blocking(move || purge(&app2, &name2)).await?;
    drop(gate);
    Ok(StatusCode::NO_CONTENT)
}

fn purge(app: &App, name: &str) -> ApiResult<()> {
    let tenant = app.store.tenant(name);
    // Plugins first read, so their cache entries can be matched after the folder is gone.
    let plugin_shas: Vec<String> = app
        .plugins_for(name)?
        .list()
        .into_iter()
        .filter(|p| {
            p.dir
                .as_ref()
                .is_some_and(|d| d.starts_with(app.tenant_plugin_dir(name)))
        })
        .map(|p| p.sha256)
        .collect();
    let deployments = tenant.deployments()?;
    for d in &deployments {
        tenant.delete_deployment(&d.name)?;
        // Unloads it: the record is gone.
        app.serving.reload(app, name, &d.name);
    }
    // Keys, records and unshared artefacts (the store removes records before files).
    let removed = app.store.purge_tenant(name)?;
    let links = app.config.home.join("datasets");
    for sha in &removed {
        for ext in ["csv", "tsv", "json", "ndjson", "parquet"] {
            let _ = std::fs::remove_file(links.join(format!("{sha}.{ext}")));
        }
    }
    app.reset_plugins(name);
    let dir = app.config.home.join("tenants").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(ApiError::internal)?;
    }
    // A precompiled component is shared by content; keep those another plugin still uses.
    let mut in_use: std::collections::HashSet<String> =
        app.plugins.list().into_iter().map(|p| p.sha256).collect();
    for other in app.store.tenants()? {
        if app.tenant_plugin_dir(&other.name).is_dir() {
            in_use.extend(
                app.plugins_for(&other.name)?
                    .list()
                    .into_iter()
                    .map(|p| p.sha256),
            );
        }
    }
    let cache = app.config.home.join("cache");
    if let Ok(entries) = std::fs::read_dir(&cache) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if plugin_shas
                .iter()
                .any(|sha| !in_use.contains(sha) && file.starts_with(&format!("{sha}-")))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    tracing::info!(
        tenant = name,
        artefacts = removed.len(),
        deployments = deployments.len(),
        "tenant deleted"
    );
    Ok(())
}

pub(crate) async fn list_keys(
    State(app): State<App>,
    Admin(caller): Admin,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Reply<KeyList>> {
    find_scoped(&app, &caller, &name)?;
    let keys = app
        .store
        .api_keys()?
        .into_iter()
        .filter(|k| k.tenant == name)
        .map(|k| KeyView {
            id: k.id,
            label: k.label,
            admin: k.admin,
            created_at_ms: k.created_at_ms,
        })
        .collect();
    Ok(Reply(KeyList { keys }))
}

pub(crate) async fn create_key(
    State(app): State<App>,
    Admin(caller): Admin,
    ApiPath(name): ApiPath<String>,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Reply<CreatedKey>)> {
    find_scoped(&app, &caller, &name)?;
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
    // An admin key of a tenant other than the default one is a tenant admin: it can never
    // manage more than the tenant it belongs to.
    let (key, record) = new_key(&name, req.admin, &req.label);
    app.store.put_api_key(&record)?;
    Ok((
        StatusCode::CREATED,
        Reply(CreatedKey {
            id: record.id,
            tenant: name,
            admin: record.admin,
            label: record.label,
            key,
            note: "the key is shown only once; the host keeps only its sha256",
        }),
    ))
}

pub(crate) async fn revoke_key(
    State(app): State<App>,
    Admin(caller): Admin,
    ApiPath((name, key_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    find_scoped(&app, &caller, &name)?;
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
