//! HTTP tests through the router (no port): the whole flow with an API key, tenant isolation,
//! bad payloads on every route, upload limits and quotas, cancel, plugin upload.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use microlearn_server::{App, ServerConfig};
use microlearn_store::Quotas;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ADMIN: &str = "mlk_test_admin_key_0123456789";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn plugin_dir() -> PathBuf {
    let target = std::env::var_os("MICROLEARN_PLUGIN_BUILD_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("microlearn-plugins");
    assert!(
        dir.join("standard/plugin.toml").exists(),
        "built plugins not found in {}: run scripts/build-plugins.sh first",
        dir.display()
    );
    dir
}

/// Every operation of the OpenAPI document: method (uppercase), path template, and whether it
/// needs no key.
fn documented_operations() -> Vec<(String, String, bool)> {
    let doc = microlearn_server::openapi::document();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.push((
                method.to_ascii_uppercase(),
                path.clone(),
                op.get("security").is_none(),
            ));
        }
    }
    assert!(ops.len() > 40, "{} operations", ops.len());
    ops
}

fn titanic() -> Vec<u8> {
    std::fs::read(repo_root().join("examples/data/titanic.csv")).expect("titanic.csv")
}

struct Env {
    _dir: tempfile::TempDir,
    app: App,
    router: Router,
}

fn env_with(f: impl FnOnce(&mut ServerConfig)) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServerConfig::new(&dir.path().join("home"));
    config.plugin_dirs = vec![plugin_dir()];
    config.admin_key = Some(ADMIN.into());
    config.workers = 1;
    f(&mut config);
    let started = App::start(config).expect("service starts");
    assert!(
        started.new_admin_key.is_none(),
        "a configured admin key is used as is"
    );
    let router = microlearn_server::router(started.app.clone());
    Env {
        _dir: dir,
        app: started.app,
        router,
    }
}

struct Resp {
    status: StatusCode,
    content_type: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }
    fn problem_type(&self) -> String {
        assert_eq!(
            self.content_type,
            "application/problem+json",
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()["type"].as_str().expect("type").to_string()
    }
}

impl Env {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        ct: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        self.call_with(method, uri, key, ct, &[], body).await
    }

    async fn call_with(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        ct: Option<&str>,
        extra_headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in extra_headers {
            req = req.header(*name, *value);
        }
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        if let Some(ct) = ct {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).expect("request"))
            .await
            .expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        // Event streams never end while a pipeline runs; read what is there within a moment.
        let body = if content_type.starts_with("text/event-stream") {
            let mut body = resp.into_body();
            let mut out = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Ok(Some(Ok(frame))) = tokio::time::timeout(
                deadline.saturating_duration_since(Instant::now()),
                body.frame(),
            )
            .await
            {
                if let Some(d) = frame.data_ref() {
                    out.extend_from_slice(d);
                }
            }
            out
        } else {
            resp.into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .to_vec()
        };
        Resp {
            status,
            content_type,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str, key: &str) -> Resp {
        self.call("GET", uri, Some(key), None, vec![]).await
    }

    async fn post_json(&self, uri: &str, key: &str, v: Value) -> Resp {
        self.call(
            "POST",
            uri,
            Some(key),
            Some("application/json"),
            v.to_string().into_bytes(),
        )
        .await
    }

    async fn tenant(&self, name: &str, quotas: Value) -> String {
        let r = self
            .post_json(
                "/v1/tenants",
                ADMIN,
                json!({ "name": name, "quotas": quotas }),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["api_key"]["key"]
            .as_str()
            .expect("key")
            .to_string()
    }

    async fn upload_titanic(&self, key: &str) -> String {
        let r = self
            .call(
                "POST",
                "/v1/datasets?name=titanic.csv",
                Some(key),
                Some("text/csv"),
                titanic(),
            )
            .await;
        assert!(
            r.status.is_success(),
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["id"].as_str().expect("id").to_string()
    }

    async fn wait_terminal(&self, key: &str, id: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = self.get(&format!("/v1/pipelines/{id}"), key).await.json();
            if p["terminal"] == json!(true) {
                return p;
            }
            assert!(Instant::now() < deadline, "pipeline {id} did not end: {p}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----microlearn-test-boundary";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

const ROW: &str = r#"{"pclass":"1st","sex":"female","age":29,"sibsp":0,"parch":0}"#;

/// Deployment `manual` serves `stable` alone; `new` is another model of the tenant.
async fn canary_splits_traffic_and_ends_by_promotion_or_rollback(
    env: &Env,
    key: &str,
    stable: &str,
    new: &str,
) {
    let put = |body: Value| async move {
        env.call(
            "PUT",
            "/v1/deployments/manual",
            Some(key),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    };
    let predict = |routing: Option<String>| async move {
        let headers: Vec<(&str, &str)> = routing
            .as_deref()
            .map(|k| vec![("x-routing-key", k)])
            .unwrap_or_default();
        let r = env
            .call_with(
                "POST",
                "/v1/deployments/manual/predict",
                Some(key),
                Some("application/json"),
                &headers,
                ROW.into(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let by_body = r.json()["model_id"].as_str().expect("model_id").to_string();
        let by_header = r.headers["x-microlearn-model"].to_str().expect("header");
        assert_eq!(
            by_body, by_header,
            "the header names the model that answered"
        );
        by_body
    };

    // Bad shares are refused before anything changes; a deployment with one model has
    // nothing to split with.
    for bad in [json!(0), json!(101), json!(300), json!("ten")] {
        let r = put(json!({"model_id": new, "traffic_percent": bad})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(r.json()["field"], json!("traffic_percent"), "{bad}");
    }
    let r = put(json!({"model_id": stable, "traffic_percent": 10})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("earlier model")
    );
    let r = env
        .post_json("/v1/deployments/manual/promote", key, json!(null))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no canary to promote");

    // The stable model keeps the counts it had before the canary.
    let before =
        env.get("/v1/deployments/manual/stats", key).await.json()["traffic"][0]["requests"]
            .as_u64()
            .expect("requests");

    // 25% to the new model: without a routing key every 100 calls split exactly.
    let r = put(json!({"model_id": new, "traffic_percent": 25})).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let d = r.json();
    assert_eq!(d["canary"], json!(true));
    assert_eq!(d["model_id"], json!(new));
    assert_eq!(d["decision"]["traffic_percent"], json!(25));
    let shares: Vec<(String, String, u64)> = d["traffic"]
        .as_array()
        .expect("traffic")
        .iter()
        .map(|t| {
            (
                t["model_id"].as_str().expect("model").to_string(),
                t["role"].as_str().expect("role").to_string(),
                t["percent"].as_u64().expect("percent"),
            )
        })
        .collect();
    assert_eq!(
        shares,
        [
            (new.to_string(), "canary".to_string(), 25),
            (stable.to_string(), "stable".to_string(), 75)
        ]
    );
    let mut to_new = 0;
    for _ in 0..100 {
        if predict(None).await == new {
            to_new += 1;
        }
    }
    assert_eq!(to_new, 25, "a 25% canary gets 25 of 100 calls");

    // A routing key pins its caller to one side; across many callers both sides are used.
    let mut sides = std::collections::HashSet::new();
    for user in 0..40 {
        let first = predict(Some(format!("user-{user}"))).await;
        for _ in 0..3 {
            assert_eq!(
                predict(Some(format!("user-{user}"))).await,
                first,
                "user-{user}"
            );
        }
        sides.insert(first);
    }
    assert_eq!(sides.len(), 2, "40 routing keys all landed on one side");

    // Each side is counted on its own, for comparing them.
    let s = env.get("/v1/deployments/manual/stats", key).await.json();
    let counts: Vec<u64> = s["traffic"]
        .as_array()
        .expect("traffic")
        .iter()
        .map(|t| t["requests"].as_u64().expect("requests"))
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), before + 100 + 160);
    assert!(counts[0] >= 25 && counts[1] >= 75, "{counts:?}");
    let metrics = String::from_utf8(env.get("/metrics", ADMIN).await.body).expect("text");
    assert!(
        metrics.contains(&format!(
            "microlearn_predict_model_requests_total{{tenant=\"acme\",deployment=\"manual\",model=\"{new}\"}} {}",
            counts[0]
        )),
        "{metrics}"
    );

    // Promotion: the new model takes every call; the earlier one stays for a rollback.
    let r = env
        .post_json("/v1/deployments/manual/promote", key, json!(null))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["canary"], json!(false));
    for _ in 0..10 {
        assert_eq!(predict(None).await, new);
    }
    assert_eq!(
        r.json()["history"].as_array().expect("history").last(),
        Some(&json!(stable))
    );

    // Ramping back down reopens the canary against the earlier model; rollback ends it.
    let r = put(json!({"model_id": new, "traffic_percent": 50})).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["traffic"][0]["percent"], json!(50));
    let r = env
        .post_json("/v1/deployments/manual/rollback", key, json!(null))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["model_id"], json!(stable));
    assert_eq!(r.json()["canary"], json!(false));
    for _ in 0..10 {
        assert_eq!(predict(None).await, stable);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_does_everything_through_the_api_and_no_other_tenant_sees_it() {
    let env = env_with(|_| {});
    let acme = env.tenant("acme", json!({})).await;
    let other = env.tenant("other", json!({})).await;

    // Upload (multipart this time), then the dataset's schema and profile.
    let (ct, body) = multipart(&[("file", Some("titanic.csv"), &titanic())]);
    let r = env
        .call("POST", "/v1/datasets", Some(&acme), Some(&ct), body)
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let ds = r.json()["id"].as_str().expect("id").to_string();
    let d = env.get(&format!("/v1/datasets/{ds}"), &acme).await.json();
    assert_eq!(d["rows"], json!(1309));
    assert_eq!(d["schema"]["columns"].as_array().expect("columns").len(), 6);
    assert!(d["profile"].is_object());

    // A pipeline runs in the background and ends with a deployed model.
    let r = env
        .post_json("/v1/pipelines", &acme, json!({
            "dataset_id": ds, "target": "survived", "budget_secs": 8, "max_trials": 12, "seed": 3,
            "preparers": ["standard"], "deployer": {"id": "best-model", "config": {}}
        }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let pl = r.json()["id"].as_str().expect("id").to_string();
    let p = env.wait_terminal(&acme, &pl, 90).await;
    assert_eq!(p["status"], json!("done"), "{p}");
    let stages: Vec<&str> = p["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["stage"].as_str().expect("stage"))
        .collect();
    assert_eq!(
        stages,
        [
            "ingest",
            "preparing",
            "selecting",
            "optimizing",
            "training",
            "evaluating",
            "deploying"
        ]
    );
    assert!(
        p["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .all(|s| s["finished_at_ms"].is_i64())
    );
    let trials = env
        .get(&format!("/v1/pipelines/{pl}/trials"), &acme)
        .await
        .json();
    let numbers: Vec<u64> = trials["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["number"].as_u64().expect("n"))
        .collect();
    assert_eq!(
        numbers,
        (0..12).collect::<Vec<u64>>(),
        "max_trials bounds the search, each trial once"
    );
    let lb = env
        .get(&format!("/v1/pipelines/{pl}/leaderboard"), &acme)
        .await
        .json();
    let models = lb["models"].as_array().expect("models");
    assert!(!models.is_empty());
    let model = models[0]["model_id"].as_str().expect("model").to_string();
    let ev = env.get(&format!("/v1/pipelines/{pl}/events"), &acme).await;
    let text = String::from_utf8_lossy(&ev.body);
    assert!(
        text.contains("event: stage_finished")
            && text.contains("event: trial_finished")
            && text.contains("event: end"),
        "{text}"
    );

    // Models: record, evaluation, bundle.
    let m = env.get(&format!("/v1/models/{model}"), &acme).await.json();
    assert_eq!(m["pipeline_id"], json!(pl));
    let e = env
        .get(&format!("/v1/models/{model}/evaluation"), &acme)
        .await
        .json();
    assert!(!e["evaluations"].as_array().expect("evaluations").is_empty());
    let b = env.get(&format!("/v1/models/{model}/bundle"), &acme).await;
    assert_eq!(b.status, StatusCode::OK);
    assert!(b.body.starts_with(b"MLBUNDLE"));

    // The pipeline's deployment serves; a bad row names the field.
    let dep = p["deployment"].as_str().expect("deployment").to_string();
    let r = env
        .call(
            "POST",
            &format!("/v1/deployments/{dep}/predict"),
            Some(&acme),
            Some("application/json"),
            ROW.into(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let pred = r.json();
    let label = pred["predictions"][0]["prediction"]
        .as_str()
        .expect("label");
    assert!(label == "survived" || label == "died");
    let pa = pred["predictions"][0]["proba_survived"]
        .as_f64()
        .expect("proba");
    assert!((0.0..=1.0).contains(&pa));
    let r = env
        .post_json(
            &format!("/v1/deployments/{dep}/predict"),
            &acme,
            json!({"rows": [
                {"pclass":"1st","sex":"female","age":29,"sibsp":0,"parch":0},
                {"pclass":"3rd","sex":"male","age":null,"sibsp":true,"parch":0}
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:invalid-rows");
    assert_eq!(r.json()["field"], json!("sibsp"));
    assert_eq!(r.json()["row"], json!(1));

    // Batch scoring: a file in, one prediction per row out.
    let r = env
        .call(
            "POST",
            &format!("/v1/deployments/{dep}/batch?name=t.csv&output=csv"),
            Some(&acme),
            None,
            titanic(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(String::from_utf8_lossy(&r.body).lines().count(), 1310);

    // Deploy by hand, replace, roll back.
    let r = env
        .post_json(
            "/v1/deployments",
            &acme,
            json!({"name": "manual", "model_id": model}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let second = models.last().expect("model")["model_id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = env
        .call(
            "PUT",
            "/v1/deployments/manual",
            Some(&acme),
            Some("application/json"),
            json!({"model_id": second}).to_string().into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["model_id"], json!(second));
    let r = env
        .call(
            "POST",
            "/v1/deployments/manual/rollback",
            Some(&acme),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.json()["model_id"], json!(model));
    let r = env
        .call(
            "POST",
            "/v1/deployments/manual/predict",
            Some(&acme),
            Some("application/json"),
            ROW.into(),
        )
        .await;
    assert_eq!(r.json()["model_id"], json!(model));
    canary_splits_traffic_and_ends_by_promotion_or_rollback(&env, &acme, &model, &second).await;
    let s = env
        .get(&format!("/v1/deployments/{dep}/stats"), &acme)
        .await
        .json();
    assert!(s["stats"]["requests"].as_u64().expect("requests") >= 3);

    // Metrics are for admins; they count predictions per deployment.
    assert_eq!(
        env.get("/metrics", &acme).await.status,
        StatusCode::FORBIDDEN
    );
    let metrics = String::from_utf8(env.get("/metrics", ADMIN).await.body).expect("text");
    assert!(
        metrics.contains(&format!(
            "microlearn_predict_requests_total{{tenant=\"acme\",deployment=\"{dep}\"}}"
        )),
        "{metrics}"
    );

    // ── isolation: every endpoint with acme's ids answers 404 to the other tenant ──────────
    let matrix: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/v1/datasets/{ds}"), None),
        ("DELETE", format!("/v1/datasets/{ds}"), None),
        ("GET", format!("/v1/pipelines/{pl}"), None),
        ("DELETE", format!("/v1/pipelines/{pl}"), None),
        ("GET", format!("/v1/pipelines/{pl}/trials"), None),
        ("GET", format!("/v1/pipelines/{pl}/leaderboard"), None),
        ("POST", format!("/v1/pipelines/{pl}/cancel"), None),
        ("GET", format!("/v1/pipelines/{pl}/events"), None),
        ("GET", format!("/v1/models/{model}"), None),
        ("GET", format!("/v1/models/{model}/evaluation"), None),
        ("GET", format!("/v1/models/{model}/bundle"), None),
        ("GET", format!("/v1/deployments/{dep}"), None),
        (
            "PUT",
            format!("/v1/deployments/{dep}"),
            Some(json!({"model_id": model})),
        ),
        ("DELETE", format!("/v1/deployments/{dep}"), None),
        ("POST", format!("/v1/deployments/{dep}/rollback"), None),
        ("POST", format!("/v1/deployments/{dep}/promote"), None),
        (
            "POST",
            format!("/v1/deployments/{dep}/predict"),
            Some(serde_json::from_str(ROW).expect("row")),
        ),
        ("GET", format!("/v1/deployments/{dep}/stats"), None),
        (
            "POST",
            "/v1/pipelines".into(),
            Some(json!({"dataset_id": ds, "target": "survived"})),
        ),
        (
            "POST",
            "/v1/deployments".into(),
            Some(json!({"name": "stolen", "model_id": model})),
        ),
    ];
    for (method, uri, body) in &matrix {
        let r = match body {
            Some(b) => {
                env.call(
                    method,
                    uri,
                    Some(&other),
                    Some("application/json"),
                    b.to_string().into_bytes(),
                )
                .await
            }
            None => env.call(method, uri, Some(&other), None, vec![]).await,
        };
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {uri}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            r.problem_type(),
            "urn:microlearn:problem:not-found",
            "{method} {uri}"
        );
    }
    let r = env
        .call(
            "POST",
            &format!("/v1/deployments/{dep}/batch?name=t.csv"),
            Some(&other),
            None,
            titanic(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for list in [
        "/v1/datasets",
        "/v1/pipelines",
        "/v1/models",
        "/v1/deployments",
    ] {
        let v = env.get(list, &other).await.json();
        let items = v
            .as_object()
            .expect("object")
            .values()
            .next()
            .expect("list")
            .as_array()
            .expect("array")
            .clone();
        assert!(items.is_empty(), "{list} leaks: {v}");
    }
    // … and the attempts changed nothing for the owner.
    assert_eq!(
        env.get(&format!("/v1/datasets/{ds}"), &acme).await.status,
        StatusCode::OK
    );
    assert_eq!(
        env.get(&format!("/v1/deployments/{dep}"), &acme)
            .await
            .status,
        StatusCode::OK
    );

    // A finished pipeline can be deleted with its trials; its dataset then too.
    assert_eq!(
        env.call(
            "DELETE",
            &format!("/v1/pipelines/{pl}"),
            Some(&acme),
            None,
            vec![]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.get(&format!("/v1/pipelines/{pl}/trials"), &acme)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.call(
            "DELETE",
            &format!("/v1/datasets/{ds}"),
            Some(&acme),
            None,
            vec![]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.call(
            "DELETE",
            "/v1/deployments/manual",
            Some(&acme),
            None,
            vec![]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let r = env
        .call(
            "POST",
            "/v1/deployments/manual/predict",
            Some(&acme),
            Some("application/json"),
            ROW.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    drop(env.app.clone());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_bad_payloads_with_a_problem_never_a_5xx() {
    let env = env_with(|_| {});
    let acme = env.tenant("acme", json!({})).await;
    let bodies: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some("application/json"), b"{not json".to_vec()),
        (Some("application/json"), b"[1, 2, 3]".to_vec()),
        (Some("application/json"), b"{\"unexpected\": true}".to_vec()),
        (Some("application/json"), vec![]),
        (Some("text/plain"), b"hello".to_vec()),
        (None, vec![0xff, 0xfe, 0x00, 0x01]),
        (
            Some("multipart/form-data; boundary=x"),
            b"--x\r\nbroken".to_vec(),
        ),
    ];
    for (method, path, public) in documented_operations() {
        let uri = path
            .replace("{id}", "nope")
            .replace("{name}", "nope")
            .replace("{key_id}", "nope");
        // Without a key: 401 (public routes excepted).
        let r = env.call(&method, &uri, None, None, vec![]).await;
        if public {
            assert!(r.status.is_success(), "{method} {uri}: {}", r.status);
        } else {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
            assert_eq!(r.problem_type(), "urn:microlearn:problem:unauthorized");
        }
        let r = env
            .call(&method, &uri, Some("mlk_wrong"), None, vec![])
            .await;
        if !public {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        }
        for key in [ADMIN, acme.as_str()] {
            for (ct, body) in &bodies {
                let r = env.call(&method, &uri, Some(key), *ct, body.clone()).await;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {uri} {ct:?}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                if r.status.is_client_error() {
                    let t = r.problem_type();
                    assert_ne!(
                        t, "urn:microlearn:problem:no-route",
                        "{method} {uri} is documented but not routed"
                    );
                    assert!(t.starts_with("urn:microlearn:problem:"), "{t}");
                }
            }
        }
    }
    // Specific mistakes name the field.
    let ds = env.upload_titanic(&acme).await;
    let cases = [
        (json!({"dataset_id": ds, "target": "nope"}), "target"),
        (
            json!({"dataset_id": ds, "target": "survived", "preparers": ["no-such-plugin"]}),
            "preparers[0]",
        ),
        (
            json!({"dataset_id": ds, "target": "survived", "selector": 5}),
            "selector",
        ),
        (
            json!({"dataset_id": ds, "target": "survived", "deployment": "a b"}),
            "deployment",
        ),
    ];
    for (body, field) in cases {
        let r = env.post_json("/v1/pipelines", &acme, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.json()["field"], json!(field), "{body}: {}", r.json());
    }
    let r = env
        .post_json(
            "/v1/pipelines",
            &acme,
            json!({"dataset_id": ds, "target": "survived", "budget_secs": -1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("budget"),
        "{}",
        r.json()
    );
    let r = env
        .post_json(
            "/v1/pipelines",
            &acme,
            json!({"dataset_id": ds, "target": "survived", "budgett": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("budgett"),
        "{}",
        r.json()
    );
    // Bad files: unreadable, unknown format, empty.
    let r = env
        .call(
            "POST",
            "/v1/datasets?name=x.xlsx",
            Some(&acme),
            None,
            b"a,b\n1,2\n".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["field"], json!("name"));
    let r = env
        .call(
            "POST",
            "/v1/datasets?format=parquet",
            Some(&acme),
            None,
            b"not parquet at all".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:invalid-dataset");
    let r = env
        .call("POST", "/v1/datasets?name=e.csv", Some(&acme), None, vec![])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("e.csv"),
        "{}",
        r.json()
    );
    // Tenant admin mistakes.
    let r = env
        .post_json("/v1/tenants", ADMIN, json!({"name": "Bad/Name"}))
        .await;
    assert_eq!(r.json()["field"], json!("name"));
    let r = env
        .post_json("/v1/tenants", &acme, json!({"name": "sneaky"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .post_json("/v1/tenants", ADMIN, json!({"name": "acme"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Unknown routes and methods.
    let r = env.get("/v1/nothing", &acme).await;
    assert_eq!(r.problem_type(), "urn:microlearn:problem:no-route");
    let r = env
        .call("PATCH", "/v1/datasets", Some(&acme), None, vec![])
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.problem_type(),
        "urn:microlearn:problem:method-not-allowed"
    );
    // The document served is the one the crate builds (tests/openapi.rs checks it against
    // the router).
    let doc = env
        .call("GET", "/v1/openapi.json", None, None, vec![])
        .await
        .json();
    assert_eq!(doc, microlearn_server::openapi::document());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_quotas_have_limits_with_clear_problems() {
    let env = env_with(|c| {
        c.max_upload_bytes = 20_000;
        c.max_json_bytes = 4_096;
    });
    let acme = env
        .tenant(
            "acme",
            json!({"storage_bytes": 25_000, "deployments": 1, "concurrent_pipelines": 1}),
        )
        .await;
    // Bigger than the upload cap: 413, for raw and multipart bodies, and nothing is stored.
    let r = env
        .call(
            "POST",
            "/v1/datasets?name=t.csv",
            Some(&acme),
            None,
            titanic(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:payload-too-large");
    assert_eq!(r.json()["limit_bytes"], json!(20_000));
    let (ct, body) = multipart(&[("file", Some("t.csv"), &titanic())]);
    let r = env
        .call("POST", "/v1/datasets", Some(&acme), Some(&ct), body)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        env.get("/v1/datasets", &acme).await.json()["datasets"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    // JSON bodies have their own cap.
    let big = json!({"rows": vec![serde_json::from_str::<Value>(ROW).expect("row"); 200]});
    let r = env.post_json("/v1/deployments/x/predict", &acme, big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:payload-too-large");
    // Storage quota: two files of ~14 kB fit the upload cap but not the 25 kB quota together.
    let text = String::from_utf8(titanic()).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    let part = |from: usize, to: usize| {
        let mut s = lines[0].to_string();
        for l in &lines[from..to] {
            s.push('\n');
            s.push_str(l);
        }
        s.into_bytes()
    };
    let r = env
        .call(
            "POST",
            "/v1/datasets?name=a.csv",
            Some(&acme),
            None,
            part(1, 600),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let ds = r.json()["id"].as_str().expect("id").to_string();
    let r = env
        .call(
            "POST",
            "/v1/datasets?name=b.csv",
            Some(&acme),
            None,
            part(600, 1200),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.problem_type(), "urn:microlearn:problem:quota-exceeded");
    assert_eq!(r.json()["quota"], json!("storage_bytes"));
    // Concurrent pipelines: the second one waits for the first (429), a cancel is at once.
    let start = json!({"dataset_id": ds, "target": "survived", "budget_secs": 120});
    let r = env.post_json("/v1/pipelines", &acme, start.clone()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let pl = r.json()["id"].as_str().expect("id").to_string();
    let r = env.post_json("/v1/pipelines", &acme, start.clone()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.problem_type(),
        "urn:microlearn:problem:too-many-pipelines"
    );
    // Let it reach the search, then cancel.
    let deadline = Instant::now() + Duration::from_secs(60);
    while env
        .get(&format!("/v1/pipelines/{pl}/trials"), &acme)
        .await
        .json()["trials"]
        .as_array()
        .expect("trials")
        .len()
        < 3
    {
        assert!(Instant::now() < deadline, "no trials ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = env
        .call(
            "POST",
            &format!("/v1/pipelines/{pl}/cancel"),
            Some(&acme),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], json!("cancelled"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = env.get(&format!("/v1/pipelines/{pl}"), &acme).await.json();
    assert_eq!(after["status"], json!("cancelled"), "{after}");
    let n = after["trial_count"].as_u64().expect("count");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let later = env.get(&format!("/v1/pipelines/{pl}"), &acme).await.json();
    assert_eq!(
        later["trial_count"].as_u64(),
        Some(n),
        "no trial is recorded after a cancel"
    );
    assert_eq!(later["status"], json!("cancelled"));
    let r = env
        .call(
            "POST",
            &format!("/v1/pipelines/{pl}/cancel"),
            Some(&acme),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // The slot is free again.
    let r = env
        .post_json(
            "/v1/pipelines",
            &acme,
            json!({"dataset_id": ds, "target": "survived", "budget_secs": 120}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let pl2 = r.json()["id"].as_str().expect("id").to_string();
    env.call(
        "POST",
        &format!("/v1/pipelines/{pl2}/cancel"),
        Some(&acme),
        None,
        vec![],
    )
    .await;
    // Deployments quota 0: refused with 403 naming the quota, through the API and for a
    // pipeline that would deploy under a new name.
    let r = env
        .call(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            Some("application/json"),
            json!({"quotas": {"storage_bytes": 25_000, "deployments": 0, "concurrent_pipelines": 1}})
                .to_string()
                .into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env
        .post_json(
            "/v1/pipelines",
            &acme,
            json!({"dataset_id": ds, "target": "survived", "budget_secs": 120}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["quota"], json!("deployments"));
    let r = env
        .post_json(
            "/v1/deployments",
            &acme,
            json!({"name": "d", "model_id": "md_x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.problem_type(), "urn:microlearn:problem:quota-exceeded");
    assert_eq!(r.json()["quota"], json!("deployments"));
    env.app.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_plugin_is_the_uploading_tenants_only() {
    let env = env_with(|_| {});
    let acme = env.tenant("acme", json!({})).await;
    let other = env.tenant("other", json!({})).await;
    let dir = plugin_dir().join("standard");
    let manifest = std::fs::read(dir.join("plugin.toml")).expect("manifest");
    let component = std::fs::read(dir.join("standard.wasm")).expect("component");
    let scope = |v: &Value, id: &str| {
        v["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .find(|p| p["id"] == json!(id))
            .map(|p| p["scope"].clone())
    };
    // A component whose hash does not match its manifest is refused.
    let mut tampered = component.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (ct, body) = multipart(&[
        ("manifest", None, &manifest),
        ("component", Some("standard.wasm"), &tampered),
    ]);
    let r = env
        .call("POST", "/v1/plugins", Some(&acme), Some(&ct), body)
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.problem_type(), "urn:microlearn:problem:invalid-plugin");
    let (ct, body) = multipart(&[("manifest", None, &manifest)]);
    let r = env
        .call("POST", "/v1/plugins", Some(&acme), Some(&ct), body)
        .await;
    assert_eq!(r.json()["field"], json!("component"));

    let (ct, body) = multipart(&[
        ("manifest", None, &manifest),
        ("component", Some("standard.wasm"), &component),
    ]);
    let r = env
        .call("POST", "/v1/plugins", Some(&acme), Some(&ct), body)
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["scope"], json!("tenant"));
    assert_eq!(
        scope(&env.get("/v1/plugins", &acme).await.json(), "standard"),
        Some(json!("tenant"))
    );
    assert_eq!(
        scope(&env.get("/v1/plugins", &other).await.json(), "standard"),
        Some(json!("shared"))
    );
    // What the manifest declares about its author is shown as is.
    let listed = env.get("/v1/plugins", &other).await.json();
    let standard = listed["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["id"] == json!("standard"))
        .expect("standard is listed");
    assert_eq!(standard["author"], json!("MicroLearn developers"));
    // The other tenant cannot remove it, nor a shared plugin.
    let r = env
        .call("DELETE", "/v1/plugins/standard", Some(&other), None, vec![])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        scope(&env.get("/v1/plugins", &acme).await.json(), "standard"),
        Some(json!("tenant"))
    );
    let r = env
        .call("DELETE", "/v1/plugins/standard", Some(&acme), None, vec![])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        scope(&env.get("/v1/plugins", &acme).await.json(), "standard"),
        Some(json!("shared"))
    );
    let info = env.get("/v1/plugins/standard", &acme).await;
    assert_eq!(info.status, StatusCode::OK);
    assert!(
        info.json()["plugins"][0]["config_schema"].is_object(),
        "{}",
        info.json()
    );
    assert_eq!(
        env.get("/v1/plugins/nothing", &acme).await.status,
        StatusCode::NOT_FOUND
    );
    let r = env
        .call("DELETE", "/v1/plugins/nothing", Some(&acme), None, vec![])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_and_can_be_revoked() {
    let env = env_with(|_| {});
    let acme = env.tenant("acme", json!({})).await;
    let r = env
        .post_json("/v1/tenants/acme/keys", ADMIN, json!({"label": "ci"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let second = r.json()["key"].as_str().expect("key").to_string();
    let id = r.json()["id"].as_str().expect("id").to_string();
    assert_eq!(
        env.get("/v1/datasets", &second).await.status,
        StatusCode::OK
    );
    let keys = env.get("/v1/tenants/acme/keys", ADMIN).await;
    let text = String::from_utf8_lossy(&keys.body).into_owned();
    assert!(
        !text.contains(&second) && !text.contains(&acme),
        "secrets are never listed: {text}"
    );
    assert_eq!(keys.json()["keys"].as_array().expect("keys").len(), 2);
    let r = env
        .call(
            "DELETE",
            &format!("/v1/tenants/acme/keys/{id}"),
            Some(ADMIN),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        env.get("/v1/datasets", &second).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(env.get("/v1/datasets", &acme).await.status, StatusCode::OK);
    let t = env.get("/v1/tenants/acme", ADMIN).await.json();
    assert_eq!(t["usage"]["deployments"], json!(0));
    // Quotas can be changed.
    let r = env
        .call(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            Some("application/json"),
            json!({"quotas": {"deployments": 2}}).to_string().into(),
        )
        .await;
    assert_eq!(r.json()["quotas"]["deployments"], json!(2));
    let _ = Quotas::default();
}

#[tokio::test]
async fn a_plugin_dropped_into_a_plugins_folder_is_served_without_a_restart() {
    let drop_in = tempfile::tempdir().expect("tempdir");
    let folder = drop_in.path().to_path_buf();
    let env = env_with(|c| c.plugin_dirs = vec![folder.clone()]);
    let key = env.tenant("acme", json!({})).await;
    let ids = |v: &Value| -> Vec<String> {
        v["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .map(|p| p["id"].as_str().expect("id").to_string())
            .collect()
    };
    let r = env
        .call("GET", "/v1/plugins", Some(&key), None, vec![])
        .await;
    assert!(!ids(&r.json()).contains(&"standard".to_string()));
    // Copy a built plugin folder in while the service runs.
    let target = folder.join("standard");
    std::fs::create_dir_all(&target).expect("mkdir");
    for f in ["plugin.toml", "standard.wasm"] {
        std::fs::copy(plugin_dir().join("standard").join(f), target.join(f)).expect("copy");
    }
    let r = env
        .call("GET", "/v1/plugins", Some(&key), None, vec![])
        .await;
    assert!(
        ids(&r.json()).contains(&"standard".to_string()),
        "{}",
        r.json()
    );
    // And it goes away the same way.
    std::fs::remove_dir_all(&target).expect("rm");
    let r = env
        .call("GET", "/v1/plugins", Some(&key), None, vec![])
        .await;
    assert!(!ids(&r.json()).contains(&"standard".to_string()));
}
