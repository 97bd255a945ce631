//! Ingest throughput: `read_dataset` (+ `profile`) against polars' own CSV reader on one file.
//!
//! `cargo run --release -p microlearn-data --example ingest -- FILE [REPEATS]`
//!
//! Prints the best of REPEATS (default 5) wall-clock runs for each step.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use polars::prelude::{CsvReadOptions, NullValues, SerReader};

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..repeats {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one repeat"))
}

fn report(what: &str, took: Duration, rows: usize, bytes: u64) {
    let s = took.as_secs_f64();
    println!(
        "{what:<44} {s:>8.3} s  {:>12.0} rows/s  {:>8.1} MB/s",
        rows as f64 / s,
        bytes as f64 / 1e6 / s
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: ingest FILE [REPEATS]")?);
    let repeats: usize = args
        .next()
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(5)
        .max(1);
    let bytes = std::fs::metadata(&path)?.len();
    println!("{} ({bytes} bytes), best of {repeats}", path.display());

    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let (took, df) = best(repeats, || {
            CsvReadOptions::default()
                .with_has_header(true)
                .try_into_reader_with_file_path(Some(path.clone()))
                .and_then(|r| r.finish())
        });
        let df = df?;
        report("polars CsvReader (defaults)", took, df.height(), bytes);
        // What matching the NA tokens inside polars would cost (read_dataset matches them after
        // reading, once per distinct string, instead).
        let (took, df) = best(repeats, || {
            let nulls: Vec<polars::prelude::PlSmallStr> = microlearn_data::NA_TOKENS
                .iter()
                .map(|s| (*s).into())
                .collect();
            CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(10_000))
                .with_rechunk(true)
                .map_parse_options(|p| {
                    p.with_null_values(Some(NullValues::AllColumns(nulls.clone())))
                })
                .try_into_reader_with_file_path(Some(path.clone()))
                .and_then(|r| r.finish())
        });
        let df = df?;
        report(
            "polars CsvReader + NA-token null_values",
            took,
            df.height(),
            bytes,
        );
    }

    let (took, dataset) = best(repeats, || microlearn_data::read_dataset(&path));
    let dataset = dataset?;
    let rows = dataset.num_rows();
    report(
        "microlearn read_dataset (-> Table + schema)",
        took,
        rows,
        bytes,
    );

    let (took, profile) = best(repeats, || microlearn_data::profile(&dataset));
    report("microlearn profile", took, rows, bytes);
    println!(
        "{rows} rows x {} columns; kinds: {}",
        profile.columns,
        dataset
            .schema
            .columns
            .iter()
            .map(|c| format!("{}={:?}", c.name, c.kind))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
