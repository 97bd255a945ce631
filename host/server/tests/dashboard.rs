//! The web dashboard beside the API: `/` and client routes answer the app's HTML, hashed assets
//! are cached for a year, and everything under `/v1` keeps answering problem+json.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use microlearn_server::{App, ServerConfig};
use serde_json::Value;
use tower::ServiceExt;

const ADMIN: &str = "mlk_dashboard_test_admin_key_0123";

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn problem_type(&self) -> String {
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            "application/problem+json",
            "{}",
            self.text()
        );
        let v: Value = serde_json::from_slice(&self.body).expect("problem JSON");
        v["type"].as_str().expect("type").to_string()
    }
}

async fn call(router: &axum::Router, method: &str, uri: &str, key: Option<&str>) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

fn start() -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServerConfig::new(&dir.path().join("home"));
    config.admin_key = Some(ADMIN.into());
    let started = App::start(config).expect("service starts");
    (dir, microlearn_server::router(started.app))
}

/// Script and stylesheet paths referenced by the app's index.html.
fn asset_refs(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_at_the_root_and_the_api_keeps_its_problems() {
    let (_dir, router) = start();

    let root = call(&router, "GET", "/", None).await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(
        root.header(header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(root.header(header::CACHE_CONTROL), "no-cache");
    assert!(
        root.header(header::CONTENT_SECURITY_POLICY)
            .contains("default-src 'self'")
    );
    let html = root.text();

    // A client-side route (a deep link or a reload) gets the same page.
    for path in ["/pipelines/pl_0123", "/deployments", "/plugins?tab=x"] {
        let r = call(&router, "GET", path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.text(), html, "{path} falls back to index.html");
    }
    assert_eq!(
        call(&router, "HEAD", "/", None).await.status,
        StatusCode::OK
    );

    if html.contains("was not built") {
        // Compiled before scripts/build-dashboard.sh ran: the page says how to build it.
        assert!(html.contains("scripts/build-dashboard.sh"), "{html}");
        eprintln!("dashboard not embedded in this build: checked the build-it page only");
    } else {
        assert!(html.contains(r#"<div id="root">"#), "{html}");
        let assets = asset_refs(&html);
        assert!(
            assets.iter().any(|a| a.ends_with(".js")),
            "index.html references a script: {html}"
        );
        for a in &assets {
            let r = call(&router, "GET", a, None).await;
            assert_eq!(r.status, StatusCode::OK, "{a}");
            assert!(!r.body.is_empty(), "{a}");
            let ct = r.header(header::CONTENT_TYPE);
            if a.ends_with(".js") {
                assert_eq!(ct, "text/javascript; charset=utf-8", "{a}");
            } else if a.ends_with(".css") {
                assert_eq!(ct, "text/css; charset=utf-8", "{a}");
            }
            assert_eq!(
                r.header(header::CACHE_CONTROL),
                "public, max-age=31536000, immutable",
                "{a}"
            );
        }
    }

    // A missing file is a 404, never the app's HTML (a script tag must not receive a page).
    let r = call(&router, "GET", "/assets/index-gone1234.js", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:no-route");

    // The API's misses stay problem+json, with or without a key.
    for (path, key) in [
        ("/v1/nothing", Some(ADMIN)),
        ("/v1/nothing", None),
        ("/v1", Some(ADMIN)),
        ("/v1/pipelines/pl_x/nothing", Some(ADMIN)),
    ] {
        let r = call(&router, "GET", path, key).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            r.problem_type(),
            "urn:microlearn:problem:no-route",
            "{path}"
        );
    }
    // Only GET and HEAD reach the dashboard.
    let r = call(&router, "POST", "/pipelines/new", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:no-route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_names_the_keys_tenant() {
    let (_dir, router) = start();
    let r = call(&router, "GET", "/v1/me", Some(ADMIN)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(v["tenant"], "default");
    assert_eq!(v["admin"], true);
    assert!(v["key_id"].as_str().is_some_and(|k| k.starts_with("key_")));
    let r = call(&router, "GET", "/v1/me", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:unauthorized");
    let r = call(&router, "GET", "/v1/me", Some("mlk_unknown")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// The local token `microlearn serve` writes into its runtime file (issue #14: `run` submits
/// to the server holding its data directory): it acts for the default tenant, is no admin
/// key, and belongs to one process only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_token_acts_for_the_default_tenant_without_admin_rights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServerConfig::new(&dir.path().join("home"));
    config.admin_key = Some(ADMIN.into());
    let started = App::start(config).expect("service starts");
    let token = started.local_token.clone();
    assert!(token.starts_with(microlearn_server::LOCAL_TOKEN_PREFIX));
    let app = started.app.clone();
    let router = microlearn_server::router(started.app);
    let r = call(&router, "GET", "/v1/me", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(v["tenant"], "default");
    assert_eq!(v["admin"], false);
    assert_eq!(v["key_id"], "local");
    let r = call(&router, "GET", "/v1/pipelines", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(&router, "GET", "/v1/tenants", Some(&token)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Never stored: the store knows no key with its hash.
    let hash = microlearn_server::hash_key(&token);
    let keys = app.store().api_keys().expect("keys");
    assert!(!keys.is_empty() && keys.iter().all(|k| k.sha256 != hash));
}
