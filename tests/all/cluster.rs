//! MicroLearn as a cluster on the real services: API nodes sharing one PostgreSQL database
//! (`MICROLEARN_META`) and one blob store (`MICROLEARN_BLOBS`, a shared directory here), each
//! with its own data directory. Every test gets its own database (see
//! `microlearn_store::testing`); PostgreSQL must be running (scripts/infra.sh starts it).

use crate::common::dataset;
use crate::serve::{
    Server, every_trial_once, first_row_without_target, key, run_to_done, trials, wait_done,
};
use microlearn_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A shared database and blob directory, and a way to start nodes on them.
struct Cluster {
    /// The database's URL, and the guard that drops it (none for a private server's).
    url: String,
    _db: Option<TestDatabase>,
    blobs: tempfile::TempDir,
    homes: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn new() -> Cluster {
        let db = TestDatabase::create();
        Cluster {
            url: db.url().to_string(),
            _db: Some(db),
            blobs: tempfile::tempdir().unwrap(),
            homes: Vec::new(),
        }
    }

    /// A cluster on a database of its own PostgreSQL server.
    fn on(pg: &PrivatePostgres) -> Cluster {
        Cluster {
            url: pg.url(),
            _db: None,
            blobs: tempfile::tempdir().unwrap(),
            homes: Vec::new(),
        }
    }

    /// Start one more API node (its own data directory: caches and temporary files only).
    fn node(&mut self) -> Server {
        let home = tempfile::tempdir().unwrap();
        let blobs = format!("file://{}", self.blobs.path().display());
        let server = Server::start_env(
            home.path(),
            &[],
            &[("MICROLEARN_META", &self.url), ("MICROLEARN_BLOBS", &blobs)],
        );
        self.homes.push(home);
        server
    }
}

fn upload(server: &Server, file: &str) -> String {
    let csv = std::fs::read(dataset(file)).unwrap();
    let (status, body) = server.call(
        "POST",
        &format!("/v1/datasets?name={file}"),
        "text/csv",
        &csv,
    );
    assert!(
        status == 201 || status == 200,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let ds: Value = serde_json::from_slice(&body).unwrap();
    ds["id"].as_str().unwrap().to_string()
}

/// The `id:` of every event of an SSE body, in order, and whether it ended with `end`.
fn sse_ids(body: &[u8]) -> (Vec<u64>, bool) {
    let text = String::from_utf8_lossy(body);
    let ids = text
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    (ids, text.lines().any(|l| l.trim() == "event: end"))
}

fn predict(server: &Server, row: &Value) -> (u16, Value) {
    server.json("POST", "/v1/deployments/churn/predict", Some(row.clone()))
}

#[test]
fn two_api_nodes_share_pipelines_events_and_deployments() {
    let mut cluster = Cluster::new();
    let a = cluster.node();
    let b = cluster.node();
    let ds = upload(&a, "telco_churn.train.csv");
    let request = json!({
        "dataset_id": ds, "target": "churn", "budget_secs": 600, "max_trials": 8,
        "seed": 3, "threads": 1, "deployment": "churn"
    });
    let (status, p) = a.json("POST", "/v1/pipelines", Some(request));
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();

    // A live event stream from the node that is not running the pipeline.
    let b_addr = b.addr.clone();
    let path = format!("/v1/pipelines/{pl}/events");
    let live = std::thread::spawn(move || {
        let b = Server::attach(&b_addr);
        b.call("GET", &path, "application/json", b"").1
    });
    let done = wait_done(&b, &pl, 300);
    assert_eq!(done["status"], json!("done"), "{done}");
    let (live_ids, live_ended) = sse_ids(&live.join().unwrap());
    let (stored_ids, _) = sse_ids(
        &a.call("GET", &format!("/v1/pipelines/{pl}/events"), "", b"")
            .1,
    );
    assert!(live_ended, "the stream on b ended with the pipeline");
    assert!(stored_ids.len() > 5, "{stored_ids:?}");
    assert_eq!(
        live_ids, stored_ids,
        "b streamed every event once, in order"
    );

    // The deployment a's pipeline made is served by b too, by the same model.
    let row = first_row_without_target(&dataset("telco_churn.test.csv"), "churn");
    let deadline = Instant::now() + Duration::from_secs(10);
    let from_b = loop {
        let (status, v) = predict(&b, &row);
        if status == 200 {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "b never served the deployment: {status} {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (status, from_a) = predict(&a, &row);
    assert_eq!(status, 200, "{from_a}");
    assert_eq!(from_a["model_id"], from_b["model_id"]);
    assert_eq!(from_a["predictions"], from_b["predictions"]);

    // One node gone: the other still answers predicts and reads.
    a.kill9();
    let (status, v) = predict(&b, &row);
    assert_eq!(status, 200, "{v}");
    let (status, v) = b.json("GET", &format!("/v1/pipelines/{pl}"), None);
    assert_eq!(status, 200, "{v}");
    b.kill9();
}

#[test]
fn a_pipeline_whose_node_is_killed_is_finished_by_another_with_every_trial_once() {
    const TRIALS: u64 = 16;
    let mut cluster = Cluster::new();
    let a = cluster.node();
    let b = cluster.node();
    let ds = upload(&a, "telco_churn.train.csv");
    let request = json!({
        "dataset_id": ds, "target": "churn", "budget_secs": 600, "max_trials": TRIALS,
        "seed": 11, "threads": 1, "deployment": "churn"
    });
    let (status, p) = a.json("POST", "/v1/pipelines", Some(request.clone()));
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while trials(&b, &pl).len() < 3 {
        assert!(Instant::now() < deadline, "the search never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    a.kill9();
    let before = trials(&b, &pl);
    assert!((before.len() as u64) < TRIALS, "killed mid-search");

    // b takes it over once a's lease expires, and finishes it.
    let done = wait_done(&b, &pl, 300);
    assert_eq!(done["status"], json!("done"), "{done}");
    let after = every_trial_once(&b, &pl, TRIALS);
    for t in &before {
        let n = t["number"].as_u64().unwrap() as usize;
        assert_eq!(
            key(t),
            key(&after[n]),
            "a trial recorded before the kill was kept"
        );
        assert_eq!(
            t["started_at_ms"], after[n]["started_at_ms"],
            "and not run again"
        );
    }
    // The same request, uninterrupted, on the surviving node: the same trials.
    let pl2 = run_to_done(&b, request, 300);
    let reference: Vec<_> = trials(&b, &pl2).iter().map(key).collect();
    let taken_over: Vec<_> = after.iter().map(key).collect();
    assert_eq!(
        taken_over, reference,
        "the takeover made the trials an uninterrupted run makes"
    );
    b.kill9();
}

#[test]
fn a_cancel_on_one_node_stops_the_pipeline_running_on_another() {
    let mut cluster = Cluster::new();
    let a = cluster.node();
    let b = cluster.node();
    let ds = upload(&a, "telco_churn.train.csv");
    // A search far longer than the test.
    let (status, p) = a.json(
        "POST",
        "/v1/pipelines",
        Some(json!({"dataset_id": ds, "target": "churn", "budget_secs": 600, "threads": 1})),
    );
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while trials(&b, &pl).is_empty() {
        assert!(Instant::now() < deadline, "the search never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, v) = b.json("POST", &format!("/v1/pipelines/{pl}/cancel"), None);
    assert_eq!(status, 200, "{v}");
    // a notices within a tick and stops: no trial is recorded after that.
    std::thread::sleep(Duration::from_secs(3));
    let settled = trials(&a, &pl).len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(trials(&a, &pl).len(), settled, "a stopped searching");
    let (_, p) = a.json("GET", &format!("/v1/pipelines/{pl}"), None);
    assert_eq!(p["status"], json!("cancelled"), "{p}");
    a.kill9();
    b.kill9();
}

/// A private NATS server with JetStream on a free port, its storage in a temporary directory
/// (a test's streams never meet another's). Restartable on the same port and storage.
struct Nats {
    child: Option<std::process::Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    fn start() -> Nats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut n = Nats {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        n.restart();
        n
    }

    fn restart(&mut self) {
        self.kill9();
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("nats-server");
        let child = std::process::Command::new(bin)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server runs (Debian package nats-server; scripts/infra.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `microlearn worker` process.
struct Worker(Option<std::process::Child>);

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    fn env(&self, queue: &str) -> Vec<(String, String)> {
        vec![
            ("MICROLEARN_META".into(), self.url.clone()),
            (
                "MICROLEARN_BLOBS".into(),
                format!("file://{}", self.blobs.path().display()),
            ),
            ("MICROLEARN_QUEUE".into(), queue.to_string()),
        ]
    }

    fn api_node(&mut self, queue: &str) -> Server {
        let home = tempfile::tempdir().unwrap();
        let env = self.env(queue);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start_env(home.path(), &[], &env);
        self.homes.push(home);
        server
    }

    fn worker(&mut self, queue: &str) -> Worker {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(crate::common::bin());
        cmd.arg("--plugins")
            .arg(crate::common::plugin_dir())
            .args(["worker", "--slots", "1"])
            .env("MICROLEARN_HOME", home.path())
            .envs(self.env(queue));
        let (child, _) = crate::serve::spawn_ready(&mut cmd, "worker ready");
        self.homes.push(home);
        Worker(Some(child))
    }
}

#[test]
fn workers_on_a_queue_finish_every_pipeline_through_kills_and_a_nats_restart() {
    const TRIALS: u64 = 16;
    let mut nats = Nats::start();
    let queue = nats.url();
    let mut cluster = Cluster::new();
    let api = cluster.api_node(&queue);
    let mut workers = vec![cluster.worker(&queue), cluster.worker(&queue)];
    let ds = upload(&api, "telco_churn.train.csv");
    let request = json!({
        "dataset_id": ds, "target": "churn", "budget_secs": 600, "max_trials": TRIALS,
        "seed": 5, "threads": 1, "deployment": "churn"
    });
    let (status, p) = api.json("POST", "/v1/pipelines", Some(request.clone()));
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let wait_trials = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(180);
        while trials(&api, &pl).len() < n {
            let (_, p) = api.json("GET", &format!("/v1/pipelines/{pl}"), None);
            if p["terminal"] == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "stuck below {n} trials: {p}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Kill each of the first two workers in turn (one of them runs the pipeline), with a
    // fresh worker started each time, and restart NATS in between.
    wait_trials(3);
    drop(workers.remove(0));
    workers.push(cluster.worker(&queue));
    wait_trials(6);
    nats.restart();
    wait_trials(8);
    drop(workers.remove(0));
    workers.push(cluster.worker(&queue));

    let done = wait_done(&api, &pl, 400);
    assert_eq!(done["status"], json!("done"), "{done}");
    let after = every_trial_once(&api, &pl, TRIALS);

    // The same request without kills: the same trial sequence (number, kind, params, score).
    let pl2 = run_to_done(&api, request, 400);
    let reference: Vec<_> = trials(&api, &pl2).iter().map(key).collect();
    let survived: Vec<_> = after.iter().map(key).collect();
    assert_eq!(survived, reference);

    // The API node serves the deployment the workers made.
    let row = first_row_without_target(&dataset("telco_churn.test.csv"), "churn");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = predict(&api, &row);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API node never served it: {status} {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    api.kill9();
}

#[test]
fn a_quota_holds_across_nodes_under_concurrent_requests() {
    let mut cluster = Cluster::new();
    let a = cluster.node();
    let b = cluster.node();
    let ds = upload(&a, "telco_churn.train.csv");
    let (status, v) = a.json(
        "PATCH",
        "/v1/tenants/default",
        Some(json!({"quotas": {"concurrent_pipelines": 1}})),
    );
    assert_eq!(status, 200, "{v}");
    // Six requests at once, three to each node: one check-then-create must win, cluster-wide.
    let request = json!({"dataset_id": ds, "target": "churn", "budget_secs": 600, "threads": 1});
    let answers: Vec<u16> = [&a, &b, &a, &b, &a, &b]
        .iter()
        .map(|node| {
            let node = Server::attach(&node.addr);
            let request = request.clone();
            std::thread::spawn(move || node.json("POST", "/v1/pipelines", Some(request)).0)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        answers.iter().filter(|s| **s == 202).count(),
        1,
        "exactly one pipeline accepted: {answers:?}"
    );
    assert!(
        answers.iter().all(|s| *s == 202 || *s == 429),
        "{answers:?}"
    );
    a.kill9();
    b.kill9();
}

/// Upload `body` as a client that sends `Expect: 100-continue` does: the body goes only when
/// the server asks for it, so a request refused before its body is read still gets its answer
/// (rather than a reset connection). Returns the final status.
fn upload_with_expect(addr: &str, name: &str, body: &[u8]) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/datasets?name={name} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        crate::serve::ADMIN,
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let status = |line: &str| -> u16 {
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    if status(&line) != 100 {
        return status(&line);
    }
    // Skip the interim response's blank line, send the body, read the final answer.
    let mut blank = String::new();
    reader.read_line(&mut blank).unwrap();
    s.write_all(body).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    status(&rest)
}

#[test]
fn a_storage_quota_holds_across_nodes_for_concurrent_uploads() {
    let mut cluster = Cluster::new();
    let a = cluster.node();
    let b = cluster.node();
    // Two different tables (content-addressed uploads of one table would be one dataset),
    // each a little over half the quota, one to each node at once: one fits. (One upload
    // per node: a node admits one upload per tenant at a time.)
    let base = std::fs::read_to_string(dataset("telco_churn.train.csv")).unwrap();
    let last_row = base.trim_end().lines().last().unwrap().to_string();
    let tables: Vec<Vec<u8>> = (1..=2)
        .map(|k| {
            let mut t = base.trim_end().to_string();
            for _ in 0..k {
                t.push('\n');
                t.push_str(&last_row);
            }
            t.push('\n');
            t.into_bytes()
        })
        .collect();
    let quota = tables[0].len() * 3 / 2;
    let (status, v) = a.json(
        "PATCH",
        "/v1/tenants/default",
        Some(json!({"quotas": {"storage_bytes": quota}})),
    );
    assert_eq!(status, 200, "{v}");
    let answers: Vec<u16> = tables
        .into_iter()
        .zip([&a, &b])
        .enumerate()
        .map(|(i, (csv, node))| {
            let addr = node.addr.clone();
            std::thread::spawn(move || upload_with_expect(&addr, &format!("t{i}.csv"), &csv))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        answers.iter().filter(|s| **s == 201).count(),
        1,
        "one upload fits the quota, cluster-wide: {answers:?}"
    );
    assert!(
        answers.iter().all(|s| *s == 201 || *s == 403),
        "{answers:?}"
    );
    let (_, list) = b.json("GET", "/v1/datasets", None);
    assert_eq!(
        list["datasets"].as_array().map(Vec::len),
        Some(1),
        "exactly one dataset recorded: {list}"
    );
    a.kill9();
    b.kill9();
}

/// A small seeded generator for kill points (no dependency; the seed is printed for a rerun).
struct KillDice(u64);

impl KillDice {
    fn next(&mut self, below: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % below.max(1)
    }
}

#[test]
fn trials_spread_over_workers_survive_twenty_random_kills_and_match_an_embedded_run() {
    const TRIALS: u64 = 40;
    const KILLS: usize = 20;
    let seed = std::env::var("MICROLEARN_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| microlearn_store::now_ms() as u64 | 1);
    eprintln!("kill points: MICROLEARN_KILL_SEED={seed}");
    let mut dice = KillDice(seed);
    let nats = Nats::start();
    let queue = nats.url();
    let mut cluster = Cluster::new();
    let api = cluster.api_node(&queue);
    let mut workers: Vec<Worker> = (0..3).map(|_| cluster.worker(&queue)).collect();
    let ds = upload(&api, "telco_churn.train.csv");
    let request = json!({
        "dataset_id": ds, "target": "churn", "budget_secs": 900, "max_trials": TRIALS,
        "seed": 23, "threads": 1
    });
    let (status, p) = api.json("POST", "/v1/pipelines", Some(request.clone()));
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while trials(&api, &pl).is_empty() {
        assert!(Instant::now() < deadline, "the search never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // kill -9 a random worker (the coordinator among them) at random moments, starting a
    // fresh one each time so the cluster keeps three.
    for k in 0..KILLS {
        std::thread::sleep(Duration::from_millis(300 + dice.next(1200)));
        let (_, p) = api.json("GET", &format!("/v1/pipelines/{pl}"), None);
        assert_ne!(
            p["terminal"],
            json!(true),
            "the pipeline ended after only {k} kills; the search must outlast {KILLS}: {p}"
        );
        let victim = dice.next(workers.len() as u64) as usize;
        drop(workers.remove(victim));
        workers.push(cluster.worker(&queue));
    }
    let done = wait_done(&api, &pl, 900);
    assert_eq!(done["status"], json!("done"), "{done}");
    let after = every_trial_once(&api, &pl, TRIALS);
    let mut ran_on: Vec<String> = after
        .iter()
        .flat_map(|t| t["workers"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect();
    assert!(
        after
            .iter()
            .all(|t| t["workers"].as_array().is_some_and(|w| !w.is_empty())),
        "every trial ran on a cluster worker"
    );
    ran_on.sort_unstable();
    ran_on.dedup();
    assert!(
        ran_on.len() >= 3,
        "the trials spread over the workers: {ran_on:?}"
    );

    // The ledger and the predictions it pointed at are gone with the search.
    let home = tempfile::tempdir().unwrap();
    let store = microlearn_store::Store::open_with(
        home.path(),
        &microlearn_store::StoreConfig {
            meta: Some(cluster.url.clone()),
            blobs: Some(format!("file://{}", cluster.blobs.path().display())),
        },
    )
    .unwrap();
    wait_ledger_removed(&store, &pl);

    // The same request on an embedded server (one process, sled, local trials): the same
    // trial sequence — number, kind, parameters and score.
    let home = tempfile::tempdir().unwrap();
    let embedded = Server::start(home.path());
    let ds2 = upload(&embedded, "telco_churn.train.csv");
    assert_eq!(ds2, ds, "datasets are content-addressed");
    let pl2 = run_to_done(&embedded, request, 900);
    let reference: Vec<_> = trials(&embedded, &pl2).iter().map(key).collect();
    let clustered: Vec<_> = after.iter().map(key).collect();
    assert_eq!(
        clustered, reference,
        "the cluster ran the embedded sequence"
    );
    // And chose the same models, the ensemble included: a coordinator that took over read
    // its predecessor's out-of-fold predictions back from the ledger.
    let board = |server: &Server, pl: &str| -> Vec<(String, String, String, String)> {
        let (status, v) = server.json("GET", &format!("/v1/pipelines/{pl}/leaderboard"), None);
        assert_eq!(status, 200, "{v}");
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["kind"].to_string(),
                    m["params"].to_string(),
                    m["validation_score"].to_string(),
                    m["test_metrics"].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        board(&api, &pl),
        board(&embedded, &pl2),
        "the same leaderboard"
    );
    embedded.kill9();
    api.kill9();
}

/// A PostgreSQL server of the test's own (initdb in a temporary folder, a free port), so it
/// can be restarted without disturbing the tests sharing the machine's server. As root the
/// server runs as the `postgres` user, which PostgreSQL requires.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    fn bin(tool: &str) -> std::path::PathBuf {
        let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin").join(tool))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        found.pop().unwrap_or_else(|| {
            panic!("PostgreSQL's {tool} is not installed (Debian package postgresql; scripts/infra.sh installs it)")
        })
    }

    fn as_server_user(tool: &str) -> std::process::Command {
        let is_root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if is_root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(Self::bin(tool));
            c
        } else {
            std::process::Command::new(Self::bin(tool))
        }
    }

    fn start() -> PrivatePostgres {
        Self::start_with(false)
    }

    /// A server that takes TLS connections only, with a self-signed certificate for
    /// 127.0.0.1 (`ca()` is its path, to verify it by).
    fn start_tls() -> PrivatePostgres {
        Self::start_with(true)
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("data").join("ca.crt")
    }

    fn start_with(tls: bool) -> PrivatePostgres {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // The server user must own its data folder and reach it through the temporary one.
        std::fs::create_dir(&data).unwrap();
        let _ = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let _ = std::process::Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status();
        let out = Self::as_server_user("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if tls {
            // A CA and a server certificate it signs (for 127.0.0.1): verifiers refuse a CA
            // certificate presented as the server's own.
            let openssl = |args: &[&str]| {
                let out = std::process::Command::new("openssl")
                    .current_dir(&data)
                    .args(args)
                    .output()
                    .expect("openssl runs");
                assert!(
                    out.status.success(),
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            std::fs::write(
                data.join("server.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
            )
            .unwrap();
            openssl(&[
                "req",
                "-new",
                "-x509",
                "-days",
                "2",
                "-nodes",
                "-subj",
                "/CN=test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ]);
            openssl(&[
                "req",
                "-new",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ]);
            let _ = std::process::Command::new("chown")
                .args(["postgres:postgres"])
                .arg(data.join("server.key"))
                .arg(data.join("server.crt"))
                .status();
            let _ = std::process::Command::new("chmod")
                .arg("600")
                .arg(data.join("server.key"))
                .status();
            let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
            conf.push_str("\nssl = on\n");
            std::fs::write(data.join("postgresql.conf"), conf).unwrap();
            // TLS or nothing over TCP.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostnossl all all 127.0.0.1/32 reject\n",
            )
            .unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres { dir, port };
        pg.ctl(&["start", "-w"]);
        pg
    }

    fn ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let out = Self::as_server_user("pg_ctl")
            .args(args)
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(self.dir.path().join("server.log"))
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stop without a clean shutdown (as a crash would: every connection dropped, recovery on
    /// the next start), and start again at once.
    fn restart_immediately(&self) {
        self.ctl(&["stop", "-m", "immediate", "-w"]);
        self.ctl(&["start", "-w"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Self::as_server_user("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&data)
            .output();
    }
}

#[test]
fn a_search_survives_an_immediate_postgres_restart_with_every_trial_once() {
    const TRIALS: u64 = 16;
    let pg = PrivatePostgres::start();
    let nats = Nats::start();
    let queue = nats.url();
    let mut cluster = Cluster::on(&pg);
    let api = cluster.api_node(&queue);
    let _workers = [cluster.worker(&queue), cluster.worker(&queue)];
    let ds = upload(&api, "telco_churn.train.csv");
    let request = json!({
        "dataset_id": ds, "target": "churn", "budget_secs": 900, "max_trials": TRIALS,
        "seed": 31, "threads": 1, "deployment": "churn"
    });
    let (status, p) = api.json("POST", "/v1/pipelines", Some(request.clone()));
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    while trials(&api, &pl).len() < 4 {
        assert!(Instant::now() < deadline, "the search never got going");
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.restart_immediately();
    let done = wait_done(&api, &pl, 600);
    assert_eq!(done["status"], json!("done"), "{done}");
    let after = every_trial_once(&api, &pl, TRIALS);
    // Once more with no restart: the same trials.
    let pl2 = run_to_done(&api, request, 600);
    let reference: Vec<_> = trials(&api, &pl2).iter().map(key).collect();
    assert_eq!(after.iter().map(key).collect::<Vec<_>>(), reference);
    api.kill9();
}

#[test]
fn microlearn_run_with_the_cluster_settings_submits_to_the_workers_and_writes_the_bundle() {
    let nats = Nats::start();
    let queue = nats.url();
    let mut cluster = Cluster::new();
    let _worker = cluster.worker(&queue);
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("churn.mlbundle");
    let run = std::process::Command::new(crate::common::bin())
        .arg("--plugins")
        .arg(crate::common::plugin_dir())
        .arg("run")
        .arg(dataset("telco_churn.train.csv"))
        .args(["--target", "churn", "--max-trials", "6", "--seed", "3"])
        .args(["--budget", "300", "--json", "--out"])
        .arg(&out)
        .env("MICROLEARN_HOME", home.path())
        .envs(cluster.env(&queue))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("submitting this run to the cluster (work queue nats://127.0.0.1:"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(
        report["leaderboard"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "{report}"
    );
    assert!(
        std::fs::metadata(&out).unwrap().len() > 0,
        "the bundle is written"
    );

    // The workers ran it: its trials name them, and none ran in the submitting process.
    let store = microlearn_store::Store::open_with(
        home.path(),
        &microlearn_store::StoreConfig {
            meta: Some(cluster.url.clone()),
            blobs: Some(format!("file://{}", cluster.blobs.path().display())),
        },
    )
    .unwrap();
    let t = store.tenant(microlearn_store::DEFAULT_TENANT);
    let pipelines = t.pipelines().unwrap();
    assert_eq!(pipelines.len(), 1);
    let trials = t.trials(&pipelines[0].id).unwrap();
    assert_eq!(trials.len(), 6);
    assert!(trials.iter().all(|t| !t.workers.is_empty()), "{trials:?}");
    wait_ledger_removed(&store, &pipelines[0].id);
}

/// Wait (up to 30 s) until the trial ledger of `pipeline` is gone: the coordinator removes it
/// right after it records the pipeline done, so a reader that saw `done` may be a moment early.
fn wait_ledger_removed(store: &microlearn_store::Store, pipeline: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store
        .tenant(microlearn_store::DEFAULT_TENANT)
        .rungs::<Value>(pipeline)
        .unwrap()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the trial ledger of {pipeline} is removed when the pipeline ends"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metadata_goes_over_tls_and_verifies_the_server_when_asked() {
    let pg = PrivatePostgres::start_tls();
    let home = tempfile::tempdir().unwrap();
    let open = |query: &str| {
        microlearn_store::Store::open_with(
            home.path(),
            &microlearn_store::StoreConfig {
                meta: Some(format!("{}?{query}", pg.url())),
                blobs: None,
            },
        )
    };
    let err = open("sslmode=disable").unwrap_err().to_string();
    assert!(
        err.contains("no encryption"),
        "the server refuses plain TCP: {err}"
    );
    let err = open("sslmode=verify-full").unwrap_err().to_string();
    assert!(
        err.to_lowercase().contains("certificate"),
        "a self-signed server fails verification against the system's roots: {err}"
    );
    for query in [
        "sslmode=require".to_string(),
        format!("sslmode=verify-full&sslrootcert={}", pg.ca().display()),
    ] {
        let store = open(&query).unwrap_or_else(|e| panic!("{query}: {e}"));
        let t = store.tenant("acme");
        t.request_cancel("pl_1").unwrap();
        assert!(t.cancel_requested("pl_1").unwrap(), "{query}");
    }
}

#[test]
fn a_plugin_a_tenant_uploads_to_one_node_runs_on_the_workers() {
    let nats = Nats::start();
    let queue = nats.url();
    let mut cluster = Cluster::new();
    let api = cluster.api_node(&queue);
    let _worker = cluster.worker(&queue);
    // A test selector no node has in its plugin folders, uploaded to the API node only.
    let dir = crate::common::plugin_dir()
        .parent()
        .unwrap()
        .join("microlearn-test-plugins")
        .join("hostile-selector");
    let manifest = std::fs::read(dir.join("plugin.toml")).unwrap();
    let component = std::fs::read(dir.join("hostile-selector.wasm")).unwrap();
    let boundary = "----microlearn-cluster-boundary";
    let mut body = Vec::new();
    for (name, file, data) in [
        ("manifest", "plugin.toml", &manifest),
        ("component", "hostile-selector.wasm", &component),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let (status, answer) = api.call(
        "POST",
        "/v1/plugins",
        &format!("multipart/form-data; boundary={boundary}"),
        &body,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));

    let ds = upload(&api, "telco_churn.train.csv");
    let (status, p) = api.json(
        "POST",
        "/v1/pipelines",
        Some(json!({
            "dataset_id": ds, "target": "churn", "budget_secs": 300, "max_trials": 3,
            "seed": 4, "threads": 1,
            "selector": {"id": "hostile-selector", "config": {"mode": "ok"}}
        })),
    );
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap().to_string();
    let done = wait_done(&api, &pl, 300);
    assert_eq!(
        done["status"],
        json!("done"),
        "the worker fetched the tenant's selector: {done}"
    );

    // Removed on the API node: the workers drop it too, and a pipeline naming it fails.
    let (status, _) = api.call("DELETE", "/v1/plugins/hostile-selector", "text/plain", b"");
    assert_eq!(status, 204);
    let (status, p) = api.json(
        "POST",
        "/v1/pipelines",
        Some(json!({
            "dataset_id": ds, "target": "churn", "budget_secs": 300, "max_trials": 1,
            "seed": 4, "threads": 1,
            "selector": {"id": "hostile-selector", "config": {"mode": "ok"}}
        })),
    );
    if status == 202 {
        let done = wait_done(&api, p["id"].as_str().unwrap(), 300);
        assert_eq!(done["status"], json!("failed"), "{done}");
        assert!(
            done["error"].to_string().contains("hostile-selector"),
            "{done}"
        );
    } else {
        assert!(p.to_string().contains("hostile-selector"), "{status} {p}");
    }
    api.kill9();
}
