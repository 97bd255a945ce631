//! Bad input gets a precise message and a non-zero exit, and leaves nothing half-written: the
//! data directory holds no dataset, pipeline or artefact afterwards.

use crate::common::*;
use microlearn_store::{DEFAULT_TENANT, Store};
use std::path::Path;

/// `microlearn run FILE --target TARGET --budget SECS --out BUNDLE` with data directory `home`.
fn run(home: &Path, file: &Path, target: &str, secs: &str, out: &Path) -> std::process::Output {
    microlearn(
        home,
        &[
            "run",
            file.to_str().unwrap(),
            "--target",
            target,
            "--budget",
            secs,
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

/// Run `microlearn run FILE --target TARGET`, expect failure mentioning every needle, and check
/// that nothing was recorded.
fn rejects(file: &Path, target: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = run(&home, file, target, "5", &dir.path().join("m.mlbundle"));
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "expected failure, got success: {err}"
    );
    assert!(
        !err.contains("panicked"),
        "panic instead of an error: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "message lacks {n:?}: {err}");
    }
    assert!(
        !dir.path().join("m.mlbundle").exists(),
        "no bundle on failure"
    );
    if home.exists() {
        let store = Store::open(&home).unwrap();
        let t = store.tenant(DEFAULT_TENANT);
        assert!(t.pipelines().unwrap().is_empty(), "no pipeline recorded");
        assert!(t.datasets().unwrap().is_empty(), "no dataset recorded");
        let artefacts = home.join("artefacts");
        let files = walk(&artefacts);
        assert!(files.is_empty(), "artefacts left behind: {files:?}");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn rejects_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    rejects(
        &dir.path().join("nope.csv"),
        "y",
        &["nope.csv", "no such file"],
    );
}

#[test]
fn rejects_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    rejects(
        &write(dir.path(), "empty.csv", b""),
        "y",
        &["empty.csv", "empty"],
    );
}

#[test]
fn rejects_an_unknown_target_and_suggests_the_closest_column() {
    rejects(&dataset("titanic.csv"), "survive", &["survive", "survived"]);
}

#[test]
fn rejects_a_target_with_one_class() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,y\n");
    for i in 0..50 {
        csv.push_str(&format!("{i},yes\n"));
    }
    rejects(
        &write(dir.path(), "one.csv", csv.as_bytes()),
        "y",
        &["'y'", "one class"],
    );
}

#[test]
fn rows_with_a_missing_target_are_left_out_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,y\n");
    for i in 0..60 {
        // Not an id-like sequence, which preparation would drop as a feature.
        let x = (i * 37 % 11) as f64 / 3.0;
        if i == 7 || i == 30 {
            csv.push_str(&format!("{x},\n"));
        } else {
            csv.push_str(&format!("{x},{}\n", i % 2));
        }
    }
    let file = write(dir.path(), "holes.csv", csv.as_bytes());
    let home = dir.path().join("home");
    let out = run(&home, &file, "y", "3", &dir.path().join("m.mlbundle"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("left out 2 row(s)") && text.contains("no 'y' (the first at data row 8)"),
        "{text}"
    );
    // The pipeline's event log keeps the note (the dashboard shows it); the split counts the
    // 58 labelled rows only.
    let store = Store::open(&home).unwrap();
    let tenant = store.tenant(DEFAULT_TENANT);
    let pipelines = tenant.pipelines().unwrap();
    let events = tenant.events(&pipelines[0].id).unwrap();
    let ingest = events
        .iter()
        .find(|e| e.kind == "stage_finished" && e.message.starts_with("ingest"))
        .expect("ingest finished");
    let (train, test) = ingest
        .message
        .split_once(" train / ")
        .and_then(|(a, b)| {
            let train: usize = a.rsplit(' ').next()?.parse().ok()?;
            let test: usize = b.split(' ').next()?.parse().ok()?;
            Some((train, test))
        })
        .expect("train / test counts");
    assert_eq!(train + test, 58, "{}", ingest.message);
    assert!(
        ingest.message.contains("left out 2 row(s)"),
        "{}",
        ingest.message
    );
}

#[test]
fn rejects_a_target_missing_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,y\n");
    for i in 0..30 {
        csv.push_str(&format!("{i},\n"));
    }
    rejects(
        &write(dir.path(), "unlabelled.csv", csv.as_bytes()),
        "y",
        &["'y'", "missing"],
    );
}

#[test]
fn rejects_a_non_utf8_csv() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"x,y\n1,a\n2,b\n".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b',', b'c', b'\n']);
    rejects(
        &write(dir.path(), "latin.csv", &bytes),
        "y",
        &["latin.csv", "UTF-8"],
    );
}

#[test]
fn rejects_a_ragged_csv_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,y\n");
    for i in 0..20 {
        csv.push_str(&format!("{i},{i},{}\n", i % 2));
    }
    csv.push_str("1,2,3,4\n");
    rejects(
        &write(dir.path(), "ragged.csv", csv.as_bytes()),
        "y",
        &["ragged.csv", "22"],
    );
}

#[test]
fn rejects_an_unknown_plugin_before_reading_data() {
    rejects_args(
        &["--preparer", "no-such-preparer"],
        &["no-such-preparer", "standard"],
    );
}

#[test]
fn rejects_malformed_plugin_config() {
    rejects_args(&["--preparer", "standard:{not json"], &["standard", "JSON"]);
}

#[test]
fn rejects_a_fold_count_out_of_range_naming_the_range() {
    rejects_args(&["--folds", "0"], &["folds", "between 1", "20"]);
    rejects_args(&["--folds", "50"], &["folds", "50"]);
}

fn rejects_args(extra: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = dataset("iris.csv");
    let mut args = vec![
        "run",
        data.to_str().unwrap(),
        "--target",
        "target",
        "--budget",
        "5",
    ];
    args.extend_from_slice(extra);
    let out = microlearn(&home, &args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    for n in needles {
        assert!(err.contains(n), "message lacks {n:?}: {err}");
    }
    if home.exists() {
        let store = Store::open(&home).unwrap();
        assert!(store.tenant(DEFAULT_TENANT).pipelines().unwrap().is_empty());
    }
}

#[test]
fn predict_rejects_a_file_that_is_not_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let fake = write(dir.path(), "fake.mlbundle", b"PK\x03\x04 definitely a zip");
    let out = microlearn(
        dir.path(),
        &[
            "predict",
            "--model",
            fake.to_str().unwrap(),
            dataset("iris.csv").to_str().unwrap(),
            "-o",
            dir.path().join("o.csv").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a MicroLearn model bundle"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("o.csv").exists());
}
