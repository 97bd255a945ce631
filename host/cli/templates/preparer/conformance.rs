//! Conformance: what the MicroLearn host checks when it installs and calls this plugin, run
//! natively through the same conversions the component uses (`microlearn_sdk::testing`).

use microlearn_sdk::prelude::*;
use microlearn_sdk::testing;
use support::{assert_same_table, manifest};
use {{crate_file}}::{{Type}};

mod support;

fn mixed(rows: usize) -> Table {
    let colours = ["red", "green", "blue"];
    Table::new(vec![
        Column::float64_nan_missing(
            "num",
            (0..rows)
                .map(|i| if i % 7 == 3 { f64::NAN } else { i as f64 * 0.5 })
                .collect(),
        ),
        Column::categorical_from_strs(
            "colour",
            &(0..rows)
                .map(|i| if i % 11 == 5 { None } else { Some(colours[i % 3]) })
                .collect::<Vec<_>>(),
        ),
        Column::new("count", ColumnData::Int64((0..rows as i64).collect())),
    ])
    .expect("equal lengths")
}

#[test]
fn describe_matches_the_manifest() {
    let info = {{Type}}::describe();
    let m = manifest();
    assert_eq!(info.id, m.id, "describe().id vs microlearn.toml");
    assert_eq!(info.kind, PluginKind::Preparer);
    assert_eq!(m.kind, "preparer");
    assert_eq!(info.version, m.version, "describe().version vs microlearn.toml");
    let schema: serde_json::Value =
        serde_json::from_str(&info.config_schema).expect("the config schema is JSON");
    assert!(schema.is_object(), "the config schema is a JSON object");
}

#[test]
fn fit_keeps_every_row_and_transform_replays_it() {
    let train = mixed(60);
    let target = Column::float64("y", (0..60).map(|i| (i % 2) as f64).collect());
    let fitted = testing::fit::<{{Type}}>(&train, &target, Task::Binary, "{}").expect("fit");
    assert_eq!(fitted.table.num_rows(), 60);
    let again = testing::transform::<{{Type}}>(&fitted.state, &train).expect("transform");
    assert_same_table(&again, &fitted.table, "transform(fit state, train) vs fit output");
    let unseen = testing::transform::<{{Type}}>(&fitted.state, &mixed(17)).expect("unseen rows");
    assert_eq!(unseen.num_rows(), 17);
}

#[test]
fn bad_config_and_bad_state_are_typed_errors_not_panics() {
    let train = mixed(10);
    let target = Column::float64("y", vec![0.0; 10]);
    let err = testing::fit::<{{Type}}>(&train, &target, Task::Binary, r#"{"no_such_field": 1}"#)
        .expect_err("unknown config field");
    assert!(matches!(err, PluginError::InvalidConfig(_)), "{err:?}");
    let err = testing::transform::<{{Type}}>(b"\xff not a state", &train)
        .expect_err("garbage state");
    assert!(matches!(err, PluginError::InvalidState(_)), "{err:?}");
}
