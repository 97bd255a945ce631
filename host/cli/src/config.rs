//! `microlearn.toml`: defaults for `run` and extra plugin folders, layered as
//! built-in defaults < `microlearn.toml` < `MICROLEARN_*` environment < command-line flags.
//!
//! The file is `--config PATH` (or `MICROLEARN_CONFIG`) when given, else `microlearn.toml` in
//! the data directory, else `microlearn.toml` in the current directory. Unknown keys are errors
//! naming the file, so a typo never silently does nothing.
//!
//! ```toml
//! plugin_dirs = ["/opt/microlearn/plugins"]
//!
//! [run]
//! budget = 120
//! seed = 7
//! threads = 2
//! test_fraction = 0.2
//! metric = "log_loss"
//! preparers = ["standard:{\"max_onehot\": 20}"]
//! selector = "portfolio"
//! evaluators = ["classification"]
//! deployer = "best-model:{\"min_improvement\": 0.005}"
//!
//! [plugins]            # runtime limits; manifests may lower them, never exceed the max_*
//! memory_mib = 1024
//! max_memory_mib = 4096
//! timeout_secs = 60
//! max_timeout_secs = 600
//! max_output_mib = 256
//! max_concurrent_instances = 64
//!
//! [cluster]            # shared services; MICROLEARN_META / MICROLEARN_BLOBS override
//! meta = "postgres://postgres@127.0.0.1:5432/microlearn"
//! blobs = "file:///srv/microlearn-blobs"
//! ```

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file's content.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Extra plugin folders, scanned before `MICROLEARN_PLUGIN_PATH` / `--plugins`.
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Defaults for `microlearn run`.
    #[serde(default)]
    pub run: RunDefaults,
    /// Plugin runtime limits (`[plugins]`: memory, deadlines, output cap, instance pool);
    /// see `microlearn_plugins::PluginSettings`.
    #[serde(default)]
    pub plugins: microlearn_plugins::PluginSettings,
    /// Defaults for `microlearn serve` (`[serve]`: listen, workers, admin_key, limits, quotas).
    #[serde(default)]
    pub serve: crate::serve_cmd::ServeDefaults,
    /// Shared metadata and artefacts (`[cluster]`: meta, blobs, queue).
    #[serde(default)]
    pub cluster: crate::cluster::ClusterDefaults,
}

/// Defaults for `microlearn run`; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunDefaults {
    pub budget: Option<f64>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    pub test_fraction: Option<f64>,
    pub metric: Option<String>,
    pub preparers: Option<Vec<String>>,
    pub selector: Option<String>,
    pub evaluators: Option<Vec<String>>,
    pub deployer: Option<String>,
}

/// Load the configuration file, if there is one.
pub fn load(explicit: Option<&Path>, home: &Path) -> Result<(FileConfig, Option<PathBuf>)> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => [
            home.join("microlearn.toml"),
            PathBuf::from("microlearn.toml"),
        ]
        .into_iter()
        .find(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok((FileConfig::default(), None));
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    let config: FileConfig = toml::from_str(&text)
        .with_context(|| format!("configuration file {} is invalid", path.display()))?;
    Ok((config, Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_defaults_and_rejects_unknown_keys_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("microlearn.toml");
        std::fs::write(
            &path,
            "[run]\nbudget = 12.5\nevaluators = [\"classification\"]\n",
        )
        .unwrap();
        let (c, found) = load(None, dir.path()).unwrap();
        assert_eq!(found.as_deref(), Some(path.as_path()));
        assert_eq!(c.run.budget, Some(12.5));
        assert_eq!(c.run.evaluators, Some(vec!["classification".to_string()]));

        std::fs::write(&path, "[run]\nbugdet = 12\n").unwrap();
        let err = format!("{:#}", load(None, dir.path()).unwrap_err());
        assert!(
            err.contains("microlearn.toml") && err.contains("bugdet"),
            "{err}"
        );
    }
}
