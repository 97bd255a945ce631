//! One data directory, a server and the command line at once (issue #14, "embedded mode shares
//! its home"): sled lets one process open a data directory, so while `microlearn serve` holds
//! it, `microlearn run` submits to that server instead of failing on sled's lock; `predict` and
//! `plugin list` never open the store and work beside it. A runtime file left by a killed
//! server is not trusted, and a directory locked by a process that is no server is an error
//! that says so.

use crate::common::{microlearn, read_csv, repo_root, stderr, stdout};
use crate::serve::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn titanic() -> PathBuf {
    repo_root().join("examples/data/titanic.csv")
}

/// A short, seeded run of titanic on `home`, its bundle written to `out`.
fn run_titanic(home: &Path, out: &Path) -> std::process::Output {
    let file = titanic();
    microlearn(
        home,
        &[
            "run",
            file.to_str().unwrap(),
            "--target",
            "survived",
            "--max-trials",
            "4",
            "--seed",
            "5",
            "--budget",
            "60",
            "--progress",
            "plain",
            "-o",
            out.to_str().unwrap(),
        ],
    )
}

/// The pipeline id in `run`'s closing lines.
fn pipeline_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Pipeline "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no pipeline line in: {out}"))
        .to_string()
}

fn predict(home: &Path, bundle: &Path, out: &Path) {
    let file = titanic();
    let o = microlearn(
        home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "predict failed: {}", stderr(&o));
}

#[test]
fn run_while_serve_holds_the_home_is_submitted_to_the_server() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(home.path());
    let runtime_file = home.path().join("serve.json");
    assert!(runtime_file.exists(), "serve writes its runtime file");

    let bundle = work.path().join("titanic.mlbundle");
    let o = run_titanic(home.path(), &bundle);
    let (err, out) = (stderr(&o), stdout(&o));
    assert!(o.status.success(), "run failed: {err}\n{out}");
    let note = format!(
        "note: {} is in use by microlearn serve (pid {}, http://{}); submitting this run to it",
        home.path().display(),
        server.pid(),
        server.addr
    );
    assert!(err.contains(&note), "no note {note:?} in: {err}");
    assert!(!err.contains("lock"), "{err}");
    // The same progress and the same result as a local run.
    for line in ["✓ ingest", "✓ optimizing", "✓ deploying", "  trial    0"] {
        assert!(err.contains(line), "no {line:?} in: {err}");
    }
    for line in [
        "Leaderboard — 4 trials",
        "held-out rows",
        "★",
        "Deployment 'titanic-survived': ",
        "Best model ",
    ] {
        assert!(out.contains(line), "no {line:?} in: {out}");
    }
    assert!(!out.contains(" 0 held-out rows"), "{out}");
    assert!(bundle.exists(), "the best model's bundle is written");

    // The pipeline is the server's: visible through its API, done, with the model printed.
    let id = pipeline_id(&out);
    let (status, p) = server.json("GET", &format!("/v1/pipelines/{id}"), None);
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["status"], "done", "{p}");
    let best = p["best_model"].as_str().expect("a best model").to_string();
    assert!(out.contains(&format!("Best model {best} ")), "{out}");
    let (status, trials) = server.json("GET", &format!("/v1/pipelines/{id}/trials"), None);
    assert_eq!(status, 200);
    assert_eq!(trials["trials"].as_array().map(Vec::len), Some(4));

    // predict and plugin list never open the store: they work beside the server.
    let file = titanic();
    let during = work.path().join("during.csv");
    predict(home.path(), &bundle, &during);
    let o = microlearn(home.path(), &["plugin", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"standard\""), "{}", stdout(&o));

    // The bundle written is the model the server deployed (before another run may replace
    // it): its batch scoring agrees.
    let csv = std::fs::read(titanic()).unwrap();
    let (status, served) = server.call(
        "POST",
        "/v1/deployments/titanic-survived/batch?name=titanic.csv&output=csv",
        "text/csv",
        &csv,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&served));
    let served_path = work.path().join("served.csv");
    std::fs::write(&served_path, &served).unwrap();
    assert_eq!(read_csv(&served_path), read_csv(&during));

    // --json through the server has the local shape.
    let o = microlearn(
        home.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "-t",
            "survived",
            "--max-trials",
            "2",
            "--json",
            "-o",
            work.path().join("j.mlbundle").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON outcome");
    assert_eq!(v["trials"], 2, "{v}");
    assert!(v["leaderboard"].as_array().is_some_and(|l| !l.is_empty()));

    // A flag the API cannot carry is refused before anything is sent, naming it and the holder.
    let o = microlearn(
        home.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "-t",
            "survived",
            "--predictions",
            work.path().join("h.csv").to_str().unwrap(),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--predictions")
            && err.contains(&format!("pid {}", server.pid()))
            && err.contains("stop the server"),
        "{err}"
    );

    // A bad request fails like a local one: non-zero, the column named.
    let o = microlearn(
        home.path(),
        &["run", file.to_str().unwrap(), "-t", "no_such_column"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no_such_column") && !err.contains("panicked"),
        "{err}"
    );

    // A second server on the same directory names the first.
    let second = std::process::Command::new(crate::common::bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("MICROLEARN_HOME", home.path())
        .env("MICROLEARN_PLUGIN_PATH", crate::common::plugin_dir())
        .output()
        .unwrap();
    let err = stderr(&second);
    assert!(!second.status.success());
    assert!(
        err.contains("already runs") && err.contains(&format!("pid {}", server.pid())),
        "{err}"
    );

    // A clean stop takes the runtime file away; then everything runs locally, and predict gives
    // the same answers as while the server ran.
    server.terminate();
    assert!(!runtime_file.exists(), "a clean stop removes serve.json");
    let after = work.path().join("after.csv");
    predict(home.path(), &bundle, &after);
    assert_eq!(read_csv(&after), read_csv(&during));
    let o = run_titanic(home.path(), &work.path().join("local.mlbundle"));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("submitting"), "{err}");
}

#[test]
fn a_runtime_file_left_by_a_killed_server_does_not_break_a_local_run() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(home.path());
    let runtime_file = home.path().join("serve.json");
    server.kill9();
    assert!(runtime_file.exists(), "kill -9 leaves the file behind");

    let o = run_titanic(home.path(), &work.path().join("m.mlbundle"));
    let (err, out) = (stderr(&o), stdout(&o));
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("submitting"), "ran locally: {err}");
    assert!(out.contains("Leaderboard — 4 trials"), "{out}");
    assert!(
        !runtime_file.exists(),
        "the run that held the lock removed the stale file"
    );
}

#[test]
fn a_home_locked_by_a_process_that_is_no_server_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // This test process holds the directory, as another `microlearn run` would.
    let store = microlearn_store::Store::open(home.path()).unwrap();
    let out = work.path().join("m.mlbundle");

    let o = run_titanic(home.path(), &out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the data directory {} is locked by another microlearn process",
            home.path().display()
        )) && err.contains("--home"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("could not acquire"),
        "{err}"
    );
    assert!(!out.exists());

    // A runtime file naming a server that is gone is reported as stale, never trusted.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        home.path().join("serve.json"),
        format!(r#"{{"url": "http://127.0.0.1:{port}", "pid": 4194000, "token": "mll_gone"}}"#),
    )
    .unwrap();
    let o = run_titanic(home.path(), &out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("locked by another microlearn process")
            && err.contains("serve.json")
            && err.contains("pid 4194000")
            && err.contains("did not stop cleanly"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    drop(store);
}
