//! Serving through real HTTP (the service on a TCP listener): a deployment whose preparer
//! blocks cannot slow another tenant or `/healthz`, and its own callers get 503/504 problems,
//! never a dropped connection; batch scoring in pieces answers what scoring the file whole
//! does; stalled uploads are cut off; error bodies show no host path or internal cause.

use microlearn_server::{App, ServerConfig, ServingLimits};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "mlk_serving_test_admin_key_0123";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn build_dir() -> PathBuf {
    std::env::var_os("MICROLEARN_PLUGIN_BUILD_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The first-party plugins and the test-only ones (`hostile`).
fn plugin_dirs() -> Vec<PathBuf> {
    let dirs = vec![
        build_dir().join("microlearn-plugins"),
        build_dir().join("microlearn-test-plugins"),
    ];
    for (d, id) in dirs.iter().zip(["standard", "hostile"]) {
        assert!(
            d.join(id).join("plugin.toml").exists(),
            "built plugins not found in {}: run scripts/build-plugins.sh first",
            d.display()
        );
    }
    dirs
}

fn titanic() -> Vec<u8> {
    std::fs::read(repo_root().join("examples/data/titanic.csv")).expect("titanic.csv")
}

/// The service on a real listener, in this process.
struct Server {
    dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(limits: ServingLimits) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig::new(&dir.path().join("home"));
        config.plugin_dirs = plugin_dirs();
        config.admin_key = Some(ADMIN.into());
        config.workers = 2;
        config.serving = limits;
        let app = App::start(config).expect("service starts").app;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listens");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(microlearn_server::serve(app.clone(), listener, async {
            let _ = stopped.await;
        }));
        Server {
            dir,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server ends cleanly");
        }
    }

    fn client(&self) -> Client {
        Client { addr: self.addr }
    }
}

/// One HTTP/1.1 request per connection, read to its end: what a client sees on the wire.
#[derive(Clone, Copy)]
struct Client {
    addr: std::net::SocketAddr,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// The problem's `type` slug, checking the media type.
    fn problem(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{} {}",
            self.status,
            self.text()
        );
        let t = self.json()["type"].as_str().expect("type").to_string();
        t.trim_start_matches("urn:microlearn:problem:").to_string()
    }
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        ct: &str,
        body: &[u8],
    ) -> Resp {
        let mut s = TcpStream::connect(self.addr).await.expect("connects");
        let auth = key.map_or_else(String::new, |k| format!("Authorization: Bearer {k}\r\n"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("writes");
        s.write_all(body).await.expect("writes");
        read_response(&mut s).await
    }

    async fn get(&self, path: &str, key: &str) -> Resp {
        self.call("GET", path, Some(key), "application/json", b"")
            .await
    }

    async fn post_json(&self, path: &str, key: &str, v: &Value) -> Resp {
        self.call(
            "POST",
            path,
            Some(key),
            "application/json",
            v.to_string().as_bytes(),
        )
        .await
    }

    async fn tenant(&self, name: &str) -> String {
        let r = self
            .post_json("/v1/tenants", ADMIN, &json!({ "name": name }))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
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
                "text/csv",
                &titanic(),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.text());
        r.json()["id"].as_str().expect("id").to_string()
    }

    /// Train a small model on titanic and deploy it as `deployment`; returns its model id.
    async fn deploy(&self, key: &str, deployment: &str, preparers: Value) -> String {
        let ds = self.upload_titanic(key).await;
        let r = self
            .post_json(
                "/v1/pipelines",
                key,
                &json!({
                    "dataset_id": ds, "target": "survived", "budget_secs": 30, "max_trials": 2,
                    "seed": 1, "preparers": preparers, "deployment": deployment,
                }),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_string();
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let p = self.get(&format!("/v1/pipelines/{id}"), key).await.json();
            if p["terminal"] == json!(true) {
                assert_eq!(p["status"], json!("done"), "{p}");
                break;
            }
            assert!(Instant::now() < deadline, "pipeline {id} did not end: {p}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let d = self
            .get(&format!("/v1/deployments/{deployment}"), key)
            .await;
        assert_eq!(d.status, 200, "{}", d.text());
        d.json()["model_id"].as_str().expect("model_id").to_string()
    }
}

async fn read_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .await
        .expect("the server answers and closes, never resets");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer, got {} bytes: {:?}",
                raw.len(),
                String::from_utf8_lossy(&raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The value of an unlabelled-enough series in the Prometheus text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).map(str::trim))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in /metrics"))
}

/// The config that makes `hostile` block in every call for `millis`: the blocking-sleep mode
/// where the plugin has it (a WASI sleep, the case that used to panic a server thread),
/// else its busy-wait.
async fn hostile_wait(c: &Client, millis: u64) -> Value {
    let info = c.get("/v1/plugins/hostile", ADMIN).await.json();
    let modes = &info["plugins"][0]["config_schema"]["properties"]["mode"]["enum"];
    let blocking = modes
        .as_array()
        .is_some_and(|m| m.iter().any(|v| v == "block"));
    let mode = if blocking { "block" } else { "sleep" };
    json!({ "id": "hostile", "config": { "mode": mode, "millis": millis } })
}

const ROW: &str = r#"{"pclass": "1st", "sex": "female", "age": 29, "sibsp": 0, "parch": 0}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blocked_deployment_answers_503_and_504_and_slows_no_other_tenant() {
    // One slot per deployment, so the blocked call holds all of its deployment's share; a
    // predict deadline well under the preparer's wait, so the deadline is what ends the call.
    let server = Server::start(ServingLimits {
        threads: 4,
        per_tenant: 2,
        per_deployment: 1,
        predict_timeout: Duration::from_secs(3),
        ..ServingLimits::default()
    })
    .await;
    let c = server.client();
    let slow = c.tenant("slow").await;
    let quick = c.tenant("quick").await;
    let wait_ms = 6_000;
    let hostile = hostile_wait(&c, wait_ms).await;
    c.deploy(&slow, "stuck", json!([hostile])).await;
    c.deploy(&quick, "fine", json!(["standard"])).await;

    // The stuck deployment's call goes in flight; /metrics shows its slot taken.
    let slow2 = slow.clone();
    let blocked = tokio::spawn(async move {
        c.call(
            "POST",
            "/v1/deployments/stuck/predict",
            Some(&slow2),
            "application/json",
            ROW.as_bytes(),
        )
        .await
    });
    loop {
        let m = c.get("/metrics", ADMIN).await.text();
        if metric(&m, "microlearn_blocking_slots_busy{pool=\"scoring\"}") >= 1.0 {
            break;
        }
        assert!(
            !blocked.is_finished(),
            "the blocked call ended early: {:?}",
            blocked.await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // While it is stuck: the same deployment refuses at once with 503 and Retry-After ...
    let refused = c
        .call(
            "POST",
            "/v1/deployments/stuck/predict",
            Some(&slow),
            "application/json",
            ROW.as_bytes(),
        )
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.problem(), "overloaded");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // ... another tenant's deployment answers, and so does /healthz ...
    let ok = c
        .call(
            "POST",
            "/v1/deployments/fine/predict",
            Some(&quick),
            "application/json",
            ROW.as_bytes(),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        ok.json()["predictions"]
            .as_array()
            .expect("predictions")
            .len(),
        1
    );
    let health = c
        .call("GET", "/healthz", None, "application/json", b"")
        .await;
    assert_eq!(health.status, 200);
    // ... all while the blocked call is still in flight.
    assert!(
        !blocked.is_finished(),
        "the blocked call ended before the other tenant's calls did"
    );

    // The blocked call itself ends at its deadline with a problem, not a dropped connection.
    let r = blocked.await.expect("client task");
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.problem(), "timeout");
    let detail = r.json()["detail"].as_str().expect("detail").to_string();
    assert!(
        detail.contains("deployment 'stuck'") && detail.contains("deadline"),
        "{detail}"
    );
    // Both refusals count as the deployment's errors.
    let stats = c.get("/v1/deployments/stuck/stats", &slow).await.json();
    assert_eq!(stats["stats"]["errors"], json!(2), "{stats}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_scoring_in_pieces_answers_what_scoring_the_whole_file_does() {
    // 1309 rows in pieces of 100: fourteen reads, fourteen plugin calls, one output.
    let server = Server::start(ServingLimits {
        batch_chunk_rows: 100,
        ..ServingLimits::default()
    })
    .await;
    let c = server.client();
    let key = c.tenant("acme").await;
    let model_id = c.deploy(&key, "titanic", json!(["standard"])).await;

    // The reference: the model's own bundle scoring the file at once.
    let bundle = c.get(&format!("/v1/models/{model_id}/bundle"), &key).await;
    assert_eq!(bundle.status, 200);
    let bundle = microlearn_pipeline::Bundle::from_bytes(&bundle.body, "bundle").expect("bundle");
    let host = microlearn_plugins::PluginHost::new(microlearn_plugins::RuntimeConfig::default())
        .expect("plugin runtime");
    let model = microlearn_pipeline::LoadedModel::from_bundle(bundle, &host).expect("loads");
    let input = server.dir.path().join("new.csv");
    std::fs::write(&input, titanic()).expect("input");
    let whole = model
        .predict_dataset(microlearn_data::read_dataset(&input).expect("reads"))
        .expect("scores");
    for ext in ["csv", "json", "ndjson", "tsv"] {
        let expected_path = server.dir.path().join(format!("expected.{ext}"));
        whole.write(&expected_path).expect("writes");
        let expected = std::fs::read(&expected_path).expect("expected");
        let r = c
            .call(
                "POST",
                &format!("/v1/deployments/titanic/batch?name=new.csv&output={ext}"),
                Some(&key),
                "text/csv",
                &titanic(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-microlearn-model"), Some(model_id.as_str()));
        assert!(
            r.body == expected,
            "{ext}: scoring in pieces differs from scoring at once:\n{}\nvs\n{}",
            &r.text()[..r.text().len().min(400)],
            String::from_utf8_lossy(&expected[..expected.len().min(400)])
        );
    }
    // A bad value in a later piece is still a 422 naming the file, before anything is sent.
    let mut bad = titanic();
    bad.extend_from_slice(b"1st,survived,female,not-an-age,0,0\n");
    let r = c
        .call(
            "POST",
            "/v1/deployments/titanic/batch?name=new.csv",
            Some(&key),
            "text/csv",
            &bad,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.problem(), "invalid-dataset");
    assert!(r.text().contains("new.csv"), "{}", r.text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_upload_is_cut_off_with_408_and_frees_its_slot() {
    let server = Server::start(ServingLimits {
        uploads: 1,
        uploads_per_tenant: 1,
        upload_idle_timeout: Duration::from_millis(500),
        ..ServingLimits::default()
    })
    .await;
    let c = server.client();
    // Promise 1000 bytes, send 20, then nothing.
    let mut s = TcpStream::connect(server.addr).await.expect("connects");
    let head = format!(
        "POST /v1/datasets?name=slow.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\na,b\n1,2\n3,4\n5,6\n7,8\n"
    );
    s.write_all(head.as_bytes()).await.expect("writes");
    let r = read_response(&mut s).await;
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.problem(), "body-timeout");
    // The only upload slot is free again: the next upload is taken.
    let ds = c.upload_titanic(ADMIN).await;
    assert!(ds.starts_with("ds_"), "{ds}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn error_bodies_show_no_host_path_and_no_internal_cause() {
    let server = Server::start(ServingLimits::default()).await;
    let c = server.client();
    let home = server.home().canonicalize().expect("home");
    let tmp = std::env::temp_dir();
    let private = [
        home.display().to_string(),
        server.home().display().to_string(),
        tmp.display().to_string(),
        plugin_dirs()[0].display().to_string(),
    ];
    let check = |what: &str, r: &Resp| {
        let text = r.text();
        for p in &private {
            assert!(
                !text.contains(p.as_str()),
                "{what}: the body shows {p}: {text}"
            );
        }
    };

    // A table the reader refuses (malformed Parquet, a ragged CSV).
    let r = c
        .call(
            "POST",
            "/v1/datasets?name=x.parquet",
            Some(ADMIN),
            "application/octet-stream",
            b"PAR1 not parquet",
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    check("bad parquet", &r);
    let r = c
        .call(
            "POST",
            "/v1/datasets?name=x.csv",
            Some(ADMIN),
            "text/csv",
            b"a,b\n1,2,3\n\"open",
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    check("ragged csv", &r);

    // A plugin whose manifest's hash does not match its component.
    let component =
        std::fs::read(plugin_dirs()[0].join("standard").join("standard.wasm")).expect("component");
    let manifest = "id = \"copy\"\nkind = \"preparer\"\nversion = \"0.1.0\"\napi = \"microlearn:plugin@0.1.0\"\ndescription = \"x\"\ncomponent = \"copy.wasm\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
    let boundary = "----serving-test";
    let mut body = Vec::new();
    for (name, file, bytes) in [
        ("manifest", "plugin.toml", manifest.as_bytes()),
        ("component", "copy.wasm", component.as_slice()),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let r = c
        .call(
            "POST",
            "/v1/plugins",
            Some(ADMIN),
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.problem(), "invalid-plugin");
    check("plugin with a wrong hash", &r);

    // A failure of the host itself (its upload folder is not a folder): a 500 that names an
    // incident for the operator's log, not the cause.
    let tmp_dir = server.home().join("tmp");
    let _ = std::fs::remove_dir_all(&tmp_dir);
    std::fs::write(&tmp_dir, b"not a folder").expect("file in the way");
    let r = c
        .call(
            "POST",
            "/v1/datasets?name=t.csv",
            Some(ADMIN),
            "text/csv",
            &titanic(),
        )
        .await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.problem(), "internal");
    check("internal error", &r);
    let p = r.json();
    let detail = p["detail"].as_str().expect("detail");
    let incident = p["incident"].as_str().expect("incident");
    assert!(detail.contains(incident), "{detail}");
    assert!(
        !detail.to_lowercase().contains("os error") && !detail.contains("exists"),
        "{detail}"
    );
    std::fs::remove_file(&tmp_dir).expect("cleared");
    server.stop().await;
}
