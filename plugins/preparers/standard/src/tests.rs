use super::*;
use microlearn_sdk::testing;

fn target(rows: usize) -> Column {
    Column::float64("y", vec![0.0; rows])
}

fn fit(train: &Table, config: &str) -> FitOutput {
    Standard::fit(train, &target(train.num_rows()), Task::Binary, config).expect("fit succeeds")
}

fn values<'a>(t: &'a Table, name: &str) -> &'a [f64] {
    let col = t
        .column(name)
        .unwrap_or_else(|| panic!("column {name} missing; have {:?}", t.names()));
    let ColumnData::Float64(v) = &col.data else {
        panic!("{name} is not float64")
    };
    v
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
}

#[test]
fn numeric_is_median_imputed_with_indicator_then_standardised() {
    let train = Table::new(vec![Column::float64("x", vec![1.0, f64::NAN, 3.0, 10.0])]).unwrap();
    let out = fit(&train, r#"{"scale": false}"#).table;
    assert_eq!(out.names(), vec!["x", "x__missing"]);
    assert!(
        close(values(&out, "x"), &[1.0, 3.0, 3.0, 10.0]),
        "median of 1, 3, 10 is 3"
    );
    assert!(close(values(&out, "x__missing"), &[0.0, 1.0, 0.0, 0.0]));

    let scaled = fit(&train, "{}").table;
    let x = values(&scaled, "x");
    let mean = x.iter().sum::<f64>() / 4.0;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0;
    assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
}

#[test]
fn one_hot_maps_unseen_and_missing_to_all_zeros() {
    let train = Table::new(vec![Column::categorical_from_strs(
        "color",
        &[Some("red"), Some("blue"), Some("red"), None],
    )])
    .unwrap();
    let fitted = fit(&train, "{}");
    assert_eq!(
        fitted.table.names(),
        vec!["color=red", "color=blue", "color__missing"]
    );
    let serve = Table::new(vec![Column::categorical_from_strs(
        "color",
        &[Some("green"), Some("blue"), None],
    )])
    .unwrap();
    let out = Standard::transform(&fitted.state, &serve).unwrap();
    assert!(close(values(&out, "color=red"), &[0.0, 0.0, 0.0]));
    assert!(close(values(&out, "color=blue"), &[0.0, 1.0, 0.0]));
    assert!(close(values(&out, "color__missing"), &[0.0, 0.0, 1.0]));
}

fn mixed(rows: usize) -> Table {
    let cities = ["Oslo", "Lima", "Pune", "Kyiv"];
    let day = 86_400_000i64;
    Table::new(vec![
        Column::new("id", ColumnData::Int64((0..rows as i64).collect())),
        Column::float64_nan_missing(
            "income",
            (0..rows)
                .map(|i| {
                    if i % 7 == 0 {
                        f64::NAN
                    } else {
                        (i * 37 % 101) as f64
                    }
                })
                .collect(),
        ),
        Column::new(
            "age",
            ColumnData::Int64((0..rows as i64).map(|i| 20 + i % 50).collect()),
        ),
        Column::new(
            "member",
            ColumnData::Boolean((0..rows).map(|i| i % 3 == 0).collect()),
        ),
        Column::categorical_from_strs(
            "city",
            &(0..rows)
                .map(|i| {
                    if i % 11 == 0 {
                        None
                    } else {
                        Some(cities[i % 4])
                    }
                })
                .collect::<Vec<_>>(),
        ),
        Column::categorical_from_strs(
            "sku",
            &(0..rows)
                .map(|i| Some(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"][i % 12]))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "signup",
            ColumnData::TimestampMs(
                (0..rows as i64)
                    .map(|i| 1_600_000_000_000 + i * 3 * day)
                    .collect(),
            ),
        ),
        Column::float64("constant", vec![5.0; rows]),
    ])
    .unwrap()
}

#[test]
fn transform_reproduces_fit_output_on_the_training_table() {
    let train = mixed(200);
    let fitted = fit(&train, "{}");
    testing::check_prepared(&fitted.table, 200).unwrap();
    let again = Standard::transform(&fitted.state, &train).unwrap();
    assert_eq!(again, fitted.table);
    // And through the same conversions as the component.
    let via = testing::fit::<Standard>(&train, &target(200), Task::Binary, "{}").unwrap();
    assert_eq!(via.table, fitted.table);
    assert_eq!(
        testing::transform::<Standard>(&via.state, &train).unwrap(),
        fitted.table
    );
}

#[test]
fn drops_constant_and_id_like_columns_and_keeps_order() {
    let fitted = fit(&mixed(200), "{}");
    let names = fitted.table.names();
    assert!(
        !names.contains(&"id") && !names.contains(&"constant"),
        "{names:?}"
    );
    assert_eq!(names[0], "income");
    assert_eq!(names[1], "income__missing");
    assert_eq!(names[2], "age");
    assert!(names.contains(&"city=Oslo") && names.contains(&"city__missing"));
    // 12 SKUs > max_onehot 10: frequency encoded. Row i holds level i % 12, so levels 0–7
    // appear 17 times in 200 rows and levels 8–11 appear 16 times.
    let sku = values(&fitted.table, "sku");
    assert_eq!(sku[0], 17.0 / 200.0);
    assert_eq!(sku[11], 16.0 / 200.0);
    assert!(names.contains(&"signup__year") && names.contains(&"signup__weekday"));
    assert!(!names.contains(&"signup__hour"), "hour is always 0");
}

#[test]
fn transform_accepts_any_column_order_and_extra_columns() {
    let train = mixed(100);
    let fitted = fit(&train, "{}");
    let mut columns = train.clone().into_columns();
    columns.reverse();
    columns.push(Column::float64("extra", vec![1.0; 100]));
    let shuffled = Table::new(columns).unwrap();
    assert_eq!(
        Standard::transform(&fitted.state, &shuffled).unwrap(),
        fitted.table
    );
}

#[test]
fn missing_column_is_invalid_input_naming_it() {
    let train = mixed(50);
    let fitted = fit(&train, "{}");
    let mut without = train.clone();
    without.remove("city");
    let err = Standard::transform(&fitted.state, &without).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput { column: Some(c), .. } if c == "city"),
        "{err}"
    );
}

#[test]
fn wrong_type_is_invalid_input_naming_column_and_expected_type() {
    let train = mixed(50);
    let fitted = fit(&train, "{}");
    let mut changed = train.clone();
    changed.remove("income");
    let mut columns = changed.into_columns();
    columns.push(Column::categorical_from_strs(
        "income",
        &vec![Some("high"); 50],
    ));
    let err = Standard::transform(&fitted.state, &Table::new(columns).unwrap()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("'income'") && msg.contains("expected numeric"),
        "{msg}"
    );
}

#[test]
fn boolean_is_zero_one_with_mode_imputation() {
    let mut col = Column::new("flag", ColumnData::Boolean(vec![true, true, false, false]));
    col.set_validity(vec![true, true, true, false]);
    let fitted = fit(&Table::new(vec![col]).unwrap(), "{}");
    assert!(close(values(&fitted.table, "flag"), &[1.0, 1.0, 0.0, 1.0]));
    assert!(close(
        values(&fitted.table, "flag__missing"),
        &[0.0, 0.0, 0.0, 1.0]
    ));
}

#[test]
fn ordinal_config_encodes_high_cardinality_as_scaled_rank() {
    let levels: Vec<Option<&str>> = (0..40)
        .map(|i| Some(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"][i % 12]))
        .collect();
    let train = Table::new(vec![Column::categorical_from_strs("code", &levels)]).unwrap();
    let fitted = fit(&train, r#"{"high_cardinality": "ordinal", "scale": false}"#);
    assert_eq!(values(&fitted.table, "code")[..3], [0.0, 1.0, 2.0]);
    let unseen = Table::new(vec![Column::categorical_from_strs("code", &[Some("zzz")])]).unwrap();
    let out = Standard::transform(&fitted.state, &unseen).unwrap();
    assert!(values(&out, "code")[0].is_finite());
}

#[test]
fn non_finite_inputs_at_transform_become_the_fill_value() {
    let train = Table::new(vec![Column::float64("x", vec![1.0, 2.0, 3.0])]).unwrap();
    let fitted = fit(&train, r#"{"scale": false}"#);
    let serve = Table::new(vec![Column::float64(
        "x",
        vec![f64::NAN, f64::INFINITY, 7.0],
    )])
    .unwrap();
    let out = Standard::transform(&fitted.state, &serve).unwrap();
    assert!(close(values(&out, "x"), &[2.0, 2.0, 7.0]));
}

#[test]
fn rejects_bad_config_and_foreign_state() {
    let train = mixed(20);
    let err =
        Standard::fit(&train, &target(20), Task::Binary, r#"{"max_one_hot": 3}"#).unwrap_err();
    assert!(matches!(err, PluginError::InvalidConfig(m) if m.contains("max_one_hot")));
    assert!(matches!(
        Standard::transform(b"{}", &train),
        Err(PluginError::InvalidState(_))
    ));
    let mut spec: spec::Spec = serde_json::from_slice(&fit(&train, "{}").state).unwrap();
    spec.version = 99;
    let state = serde_json::to_vec(&spec).unwrap();
    let err = Standard::transform(&state, &train).unwrap_err();
    assert!(matches!(err, PluginError::InvalidState(m) if m.contains("99")));
}

#[test]
fn id_names_are_recognised() {
    for name in ["id", "ID", "user_id", "orderId", "CustomerID", "row-id"] {
        assert!(spec::id_like_name(name), "{name}");
    }
    for name in ["paid", "valid", "idle", "width"] {
        assert!(!spec::id_like_name(name), "{name}");
    }
}
