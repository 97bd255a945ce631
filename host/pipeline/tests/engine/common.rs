//! Locating the built plugins and the test tables, and setting up an engine over them.

use microlearn_pipeline::{Engine, Observer, PipelineConfig, RunInput};
use microlearn_plugins::{PluginHost, RuntimeConfig};
use microlearn_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("host/pipeline sits two folders below the repository root")
        .to_path_buf()
}

/// The first-party plugins built by scripts/build-plugins.sh (scripts/test.sh builds them into
/// `$CARGO_TARGET_DIR/microlearn-plugins` and sets `MICROLEARN_PLUGIN_BUILD_DIR`).
pub fn plugin_dir() -> PathBuf {
    let target = std::env::var_os("MICROLEARN_PLUGIN_BUILD_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let dir = target.join("microlearn-plugins");
    assert!(
        dir.join("standard").join("plugin.toml").exists(),
        "built plugins not found in {}: run scripts/build-plugins.sh (scripts/test.sh does) first",
        dir.display()
    );
    dir
}

/// A table from `tests/data/` (shipped with the repository).
pub fn dataset(name: &str) -> PathBuf {
    let p = repo_root().join("tests").join("data").join(name);
    assert!(p.exists(), "test dataset {} is missing", p.display());
    p
}

/// A plugin host with the built first-party plugins, every one loading cleanly.
pub fn plugins() -> PluginHost {
    let host = PluginHost::new(RuntimeConfig::default()).expect("plugin runtime starts");
    let report = host.scan(&[plugin_dir()]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    host
}

/// An engine over a fresh store in `dir`.
pub fn engine(dir: &Path) -> Engine {
    Engine::new(Store::open(dir).expect("store opens"), plugins())
}

/// A seeded run of at most `max_trials` trials; the budget is generous so the trial count,
/// not the clock, ends the search and the sequence is reproducible.
pub fn seeded(target: &str, seed: u64, max_trials: usize) -> PipelineConfig {
    let mut config = PipelineConfig::new(target);
    config.seed = seed;
    config.max_trials = Some(max_trials);
    config.budget_secs = 600.0;
    config
}

pub fn input(train: &str, test: Option<&str>) -> RunInput {
    RunInput {
        train: dataset(train),
        test: test.map(dataset),
    }
}

/// An observer that keeps the notes it is given.
#[derive(Default)]
pub struct Notes(pub Mutex<Vec<String>>);

impl Observer for Notes {
    fn note(&self, message: &str) {
        self.0.lock().expect("notes lock").push(message.to_string());
    }
}
