//! Tables larger than one call cross in batches: `fit` sees a sample and the rest of the rows
//! are transformed with its state, `transform` runs batch by batch, the answer is the one a
//! single call would give, and every call stays under its own caps.

use crate::support::{binary_target, host_with, test_config};
use microlearn_core::{Column, Table, Task};
use microlearn_plugins::{GuestError, PluginError, RuntimeConfig};

/// `rows` rows: a float with missing values and a categorical of 40 levels.
fn wide_table(rows: usize) -> Table {
    let x: Vec<f64> = (0..rows)
        .map(|i| {
            if i % 97 == 0 {
                f64::NAN
            } else {
                ((i * 7919) % 1000) as f64 / 10.0
            }
        })
        .collect();
    let cities: Vec<String> = (0..rows).map(|i| format!("c{}", (i * 31) % 40)).collect();
    let refs: Vec<Option<&str>> = cities.iter().map(|s| Some(s.as_str())).collect();
    Table::new(vec![
        Column::float64_nan_missing("x", x),
        Column::categorical_from_strs("city", &refs),
    ])
    .expect("equal lengths")
}

/// Small batches and fit sample (1 and 2 MiB) and a 4 MiB output cap: the test table's
/// prepared form (several MiB) cannot come back from one call.
fn batched() -> RuntimeConfig {
    RuntimeConfig {
        batch_bytes: 1 << 20,
        fit_sample_bytes: 2 << 20,
        max_output_bytes: 4 << 20,
        ..test_config()
    }
}

/// Room for the whole table in one call.
fn whole() -> RuntimeConfig {
    RuntimeConfig {
        default_memory_mib: 1024,
        max_memory_mib: 1024,
        max_output_bytes: 256 << 20,
        batch_bytes: 128 << 20,
        fit_sample_bytes: 128 << 20,
        default_timeout: std::time::Duration::from_secs(30),
        max_timeout: std::time::Duration::from_secs(30),
        ..test_config()
    }
}

fn float_values(t: &Table, name: &str) -> Vec<f64> {
    t.column(name).expect("column").to_f64_nan()
}

#[test]
fn a_table_past_one_call_is_fitted_on_a_sample_and_transformed_in_batches_like_one_call() {
    let rows = 400_000;
    let table = wide_table(rows);
    let target = binary_target(rows);
    let small = host_with(batched())
        .preparer("standard")
        .expect("installed");
    let big = host_with(whole()).preparer("standard").expect("installed");

    let (state, fitted) = small
        .fit(&table, &target, Task::Binary, "{}")
        .expect("a table larger than the output cap fits in batches");
    assert_eq!(fitted.num_rows(), rows);
    let prepared_bytes: usize = fitted.num_columns() * rows * 8;
    assert!(
        prepared_bytes > 4 << 20,
        "the prepared table ({prepared_bytes} bytes) must exceed one call's 4 MiB output cap"
    );

    // The fitted state replayed in one call gives the same rows, in order: the batches were
    // written back where they came from.
    let one_call = big
        .transform(&state, &table)
        .expect("one call with room for it");
    assert_eq!(one_call.names(), fitted.names());
    for name in fitted.names() {
        let (a, b) = (float_values(&fitted, name), float_values(&one_call, name));
        let differ = a
            .iter()
            .zip(&b)
            // `fit` may order its float operations differently from `transform`.
            .position(|(p, q)| {
                !((p - q).abs() <= 1e-12 * p.abs().max(1.0) || (p.is_nan() && q.is_nan()))
            });
        assert_eq!(differ, None, "column '{name}' differs at that row");
    }

    // And a batched transform equals the single call.
    let in_batches = small
        .transform(&state, &table)
        .expect("transform in batches");
    assert_eq!(in_batches, one_call);

    // A rerun fits the same sample: the state is reproducible.
    let (again, _) = small
        .fit(&table, &target, Task::Binary, "{}")
        .expect("refit");
    assert_eq!(again, state);
}

/// 0, 1, 2, …: no negative value.
fn ramp(rows: usize) -> Vec<f64> {
    (0..rows).map(|i| i as f64).collect()
}

#[test]
fn a_row_error_in_a_late_batch_names_the_row_of_the_input() {
    let rows = 300_000;
    let bad_row = 271_828;
    let clean = ramp(rows);
    let mut bad = clean.clone();
    bad[bad_row] = -1.0;
    let clean = Table::new(vec![Column::float64("x", clean)]).expect("one column");
    let bad = Table::new(vec![Column::float64("x", bad)]).expect("one column");
    let hostile = host_with(batched()).preparer("hostile").expect("installed");
    let config = r#"{"mode":"reject-negative"}"#;
    let names_the_row = |err: PluginError| match &err {
        PluginError::Guest {
            error: GuestError::InvalidInput { column, row, .. },
            ..
        } => {
            assert_eq!(column.as_deref(), Some("x"));
            assert_eq!(*row, Some(bad_row as u64), "{err}");
        }
        other => panic!("expected the plugin's invalid-input error, got {other}"),
    };
    // `transform` in batches.
    let (state, _) = hostile
        .fit(&clean, &binary_target(rows), Task::Binary, config)
        .expect("fit behaves like ok");
    names_the_row(hostile.transform(&state, &bad).unwrap_err());
    // And `fit`, whose rows outside its sample are transformed in batches: with a run of bad
    // rows (some surely outside the sample), the error names one of them.
    let mut run = ramp(rows);
    for v in &mut run[270_000..280_000] {
        *v = -1.0;
    }
    let run = Table::new(vec![Column::float64("x", run)]).expect("one column");
    match hostile
        .fit(&run, &binary_target(rows), Task::Binary, config)
        .unwrap_err()
    {
        PluginError::Guest {
            error: GuestError::InvalidInput { row: Some(r), .. },
            ..
        } => assert!((270_000..280_000).contains(&r), "row {r}"),
        other => panic!("expected the plugin's invalid-input error, got {other}"),
    }
}

#[test]
fn a_batch_whose_columns_drift_is_stopped_naming_the_column() {
    let rows = 300_000;
    let table = Table::new(vec![Column::float64(
        "x",
        (0..rows).map(|i| i as f64).collect(),
    )])
    .expect("one column");
    let hostile = host_with(batched()).preparer("hostile").expect("installed");
    // Past one call, `fit` transforms the rows outside its sample, and there this plugin
    // changes the column's type: the fit fails, naming the column and both types.
    let err = hostile
        .fit(
            &table,
            &binary_target(rows),
            Task::Binary,
            r#"{"mode":"wrong-types"}"#,
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, PluginError::InvalidOutput { .. })
            && message.contains("'x'")
            && message.contains("int64")
            && message.contains("float64"),
        "{message}"
    );
}
