use super::*;
use microlearn_sdk::{data, testing};

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

#[test]
fn timestamps_give_minute_and_epoch_and_pairs_give_their_gap() {
    let hour = 3_600_000i64;
    let day = 24 * hour;
    // Orders placed at varying minutes, shipped 1–4 days later; one ship date is missing.
    let placed: Vec<i64> = (0..40)
        .map(|i| 1_600_000_000_000 + i * day + (i % 7) * 11 * 60_000)
        .collect();
    let shipped: Vec<i64> = placed
        .iter()
        .enumerate()
        .map(|(i, &p)| p + (1 + i as i64 % 4) * day)
        .collect();
    let mut ship = Column::new("shipped", ColumnData::TimestampMs(shipped));
    ship.set_validity((0..40).map(|i| i != 5).collect());
    let train = Table::new(vec![
        Column::new("placed", ColumnData::TimestampMs(placed.clone())),
        ship,
    ])
    .unwrap();
    let fitted = fit(&train, r#"{"scale": false}"#);
    let names = fitted.table.names();
    for name in [
        "placed__minute",
        "placed__epoch",
        "shipped__minute",
        "placed__minus__shipped",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    // Every output comes before the gaps, which come last.
    assert_eq!(names.last(), Some(&"placed__minus__shipped"));
    let minutes = values(&fitted.table, "placed__minute");
    assert_eq!(minutes[1] - minutes[0], 11.0);
    let epoch = values(&fitted.table, "placed__epoch");
    assert!((epoch[1] - epoch[0] - (1.0 + 11.0 / 1440.0)).abs() < 1e-9);
    // First minus second in training order, in days.
    let gap = values(&fitted.table, "placed__minus__shipped");
    assert!(close(&gap[..5], &[-1.0, -2.0, -3.0, -4.0, -1.0]));
    // The missing ship date gets the median gap: of the 39 others, ten each of −1, −3, −4
    // and nine of −2.
    assert_eq!(gap[5], -3.0);

    // Scoring applies the same gap, and a changed type is named.
    let again = Standard::transform(&fitted.state, &train).unwrap();
    assert_eq!(again, fitted.table);
    let broken = Table::new(vec![
        Column::new("placed", ColumnData::TimestampMs(placed)),
        Column::float64("shipped", vec![1.0; 40]),
    ])
    .unwrap();
    let err = Standard::transform(&fitted.state, &broken).unwrap_err();
    assert!(err.to_string().contains("'shipped'"), "{err}");
}

/// 400 rows over 40 area codes; the target depends on the code but not in its order: codes
/// whose value is a multiple of 3 are positive (a number line cannot split them off).
fn coded(rows: usize) -> (Table, Column) {
    let codes: Vec<i64> = (0..rows as i64).map(|i| 100 + (i * 7) % 40).collect();
    let y: Vec<f64> = codes
        .iter()
        .map(|&c| f64::from(u8::from(c % 3 == 0)))
        .collect();
    let table = Table::new(vec![
        Column::new("area_id", ColumnData::Int64(codes)),
        Column::float64("x", (0..rows).map(|i| (i % 13) as f64).collect()),
    ])
    .unwrap();
    (table, Column::float64("y", y))
}

#[test]
fn integer_codes_get_level_share_and_out_of_fold_target_statistics() {
    let (train, y) = coded(400);
    let fitted = Standard::fit(&train, &y, Task::Binary, r#"{"scale": false}"#).unwrap();
    testing::check_prepared(&fitted.table, 400).unwrap();
    // The id-like name does not drop a code whose levels repeat: it keeps its value and gains
    // the encodings.
    assert_eq!(
        fitted.table.names()[..3],
        ["area_id", "area_id__freq", "area_id__target"]
    );
    assert!(
        values(&fitted.table, "area_id__freq")
            .iter()
            .all(|&f| f == 10.0 / 400.0)
    );

    // On new rows the statistic is the level's smoothed mean over all training rows, which
    // separates the levels the target depends on: every level's rows agree, so positives get
    // (10 + 10·p) / 20 and negatives 10·p / 20, p being the share of positives.
    let fresh = Standard::transform(&fitted.state, &train).unwrap();
    let codes = data::int64(train.column("area_id").unwrap()).unwrap();
    let stat = values(&fresh, "area_id__target");
    let p = y_share(&y);
    for (&c, &s) in codes.iter().zip(stat) {
        let want = if c % 3 == 0 {
            (10.0 + 10.0 * p) / 20.0
        } else {
            10.0 * p / 20.0
        };
        assert!((s - want).abs() < 1e-9, "code {c}: {s} vs {want}");
    }

    // At fit, a row's statistic leaves out its own fold (its own label among them), so the
    // values differ from the full fit.
    let oof = values(&fitted.table, "area_id__target");
    assert_ne!(oof, stat);
    for (i, (&c, &s)) in codes.iter().zip(oof).enumerate() {
        let keep = |j: usize| spec::fold_of(j) != spec::fold_of(i);
        let ys = data::float64(&y).unwrap();
        let prior = ys
            .iter()
            .enumerate()
            .filter(|(j, _)| keep(*j))
            .map(|(_, v)| v)
            .sum::<f64>()
            / (0..400).filter(|&j| keep(j)).count() as f64;
        let (mut s_l, mut n_l) = (0.0, 0.0);
        for j in (0..400).filter(|&j| keep(j) && codes[j] == c) {
            s_l += ys[j];
            n_l += 1.0;
        }
        let want = (s_l + spec::SMOOTHING * prior) / (n_l + spec::SMOOTHING);
        assert!((s - want).abs() < 1e-9, "row {i}: {s} vs {want}");
    }
    // The ordering still separates the classes out of fold.
    let lowest_positive = codes
        .iter()
        .zip(oof)
        .filter(|(c, _)| *c % 3 == 0)
        .map(|(_, &s)| s)
        .fold(f64::INFINITY, f64::min);
    let highest_negative = codes
        .iter()
        .zip(oof)
        .filter(|(c, _)| *c % 3 != 0)
        .map(|(_, &s)| s)
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(lowest_positive > highest_negative);

    // Unseen and missing codes get share 0 and the prior.
    let mut unseen = Column::new("area_id", ColumnData::Int64(vec![999, 102]));
    unseen.set_validity(vec![true, false]);
    let serve = Table::new(vec![unseen, Column::float64("x", vec![1.0, 2.0])]).unwrap();
    let out = Standard::transform(&fitted.state, &serve).unwrap();
    assert_eq!(values(&out, "area_id__freq"), [0.0, 0.0]);
    assert!(close(values(&out, "area_id__target"), &[p, p]));
}

fn y_share(y: &Column) -> f64 {
    let v = data::float64(y).unwrap();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn codes_are_per_class_for_multiclass_and_a_mean_for_regression_and_can_be_switched_off() {
    let (train, y) = coded(400);
    let classes: Vec<Option<&str>> = data::float64(&y)
        .unwrap()
        .iter()
        .zip(data::int64(train.column("area_id").unwrap()).unwrap())
        .map(|(&t, &c)| {
            Some(if t > 0.0 {
                "hot"
            } else if c % 2 == 0 {
                "warm"
            } else {
                "cold"
            })
        })
        .collect();
    let target = Column::categorical_from_strs("y", &classes);
    let multi = Standard::fit(&train, &target, Task::Multiclass, "{}").unwrap();
    let names = multi.table.names();
    for class in ["hot", "warm", "cold"] {
        let name = format!("area_id__target={class}");
        assert!(names.contains(&name.as_str()), "{name} in {names:?}");
    }
    let values_y: Vec<f64> = data::int64(train.column("area_id").unwrap())
        .unwrap()
        .iter()
        .map(|&c| ((c - 120) * (c - 120)) as f64)
        .collect();
    let regression = Standard::fit(
        &train,
        &Column::float64("y", values_y),
        Task::Regression,
        "{}",
    )
    .unwrap();
    assert!(regression.table.names().contains(&"area_id__target"));
    let off = Standard::fit(&train, &y, Task::Binary, r#"{"codes": false}"#).unwrap();
    assert_eq!(off.table.names(), ["area_id", "x"]);
    // Integers with few levels, or levels that hardly repeat, stay plain numbers.
    let few = Table::new(vec![Column::new(
        "grade",
        ColumnData::Int64((0..400).map(|i| i % 5).collect()),
    )])
    .unwrap();
    assert_eq!(fit(&few, "{}").table.names(), ["grade"]);
    let sparse = Table::new(vec![Column::new(
        "km",
        ColumnData::Int64((0..400).map(|i| i * 7 % 300).collect()),
    )])
    .unwrap();
    assert_eq!(fit(&sparse, "{}").table.names(), ["km"]);
}

#[test]
fn keeps_an_id_like_code_when_nothing_else_is_usable() {
    // An index beside a code whose values (numbers and text mixed) never repeat: both are
    // id-like, but dropping both leaves no feature. The code comes back, ranked in sorted
    // order (so `A…` codes sit together), and the index stays out.
    let codes: Vec<String> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                format!("{}", 1000 + i)
            } else {
                format!("A{i:03}")
            }
        })
        .collect();
    let refs: Vec<Option<&str>> = codes.iter().map(|s| Some(s.as_str())).collect();
    let train = Table::new(vec![
        Column::new("idx", ColumnData::Int64((0..40).collect())),
        Column::categorical_from_strs("code", &refs),
    ])
    .unwrap();
    let fitted = fit(&train, "{}");
    assert_eq!(fitted.table.names(), vec!["code"]);
    let ranked = values(&fitted.table, "code");
    let top_number = ranked.iter().step_by(2).copied().fold(f64::MIN, f64::max);
    let low_letter = ranked
        .iter()
        .skip(1)
        .step_by(2)
        .copied()
        .fold(f64::MAX, f64::min);
    assert!(
        top_number < low_letter,
        "digits sort before letters: {ranked:?}"
    );
    // Scoring rows go through the same ranking.
    let again = Standard::transform(&fitted.state, &train).unwrap();
    assert_eq!(again, fitted.table);

    // With only an index, the index is kept rather than failing…
    let only_index = Table::new(vec![Column::new(
        "idx",
        ColumnData::Int64((0..40).collect()),
    )])
    .unwrap();
    assert_eq!(fit(&only_index, "{}").table.names(), vec!["idx"]);
    // …and a table of constants still has nothing to learn from.
    let constant = Table::new(vec![Column::float64("c", vec![1.0; 40])]).unwrap();
    assert!(fit(&constant, "{}").table.names().is_empty());
}
