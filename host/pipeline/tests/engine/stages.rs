//! The first stages called one by one: each one's typed output is what the next one reads.

use crate::common::*;
use microlearn_core::Task;
use microlearn_pipeline::PluginRef;
use microlearn_pipeline::stages::{ingest, prepare, select};

#[test]
fn ingest_prepare_and_select_hand_each_other_what_the_next_stage_reads() {
    let config = seeded("species", 3, 4);
    let input = input("penguins.train.csv", Some("penguins.test.csv"));
    let plugins = plugins();

    // Ingest: the separate test file is the held-out part, its labels indexed like training's.
    let data = ingest::load(&input, &config).expect("ingest reads both files");
    assert_eq!(data.train_y.task, Task::Multiclass);
    assert_eq!(data.test_y.labels, data.train_y.labels);
    assert_eq!(data.train_y.y.len(), data.train_x.num_rows());
    assert_eq!(data.test_y.y.len(), data.test_x.num_rows());
    assert!(data.test_x.num_rows() > 0);
    assert!(
        data.feature_schema
            .columns
            .iter()
            .all(|c| c.name != "species"),
        "the target is not a feature"
    );
    assert_eq!(
        data.train_x.names(),
        data.feature_schema
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
    );
    assert_eq!(data.test_x.names(), data.train_x.names());

    // Prepare: one fitted chain turns both parts into matrices with the same columns.
    let standard = PluginRef::new("standard");
    let preparers = vec![(
        plugins
            .preparer("standard")
            .expect("standard preparer is built"),
        &standard,
    )];
    let prepared = prepare::run(prepare::PrepareInput {
        data: &data,
        preparers: &preparers,
    })
    .expect("prepare succeeds");
    assert_eq!(prepared.raw_features, data.train_x.num_columns());
    assert_eq!(prepared.x_train.n_rows(), data.train_x.num_rows());
    assert_eq!(prepared.x_test.n_rows(), data.test_x.num_rows());
    assert!(prepared.x_train.n_cols() > 0);
    assert_eq!(prepared.x_test.names(), prepared.x_train.names());

    // Select: candidates the host can train for this task, with shares that add up.
    let notes = Notes::default();
    let selector = plugins
        .selector("portfolio")
        .expect("portfolio selector is built");
    let selected = select::run(
        select::SelectInput {
            data: &data,
            prepared_features: prepared.x_train.n_cols(),
            selector: &selector,
            threads: 2,
        },
        &config,
        &notes,
    )
    .expect("select succeeds");
    assert!(!selected.candidates.is_empty());
    let catalogue = microlearn_train::catalogue();
    for c in &selected.candidates {
        let kind = catalogue
            .iter()
            .find(|k| k.name == c.kind)
            .unwrap_or_else(|| panic!("{} is not in the catalogue", c.kind));
        assert!(kind.tasks.contains(&Task::Multiclass), "{}", c.kind);
        for spec in &c.search_space {
            assert!(
                kind.params.iter().any(|p| p.name == spec.name),
                "{}: unknown parameter {}",
                c.kind,
                spec.name
            );
        }
    }
    let shares: f64 = selected.candidates.iter().map(|c| c.budget_share).sum();
    assert!((shares - 1.0).abs() < 1e-9, "budget shares sum to {shares}");
    let mut kinds: Vec<&str> = selected
        .candidates
        .iter()
        .map(|c| c.kind.as_str())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), selected.candidates.len(), "each kind once");
}

#[test]
fn ingest_holds_out_a_seeded_split_when_there_is_no_test_file() {
    let config = seeded("target", 9, 4);
    let input = input("breast_cancer.csv", None);
    let a = ingest::load(&input, &config).expect("ingest reads the file");
    let b = ingest::load(&input, &config).expect("ingest reads the file");
    assert_eq!(a.train_x, b.train_x, "the split is seeded");
    assert_eq!(a.test_y, b.test_y);
    assert_eq!(
        a.train_x.num_rows() + a.test_x.num_rows(),
        a.dataset.table.num_rows(),
        "every labelled row is in one part"
    );
    let share = a.test_x.num_rows() as f64 / a.dataset.table.num_rows() as f64;
    assert!(
        (share - config.test_fraction).abs() < 0.01,
        "held-out share {share}"
    );
    // Both classes are held out in about the proportion training has (stratified).
    let ones = |y: &[f64]| y.iter().filter(|&&v| v == 1.0).count() as f64 / y.len() as f64;
    assert!((ones(&a.train_y.y) - ones(&a.test_y.y)).abs() < 0.02);
}
