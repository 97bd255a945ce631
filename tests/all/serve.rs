//! `microlearn serve` as a process: a pipeline survives `kill -9` mid-search, while training
//! and while deploying, and completes with exactly the trials an uninterrupted run makes, deployments come back after a restart, and
//! SIGTERM stops the server (open event streams included) leaving the pipeline resumable.

use crate::common::{bin, dataset, plugin_dir, target_dir};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const ADMIN: &str = "mlk_crash_resume_test_admin_key";

pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) addr: String,
}

/// A test that fails must not leave its server running (it would hold the harness's output
/// open and its port).
impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    /// Start `microlearn serve` on a free port and wait until it listens.
    pub(crate) fn start(home: &Path) -> Server {
        Server::start_with(home, &[])
    }

    /// The same with more plugin folders (after the first-party ones).
    fn start_with(home: &Path, extra_plugins: &[PathBuf]) -> Server {
        Server::start_env(home, extra_plugins, &[])
    }

    /// The same with more environment variables (a cluster's MICROLEARN_META, …).
    pub(crate) fn start_env(
        home: &Path,
        extra_plugins: &[PathBuf],
        env: &[(&str, &str)],
    ) -> Server {
        let mut cmd = Command::new(bin());
        cmd.envs(env.iter().copied());
        // `--plugins` replaces MICROLEARN_PLUGIN_PATH, so the first-party folder is named too.
        for dir in std::iter::once(plugin_dir()).chain(extra_plugins.iter().cloned()) {
            cmd.arg("--plugins").arg(dir);
        }
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("MICROLEARN_HOME", home)
            .env("MICROLEARN_ADMIN_KEY", ADMIN);
        let (child, addr) = spawn_ready(&mut cmd, "listening on http://");
        Server {
            child: Some(child),
            addr: addr.trim().to_string(),
        }
    }

    /// A handle on a server another handle started (for a thread of the same test); dropping
    /// it stops nothing.
    pub(crate) fn attach(addr: &str) -> Server {
        Server {
            child: None,
            addr: addr.to_string(),
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Stop with SIGTERM, as an operator does, and wait for a clean exit.
    pub(crate) fn terminate(mut self) {
        let mut child = self.child.take().expect("running");
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        // Only so a hang fails instead of blocking the suite.
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("SIGTERM did not stop the server");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "a stop is a clean exit: {exit}");
    }

    pub(crate) fn kill9(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    /// One HTTP/1.1 request on a fresh connection; returns status and body.
    pub(crate) fn call(&self, method: &str, path: &str, ct: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).expect("connects");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
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
        (status, body)
    }

    pub(crate) fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, body) = self.call(method, path, "application/json", &bytes);
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, v)
    }
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

/// Start a `microlearn` process and wait for the stdout line starting with `ready`; returns
/// the child and the rest of that line. Stdout is drained afterwards, so the process never
/// blocks on a full pipe.
pub(crate) fn spawn_ready(cmd: &mut Command, ready: &str) -> (Child, String) {
    let mut child = cmd
        .env_remove("MICROLEARN_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("microlearn starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let rest = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the process printed {ready:?} before exiting"))
            .expect("stdout is text");
        if let Some(rest) = line.strip_prefix(ready) {
            break rest.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, rest)
}

pub(crate) fn trials(server: &Server, pl: &str) -> Vec<Value> {
    let (status, v) = server.json("GET", &format!("/v1/pipelines/{pl}/trials"), None);
    assert_eq!(status, 200, "{v}");
    v["trials"].as_array().expect("trials").clone()
}

pub(crate) fn wait_done(server: &Server, pl: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, p) = server.json("GET", &format!("/v1/pipelines/{pl}"), None);
        if p["terminal"] == json!(true) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "pipeline {pl} did not finish: {p}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What identifies a trial's outcome (its timing differs from run to run).
/// The trials of `pl`, checked to be numbered `0..n`, each once.
pub(crate) fn every_trial_once(server: &Server, pl: &str, n: u64) -> Vec<Value> {
    let all = trials(server, pl);
    let numbers: Vec<u64> = all
        .iter()
        .map(|t| t["number"].as_u64().expect("number"))
        .collect();
    assert_eq!(
        numbers,
        (0..n).collect::<Vec<_>>(),
        "every trial exactly once"
    );
    all
}

/// Submit `request` to `server` and wait (up to `secs`) for it to end `done`; its id.
pub(crate) fn run_to_done(server: &Server, request: Value, secs: u64) -> String {
    let (status, p) = server.json("POST", "/v1/pipelines", Some(request));
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().expect("id").to_string();
    assert_eq!(wait_done(server, &pl, secs)["status"], json!("done"));
    pl
}

pub(crate) fn key(t: &Value) -> (u64, String, String, String) {
    (
        t["number"].as_u64().expect("number"),
        t["kind"].to_string(),
        t["params"].to_string(),
        t["score"].to_string(),
    )
}

#[test]
fn a_pipeline_killed_mid_search_resumes_with_the_same_trials() {
    const TRIALS: u64 = 24;
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path());
    let csv = std::fs::read(dataset("telco_churn.train.csv")).unwrap();
    let (status, body) = server.call("POST", "/v1/datasets?name=telco.csv", "text/csv", &csv);
    assert!(
        status == 201 || status == 200,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let ds: Value = serde_json::from_slice(&body).unwrap();
    let ds = ds["id"].as_str().unwrap().to_string();
    // One thread, a seed and a trial cap: the trial sequence is fully determined, and the
    // budget is far larger than the search needs, so no deadline cuts a trial short.
    let request = json!({
        "dataset_id": ds, "target": "churn", "budget_secs": 600, "max_trials": TRIALS,
        "seed": 11, "threads": 1, "deployment": "churn"
    });
    let (status, p) = server.json("POST", "/v1/pipelines", Some(request.clone()));
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();

    // Kill the process mid-search.
    let deadline = Instant::now() + Duration::from_secs(120);
    while trials(&server, &pl).len() < 4 {
        assert!(Instant::now() < deadline, "the search never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill9();

    // What the store holds after the crash: the pipeline unfinished, some trials recorded.
    let before: Vec<Value> = {
        let store = microlearn_store::Store::open(home.path()).unwrap();
        let t = store.tenant(microlearn_store::DEFAULT_TENANT);
        let p = t.pipeline(&pl).unwrap().unwrap();
        assert!(!p.status.is_terminal(), "killed mid-run: {}", p.status);
        t.trials(&pl)
            .unwrap()
            .iter()
            .map(|t| serde_json::to_value(t).unwrap())
            .collect()
    };
    assert!(
        !before.is_empty() && (before.len() as u64) < TRIALS,
        "killed mid-search: {} trials",
        before.len()
    );
    let server = Server::start(home.path());
    let p = wait_done(&server, &pl, 300);
    assert_eq!(p["status"], json!("done"), "{p}");
    let optimizing = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == json!("optimizing"))
        .unwrap();
    assert!(
        optimizing["attempts"].as_u64().unwrap() >= 2,
        "the search was resumed: {p}"
    );
    let after = every_trial_once(&server, &pl, TRIALS);
    for t in &before {
        let n = t["number"].as_u64().unwrap() as usize;
        assert_eq!(
            key(t),
            key(&after[n]),
            "a trial recorded before the crash was kept as is"
        );
        assert_eq!(
            t["started_at_ms"], after[n]["started_at_ms"],
            "and was not run again"
        );
    }

    // The same request without a crash makes the same trials.
    let pl2 = run_to_done(&server, request, 300);
    let reference = trials(&server, &pl2);
    let a: Vec<_> = after.iter().map(key).collect();
    let b: Vec<_> = reference.iter().map(key).collect();
    assert_eq!(
        a, b,
        "the resumed pipeline made the same trials as an uninterrupted one"
    );

    // Deployments come back after a restart, serving the same model.
    let (_, dep) = server.json("GET", "/v1/deployments/churn", None);
    let model = dep["model_id"].as_str().unwrap().to_string();
    server.kill9();
    let server = Server::start(home.path());
    let (status, d) = server.json("GET", "/v1/deployments/churn", None);
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["loaded"], json!(true), "{d}");
    let row = first_row_without_target(&dataset("telco_churn.test.csv"), "churn");
    let (status, pred) = server.json("POST", "/v1/deployments/churn/predict", Some(row));
    assert_eq!(status, 200, "{pred}");
    assert_eq!(pred["model_id"], json!(model));
    server.kill9();
}

#[test]
fn sigterm_stops_the_server_with_a_stream_open_and_the_pipeline_resumes() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path());
    let csv = std::fs::read(crate::common::repo_root().join("examples/data/titanic.csv")).unwrap();
    let (status, body) = server.call("POST", "/v1/datasets?name=titanic.csv", "text/csv", &csv);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let ds: Value = serde_json::from_slice(&body).unwrap();
    // A search far longer than the test: the stop lands in the middle of it.
    let (status, p) = server.json(
        "POST",
        "/v1/pipelines",
        Some(json!({
            "dataset_id": ds["id"], "target": "survived", "budget_secs": 3600,
            "max_trials": 100000, "seed": 2, "threads": 1
        })),
    );
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while trials(&server, &pl).len() < 2 {
        assert!(Instant::now() < deadline, "the search never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // An event stream stays open as long as its pipeline runs; the stop must not wait for it.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/pipelines/{pl}/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ADMIN}\r\n\r\n",
                server.addr
            )
            .as_bytes(),
        )
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    std::thread::sleep(Duration::from_millis(500));

    let mut server = server;
    let mut child = server.child.take().expect("running");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // A generous bound, only so a hang fails instead of blocking the suite (before the fix
    // the process never exited).
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM did not stop the server");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "a stop is a clean exit: {exit}");
    let events = reader.join().unwrap();
    assert!(
        events.contains("event: shutdown"),
        "the stream was ended by the server: {events}"
    );

    let recorded = {
        let store = microlearn_store::Store::open(home.path()).unwrap();
        let t = store.tenant(microlearn_store::DEFAULT_TENANT);
        let p = t.pipeline(&pl).unwrap().unwrap();
        assert!(!p.status.is_terminal(), "left resumable: {}", p.status);
        assert_eq!(
            t.note_start(&pl).unwrap(),
            1,
            "a run stopped by a signal is not counted as one a crash cut short"
        );
        t.clear_starts(&pl).unwrap();
        t.trials(&pl).unwrap().len()
    };
    let server = Server::start(home.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    while trials(&server, &pl).len() <= recorded {
        assert!(Instant::now() < deadline, "the pipeline did not resume");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, p) = server.json("GET", &format!("/v1/pipelines/{pl}"), None);
    assert!(!p["terminal"].as_bool().unwrap(), "{p}");
    let (status, _) = server.json("POST", &format!("/v1/pipelines/{pl}/cancel"), None);
    assert_eq!(status, 200);
    server.kill9();
}

/// The stage a pipeline is in (the last one started and not finished).
fn running_stage(p: &Value) -> Option<String> {
    p["stages"]
        .as_array()?
        .iter()
        .rev()
        .find(|s| s["finished_at_ms"].is_null())
        .and_then(|s| s["stage"].as_str().map(str::to_string))
}

/// Start a pipeline whose deployer blocks in a WASI sleep for `millis`, and wait until it is
/// in the deploying stage: a wide window for a cancel or a crash to land in.
fn pipeline_stuck_deploying(server: &Server, millis: u64) -> String {
    let csv = std::fs::read(dataset("breast_cancer.csv")).unwrap();
    let (status, body) = server.call("POST", "/v1/datasets?name=bc.csv", "text/csv", &csv);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let ds: Value = serde_json::from_slice(&body).unwrap();
    let (status, p) = server.json(
        "POST",
        "/v1/pipelines",
        Some(json!({
            "dataset_id": ds["id"], "target": "target", "budget_secs": 600, "max_trials": 6,
            "seed": 3, "threads": 1, "deployment": "bc",
            "deployer": { "id": "hostile-deployer", "config": { "mode": "block", "millis": millis } }
        })),
    );
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, p) = server.json("GET", &format!("/v1/pipelines/{pl}"), None);
        if running_stage(&p).as_deref() == Some("deploying") {
            return pl;
        }
        assert!(
            p["terminal"] != json!(true) && Instant::now() < deadline,
            "never reached the deploying stage: {p}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn test_plugins() -> PathBuf {
    let dir = target_dir().join("microlearn-test-plugins");
    assert!(
        dir.join("hostile-deployer/plugin.toml").is_file(),
        "test plugins not built in {}: run scripts/build-plugins.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

#[test]
fn a_cancel_while_deploying_ends_the_pipeline_cancelled_and_it_stays_so() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start_with(home.path(), &[test_plugins()]);
    let pl = pipeline_stuck_deploying(&server, 3000);
    let (status, p) = server.json("POST", &format!("/v1/pipelines/{pl}/cancel"), None);
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["status"], json!("cancelled"), "{p}");
    // Past the deployer's return: before the fix the run went on to record the deployment
    // decision and `done` over the cancel.
    std::thread::sleep(Duration::from_millis(4500));
    let (_, p) = server.json("GET", &format!("/v1/pipelines/{pl}"), None);
    assert_eq!(p["status"], json!("cancelled"), "the cancel held: {p}");
    assert!(p["decision"].is_null(), "no deployment decision: {p}");
    let (status, d) = server.json("GET", "/v1/deployments/bc", None);
    assert_eq!(status, 404, "nothing was deployed: {d}");
    // A second cancel is a conflict: it already ended.
    let (status, _) = server.json("POST", &format!("/v1/pipelines/{pl}/cancel"), None);
    assert_eq!(status, 409);
    server.kill9();
}

#[test]
fn a_pipeline_killed_while_deploying_resumes_and_finishes_with_its_models() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start_with(home.path(), &[test_plugins()]);
    let pl = pipeline_stuck_deploying(&server, 1500);
    server.kill9();
    {
        let store = microlearn_store::Store::open(home.path()).unwrap();
        let t = store.tenant(microlearn_store::DEFAULT_TENANT);
        let p = t.pipeline(&pl).unwrap().unwrap();
        assert!(
            !p.status.is_terminal(),
            "killed while deploying: {}",
            p.status
        );
    }
    let server = Server::start_with(home.path(), &[test_plugins()]);
    let p = wait_done(&server, &pl, 300);
    assert_eq!(p["status"], json!("done"), "{p}");
    let deploying = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == json!("deploying"))
        .unwrap();
    assert!(deploying["attempts"].as_u64().unwrap() >= 2, "{p}");
    // Every model the finished pipeline names exists with a bundle that loads.
    let board = p["leaderboard"].as_array().expect("a leaderboard");
    assert!(!board.is_empty(), "{p}");
    for id in board {
        let id = id.as_str().unwrap();
        let (status, bundle) = server.call(
            "GET",
            &format!("/v1/models/{id}/bundle"),
            "application/json",
            b"",
        );
        assert_eq!(status, 200, "model {id} of the leaderboard is served");
        microlearn_pipeline::Bundle::from_bytes(&bundle, id).expect("its bundle loads");
    }
    server.kill9();
}

/// A table large enough that refitting on all of it takes a while (a window for a crash to
/// land in): `rows` rows of 12 numeric features and a binary target that depends on them
/// with noise, from a fixed-seed generator so every run gets the same file.
fn refit_sized_csv(rows: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        // SplitMix64: enough for test data, and no dependency.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = String::with_capacity(rows * 100);
    let names: Vec<String> = (0..12).map(|i| format!("f{i}")).collect();
    out.push_str(&names.join(","));
    out.push_str(",label\n");
    for _ in 0..rows {
        let x: Vec<f64> = (0..12).map(|_| next() * 10.0 - 5.0).collect();
        let signal = x[0] * x[1] * 0.3 + (x[2] * 1.7).sin() * 2.0 + x[3] - 0.5 * x[4].abs();
        let label = u8::from(signal + (next() - 0.5) * 3.0 > 0.0);
        for v in &x {
            out.push_str(&format!("{v:.4},"));
        }
        out.push_str(&format!("{label}\n"));
    }
    out.into_bytes()
}

/// Killed while the finalists are refit on all rows: the restart resumes at training with the
/// search's trials as they were (none run again), refits, and ends with a leaderboard whose
/// every bundle loads and no model left over from the attempt that died.
#[test]
fn a_pipeline_killed_while_training_resumes_at_training_and_keeps_its_trials() {
    const TRIALS: u64 = 4;
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path());
    let (status, body) = server.call(
        "POST",
        "/v1/datasets?name=refit.csv",
        "text/csv",
        &refit_sized_csv(40_000),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let ds: Value = serde_json::from_slice(&body).unwrap();
    let (status, p) = server.json(
        "POST",
        "/v1/pipelines",
        Some(json!({
            "dataset_id": ds["id"], "target": "label", "budget_secs": 900, "max_trials": TRIALS,
            "seed": 5, "threads": 1, "folds": 1, "refit_top": 3, "deployment": "refit"
        })),
    );
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (_, p) = server.json("GET", &format!("/v1/pipelines/{pl}"), None);
        if running_stage(&p).as_deref() == Some("training") {
            break;
        }
        assert!(
            p["terminal"] != json!(true) && Instant::now() < deadline,
            "never seen in the training stage: {p}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9();
    let before: Vec<Value> = {
        let store = microlearn_store::Store::open(home.path()).unwrap();
        let t = store.tenant(microlearn_store::DEFAULT_TENANT);
        let p = t.pipeline(&pl).unwrap().unwrap();
        assert!(
            !p.status.is_terminal(),
            "killed while training: {}",
            p.status
        );
        assert!(p.leaderboard.is_empty(), "no model stored yet");
        t.trials(&pl)
            .unwrap()
            .iter()
            .map(|t| serde_json::to_value(t).unwrap())
            .collect()
    };
    assert_eq!(before.len() as u64, TRIALS, "the search had finished");

    let server = Server::start(home.path());
    let p = wait_done(&server, &pl, 600);
    assert_eq!(p["status"], json!("done"), "{p}");
    let stage = |name: &str| {
        p["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == json!(name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} stage: {p}"))
    };
    // Every stage is entered again on a resume; the search's is a replay of its ledger (the
    // trials below are the recorded ones, none started again).
    assert!(stage("training")["attempts"].as_u64().unwrap() >= 2, "{p}");
    let after = every_trial_once(&server, &pl, TRIALS);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(key(b), key(a), "a trial of the search was kept as is");
        assert_eq!(b["started_at_ms"], a["started_at_ms"], "and not run again");
    }
    let board = p["leaderboard"].as_array().expect("a leaderboard").clone();
    assert!(!board.is_empty(), "{p}");
    for id in &board {
        let id = id.as_str().unwrap();
        let (status, bundle) = server.call(
            "GET",
            &format!("/v1/models/{id}/bundle"),
            "application/json",
            b"",
        );
        assert_eq!(status, 200, "model {id} of the leaderboard is served");
        microlearn_pipeline::Bundle::from_bytes(&bundle, id).expect("its bundle loads");
    }
    let (_, models) = server.json("GET", "/v1/models", None);
    let of_pipeline = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["pipeline_id"] == json!(pl))
        .count();
    assert_eq!(of_pipeline, board.len(), "no model left over: {models}");
    let (status, dep) = server.json("GET", "/v1/deployments/refit", None);
    assert_eq!(status, 200, "{dep}");
    assert!(
        board.contains(&dep["model_id"]),
        "the deployment serves a leaderboard model: {dep}"
    );
    server.kill9();
}

/// The first data row of a CSV as a JSON object typed like the uploaded dataset's schema
/// (numbers as numbers, everything else as strings, empty cells as null), minus the target.
pub(crate) fn first_row_without_target(path: &Path, target: &str) -> Value {
    let ds = microlearn_data::read_dataset(path).unwrap();
    let mut row = serde_json::Map::new();
    for col in ds.table.columns() {
        if col.name == target {
            continue;
        }
        let v = if !col.is_valid(0) {
            Value::Null
        } else {
            match &col.data {
                microlearn_core::ColumnData::Float64(v) => json!(v[0]),
                microlearn_core::ColumnData::Int64(v) => json!(v[0]),
                microlearn_core::ColumnData::Boolean(v) => json!(v[0]),
                microlearn_core::ColumnData::Categorical(d) => json!(d.value(0).unwrap_or("")),
                microlearn_core::ColumnData::TimestampMs(v) => json!(v[0]),
            }
        };
        row.insert(col.name.clone(), v);
    }
    Value::Object(row)
}
