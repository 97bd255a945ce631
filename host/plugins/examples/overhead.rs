//! Measures the plugin runtime's fixed costs on this machine:
//!
//! 1. compiling the `standard` preparer vs loading it from the precompiled cache;
//! 2. the per-call overhead (fresh store + instance + `describe`), pooling on and off;
//! 3. how fast a 1M-row f64 column crosses into a plugin and back (the `hostile` preparer's
//!    `ok` mode returns its numeric input unchanged), and a 1M-row dictionary-encoded string
//!    column into it (ok mode drops it, so that one is one-way);
//! 4. the `standard` preparer's transform as a plugin vs the same code native, on 1M rows ×
//!    20 float columns (the native side runs `plugins/preparers/standard/examples/
//!    native_transform.rs` through cargo and reports its median);
//! 5. with `--compare DIR…`: size, first load (compile) and per-call instantiation of other
//!    built evaluator folders, e.g. the Python `python-cost` against its Rust equivalent.
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
    let mut per_call_pooled_us = f64::NAN;
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
        let us = median(rounds).as_secs_f64() * 1e6;
        if pooling && host.pooling_active() {
            per_call_pooled_us = us;
        }
        println!(
            "per call (new store + instance + describe), pooling {:5} (active: {}): {us:7.1} µs",
            pooling,
            host.pooling_active(),
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
    let f64_mbps = 2.0 * column_mb / t_med.as_secs_f64();
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

    // 3b. A 1M-row dictionary-encoded string column (1000 distinct strings), into the plugin.
    let codes: Vec<Option<String>> = (0..rows)
        .map(|i| Some(format!("city-{}", i % 1000)))
        .collect();
    let refs: Vec<Option<&str>> = codes.iter().map(|c| c.as_deref()).collect();
    let strings = Table::new(vec![
        Column::categorical_from_strs("city", &refs),
        Column::float64("x", vec![0.0; rows]),
    ])?;
    let dict_mb = (rows * 4 + 1000 * 12) as f64 / 1e6;
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        hostile.transform(&state, &strings)?;
        times.push(t.elapsed());
    }
    let t_str = median(times);
    let dict_mbps = (dict_mb + 2.0 * column_mb) / t_str.as_secs_f64();
    println!(
        "1M-row dictionary string column (+ one f64 column back): {:.2} ms per call; \
         {:.0} MB/s counting every byte in and out",
        ms(t_str),
        (dict_mb + 2.0 * column_mb) / t_str.as_secs_f64()
    );

    // 4. standard as a plugin vs native on 1M rows x 20 floats, once as one call (batches
    // larger than the table) and once with the default batches, which run in parallel. `fit`
    // returns 40 columns (values + missing indicators, 320 MB).
    let ncols = 20;
    let wide = Table::new(
        (0..ncols)
            .map(|c| {
                let values = (0..rows)
                    .map(|i| {
                        if (i * 7 + c) % 100 == 0 {
                            f64::NAN
                        } else {
                            ((i * 31 + c * 17) % 1000) as f64 / 7.0
                        }
                    })
                    .collect();
                Column::float64(format!("x{c}"), values)
            })
            .collect(),
    )?;
    let mut plugin_ms = Vec::new();
    for batch_bytes in [1u64 << 30, RuntimeConfig::default().batch_bytes] {
        // The fit is the same in both: whole.
        let host = PluginHost::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            default_memory_mib: 4096,
            max_output_bytes: 2 << 30,
            batch_bytes,
            fit_sample_bytes: 1 << 30,
            ..RuntimeConfig::default()
        })?;
        host.scan(std::slice::from_ref(&first_party));
        let standard = host.preparer("standard")?;
        let (state, _) = standard.fit(&wide, &target, Task::Regression, "{}")?;
        let mut times = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            standard.transform(&state, &wide)?;
            times.push(t.elapsed());
        }
        plugin_ms.push(ms(median(times)));
    }
    let native = std::process::Command::new(env!("CARGO"))
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "microlearn-plugin-standard",
            "--example",
            "native_transform",
            "--",
            "20",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins"))
        .env_remove("CARGO_TARGET_DIR")
        .output()?;
    let native_ms = String::from_utf8_lossy(&native.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("NATIVE_TRANSFORM_MS ").map(str::to_string))
        .and_then(|v| v.trim().parse::<f64>().ok());
    match native_ms {
        Some(n) => println!(
            "standard transform, 1M rows x 20 f64: plugin {:.1} ms in one call, {:.1} ms in \
             default batches ({} threads); native {n:.1} ms on one thread",
            plugin_ms[0],
            plugin_ms[1],
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        ),
        None => println!(
            "standard transform, 1M rows x 20 f64: plugin {:.1} ms; the native run failed: {}",
            plugin_ms[0],
            String::from_utf8_lossy(&native.stderr).trim()
        ),
    }
    let native_ms = native_ms.unwrap_or(f64::NAN);

    // The figures the runtime is held to, each beside its goal.
    println!();
    println!("{:<52} {:>12} {:>12}  met", "figure", "measured", "goal");
    let rows_out = [
        (
            "fresh instance + call, pooling (µs)",
            per_call_pooled_us,
            10.0,
            false,
        ),
        ("f64 column in and out (GB/s)", f64_mbps / 1e3, 3.0, true),
        (
            "dictionary string column in, f64 out (GB/s)",
            dict_mbps / 1e3,
            3.0,
            true,
        ),
        (
            "standard transform, one call / native (x)",
            plugin_ms[0] / native_ms,
            1.2,
            false,
        ),
        (
            "standard transform, default batches / native (x)",
            plugin_ms[1] / native_ms,
            1.2,
            false,
        ),
    ];
    for (name, value, goal, higher_is_better) in rows_out {
        let met = if higher_is_better {
            value >= goal
        } else {
            value <= goal
        };
        println!(
            "{name:<52} {value:>12.2} {:>12}  {}",
            format!("{} {goal}", if higher_is_better { ">=" } else { "<=" }),
            if met { "yes" } else { "no" }
        );
    }

    // 5. Other evaluator folders (e.g. python-cost vs the Rust template build).
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--compare") {
        for dir in &args[at + 1..] {
            let dir = PathBuf::from(dir);
            let parent = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
            let id = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let cache = tempfile::tempdir()?;
            let host = PluginHost::new(RuntimeConfig {
                cache_dir: Some(cache.path().to_path_buf()),
                ..RuntimeConfig::default()
            })?;
            let t = Instant::now();
            let report = host.scan(std::slice::from_ref(&parent));
            let load = t.elapsed();
            if let Some(p) = report.errors.iter().find(|(p, _)| p == &dir) {
                return Err(format!("{}: {}", p.0.display(), p.1).into());
            }
            let evaluator = host.evaluator(&id)?;
            let size = evaluator.component_bytes().len();
            for _ in 0..20 {
                evaluator.describe()?;
            }
            let n = 200;
            let t = Instant::now();
            for _ in 0..n {
                evaluator.describe()?;
            }
            let per_call = t.elapsed() / n;
            println!(
                "{id}: {:.1} KiB component; scan of its folder incl. compile {:.0} ms; \
                 per call (new instance + describe) {:.1} µs",
                size as f64 / 1024.0,
                ms(load),
                per_call.as_secs_f64() * 1e6
            );
        }
    }
    Ok(())
}
