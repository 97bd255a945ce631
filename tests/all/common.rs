//! Locating the built artefacts the suites drive, and running the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Where cargo put the build (honours `CARGO_TARGET_DIR`, like scripts/test.sh).
pub fn target_dir() -> PathBuf {
    std::env::var_os("MICROLEARN_PLUGIN_BUILD_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The first-party plugins built by scripts/build-plugins.sh.
pub fn plugin_dir() -> PathBuf {
    let dir = target_dir().join("microlearn-plugins");
    assert!(
        dir.join("standard").join("plugin.toml").exists(),
        "built plugins not found in {}: run scripts/build-plugins.sh (scripts/test.sh does) first",
        dir.display()
    );
    dir
}

/// A table from `tests/data/`: exact copies of the small public datasets and seeded samples of
/// the large ones, shipped with the repository so a fresh clone runs every test (sources,
/// licences and sampling in tests/data/README.md).
pub fn dataset(name: &str) -> PathBuf {
    let p = repo_root().join("tests").join("data").join(name);
    assert!(
        p.exists(),
        "test dataset {} is missing (tests/data/ ships with the repository)",
        p.display()
    );
    p
}

/// The `microlearn` binary: `MICROLEARN_BIN`, or the workspace's release binary, brought up to
/// date once per test run (a binary left from an older build must never be the one tested).
pub fn bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("MICROLEARN_BIN") {
                return PathBuf::from(p);
            }
            let status = Command::new(env!("CARGO"))
                .args(["build", "--release", "-p", "microlearn"])
                .current_dir(repo_root())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the microlearn binary failed");
            let dir = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            dir.join("release").join("microlearn")
        })
        .clone()
}

/// Run `microlearn` with a fresh data directory and the built plugins.
pub fn microlearn(home: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("MICROLEARN_HOME", home)
        .env("MICROLEARN_PLUGIN_PATH", plugin_dir())
        .env_remove("MICROLEARN_LOG")
        .output()
        .expect("the microlearn binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Read a predictions CSV: header and rows of fields (labels are never quoted in our tests).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("predictions file exists");
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("header line")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

/// The held-out value of metric `name` for the best model of a `run --json` outcome.
pub fn test_metric(outcome: &serde_json::Value, name: &str) -> f64 {
    let best = outcome["best"].as_str().unwrap();
    let entry = outcome["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["model"] == best)
        .unwrap();
    entry["test_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no test metric {name}"))["value"]
        .as_f64()
        .unwrap()
}
