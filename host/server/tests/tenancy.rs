//! Tenancy over real HTTP (a listener on loopback, plain HTTP/1.1 clients on their own
//! threads): bounded pipeline requests, quotas that hold under concurrent requests, tenant
//! deletion that leaves nothing behind, admin scoping, admin-key rotation, and pipelines that
//! crashed the host too often.

use microlearn_server::{App, ServerConfig};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ADMIN: &str = "mlk_tenancy_test_admin_key_0123";

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

fn titanic() -> Vec<u8> {
    std::fs::read(repo_root().join("examples/data/titanic.csv")).expect("titanic.csv")
}

/// A running service on a loopback port.
struct Host {
    app: App,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn start(home: &Path, admin: &str, f: impl FnOnce(&mut ServerConfig)) -> Host {
    let mut config = ServerConfig::new(home);
    config.plugin_dirs = vec![plugin_dir()];
    config.admin_key = Some(admin.into());
    config.workers = 1;
    f(&mut config);
    let app = App::start(config).expect("service starts").app;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            microlearn_server::serve(served, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("serves");
        });
    });
    Host {
        app,
        addr,
        stop: Some(tx),
        thread: Some(thread),
    }
}

impl Host {
    /// Stop serving and the workers; the data directory can be opened again afterwards.
    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("the server thread ends");
        }
    }

    fn raw(&self, method: &str, path: &str, key: Option<&str>, ct: &str, body: &[u8]) -> Resp {
        let mut s = TcpStream::connect(self.addr).expect("connects");
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .expect("timeout");
        let auth = key
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).expect("writes");
        s.write_all(body).expect("writes");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("reads");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header block");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let mut body = raw[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Resp { status, json }
    }

    fn get(&self, path: &str, key: &str) -> Resp {
        self.raw("GET", path, Some(key), "application/json", b"")
    }

    fn send(&self, method: &str, path: &str, key: &str, v: Value) -> Resp {
        self.raw(
            method,
            path,
            Some(key),
            "application/json",
            v.to_string().as_bytes(),
        )
    }

    fn tenant(&self, name: &str, quotas: Value) -> String {
        let r = self.send(
            "POST",
            "/v1/tenants",
            ADMIN,
            json!({"name": name, "quotas": quotas}),
        );
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["api_key"]["key"].as_str().expect("key").to_string()
    }

    fn upload(&self, key: &str, name: &str, bytes: &[u8]) -> Resp {
        self.raw(
            "POST",
            &format!("/v1/datasets?name={name}"),
            Some(key),
            "text/csv",
            bytes,
        )
    }

    fn wait_terminal(&self, key: &str, id: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = self.get(&format!("/v1/pipelines/{id}"), key).json;
            if p["terminal"] == json!(true) {
                return p;
            }
            assert!(Instant::now() < deadline, "pipeline {id} did not end: {p}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn usage(&self, tenant: &str) -> Value {
        let r = self.get(&format!("/v1/tenants/{tenant}"), ADMIN);
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["usage"].clone()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Resp {
    status: u16,
    json: Value,
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        let Some(chunk) = b.get(eol + 2..eol + 2 + size) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.extend_from_slice(chunk);
        b = b.get(eol + 4 + size..).unwrap_or_default();
    }
    out
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----microlearn-tenancy-boundary";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(f) => {
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\r\n")
            }
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The built plugins, as upload forms: (content type, body, component bytes).
const PLUGINS: [&str; 5] = [
    "standard",
    "portfolio",
    "best-model",
    "classification",
    "regression",
];

fn plugin_form(id: &str) -> (String, Vec<u8>, u64) {
    let dir = plugin_dir().join(id);
    let manifest = std::fs::read(dir.join("plugin.toml")).expect("manifest");
    let file = format!("{id}.wasm");
    let component = std::fs::read(dir.join(&file)).expect("component");
    let (ct, body) = multipart(&[
        ("manifest", None, &manifest),
        ("component", Some(&file), &component),
    ]);
    (ct, body, component.len() as u64)
}

/// `n` requests at once, each on its own thread and connection; the statuses in order.
fn race(n: usize, f: impl Fn(usize) -> Resp + Sync) -> Vec<Resp> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    })
}

/// Send until the answer is not 503: uploads also pass the server's per-tenant upload slots,
/// which turn extra concurrent calls away with a retry hint; the quota is what is under test.
fn until_admitted(f: impl Fn() -> Resp) -> Resp {
    loop {
        let r = f();
        if r.status != 503 {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(rs: &[Resp], status: u16) -> usize {
    rs.iter().filter(|r| r.status == status).count()
}

fn assert_quota_refusals(rs: &[Resp], ok: u16, refused: u16, quota: &str) {
    for r in rs {
        assert!(
            r.status == ok || (r.status == refused && r.json["quota"] == json!(quota)),
            "neither accepted nor refused for {quota}: {} {}",
            r.status,
            r.json
        );
    }
}

/// A small CSV of about `size` bytes, different for every `i`.
fn small_csv(i: usize, size: usize) -> Vec<u8> {
    let mut s = format!("a,b\n{i},x{i}\n");
    while s.len() < size {
        s.push_str(&format!("{i},y\n"));
    }
    s.truncate(size);
    if !s.ends_with('\n') {
        s.pop();
        s.push('\n');
    }
    s.into_bytes()
}

#[test]
fn pipeline_knobs_out_of_range_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = start(&dir.path().join("home"), ADMIN, |c| c.cpu_threads = 4);
    let acme = host.tenant("acme", json!({}));
    let r = host.upload(&acme, "titanic.csv", &titanic());
    assert_eq!(r.status, 201, "{}", r.json);
    let ds = r.json["id"].as_str().expect("id").to_string();
    let base = json!({"dataset_id": ds, "target": "survived"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    // One worker on four threads: a pipeline may have all four, never a million.
    let cases = [
        ("threads", json!(1_000_000)),
        ("threads", json!(5)),
        ("threads", json!(0)),
        ("budget_secs", json!(1e9)),
        ("budget_secs", json!(0)),
        ("max_trials", json!(0)),
        ("max_trials", json!(10_000_000)),
        ("folds", json!(50)),
        ("refit_top", json!(1000)),
        ("test_fraction", json!(0.99)),
        ("validation_fraction", json!(0.0)),
    ];
    for (field, value) in cases {
        let r = host.send("POST", "/v1/pipelines", &acme, with(field, value.clone()));
        assert_eq!(r.status, 422, "{field}={value}: {}", r.json);
        assert_eq!(r.json["field"], json!(field), "{field}={value}: {}", r.json);
        assert!(
            r.json["detail"].as_str().is_some_and(|d| d.contains(field)),
            "{}",
            r.json
        );
    }
    let r = host.send("POST", "/v1/pipelines", &acme, with("threads", json!(-3)));
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.json["field"], json!("threads"), "{}", r.json);
    assert_eq!(
        host.get("/v1/pipelines", &acme).json["pipelines"],
        json!([]),
        "nothing refused is recorded"
    );
    // In range is accepted, and an unset thread count is the host's share, not every core.
    let r = host.send("POST", "/v1/pipelines", &acme, with("threads", json!(4)));
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["config"]["threads"], json!(4));
    let pl = r.json["id"].as_str().expect("id").to_string();
    host.send(
        "POST",
        &format!("/v1/pipelines/{pl}/cancel"),
        &acme,
        json!({}),
    );
    host.wait_terminal(&acme, &pl, 60);
    let r = host.send("POST", "/v1/pipelines", &acme, base.clone());
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["config"]["threads"], json!(4));
    let pl = r.json["id"].as_str().expect("id").to_string();
    host.send(
        "POST",
        &format!("/v1/pipelines/{pl}/cancel"),
        &acme,
        json!({}),
    );
    host.wait_terminal(&acme, &pl, 60);
    host.stop();
}

#[test]
fn concurrent_requests_never_exceed_a_quota() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = start(&dir.path().join("home"), ADMIN, |_| {});
    let titanic = titanic();
    let file = 1000;
    let quota = titanic.len() as u64 + 5 * file as u64 + 500;
    let t = host.tenant(
        "race",
        json!({"storage_bytes": quota, "concurrent_pipelines": 10, "deployments": 3, "plugins": 2}),
    );
    let r = host.upload(&t, "titanic.csv", &titanic);
    assert_eq!(r.status, 201, "{}", r.json);
    let ds = r.json["id"].as_str().expect("id").to_string();

    // Storage: room for exactly five more files; twenty arrive at once.
    let rs = race(20, |i| {
        until_admitted(|| host.upload(&t, &format!("f{i}.csv"), &small_csv(i, file)))
    });
    assert_quota_refusals(&rs, 201, 403, "storage_bytes");
    assert_eq!(count(&rs, 201), 5, "exactly the files that fit are stored");
    let used = host.usage("race")["storage_bytes"].as_u64().expect("usage");
    assert!(used <= quota, "{used} bytes stored, quota {quota}");
    assert_eq!(
        host.get("/v1/datasets", &t).json["datasets"]
            .as_array()
            .expect("datasets")
            .len(),
        6
    );

    // Deployments through pipelines: each names a new deployment; three slots.
    let start = |deployment: String| json!({"dataset_id": ds, "target": "survived", "budget_secs": 600, "deployment": deployment});
    let rs = race(20, |i| {
        host.send("POST", "/v1/pipelines", &t, start(format!("d{i}")))
    });
    assert_quota_refusals(&rs, 202, 403, "deployments");
    assert_eq!(count(&rs, 202), 3, "one pipeline per deployment slot");
    let accepted: Vec<String> = rs
        .iter()
        .filter(|r| r.status == 202)
        .map(|r| r.json["deployment"].as_str().expect("name").to_string())
        .collect();
    // A deployment created through the API competes for the same slots.
    let r = host.send(
        "POST",
        "/v1/deployments",
        &t,
        json!({"name": "manual", "model_id": "md_none"}),
    );
    assert_eq!(r.status, 403, "{}", r.json);
    assert_eq!(r.json["quota"], json!("deployments"));

    // Concurrent pipelines: seven of ten slots are free; twenty arrive at once, all naming a
    // deployment already counted.
    let rs = race(20, |i| {
        host.send(
            "POST",
            "/v1/pipelines",
            &t,
            start(accepted[i % accepted.len()].clone()),
        )
    });
    assert_quota_refusals(&rs, 202, 429, "concurrent_pipelines");
    assert_eq!(count(&rs, 202), 7);
    let all = host.get("/v1/pipelines", &t).json["pipelines"]
        .as_array()
        .expect("pipelines")
        .clone();
    assert_eq!(
        all.iter().filter(|p| p["terminal"] == json!(false)).count(),
        10
    );
    for p in &all {
        let id = p["id"].as_str().expect("id");
        host.send("POST", &format!("/v1/pipelines/{id}/cancel"), &t, json!({}));
    }

    // Plugins: two slots, five different plugins uploaded at once. First the storage quota,
    // nearly used up, refuses them all for their bytes.
    let forms: Vec<_> = PLUGINS.iter().map(|id| plugin_form(id)).collect();
    let upload_all = || {
        race(forms.len(), |i| {
            until_admitted(|| host.raw("POST", "/v1/plugins", Some(&t), &forms[i].0, &forms[i].1))
        })
    };
    let rs = upload_all();
    assert_quota_refusals(&rs, 201, 403, "storage_bytes");
    assert_eq!(
        count(&rs, 201),
        0,
        "no room for a component: {}",
        rs[0].json
    );
    let components: u64 = forms.iter().map(|f| f.2).sum();
    let r = host.send(
        "PATCH",
        "/v1/tenants/race",
        ADMIN,
        json!({"quotas": {"storage_bytes": quota + components, "plugins": 2}}),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let rs = upload_all();
    assert_quota_refusals(&rs, 201, 403, "plugins");
    assert_eq!(count(&rs, 201), 2);
    assert_eq!(host.usage("race")["plugins"], json!(2));
    host.stop();
}

#[test]
fn a_deleted_tenant_leaves_nothing_behind_and_its_name_starts_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let host = start(&home, ADMIN, |_| {});
    let acme = host.tenant("acme", json!({"deployments": 3}));
    let other = host.tenant("other", json!({}));
    let titanic = titanic();
    let ds = host.upload(&acme, "titanic.csv", &titanic).json["id"]
        .as_str()
        .expect("id")
        .to_string();
    // The other tenant stores the same file: it must survive acme's deletion.
    assert_eq!(host.upload(&other, "titanic.csv", &titanic).status, 201);
    let mine = host.upload(&acme, "mine.csv", &small_csv(1, 500)).json["sha256"]
        .as_str()
        .expect("sha")
        .to_string();
    let r = host.send(
        "POST",
        "/v1/pipelines",
        &acme,
        json!({"dataset_id": ds, "target": "survived", "budget_secs": 6, "max_trials": 8, "seed": 1}),
    );
    assert_eq!(r.status, 202, "{}", r.json);
    let pl = r.json["id"].as_str().expect("id").to_string();
    let p = host.wait_terminal(&acme, &pl, 120);
    assert_eq!(p["status"], json!("done"), "{p}");
    let deployed = p["best_model"].as_str().expect("best").to_string();
    let deployment = p["deployment"].as_str().expect("deployment").to_string();
    let models: Vec<Value> = host.get("/v1/models", &acme).json["models"]
        .as_array()
        .expect("models")
        .clone();

    // A served model cannot be deleted; another one can, and its storage is freed.
    let r = host.raw(
        "DELETE",
        &format!("/v1/models/{deployed}"),
        Some(&acme),
        "",
        b"",
    );
    assert_eq!(r.status, 409, "{}", r.json);
    assert_eq!(r.json["deployment"], json!(deployment));
    if let Some(spare) = models.iter().find(|m| m["id"] != json!(deployed)) {
        let before = host.usage("acme")["storage_bytes"].as_u64().expect("usage");
        let id = spare["id"].as_str().expect("id");
        let r = host.raw("DELETE", &format!("/v1/models/{id}"), Some(&acme), "", b"");
        assert_eq!(r.status, 204, "{}", r.json);
        let after = host.usage("acme")["storage_bytes"].as_u64().expect("usage");
        assert_eq!(
            after,
            before - spare["bundle_bytes"].as_u64().expect("size")
        );
        assert_eq!(host.get(&format!("/v1/models/{id}"), &acme).status, 404);
        let sha = spare["bundle_sha256"].as_str().expect("sha");
        assert!(!host.app.store().artefacts().path(sha).exists());
    }
    // Deployments through the API race for the two slots left.
    let rs = race(10, |i| {
        host.send(
            "POST",
            "/v1/deployments",
            &acme,
            json!({"name": format!("api-{i}"), "model_id": deployed}),
        )
    });
    assert_quota_refusals(&rs, 201, 403, "deployments");
    assert_eq!(count(&rs, 201), 2);
    assert_eq!(host.usage("acme")["deployments"], json!(3));
    // A plugin of acme's own.
    let (ct, body, _) = plugin_form("standard");
    let r = host.raw("POST", "/v1/plugins", Some(&acme), &ct, &body);
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["scope"], json!("tenant"));
    let bundle_sha = host.get(&format!("/v1/models/{deployed}"), &acme).json["bundle_sha256"]
        .as_str()
        .expect("sha")
        .to_string();

    let r = host.raw("DELETE", "/v1/tenants/acme", Some(ADMIN), "", b"");
    assert_eq!(r.status, 204, "{}", r.json);
    assert_eq!(
        host.get("/v1/datasets", &acme).status,
        401,
        "its keys are revoked"
    );
    let store = host.app.store();
    assert!(!store.artefacts().path(&mine).exists());
    assert!(!store.artefacts().path(&bundle_sha).exists());
    assert!(!home.join("tenants/acme").exists(), "its plugins are gone");
    // The other tenant's copy of the shared file is untouched.
    let theirs = host.get("/v1/datasets", &other).json["datasets"][0].clone();
    assert!(
        store
            .artefacts()
            .path(theirs["sha256"].as_str().expect("sha"))
            .exists()
    );

    let acme = host.tenant("acme", json!({}));
    for (path, field) in [
        ("/v1/datasets", "datasets"),
        ("/v1/pipelines", "pipelines"),
        ("/v1/models", "models"),
        ("/v1/deployments", "deployments"),
    ] {
        assert_eq!(host.get(path, &acme).json[field], json!([]), "{path}");
    }
    assert_eq!(host.get(&format!("/v1/pipelines/{pl}"), &acme).status, 404);
    let usage = host.usage("acme");
    assert_eq!(usage["storage_bytes"], json!(0), "{usage}");
    assert_eq!(usage["deployments"], json!(0), "{usage}");
    assert_eq!(usage["plugins"], json!(0), "{usage}");
    let plugins = host.get("/v1/plugins", &acme).json;
    assert!(
        plugins["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .all(|p| p["scope"] == json!("shared")),
        "{plugins}"
    );
    host.stop();
}

#[test]
fn a_tenant_admin_manages_only_its_own_tenant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = start(&dir.path().join("home"), ADMIN, |_| {});
    host.tenant("acme", json!({"deployments": 1}));
    host.tenant("beta", json!({}));
    let r = host.send(
        "POST",
        "/v1/tenants/acme/keys",
        ADMIN,
        json!({"label": "acme ops", "admin": true}),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let acme_admin = r.json["key"].as_str().expect("key").to_string();
    assert_eq!(
        host.get("/v1/me", &acme_admin).json["admin_scope"],
        json!("tenant")
    );
    assert_eq!(
        host.get("/v1/me", ADMIN).json["admin_scope"],
        json!("global")
    );

    let names = |key: &str| -> Vec<String> {
        host.get("/v1/tenants", key).json["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(names(&acme_admin), ["acme"]);
    assert_eq!(names(ADMIN).len(), 3, "default, acme and beta");
    assert_eq!(host.get("/v1/tenants/acme", &acme_admin).status, 200);
    // Another tenant does not exist for it…
    assert_eq!(host.get("/v1/tenants/beta", &acme_admin).status, 404);
    assert_eq!(host.get("/v1/tenants/beta/keys", &acme_admin).status, 404);
    let r = host.send(
        "POST",
        "/v1/tenants/beta/keys",
        &acme_admin,
        json!({"admin": true}),
    );
    assert_eq!(r.status, 404, "{}", r.json);
    // …and the operator's calls are refused, its own quotas included.
    let r = host.send("POST", "/v1/tenants", &acme_admin, json!({"name": "gamma"}));
    assert_eq!(r.status, 403, "{}", r.json);
    let r = host.send(
        "PATCH",
        "/v1/tenants/acme",
        &acme_admin,
        json!({"quotas": {"deployments": 1000}}),
    );
    assert_eq!(r.status, 403, "{}", r.json);
    assert_eq!(
        host.raw("DELETE", "/v1/tenants/beta", Some(&acme_admin), "", b"")
            .status,
        403
    );
    assert_eq!(host.get("/metrics", &acme_admin).status, 403);
    assert_eq!(
        host.get("/v1/tenants/acme", ADMIN).json["quotas"]["deployments"],
        json!(1)
    );
    // Its own keys it manages.
    let r = host.send(
        "POST",
        "/v1/tenants/acme/keys",
        &acme_admin,
        json!({"label": "ci"}),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let ci = r.json["id"].as_str().expect("id").to_string();
    assert_eq!(
        host.raw(
            "DELETE",
            &format!("/v1/tenants/acme/keys/{ci}"),
            Some(&acme_admin),
            "",
            b""
        )
        .status,
        204
    );
    // The global admin still manages everyone.
    assert_eq!(host.get("/metrics", ADMIN).status, 200);
    assert_eq!(
        host.raw("DELETE", "/v1/tenants/beta", Some(ADMIN), "", b"")
            .status,
        204
    );
    host.stop();
}

#[test]
fn rotating_the_configured_admin_key_revokes_the_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let host = start(&home, ADMIN, |_| {});
    assert_eq!(host.get("/v1/tenants", ADMIN).status, 200);
    let acme = host.tenant("acme", json!({}));
    host.stop();

    let rotated = "mlk_the_rotated_admin_key_4567";
    let host = start(&home, rotated, |_| {});
    assert_eq!(
        host.get("/v1/tenants", ADMIN).status,
        401,
        "the old key is revoked"
    );
    assert_eq!(host.get("/v1/tenants", rotated).status, 200);
    assert_eq!(
        host.get("/v1/datasets", &acme).status,
        200,
        "keys minted through the API are not configuration's to revoke"
    );
    host.stop();
}

#[test]
fn a_pipeline_whose_runs_never_finished_is_failed_not_resumed_forever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let host = start(&home, ADMIN, |_| {});
    let r = host.upload(ADMIN, "titanic.csv", &titanic());
    let ds = r.json["id"].as_str().expect("id").to_string();
    // Accepted, then cut short as a crash would: the record stays unfinished and each start
    // that never returned is counted in the store.
    let r = host.send(
        "POST",
        "/v1/pipelines",
        ADMIN,
        json!({"dataset_id": ds, "target": "survived", "budget_secs": 600}),
    );
    assert_eq!(r.status, 202, "{}", r.json);
    let pl = r.json["id"].as_str().expect("id").to_string();
    host.stop();
    {
        let store = microlearn_store::Store::open(&home).expect("opens");
        let t = store.tenant(microlearn_store::DEFAULT_TENANT);
        assert!(
            !t.pipeline(&pl)
                .expect("read")
                .expect("kept")
                .status
                .is_terminal()
        );
        // Three runs that crashed the host (one start came from the run above, stopped
        // cleanly, so it was not counted).
        for _ in 0..3 {
            t.note_start(&pl).expect("counted");
        }
    }
    let host = start(&home, ADMIN, |_| {});
    let p = host.wait_terminal(ADMIN, &pl, 60);
    assert_eq!(p["status"], json!("failed"), "{p}");
    assert!(
        p["error"]
            .as_str()
            .is_some_and(|e| e.contains("3 times") && e.contains("not resumed")),
        "{p}"
    );
    host.stop();
}

#[test]
fn temporary_files_a_crash_left_behind_are_swept_on_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("tmp/.plugin-staging")).expect("dirs");
    std::fs::create_dir_all(home.join("datasets")).expect("dirs");
    let left = [
        home.join("tmp/.upload-abc.csv"),
        home.join("tmp/.plugin-staging/standard.wasm"),
        home.join("tmp/.scored-1.csv"),
        home.join("datasets/.copy-x"),
    ];
    for f in &left {
        std::fs::write(f, b"half written").expect("written");
    }
    let kept = home.join("datasets/0123.csv");
    std::fs::write(&kept, b"a,b\n1,2\n").expect("written");
    let host = start(&home, ADMIN, |_| {});
    for f in &left {
        assert!(!f.exists(), "{} was swept", f.display());
    }
    assert!(!home.join("tmp/.plugin-staging").exists());
    assert!(kept.exists(), "only leftovers go");
    host.stop();
}

#[test]
fn a_crash_after_deploying_does_not_delete_the_deployed_model_on_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let host = start(&home, ADMIN, |_| {});
    let ds = host.upload(ADMIN, "titanic.csv", &titanic()).json["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = host.send(
        "POST",
        "/v1/pipelines",
        ADMIN,
        json!({"dataset_id": ds, "target": "survived", "budget_secs": 6, "max_trials": 8, "seed": 4, "deployment": "kept"}),
    );
    assert_eq!(r.status, 202, "{}", r.json);
    let pl = r.json["id"].as_str().expect("id").to_string();
    assert_eq!(host.wait_terminal(ADMIN, &pl, 120)["status"], json!("done"));
    let served = host.get("/v1/deployments/kept", ADMIN).json["model_id"]
        .as_str()
        .expect("model")
        .to_string();
    host.stop();
    {
        // What a crash between storing the deployment and marking the pipeline done leaves:
        // the deployment written, the pipeline still in its deploying stage.
        let store = microlearn_store::Store::open(&home).expect("opens");
        let t = store.tenant(microlearn_store::DEFAULT_TENANT);
        let mut p = t.pipeline(&pl).expect("read").expect("kept");
        p.status = microlearn_core::PipelineStatus::Running(microlearn_core::Stage::Deploying);
        if let Some(s) = p.stages.last_mut() {
            s.finished_at_ms = None;
        }
        t.put_pipeline(&p).expect("written");
    }
    let host = start(&home, ADMIN, |_| {});
    let p = host.wait_terminal(ADMIN, &pl, 120);
    assert_eq!(p["status"], json!("done"), "{p}");
    assert_eq!(
        host.get(&format!("/v1/models/{served}"), ADMIN).status,
        200,
        "the model the deployment served is kept"
    );
    let d = host.get("/v1/deployments/kept", ADMIN).json;
    assert_eq!(d["loaded"], json!(true), "{d}");
    let r = host.raw(
        "POST",
        "/v1/deployments/kept/predict",
        Some(ADMIN),
        "application/json",
        br#"{"pclass":"1st","sex":"female","age":29,"sibsp":0,"parch":0}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    host.stop();
}

/// A pipeline accepted with room left writes its model bundles under the same quota as
/// uploads: with no room for any bundle it fails saying so and stores nothing; with room for
/// one it keeps the best, says which were not stored, and the tenant stays within its quota.
#[test]
fn a_running_pipeline_stores_its_models_only_within_the_storage_quota() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = start(&dir.path().join("home"), ADMIN, |_| {});
    let titanic = titanic();
    let run = |key: &str| {
        let r = host.upload(key, "titanic.csv", &titanic);
        assert_eq!(r.status, 201, "{}", r.json);
        let ds = r.json["id"].as_str().expect("id").to_string();
        let r = host.send(
            "POST",
            "/v1/pipelines",
            key,
            json!({"dataset_id": ds, "target": "survived", "budget_secs": 120, "max_trials": 6, "seed": 3}),
        );
        assert_eq!(r.status, 202, "{}", r.json);
        let id = r.json["id"].as_str().expect("id").to_string();
        (id.clone(), host.wait_terminal(key, &id, 300))
    };
    let models = |key: &str| -> Vec<Value> {
        let r = host.get("/v1/models", key);
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["models"].as_array().expect("models").clone()
    };

    // The same seeded pipeline without a quota: its models' bundle sizes.
    let free = host.tenant("free", json!({}));
    let (_, p) = run(&free);
    assert_eq!(p["status"], json!("done"), "{p}");
    let sizes: Vec<u64> = p["leaderboard"]
        .as_array()
        .expect("leaderboard")
        .iter()
        .map(|id| {
            let r = host.get(&format!("/v1/models/{}", id.as_str().expect("id")), &free);
            r.json["bundle_bytes"].as_u64().expect("bundle_bytes")
        })
        .collect();
    assert!(sizes.len() >= 2, "a leaderboard of several models: {p}");
    let smallest_other = *sizes[1..].iter().min().expect("sizes");
    assert!(smallest_other > 512, "{sizes:?}");

    // Room for the dataset and a few bytes: the pipeline starts, but no bundle fits.
    let none = host.tenant("none", json!({"storage_bytes": titanic.len() as u64 + 64}));
    let (_, p) = run(&none);
    assert_eq!(p["status"], json!("failed"), "{p}");
    let error = p["error"].as_str().expect("error");
    assert!(
        error.contains("no model could be stored") && error.contains("storage quota"),
        "{error}"
    );
    assert!(models(&none).is_empty(), "nothing half-stored");
    let used = host.usage("none")["storage_bytes"].as_u64().expect("usage");
    assert_eq!(used, titanic.len() as u64);

    // Room for the best bundle (and less than any other one besides): it alone is stored.
    let quota = titanic.len() as u64 + sizes[0] + 256;
    let one = host.tenant("one", json!({"storage_bytes": quota}));
    let (id, p) = run(&one);
    assert_eq!(p["status"], json!("done"), "{p}");
    let kept = models(&one);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(p["leaderboard"].as_array().map(Vec::len), Some(1), "{p}");
    let used = host.usage("one")["storage_bytes"].as_u64().expect("usage");
    assert!(used <= quota, "{used} bytes stored, quota {quota}");
    let events = host
        .app
        .store()
        .tenant("one")
        .events_after(&id, 0)
        .expect("events");
    let said = events
        .iter()
        .find(|e| e.kind == "storage_quota")
        .unwrap_or_else(|| panic!("a storage_quota event: {events:?}"));
    assert!(
        said.message.starts_with(&format!(
            "{} of {} leaderboard models were not stored",
            sizes.len() - 1,
            sizes.len()
        )),
        "{}",
        said.message
    );
    // The one model it kept serves.
    let deployed = host.get("/v1/deployments", &one).json;
    assert_eq!(
        deployed["deployments"].as_array().map(Vec::len),
        Some(1),
        "{deployed}"
    );
    host.stop();
}
