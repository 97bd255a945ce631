//! The router: `/v1` resources, health, metrics, the OpenAPI document, and the layers every
//! request passes (tracing, auth, metrics, timeouts, body limits).

mod dashboard;
pub(crate) mod datasets;
pub(crate) mod deployments;
pub(crate) mod models;
pub(crate) mod pipelines;
pub(crate) mod plugins;
pub(crate) mod tenants;

use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{Caller, GlobalAdmin};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{Method, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Routes that stream (uploads, scoring files, event streams) run without the request
/// deadline; their size is bounded by the upload cap instead.
fn is_streaming(method: &Method, path: &str) -> bool {
    (method == Method::POST
        && (path == "/v1/datasets" || path == "/v1/plugins" || path.ends_with("/batch")))
        || (method == Method::GET && path.ends_with("/events"))
}

pub(crate) fn router(app: App) -> Router {
    let uploads = || DefaultBodyLimit::disable();
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/me", get(me))
        .route(
            "/v1/datasets",
            get(datasets::list).post(datasets::upload).layer(uploads()),
        )
        .route(
            "/v1/datasets/{id}",
            get(datasets::get).delete(datasets::remove),
        )
        .route(
            "/v1/pipelines",
            get(pipelines::list).post(pipelines::create),
        )
        .route(
            "/v1/pipelines/{id}",
            get(pipelines::get).delete(pipelines::remove),
        )
        .route("/v1/pipelines/{id}/trials", get(pipelines::trials))
        .route(
            "/v1/pipelines/{id}/leaderboard",
            get(pipelines::leaderboard),
        )
        .route("/v1/pipelines/{id}/cancel", post(pipelines::cancel))
        .route("/v1/pipelines/{id}/events", get(pipelines::events))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::get).delete(models::remove))
        .route("/v1/models/{id}/evaluation", get(models::evaluation))
        .route("/v1/models/{id}/bundle", get(models::bundle))
        .route(
            "/v1/deployments",
            get(deployments::list).post(deployments::create),
        )
        .route(
            "/v1/deployments/{name}",
            get(deployments::get)
                .put(deployments::replace)
                .delete(deployments::remove),
        )
        .route(
            "/v1/deployments/{name}/rollback",
            post(deployments::rollback),
        )
        .route("/v1/deployments/{name}/promote", post(deployments::promote))
        .route("/v1/deployments/{name}/predict", post(deployments::predict))
        .route(
            "/v1/deployments/{name}/batch",
            post(deployments::batch).layer(uploads()),
        )
        .route("/v1/deployments/{name}/stats", get(deployments::stats))
        .route(
            "/v1/plugins",
            get(plugins::list).post(plugins::upload).layer(uploads()),
        )
        .route(
            "/v1/plugins/{id}",
            get(plugins::get).delete(plugins::remove),
        )
        .route("/v1/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/v1/tenants/{name}",
            get(tenants::get)
                .patch(tenants::update)
                .delete(tenants::remove),
        )
        .route(
            "/v1/tenants/{name}/keys",
            get(tenants::list_keys).post(tenants::create_key),
        )
        .route(
            "/v1/tenants/{name}/keys/{key_id}",
            delete(tenants::revoke_key),
        )
        // Route layers run after routing, so they see the matched route template.
        .route_layer(from_fn_with_state(app.clone(), timeout))
        .route_layer(from_fn_with_state(app.clone(), crate::metrics::track))
        // The dashboard (static files, client routes) answers GET/HEAD outside the API.
        .fallback(dashboard::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(app.config.max_json_bytes))
        .layer(from_fn_with_state(app.clone(), crate::auth::authenticate))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}

async fn timeout(State(app): State<App>, req: Request, next: Next) -> Response {
    if is_streaming(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let limit = app.config.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            ProblemKind::Timeout,
            format!("the request took longer than {} s", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

pub(crate) async fn no_route(req: Request) -> ApiError {
    ApiError::new(
        ProblemKind::NoRoute,
        format!(
            "no route {} {} (see /v1/openapi.json)",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        ProblemKind::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// A JSON answer of a typed body: the type's schema is the one the OpenAPI document shows.
///
/// The body goes through [`serde_json::Value`], whose objects keep their keys sorted (the
/// workspace does not enable `preserve_order`), so every answer has the bytes the `json!`
/// bodies it replaced had: key order included, whatever order a type declares its fields in.
#[derive(Debug)]
pub(crate) struct Reply<T>(pub T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(v) => axum::Json(v).into_response(),
            Err(e) => ApiError::internal(format!("encoding the answer: {e}")).into_response(),
        }
    }
}

/// `GET /healthz`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Health {
    /// `ok` while the process answers.
    status: HealthStatus,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum HealthStatus {
    Ok,
}

async fn health() -> Reply<Health> {
    Reply(Health {
        status: HealthStatus::Ok,
    })
}

/// `GET /v1/me`: the calling key.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Me {
    /// The tenant the key acts for.
    tenant: String,
    /// Whether it is an admin key.
    admin: bool,
    /// What an admin key manages (`null` for other keys).
    admin_scope: Option<AdminScope>,
    /// The key's public id.
    key_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum AdminScope {
    /// Every tenant (an admin key of the default tenant).
    Global,
    /// Its own tenant's keys.
    Tenant,
}

/// Who the key belongs to: the dashboard shows the tenant and uses this to check a key.
async fn me(caller: Caller) -> Reply<Me> {
    let admin_scope = caller.admin.then(|| {
        if caller.is_global_admin() {
            AdminScope::Global
        } else {
            AdminScope::Tenant
        }
    });
    Reply(Me {
        admin_scope,
        admin: caller.admin,
        tenant: caller.tenant,
        key_id: caller.key_id,
    })
}

/// Host-wide figures (every tenant's), so a global admin's only.
async fn metrics(State(app): State<App>, _admin: GlobalAdmin) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&app),
    )
}

async fn openapi() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

/// Query parameters with problem+json errors.
pub(crate) fn query<T: DeserializeOwned>(req_uri: &axum::http::Uri) -> ApiResult<T> {
    Query::<T>::try_from_uri(req_uri).map(|q| q.0).map_err(|e| {
        ApiError::new(
            ProblemKind::InvalidRequest,
            format!("query string: {}", e.body_text()),
        )
    })
}

/// Ids travel in the path; a `/` (sent as `%2F`) could never name a record, so it is not
/// looked up at all.
pub(crate) fn check_id(what: &str, id: &str) -> ApiResult<()> {
    if id.is_empty() || id.contains('/') || id.len() > 200 {
        return Err(ApiError::not_found(what, id));
    }
    Ok(())
}

/// Names the caller chooses (deployments): letters, digits, `-`, `_`, `.`.
pub(crate) fn check_name(field: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("'{name}' is not a valid {field}: use 1–64 letters, digits, '-', '_' or '.'"),
        ))
    }
}

/// Run blocking work (file parsing, training-side calls) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a worker task failed: {e}")))?
}
