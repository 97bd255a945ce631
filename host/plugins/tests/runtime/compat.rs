//! WIT versioning: the released `microlearn:plugin@0.1.0` is frozen, and a component built
//! against it when it was released keeps loading and working in every later host.

use crate::support::test_config;
use microlearn_core::Task;
use microlearn_core::stages::{EvaluationRequest, PredictionValues};
use microlearn_plugins::{API_VERSION, PluginHost, SUPPORTED_APIS};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// sha256 over the released WIT folder: for each file, sorted by name, its name, a NUL, its
/// length (8 bytes, little-endian) and its bytes.
const WIT_0_1_0_SHA256: &str = "01b70de0d77d408fc0cd60bb43d0a8605e639001c9d2a422a2976bf618bc6d9c";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn folder_digest(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the WIT folder exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut h = Sha256::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).expect("read a WIT file");
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    hex::encode(h.finalize())
}

#[test]
fn the_released_wit_0_1_0_is_frozen() {
    let dir = repo().join("wit").join("microlearn-plugin@0.1.0");
    let actual = folder_digest(&dir);
    assert_eq!(
        actual,
        WIT_0_1_0_SHA256,
        "\n{} changed, but microlearn:plugin@0.1.0 is released and frozen: plugins built \
         against it must keep loading unchanged. Revert the change, and put the new contract \
         in a new folder beside it (wit/microlearn-plugin@0.2.0/), with its own bindings \
         module in host/plugins/src/bindings.rs, a variant in the world dispatch enum and an \
         adapter from 0.1.0 (see the module docs of bindings.rs). Only a change that leaves \
         every 0.1.0 component working (e.g. a comment typo) may update WIT_0_1_0_SHA256 in \
         {}.\n",
        dir.display(),
        file!()
    );
}

#[test]
fn the_host_implements_0_1_0() {
    assert!(SUPPORTED_APIS.contains(&"microlearn:plugin@0.1.0"));
    assert!(SUPPORTED_APIS.contains(&API_VERSION));
}

/// `tests/fixtures/compat-0.1.0/`: components built against 0.1.0 when it was released (the
/// first-party `regression` evaluator), committed as built. Never rebuild them: their point is
/// to be old.
#[test]
fn a_component_built_for_0_1_0_loads_and_works_forever() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat-0.1.0");
    let host = PluginHost::new(test_config()).expect("the runtime starts");
    let report = host.scan(std::slice::from_ref(&fixtures));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let installed = host.list();
    assert_eq!(installed.len(), 1);
    let manifest = installed[0].manifest.as_ref().expect("from a manifest");
    assert_eq!(manifest.api, "microlearn:plugin@0.1.0");

    let evaluator = host
        .evaluator("regression")
        .expect("the fixture is an evaluator");
    assert_eq!(evaluator.tasks().expect("tasks"), vec![Task::Regression]);
    let evaluation = evaluator
        .evaluate(&EvaluationRequest {
            task: Task::Regression,
            labels: vec![],
            y_true: vec![1.0, 2.0, 3.0, 4.0],
            predictions: PredictionValues::Values(vec![1.0, 2.0, 3.0, 6.0]),
            curves: false,
            config: "{}".into(),
        })
        .expect("evaluates");
    let mae = evaluation.metric("mae").expect("mae");
    assert!((mae.value - 0.5).abs() < 1e-12, "{}", mae.value);
    let rmse = evaluation.metric("rmse").expect("rmse");
    assert!((rmse.value - 1.0).abs() < 1e-12, "{}", rmse.value);
}
