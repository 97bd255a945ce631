//! `/v1/plugins`: list (shared and the tenant's own), upload a component with its manifest
//! (visible to the uploading tenant only), remove a tenant plugin.

use super::{Reply, check_id};
use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{ApiPath, Caller};
use crate::upload::{UploadLimits, stream_to_file};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use microlearn_core::stages::PluginKind;
use microlearn_plugins::{MANIFEST_FILE, Manifest};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// A plugin: identity and limits (folders on the host are not the tenant's business).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PluginView {
    /// Id (unique per kind).
    id: String,
    kind: PluginKind,
    version: String,
    /// The WIT API its manifest names (`null` for a component loaded without one).
    api: Option<String>,
    /// One sentence.
    description: String,
    /// The manifest's optional author.
    author: Option<String>,
    scope: PluginScope,
    /// sha256 of the component.
    sha256: String,
    /// Component size, bytes.
    size_bytes: u64,
    /// Memory cap of a call, MiB.
    memory_mib: u64,
    /// Deadline of a work call, milliseconds.
    timeout_ms: u64,
}

/// `shared`: every tenant sees it (the host's plugin folders); `tenant`: this tenant
/// uploaded it and only it sees it.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PluginScope {
    Tenant,
    Shared,
}

/// A plugin with its configuration schema.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PluginDetail {
    #[serde(flatten)]
    plugin: PluginView,
    /// The JSON Schema of its configuration, as the plugin's `describe` gave it (the text
    /// itself when it is not JSON). The plugin defines it, so any JSON value.
    #[schemars(with = "Value")]
    config_schema: Value,
}

/// `GET /v1/plugins`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PluginList {
    /// By kind, then id.
    plugins: Vec<PluginView>,
}

/// `GET /v1/plugins/{id}`: every kind's plugin of that id.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PluginDetails {
    plugins: Vec<PluginDetail>,
}

fn plugin_view(app: &App, tenant: &str, p: &microlearn_plugins::InstalledPlugin) -> PluginView {
    let own = app.tenant_plugin_dir(tenant);
    let scope = if p.dir.as_ref().is_some_and(|d| d.starts_with(&own)) {
        PluginScope::Tenant
    } else {
        PluginScope::Shared
    };
    PluginView {
        id: p.info.id.clone(),
        kind: p.info.kind,
        version: p.info.version.clone(),
        api: p.manifest.as_ref().map(|m| m.api.clone()),
        description: p.info.description.clone(),
        author: p.manifest.as_ref().and_then(|m| m.author.clone()),
        scope,
        sha256: p.sha256.clone(),
        size_bytes: p.size_bytes,
        memory_mib: p.memory_mib,
        timeout_ms: p.timeout_ms,
    }
}

/// The tenant's plugin host, refreshed: the rescan hashes every component that changed, and
/// building a tenant's host compiles, so it runs on the blocking pool, never an async thread.
async fn host_for(app: &App, tenant: &str) -> ApiResult<microlearn_plugins::PluginHost> {
    let (app, tenant) = (app.clone(), tenant.to_string());
    super::blocking(move || app.plugins_for(&tenant)).await
}

pub(crate) async fn list(State(app): State<App>, caller: Caller) -> ApiResult<Reply<PluginList>> {
    let host = host_for(&app, &caller.tenant).await?;
    let mut all = host.list();
    all.sort_by(|a, b| (a.info.kind.as_str(), &a.info.id).cmp(&(b.info.kind.as_str(), &b.info.id)));
    Ok(Reply(PluginList {
        plugins: all
            .iter()
            .map(|p| plugin_view(&app, &caller.tenant, p))
            .collect(),
    }))
}

/// A multipart form with a `manifest` field (plugin.toml text) and a `component` field (the
/// `.wasm` component). It is validated exactly as a drop-in install (hash, WIT world), then
/// kept in the tenant's own plugin folder.
pub(crate) async fn upload(
    State(app): State<App>,
    caller: Caller,
    req: Request,
) -> ApiResult<(StatusCode, Reply<PluginView>)> {
    let limits = super::datasets::upload_limits(&app);
    // Validating a component compiles it: a slot in the tenant's share of upload work.
    let admission = app
        .serving
        .uploads
        .admit(&caller.tenant, None, app.serving.limits.upload_timeout)
        .await?;
    let tmp_root = app.config.home.join("tmp");
    let staging = super::blocking(move || {
        std::fs::create_dir_all(&tmp_root).map_err(ApiError::internal)?;
        tempfile::Builder::new()
            .prefix(".plugin-")
            .tempdir_in(&tmp_root)
            .map_err(ApiError::internal)
    })
    .await?;
    let mut form = Multipart::from_request(req, &()).await.map_err(|e| {
        ApiError::new(
            ProblemKind::InvalidRequest,
            format!(
                "expected a multipart form with 'manifest' and 'component' fields: {}",
                e.body_text()
            ),
        )
    })?;
    let mut manifest_text: Option<String> = None;
    let mut component: Option<(tempfile::NamedTempFile, u64)> = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::new(ProblemKind::InvalidRequest, e.body_text()))?
    {
        match field.name() {
            Some("manifest") => {
                let manifest_limits = UploadLimits {
                    max_bytes: 1 << 20,
                    ..limits
                };
                let r = stream_to_file(field, staging.path(), ".toml", manifest_limits, "manifest")
                    .await?;
                let text = std::fs::read_to_string(r.file.path()).map_err(|_| {
                    ApiError::new(ProblemKind::InvalidPlugin, "the manifest is not UTF-8 text")
                        .with("field", "manifest")
                })?;
                manifest_text = Some(text);
            }
            Some("component") => {
                let r = stream_to_file(field, staging.path(), ".wasm", limits, "component").await?;
                component = Some((r.file, r.size));
            }
            _ => {}
        }
    }
    let text = manifest_text.ok_or_else(|| {
        ApiError::invalid("manifest", "the form has no 'manifest' field (plugin.toml)")
    })?;
    let (component, component_bytes) = component.ok_or_else(|| {
        ApiError::invalid(
            "component",
            "the form has no 'component' field (the .wasm file)",
        )
    })?;
    let manifest_path = staging.path().join(MANIFEST_FILE);
    let manifest = Manifest::parse(&text, &manifest_path).map_err(|e| {
        ApiError::new(ProblemKind::InvalidPlugin, e.to_string()).with("field", "manifest")
    })?;
    check_id("plugin", &manifest.id)?;
    let file_name = manifest.component.file_name().map(|n| n.to_os_string());
    if file_name.as_deref() != Some(manifest.component.as_os_str()) {
        return Err(ApiError::new(
            ProblemKind::InvalidPlugin,
            format!(
                "the manifest's component must be a plain file name, not '{}'",
                manifest.component.display()
            ),
        )
        .with("field", "manifest"));
    }
    std::fs::write(&manifest_path, &text).map_err(ApiError::internal)?;
    component
        .persist(staging.path().join(&manifest.component))
        .map_err(|e| ApiError::internal(e.error))?;

    // The plugin count and its bytes are checked and the plugin installed under the tenant's
    // gate, so concurrent uploads cannot together pass either quota. A plugin replacing one
    // of the tenant's own takes no new slot, but its bytes count until the old one is gone.
    let gate = app.gate(&caller.tenant).await?;
    gate.check_plugin_slot(
        &super::tenants::tenant_plugin_ids(&app, &caller.tenant),
        &manifest.id,
    )?;
    let _reservation = gate.reserve_storage(&app, component_bytes + text.len() as u64, "plugin")?;
    let tenant_dir = app.tenant_plugin_dir(&caller.tenant);
    std::fs::create_dir_all(&tenant_dir).map_err(ApiError::internal)?;
    let app2 = app.clone();
    let tenant = caller.tenant.clone();
    let staged = staging.path().to_path_buf();
    let installed = admission
        .run(app.serving.limits.upload_timeout, move || {
            // The folder now exists, so this is the tenant's own host, never the shared one.
            let host = app2.plugins_for(&tenant)?;
            let installed = host
                .install(&staged, &app2.tenant_plugin_dir(&tenant))
                .map_err(|e| ApiError::new(ProblemKind::InvalidPlugin, e.to_string()))?;
            // In a cluster every node (workers included) fetches it from the shared store.
            if app2.store.is_shared()
                && let Some(dir) = &installed.dir
            {
                crate::plugin_sync::publish(&app2, &tenant, &installed.info.id, dir)?;
            }
            Ok(installed)
        })
        .await?;
    drop(gate);
    drop(staging);
    Ok((
        StatusCode::CREATED,
        Reply(plugin_view(&app, &caller.tenant, &installed)),
    ))
}

/// One plugin with its configuration schema (what `microlearn plugin info` shows). Ids are
/// unique per kind; when two kinds share an id, all of them are returned.
pub(crate) async fn get(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<PluginDetails>> {
    check_id("plugin", &id)?;
    let host = host_for(&app, &caller.tenant).await?;
    let found: Vec<PluginDetail> = host
        .list()
        .iter()
        .filter(|p| p.info.id == id)
        .map(|p| PluginDetail {
            plugin: plugin_view(&app, &caller.tenant, p),
            config_schema: serde_json::from_str::<Value>(&p.info.config_schema)
                .unwrap_or_else(|_| Value::String(p.info.config_schema.clone())),
        })
        .collect();
    if found.is_empty() {
        return Err(ApiError::not_found("plugin", &id));
    }
    Ok(Reply(PluginDetails { plugins: found }))
}

pub(crate) async fn remove(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    check_id("plugin", &id)?;
    if id.starts_with('.') {
        return Err(ApiError::not_found("plugin", &id));
    }
    let dir = app.tenant_plugin_dir(&caller.tenant).join(&id);
    // Other nodes drop their copies on their next use of the tenant's plugins.
    let published =
        app.store.is_shared() && app.store.tenant(&caller.tenant).remove_plugin_files(&id)?;
    if dir.join(MANIFEST_FILE).is_file() || published {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(ApiError::internal)?;
        }
        app.reset_plugins(&caller.tenant);
        return Ok(StatusCode::NO_CONTENT);
    }
    if host_for(&app, &caller.tenant)
        .await?
        .list()
        .iter()
        .any(|p| p.info.id == id)
    {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            format!(
                "plugin '{id}' is shared by every tenant; only the host's operator can remove it"
            ),
        ));
    }
    Err(ApiError::not_found("plugin", &id))
}
