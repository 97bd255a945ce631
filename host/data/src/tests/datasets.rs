//! Schema inference on the public datasets.

use microlearn_core::{ColumnKind, Task};

use super::public_dataset;
use crate::{profile, read_dataset, split_target, stratified_split};

fn kind(ds: &crate::Dataset, column: &str) -> ColumnKind {
    ds.schema.column(column).expect(column).kind
}

#[test]
fn nyc_flights_time_hour_is_datetime_and_codes_are_categorical() {
    let path = public_dataset("nyc_flights");
    let ds = read_dataset(&path).expect("reads");
    // tests/data holds a seeded 5,000-row sample of the 327,346 flights.
    assert_eq!(ds.num_rows(), 5_000);
    assert_eq!(kind(&ds, "time_hour"), ColumnKind::Datetime);
    assert_eq!(kind(&ds, "carrier"), ColumnKind::Categorical);
    assert_eq!(kind(&ds, "tailnum"), ColumnKind::Categorical);
    assert_eq!(kind(&ds, "arr_delay"), ColumnKind::Numeric);
    let (_, target) = split_target(&ds, "arr_delay", None).expect("target");
    assert_eq!(target.task, Task::Regression);
}

#[test]
fn titanic_target_is_binary_with_its_labels() {
    let path = public_dataset("titanic");
    let ds = read_dataset(&path).expect("reads");
    assert_eq!(kind(&ds, "sex"), ColumnKind::Categorical);
    assert_eq!(kind(&ds, "pclass"), ColumnKind::Categorical);
    assert_eq!(kind(&ds, "age"), ColumnKind::Numeric);
    assert!(ds.schema.column("age").expect("age").nullable);
    let (_, target) = split_target(&ds, "survived", None).expect("target");
    assert_eq!(target.task, Task::Binary);
    assert_eq!(target.labels.len(), 2);
    let split = stratified_split(&target, 0.25, 0);
    assert_eq!(split.train.len() + split.test.len(), ds.num_rows());
}

#[test]
fn penguins_species_is_categorical_multiclass() {
    let path = public_dataset("penguins");
    let ds = read_dataset(&path).expect("reads");
    assert_eq!(kind(&ds, "species"), ColumnKind::Categorical);
    assert_eq!(kind(&ds, "island"), ColumnKind::Categorical);
    assert_eq!(kind(&ds, "bill_length_mm"), ColumnKind::Numeric);
    let (_, target) = split_target(&ds, "species", None).expect("target");
    assert_eq!(target.task, Task::Multiclass);
    assert_eq!(target.labels, vec!["Adelie", "Chinstrap", "Gentoo"]);
    let p = profile(&ds);
    let sex = p
        .column_profiles
        .iter()
        .find(|c| c.name == "sex")
        .expect("sex profiled");
    assert!(sex.missing > 0);
    assert_eq!(sex.distinct, 2);
}

#[test]
fn iris_integer_target_is_multiclass() {
    let path = public_dataset("iris");
    let ds = read_dataset(&path).expect("reads");
    // Coded classes stay numeric in the schema; the task still sees three classes.
    assert_eq!(kind(&ds, "target"), ColumnKind::Numeric);
    let (_, target) = split_target(&ds, "target", None).expect("target");
    assert_eq!(target.task, Task::Multiclass);
    assert_eq!(target.labels, vec!["0", "1", "2"]);
}

#[test]
fn every_public_dataset_reads_and_profiles() {
    for name in [
        "iris",
        "penguins",
        "breast_cancer",
        "titanic",
        "toyota_corolla",
        "ames_housing",
        "hpc_jobs.train",
        "telco_churn.train",
        "lending_club",
        "us_accidents",
        "diamonds.train",
    ] {
        let path = public_dataset(name);
        let ds = read_dataset(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = profile(&ds);
        assert_eq!(p.columns, ds.table.num_columns(), "{name}");
        assert!(p.rows > 100, "{name}");
    }
}
