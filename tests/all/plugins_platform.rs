//! The plugin platform through the command line: the README's three-command tutorial
//! (`plugin new` → `cargo test` → `plugin install`, which builds for wasm32-wasip2) followed by
//! a pipeline that uses the new plugin; `plugin info`/`remove`; the `[plugins]` limits of
//! microlearn.toml; and a drop-in folder picked up by the next run.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// `cargo …` for a generated crate: its own target folder beside the workspace's (reused
/// between runs), and the plugins workspace's lock file so it resolves offline to the
/// versions the first-party plugins already use.
fn cargo(krate: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO"))
        .args(args)
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"))
        .env(
            "CARGO_TARGET_DIR",
            target_dir().join("plugin-template-test"),
        )
        .output()
        .expect("cargo runs")
}

fn microlearn_in(cwd: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("MICROLEARN_HOME", home)
        .env("MICROLEARN_PLUGIN_PATH", plugin_dir())
        .env(
            "CARGO_TARGET_DIR",
            target_dir().join("plugin-template-test"),
        )
        .env_remove("MICROLEARN_LOG")
        .output()
        .expect("the microlearn binary runs")
}

#[test]
fn tutorial_new_test_install_then_a_pipeline_uses_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");

    // 1. microlearn plugin new --kind preparer clip-outliers
    let out = microlearn_in(
        dir.path(),
        &home,
        &["plugin", "new", "--kind", "preparer", "clip-outliers"],
    );
    assert!(out.status.success(), "plugin new: {}", stderr(&out));
    let krate = dir.path().join("clip-outliers");
    for file in [
        "Cargo.toml",
        "microlearn.toml",
        "src/lib.rs",
        "tests/conformance.rs",
    ] {
        assert!(krate.join(file).is_file(), "{file} was not generated");
    }
    std::fs::copy(
        repo_root().join("plugins").join("Cargo.lock"),
        krate.join("Cargo.lock"),
    )
    .unwrap();

    // 2. cargo test (natively: unit and conformance tests)
    let out = cargo(&krate, &["test", "--release"]);
    let log = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "cargo test of the template:\n{log}");
    assert!(
        log.contains("fit_keeps_every_row_and_transform_replays_it ... ok"),
        "{log}"
    );

    // 3. microlearn plugin install clip-outliers (builds for wasm32-wasip2, validates, installs)
    let out = microlearn_in(dir.path(), &home, &["plugin", "install", "clip-outliers"]);
    assert!(out.status.success(), "plugin install: {}", stderr(&out));
    assert!(home.join("plugins/clip-outliers/plugin.toml").is_file());
    assert!(
        home.join("plugins/clip-outliers/clip-outliers.wasm")
            .is_file()
    );

    let out = microlearn_in(
        dir.path(),
        &home,
        &["plugin", "info", "clip-outliers", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let info: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(info[0]["kind"], "preparer");
    assert_eq!(
        info[0]["config_schema"]["properties"]["upper"]["default"],
        0.99
    );

    // The next pipeline can select it, chained before the standard preparer.
    let bundle = dir.path().join("m.mlbundle");
    let data = dataset("breast_cancer.csv");
    let out = microlearn_in(
        dir.path(),
        &home,
        &[
            "run",
            data.to_str().unwrap(),
            "--target",
            "target",
            "--max-trials",
            "3",
            "--seed",
            "1",
            "--preparer",
            "clip-outliers:{\"lower\": 0.05, \"upper\": 0.95}",
            "--preparer",
            "standard",
            "--json",
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "run with the new plugin: {}",
        stderr(&out)
    );
    // The bundle carries the plugin, so it scores even after the plugin is removed.
    let out = microlearn_in(dir.path(), &home, &["plugin", "remove", "clip-outliers"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!home.join("plugins/clip-outliers").exists());
    let scored = dir.path().join("scored.csv");
    let out = microlearn_in(
        dir.path(),
        &home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            data.to_str().unwrap(),
            "-o",
            scored.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "predict: {}", stderr(&out));
    let out = microlearn_in(dir.path(), &home, &["plugin", "info", "clip-outliers"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no plugin 'clip-outliers'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_folder_dropped_into_the_plugins_dir_is_used_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // Copy a built plugin folder under another id: a drop-in, no install command.
    let src = plugin_dir().join("regression");
    let dest = home.join("plugins").join("regression");
    std::fs::create_dir_all(&dest).unwrap();
    for f in ["plugin.toml", "regression.wasm"] {
        std::fs::copy(src.join(f), dest.join(f)).unwrap();
    }
    // `plugins` (plural) stays an alias of `plugin`.
    let out = microlearn(&home, &["plugins", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let regression = list.iter().find(|p| p["id"] == "regression").unwrap();
    let from = regression["path"].as_str().unwrap();
    assert!(
        from.starts_with(home.join("plugins").to_str().unwrap()),
        "the drop-in copy overrides the first-party folder: {regression}"
    );

    // A corrupted drop-in is reported by name and the rest still works.
    std::fs::write(dest.join("regression.wasm"), b"\0asm garbage").unwrap();
    let out = microlearn(&home, &["plugin", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("regression") && stderr(&out).contains("sha256"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plugin_limits_come_from_microlearn_toml_and_bad_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("microlearn.toml"),
        "[plugins]\nmemory_mib = 96\ntimeout_secs = 7\n",
    )
    .unwrap();
    let out = microlearn(&home, &["plugin", "info", "standard", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(info[0]["memory_mib"], 96);
    assert_eq!(info[0]["timeout_ms"], 7000);

    std::fs::write(home.join("microlearn.toml"), "[plugins]\nmemroy_mib = 96\n").unwrap();
    let out = microlearn(&home, &["plugin", "list"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("memroy_mib"), "{}", stderr(&out));

    std::fs::write(
        home.join("microlearn.toml"),
        "[plugins]\nmemory_mib = 8192\n",
    )
    .unwrap();
    let out = microlearn(&home, &["plugin", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("[plugins]") && err.contains("memory_mib"),
        "{err}"
    );
}

#[test]
fn python_evaluator_is_the_objective_of_a_pipeline() {
    let built = target_dir()
        .join("microlearn-python-plugins")
        .join("python-cost");
    assert!(
        built.join("plugin.toml").is_file(),
        "{} is missing: build it with plugins/evaluators/python-cost/build.sh \
         (scripts/test.sh does)",
        built.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = microlearn(&home, &["plugin", "install", built.to_str().unwrap()]);
    assert!(out.status.success(), "install: {}", stderr(&out));

    let data = dataset("breast_cancer.csv");
    let out = microlearn(
        &home,
        &[
            "run",
            data.to_str().unwrap(),
            "--target",
            "target",
            "--max-trials",
            "4",
            "--seed",
            "3",
            "--evaluator",
            "python-cost:{\"cost_fp\": 1, \"cost_fn\": 4}",
            "--evaluator",
            "classification",
            "--metric",
            "expected_cost",
            "--json",
            "-o",
            dir.path().join("m.mlbundle").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "run: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("expected_cost"), "{text}");
    let outcome: serde_json::Value = serde_json::from_str(&text).unwrap();
    let found = outcome.to_string();
    assert!(found.contains("\"expected_cost\""), "{found}");
    // A bad config is the plugin's own typed error, reported before any trial is wasted or
    // after; either way the run fails naming the plugin.
    let out = microlearn(
        &home,
        &[
            "run",
            data.to_str().unwrap(),
            "--target",
            "target",
            "--max-trials",
            "1",
            "--evaluator",
            "python-cost:{\"cost_fp\": -1}",
            "--metric",
            "expected_cost",
            "-o",
            dir.path().join("n.mlbundle").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("python-cost") && err.contains("cost_fp"),
        "{err}"
    );
}

/// `serve` runs its plugin hosts under the same `[plugins]` table as the CLI, so an operator's
/// limits hold for every plugin the server calls; before, it used the built-in defaults.
#[test]
fn serve_uses_the_plugins_limits_of_microlearn_toml() {
    use std::io::{BufRead, BufReader, Read, Write};
    const KEY: &str = "mlk_plugins_limits_test_admin_key";
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // memory_mib lowers the default; the max_* caps a manifest could ask for.
    std::fs::write(
        home.join("microlearn.toml"),
        "[plugins]\nmemory_mib = 96\ntimeout_secs = 7\nmax_memory_mib = 128\n",
    )
    .unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("MICROLEARN_HOME", &home)
        .env("MICROLEARN_PLUGIN_PATH", plugin_dir())
        .env("MICROLEARN_ADMIN_KEY", KEY)
        .env_remove("MICROLEARN_LOG")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("microlearn serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve printed its address before exiting")
            .unwrap();
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.trim().to_string();
        }
    };
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /v1/plugins HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let standard_at = raw.find(r#""id":"standard""#).expect("standard is listed");
    let object = &raw[raw[..standard_at].rfind('{').unwrap()..];
    let object = &object[..object.find('}').unwrap()];
    assert!(object.contains(r#""memory_mib":96"#), "{object}");
    assert!(object.contains(r#""timeout_ms":7000"#), "{object}");
}
