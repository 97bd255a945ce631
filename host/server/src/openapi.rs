//! The OpenAPI 3.1 document served at `/v1/openapi.json`, built from one table of routes (the
//! router's tests check that every route listed here is served).

use crate::error::{ProblemKind, type_uri};
use serde_json::{Map, Value, json};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed.
    Public,
    /// Any tenant key.
    Tenant,
    /// Admin keys only.
    Admin,
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method, lowercase.
    pub method: &'static str,
    /// Path template (`{id}` segments).
    pub path: &'static str,
    /// Tag (resource).
    pub tag: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Status of success.
    pub success: u16,
    /// Request body media type, if any.
    pub body: Option<&'static str>,
}

const fn r(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
    success: u16,
    body: Option<&'static str>,
) -> Route {
    Route {
        method,
        path,
        tag,
        summary,
        access,
        success,
        body,
    }
}

const JSON: Option<&str> = Some("application/json");
const FILE: Option<&str> = Some("application/octet-stream");
const FORM: Option<&str> = Some("multipart/form-data");
use Access::{Admin, Public, Tenant};

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    r("get", "/healthz", "service", "Liveness", Public, 200, None),
    r(
        "get",
        "/metrics",
        "service",
        "Prometheus metrics (admin key)",
        Admin,
        200,
        None,
    ),
    r(
        "get",
        "/v1/openapi.json",
        "service",
        "This document",
        Public,
        200,
        None,
    ),
    r(
        "get",
        "/v1/me",
        "service",
        "The calling key: its tenant, whether it is an admin key, its public id",
        Tenant,
        200,
        None,
    ),
    r(
        "post",
        "/v1/datasets",
        "datasets",
        "Upload a table: the raw body with ?name=file.csv or ?format=csv, or a multipart form with a 'file' field; streamed to disk under the upload cap",
        Tenant,
        201,
        FILE,
    ),
    r(
        "get",
        "/v1/datasets",
        "datasets",
        "List datasets",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/datasets/{id}",
        "datasets",
        "A dataset with its schema and profile",
        Tenant,
        200,
        None,
    ),
    r(
        "delete",
        "/v1/datasets/{id}",
        "datasets",
        "Delete a dataset",
        Tenant,
        204,
        None,
    ),
    r(
        "post",
        "/v1/pipelines",
        "pipelines",
        "Start a pipeline on a dataset: target, budget, seed, max_trials, metric, preparers, selector, evaluators, deployer, deployment",
        Tenant,
        202,
        JSON,
    ),
    r(
        "get",
        "/v1/pipelines",
        "pipelines",
        "List pipelines",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/pipelines/{id}",
        "pipelines",
        "A pipeline with its stages and timestamps",
        Tenant,
        200,
        None,
    ),
    r(
        "delete",
        "/v1/pipelines/{id}",
        "pipelines",
        "Delete an ended pipeline with its trials and events",
        Tenant,
        204,
        None,
    ),
    r(
        "get",
        "/v1/pipelines/{id}/trials",
        "pipelines",
        "Trials, by number",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/pipelines/{id}/leaderboard",
        "pipelines",
        "Refit and evaluated models, best first",
        Tenant,
        200,
        None,
    ),
    r(
        "post",
        "/v1/pipelines/{id}/cancel",
        "pipelines",
        "Cancel a queued or running pipeline",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/pipelines/{id}/events",
        "pipelines",
        "Event stream (text/event-stream); ?after=SEQ or Last-Event-ID resumes",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/models",
        "models",
        "List models",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/models/{id}",
        "models",
        "A model: params, scores, feature importance",
        Tenant,
        200,
        None,
    ),
    r(
        "delete",
        "/v1/models/{id}",
        "models",
        "Delete a model and its bundle (409 while a deployment serves it)",
        Tenant,
        204,
        None,
    ),
    r(
        "get",
        "/v1/models/{id}/evaluation",
        "models",
        "Held-out metrics and curves per evaluator",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/models/{id}/bundle",
        "models",
        "Download the model bundle (.mlbundle)",
        Tenant,
        200,
        None,
    ),
    r(
        "post",
        "/v1/deployments",
        "deployments",
        "Deploy a model under a name",
        Tenant,
        201,
        JSON,
    ),
    r(
        "get",
        "/v1/deployments",
        "deployments",
        "List deployments",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/deployments/{name}",
        "deployments",
        "A deployment",
        Tenant,
        200,
        None,
    ),
    r(
        "put",
        "/v1/deployments/{name}",
        "deployments",
        "Replace the served model (the old one goes to the history); traffic_percent < 100 starts a canary",
        Tenant,
        200,
        JSON,
    ),
    r(
        "delete",
        "/v1/deployments/{name}",
        "deployments",
        "Delete a deployment",
        Tenant,
        204,
        None,
    ),
    r(
        "post",
        "/v1/deployments/{name}/rollback",
        "deployments",
        "Serve the previous model again (ends a canary)",
        Tenant,
        200,
        None,
    ),
    r(
        "post",
        "/v1/deployments/{name}/promote",
        "deployments",
        "Give a canary all traffic",
        Tenant,
        200,
        None,
    ),
    r(
        "post",
        "/v1/deployments/{name}/predict",
        "deployments",
        "Score JSON rows: one object, an array, or {\"rows\": [...]}",
        Tenant,
        200,
        JSON,
    ),
    r(
        "post",
        "/v1/deployments/{name}/batch",
        "deployments",
        "Score an uploaded file (?name= or ?format=, ?output=csv|tsv|json|ndjson)",
        Tenant,
        200,
        FILE,
    ),
    r(
        "get",
        "/v1/deployments/{name}/stats",
        "deployments",
        "Request counts and latency histogram",
        Tenant,
        200,
        None,
    ),
    r(
        "get",
        "/v1/plugins",
        "plugins",
        "Plugins this tenant can use",
        Tenant,
        200,
        None,
    ),
    r(
        "post",
        "/v1/plugins",
        "plugins",
        "Upload a plugin: multipart 'manifest' (plugin.toml) and 'component' (.wasm); visible to this tenant only",
        Tenant,
        201,
        FORM,
    ),
    r(
        "get",
        "/v1/plugins/{id}",
        "plugins",
        "A plugin with its manifest API and config schema",
        Tenant,
        200,
        None,
    ),
    r(
        "delete",
        "/v1/plugins/{id}",
        "plugins",
        "Remove one of this tenant's plugins",
        Tenant,
        204,
        None,
    ),
    r(
        "post",
        "/v1/tenants",
        "tenants",
        "Create a tenant (returns its first API key once)",
        Admin,
        201,
        JSON,
    ),
    r(
        "get",
        "/v1/tenants",
        "tenants",
        "List tenants with quotas and usage",
        Admin,
        200,
        None,
    ),
    r(
        "get",
        "/v1/tenants/{name}",
        "tenants",
        "A tenant with quotas and usage",
        Admin,
        200,
        None,
    ),
    r(
        "patch",
        "/v1/tenants/{name}",
        "tenants",
        "Change a tenant's quotas",
        Admin,
        200,
        JSON,
    ),
    r(
        "delete",
        "/v1/tenants/{name}",
        "tenants",
        "Delete a tenant and revoke its keys",
        Admin,
        204,
        None,
    ),
    r(
        "get",
        "/v1/tenants/{name}/keys",
        "tenants",
        "List a tenant's API keys (ids, never secrets)",
        Admin,
        200,
        None,
    ),
    r(
        "post",
        "/v1/tenants/{name}/keys",
        "tenants",
        "Create an API key (shown once)",
        Admin,
        201,
        JSON,
    ),
    r(
        "delete",
        "/v1/tenants/{name}/keys/{key_id}",
        "tenants",
        "Revoke an API key",
        Admin,
        204,
        None,
    ),
];

fn params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

/// The document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in ROUTES {
        let mut op = json!({
            "tags": [route.tag],
            "summary": route.summary,
            "operationId": format!("{}_{}", route.method, route.path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
            "parameters": params(route.path),
            "responses": {
                route.success.to_string(): { "description": "success" },
                "default": {
                    "description": "an RFC 9457 problem",
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                }
            }
        });
        if route.access != Access::Public {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if let Some(media) = route.body {
            op["requestBody"] = json!({ "required": true, "content": { media: {} } });
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method] = op;
    }
    let kinds: Vec<Value> = ProblemKind::ALL
        .iter()
        .map(|k| json!({ "type": type_uri(*k), "status": k.status().as_u16(), "title": k.title() }))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "MicroLearn",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "AutoML with sandboxed, pluggable stages. Every call but /healthz and this document needs `Authorization: Bearer <API key>`; every resource belongs to the key's tenant, and another tenant's ids answer 404.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": { "type": "string", "format": "uri" },
                        "title": { "type": "string" },
                        "status": { "type": "integer" },
                        "detail": { "type": "string" },
                        "field": { "type": "string" },
                        "row": { "type": "integer" }
                    }
                }
            }
        },
        "x-problem-types": kinds,
    })
}
