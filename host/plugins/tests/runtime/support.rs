//! Shared fixtures: where the built plugins are, hosts with test-sized limits, small tables.

use microlearn_core::{Column, ColumnData, Table};
use microlearn_plugins::{PluginHost, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `$MICROLEARN_PLUGIN_BUILD_DIR`, or the workspace `target/`.
pub fn build_dir() -> PathBuf {
    std::env::var_os("MICROLEARN_PLUGIN_BUILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn require(dir: PathBuf, id: &str) -> PathBuf {
    let manifest = dir.join(id).join("plugin.toml");
    assert!(
        manifest.is_file(),
        "{} is missing: build the plugins first with `bash scripts/build-plugins.sh` \
         (or point MICROLEARN_PLUGIN_BUILD_DIR at their build folder)",
        manifest.display()
    );
    dir
}

/// The first-party plugins folder, checked to hold `standard`.
pub fn first_party_dir() -> PathBuf {
    require(build_dir().join("microlearn-plugins"), "standard")
}

/// The test plugins folder, checked to hold `hostile`.
pub fn test_plugins_dir() -> PathBuf {
    require(build_dir().join("microlearn-test-plugins"), "hostile")
}

/// The folder of test plugins that must fail to load, checked to hold `stuck-describe`.
pub fn unloadable_plugins_dir() -> PathBuf {
    require(
        build_dir().join("microlearn-unloadable-plugins"),
        "stuck-describe",
    )
}

/// One plugin folder of the first-party set.
pub fn first_party(id: &str) -> PathBuf {
    let dir = require(build_dir().join("microlearn-plugins"), id).join(id);
    assert!(dir.is_dir(), "{} is missing", dir.display());
    dir
}

/// Limits small enough that hostile tests finish quickly: 64 MiB of memory, a 1 s deadline,
/// a 16 MiB output cap. The on-disk cache is shared by the tests to keep them fast.
pub fn test_config() -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: Some(build_dir().join("microlearn-test-cache")),
        default_memory_mib: 64,
        max_memory_mib: 256,
        default_timeout: Duration::from_secs(1),
        max_timeout: Duration::from_secs(5),
        max_output_bytes: 16 << 20,
        ..RuntimeConfig::default()
    }
}

/// A host with [`test_config`] and both plugin folders scanned (no errors allowed).
pub fn host() -> PluginHost {
    host_with(test_config())
}

pub fn host_with(config: RuntimeConfig) -> PluginHost {
    let host = PluginHost::new(config).expect("the runtime starts");
    let report = host.scan(&[first_party_dir(), test_plugins_dir()]);
    assert!(
        report.errors.is_empty(),
        "plugins failed to load: {:#?}",
        report.errors
    );
    host
}

/// A small mixed table: a float column with a missing value, a categorical, an int.
pub fn mixed_table() -> Table {
    Table::new(vec![
        Column::float64_nan_missing("age", vec![31.0, f64::NAN, 27.0, 45.0, 52.0, 38.0]),
        Column::categorical_from_strs(
            "city",
            &[
                Some("Oslo"),
                Some("Bergen"),
                None,
                Some("Oslo"),
                Some("Oslo"),
                Some("Bergen"),
            ],
        ),
        Column::new("visits", ColumnData::Int64(vec![3, 1, 4, 1, 5, 9])),
    ])
    .expect("equal lengths")
}

pub fn binary_target(rows: usize) -> Column {
    Column::float64("y", (0..rows).map(|i| (i % 2) as f64).collect())
}

/// Copy a plugin folder into `to/<name>` (to tamper with the copy).
pub fn copy_plugin(from: &Path, to: &Path, name: &str) -> PathBuf {
    let dest = to.join(name);
    std::fs::create_dir_all(&dest).expect("create plugin copy");
    for entry in std::fs::read_dir(from).expect("read plugin folder") {
        let entry = entry.expect("dir entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dest.join(entry.file_name())).expect("copy file");
        }
    }
    dest
}

/// Rewrite `key = "..."` in a copied manifest.
pub fn set_manifest_field(plugin_dir: &Path, key: &str, value: &str) {
    let path = plugin_dir.join("plugin.toml");
    let text = std::fs::read_to_string(&path).expect("read manifest");
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            if line.split('=').next().map(str::trim) == Some(key) {
                found = true;
                format!("{key} = \"{value}\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert!(found, "manifest has no `{key}`");
    std::fs::write(&path, out.join("\n")).expect("write manifest");
}
