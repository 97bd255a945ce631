//! The native baseline for the plugin-boundary benchmark: `standard`'s `transform` on
//! 1M rows × COLUMNS float columns (1% missing; COLUMNS = first argument, default 20), run
//! as plain Rust. `host/plugins/examples/overhead.rs` runs it and prints the plugin/native ratio
//! on the same table (the generator below is duplicated there).
//!
//! `cargo run --release -p microlearn-plugin-standard --example native_transform`

use microlearn_plugin_standard::Standard;
use microlearn_sdk::prelude::*;
use std::time::Instant;

fn main() -> Result<(), PluginError> {
    const ROWS: usize = 1_000_000;
    let ncols: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let columns = (0..ncols)
        .map(|c| {
            let values = (0..ROWS)
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
        .collect();
    let table = Table::new(columns).map_err(|e| PluginError::internal(e.to_string()))?;
    let target = Column::float64("y", vec![0.0; ROWS]);

    let start = Instant::now();
    let fitted = Standard::fit(&table, &target, Task::Regression, "{}")?;
    let fit = start.elapsed();
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let out = Standard::transform(&fitted.state, &table)?;
        times.push(start.elapsed());
        assert_eq!(out.num_rows(), ROWS);
    }
    times.sort();
    println!(
        "standard, native, {ROWS} rows x {ncols} floats: fit {:.1} ms, transform median {:.1} ms ({} output columns)",
        fit.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        fitted.table.num_columns()
    );
    // Machine-readable, for overhead.rs.
    println!(
        "NATIVE_TRANSFORM_MS {:.3}",
        times[times.len() / 2].as_secs_f64() * 1e3
    );
    Ok(())
}
