//! The OpenAPI document against the real router: every route the router serves (read off the
//! router itself: its paths, and the methods each path answers) is a documented operation and
//! the other way round, and every operation documents its parameters, body and answers with
//! schemas. No plugins are needed.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use microlearn_server::{App, ServerConfig};
use serde_json::Value;
use std::collections::BTreeSet;
use tower::ServiceExt;

fn app() -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServerConfig::new(&dir.path().join("home"));
    config.admin_key = Some("mlk_openapi_test_admin_key".into());
    let started = App::start(config).expect("service starts");
    (dir, started.app)
}

/// The path templates a router serves, from its `Debug` form (axum prints each path router's
/// `route_id_to_path` map; the first one is the router's own, the second the fallback's).
fn routed_paths(router: &Router) -> Vec<String> {
    let text = format!("{router:?}");
    let start = text
        .find("paths: {")
        .expect("axum's Router Debug shows its paths");
    // `{RouteId(0): "/healthz", RouteId(1): "/v1/datasets/{id}", …}`: the quoted strings up to
    // the brace that closes the map (braces inside the quotes are path parameters).
    let mut paths = Vec::new();
    let mut quoted: Option<String> = None;
    for c in text[start + "paths: {".len()..].chars() {
        match (&mut quoted, c) {
            (Some(q), '"') => {
                paths.push(std::mem::take(q));
                quoted = None;
            }
            (Some(q), c) => q.push(c),
            (None, '"') => quoted = Some(String::new()),
            (None, '}') => break,
            (None, _) => {}
        }
    }
    assert!(
        paths.len() > 20 && paths.iter().all(|p| p.starts_with('/')),
        "could not read the routes from the router's Debug output: {paths:?}"
    );
    paths
}

/// The methods the router answers on `path`: a method no route has is answered 405 with the
/// route's `Allow` header, which axum fills from the methods routed there.
async fn routed_methods(router: &Router, path: &str) -> BTreeSet<String> {
    let uri = path
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/");
    let probe = Method::from_bytes(b"PROBE").expect("an extension method");
    let resp = router
        .clone()
        .oneshot(
            Request::builder()
                .method(probe)
                .uri(&uri)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("router answers");
    assert_eq!(
        resp.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "PROBE {uri} should reach the route's method fallback"
    );
    let allow = resp
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty() && m != "head") // HEAD comes with every GET
        .collect()
}

async fn routed_operations(router: &Router) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for path in routed_paths(router) {
        for method in routed_methods(router, &path).await {
            ops.insert((method, path.clone()));
        }
    }
    ops
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

/// Routed operations the document lacks, and documented ones nothing routes.
async fn differences(router: &Router, doc: &Value) -> (Vec<String>, Vec<String>) {
    let routed = routed_operations(router).await;
    let documented = documented_operations(doc);
    let show = |s: &BTreeSet<(String, String)>, t: &BTreeSet<(String, String)>| {
        s.difference(t)
            .map(|(m, p)| format!("{} {p}", m.to_ascii_uppercase()))
            .collect::<Vec<_>>()
    };
    (show(&routed, &documented), show(&documented, &routed))
}

#[tokio::test]
async fn every_routed_operation_is_documented_and_every_documented_one_is_routed() {
    let (_dir, app) = app();
    let router = microlearn_server::router(app);
    let doc = microlearn_server::openapi::document();
    let (undocumented, unrouted) = differences(&router, &doc).await;
    assert!(
        undocumented.is_empty(),
        "routed but missing from the OpenAPI document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    assert_eq!(routed_operations(&router).await.len(), 43);
}

/// The check above can fail: a path the document lacks, and a method added to a documented
/// path, are both found.
#[tokio::test]
async fn the_route_check_finds_an_undocumented_route_and_method() {
    let (_dir, app) = app();
    let router = microlearn_server::router(app)
        .route("/v1/extra", axum::routing::get(|| async { "x" }))
        .route("/v1/me", axum::routing::post(|| async { "x" }));
    let doc = microlearn_server::openapi::document();
    let (undocumented, unrouted) = differences(&router, &doc).await;
    assert_eq!(undocumented, ["GET /v1/extra", "POST /v1/me"]);
    assert!(unrouted.is_empty(), "{unrouted:?}");
    // And a documented operation the router lost.
    let mut doc = doc;
    doc["paths"]["/v1/me"]["delete"] = doc["paths"]["/v1/me"]["get"].clone();
    let (_dir2, app2) = self::app();
    let (_, unrouted) = differences(&microlearn_server::router(app2), &doc).await;
    assert_eq!(unrouted, ["DELETE /v1/me"]);
}

/// Follow a `$ref` into `components/schemas`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("reference outside components/schemas: {r}"));
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling reference {r}");
            target
        }
        None => schema,
    }
}

/// Every `$ref` anywhere in the document names a component schema.
fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(o) => {
            if o.contains_key("$ref") {
                resolve(doc, v);
            }
            o.values().for_each(|x| check_refs(doc, x));
        }
        Value::Array(a) => a.iter().for_each(|x| check_refs(doc, x)),
        _ => {}
    }
}

fn has_schema(media: &Value) -> bool {
    media["schema"].is_object() && media["schema"].as_object().is_some_and(|o| !o.is_empty())
}

#[test]
fn every_operation_documents_its_parameters_body_and_every_answer() {
    let doc = microlearn_server::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    check_refs(&doc, &doc);
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let at = format!("{} {path}", method.to_ascii_uppercase());
            assert!(
                ids.insert(op["operationId"].as_str().expect("operationId").to_string()),
                "{at}: operationId used twice"
            );
            assert!(op["summary"].is_string(), "{at}: summary");
            let params = op["parameters"].as_array().expect("parameters");
            // Path parameters are exactly the template's.
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let declared: BTreeSet<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(in_path, declared, "{at}: path parameters");
            for p in params {
                assert!(
                    p["schema"].is_object(),
                    "{at}: parameter without a schema: {p}"
                );
                assert!(
                    p["description"].is_string(),
                    "{at}: parameter without a description: {p}"
                );
            }
            if let Some(body) = op.get("requestBody") {
                let content = body["content"].as_object().expect("body content");
                assert!(!content.is_empty(), "{at}: body without a media type");
                for (media, m) in content {
                    assert!(has_schema(m), "{at}: request {media} has no schema");
                }
            }
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.get("default").is_none(),
                "{at}: a catch-all answer"
            );
            let mut success = 0;
            for (status, r) in responses {
                let code: u16 = status.parse().expect("a numeric status");
                assert!(r["description"].is_string(), "{at} {status}: description");
                if code == 204 {
                    assert!(r.get("content").is_none(), "{at}: 204 with a body");
                    success += 1;
                    continue;
                }
                let content = r["content"].as_object().unwrap_or_else(|| {
                    panic!("{at} {status}: no content");
                });
                for (media, m) in content {
                    assert!(has_schema(m), "{at} {status} {media}: no schema");
                }
                if code < 400 {
                    success += 1;
                } else {
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{at} {status}"
                    );
                }
            }
            assert!(success > 0, "{at}: no success answer");
            // Every route checks a key that is sent and can fail on the host's side.
            for status in ["401", "500"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
            if op.get("security").is_some() && path.contains('{') {
                assert!(responses.contains_key("404"), "{at}: no 404");
            }
            if let Some(r) = responses.get("503") {
                assert!(r["headers"]["Retry-After"].is_object(), "{at}: Retry-After");
            }
        }
    }
    // The headers the issue names.
    let predict = &doc["paths"]["/v1/deployments/{name}/predict"]["post"];
    assert!(predict["parameters"].to_string().contains("X-Routing-Key"));
    assert!(predict["responses"]["200"]["headers"]["X-MicroLearn-Model"].is_object());
    let events = &doc["paths"]["/v1/pipelines/{id}/events"]["get"];
    assert!(events["parameters"].to_string().contains("Last-Event-ID"));
    assert!(events["responses"]["200"]["content"]["text/event-stream"].is_object());
    let bundle = &doc["paths"]["/v1/models/{id}/bundle"]["get"];
    assert!(bundle["responses"]["200"]["content"]["application/octet-stream"].is_object());
}

/// The response schemas are the serialised types: spot checks of fields the dashboard and
/// the Python client read.
#[test]
fn answer_schemas_are_the_typed_views() {
    let doc = microlearn_server::openapi::document();
    let schemas = &doc["components"]["schemas"];
    let pipeline = &schemas["PipelineView"];
    for field in [
        "status",
        "terminal",
        "trial_count",
        "stages",
        "config",
        "decision",
    ] {
        assert!(
            pipeline["required"]
                .to_string()
                .contains(&format!("\"{field}\"")),
            "PipelineView.{field}: {pipeline}"
        );
    }
    assert!(
        schemas["PipelineStatus"]["enum"]
            .to_string()
            .contains("optimizing")
    );
    let create = &doc["paths"]["/v1/pipelines"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(create["additionalProperties"], false, "{create}");
    assert_eq!(
        create["required"],
        serde_json::json!(["dataset_id", "target"])
    );
    assert_eq!(create["properties"]["folds"]["maximum"], 20);
    let tenant = &schemas["TenantView"];
    assert!(tenant["properties"]["quotas"].is_object(), "{tenant}");
}
