//! Measures the plugin runtime's fixed costs on this machine:
//!
//! 1. compiling the `standard` preparer vs loading it from the precompiled cache;
//! 2. the per-call overhead (fresh store + instance + `describe`), pooling on and off;
//! 3. how fast a 1M-row f64 column crosses into a plugin and back (the `hostile` preparer's
//!    `ok` mode returns its numeric input unchanged).
//!
//! Needs the plugins built: `bash scripts/build-plugins.sh`, then
//! `cargo run --release -p microlearn-plugins --example overhead`.
//! `MICROLEARN_PLUGIN_BUILD_DIR` overrides where the built plugins are looked for.

use microlearn_core::{Column, Table, Task};
use microlearn_plugins::{CompileSource, PluginHost, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error>;

fn build_dir() -> PathBuf {
    std::env::var_os("MICROLEARN_PLUGIN_BUILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Error> {
    let first_party = build_dir().join("microlearn-plugins");
    let test_plugins = build_dir().join("microlearn-test-plugins");
    let standard_wasm = first_party.join("standard/standard.wasm");
    if !standard_wasm.is_file() || !test_plugins.join("hostile/plugin.toml").is_file() {
        return Err(format!(
            "built plugins not found under {}: run `bash scripts/build-plugins.sh` first",
            build_dir().display()
        )
        .into());
    }
    let bytes = std::fs::read(&standard_wasm)?;
    println!(
        "standard preparer component: {:.1} KiB",
        bytes.len() as f64 / 1024.0
    );

    // 1. Compile vs cached load, each on a fresh host (so the in-memory map is empty).
    let mut compile = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..3 {
        let cache = tempfile::tempdir()?;
        let config = RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            ..RuntimeConfig::default()
        };
        let host = PluginHost::new(config.clone())?;
        let t = Instant::now();
        assert_eq!(host.prepare_component(&bytes)?, CompileSource::Compiled);
        compile.push(t.elapsed());
        for _ in 0..5 {
            let host = PluginHost::new(config.clone())?;
            let t = Instant::now();
            assert_eq!(host.prepare_component(&bytes)?, CompileSource::DiskCache);
            cached.push(t.elapsed());
        }
    }
    println!(
        "compile (cranelift, parallel): {:8.2} ms   cached load (deserialize_file): {:6.3} ms   ({:.0}x)",
        ms(median(compile.clone())),
        ms(median(cached.clone())),
        median(compile).as_secs_f64() / median(cached).as_secs_f64()
    );

    // 2. Per-call overhead: fresh store + WASI context + instance + `describe`.
    let cache = tempfile::tempdir()?;
    for pooling in [true, false] {
        let host = PluginHost::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            pooling,
            ..RuntimeConfig::default()
        })?;
        let report = host.scan(std::slice::from_ref(&first_party));
        if let Some((path, e)) = report.errors.first() {
            return Err(format!("{}: {e}", path.display()).into());
        }
        let standard = host.preparer("standard")?;
        for _ in 0..200 {
            standard.describe()?;
        }
        let mut rounds = Vec::new();
        for _ in 0..5 {
            let n = 1000;
            let t = Instant::now();
            for _ in 0..n {
                standard.describe()?;
            }
            rounds.push(t.elapsed() / n);
        }
        println!(
            "per call (new store + instance + describe), pooling {:5} (active: {}): {:7.1} µs",
            pooling,
            host.pooling_active(),
            median(rounds).as_secs_f64() * 1e6
        );
    }

    // 3. A 1M-row f64 column through `hostile` in `ok` mode (identity on numeric columns).
    let host = PluginHost::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    })?;
    let report = host.scan(std::slice::from_ref(&test_plugins));
    if let Some((path, e)) = report.errors.first() {
        return Err(format!("{}: {e}", path.display()).into());
    }
    let hostile = host.preparer("hostile")?;
    let rows = 1_000_000usize;
    let table = Table::new(vec![Column::float64(
        "x",
        (0..rows).map(|i| i as f64 * 0.5).collect(),
    )])?;
    let target = Column::float64("y", vec![0.0; rows]);
    let column_mb = (rows * 8) as f64 / 1e6;
    let (state, _) = hostile.fit(&table, &target, Task::Regression, r#"{"mode":"ok"}"#)?;
    let mut transform = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let out = hostile.transform(&state, &table)?;
        transform.push(t.elapsed());
        assert_eq!(out.num_rows(), rows);
    }
    let t_med = median(transform);
    // Native reference: the host-side copies alone (what the call must do at minimum).
    let t = Instant::now();
    let copy = table.clone();
    let native = t.elapsed();
    std::hint::black_box(copy);
    println!(
        "1M-row f64 column, hostile ok-mode transform: {:.2} ms per call, {:.0} MB/s counting the \
         column in and out ({:.1} MB each way); one native clone of the column: {:.2} ms",
        ms(t_med),
        2.0 * column_mb / t_med.as_secs_f64(),
        column_mb,
        ms(native)
    );
    Ok(())
}
