//! A stored bundle scores rows exactly as the engine did: the same preparer chain (the one
//! piece of code both run), the same model, the same probability floor.

use crate::common::*;
use microlearn_pipeline::stages::ingest;
use microlearn_pipeline::{Bundle, Engine, LoadedModel, NoopObserver, PipelineConfig, RunInput};

/// Run, then score `rows` with every leaderboard model's stored bundle and compare with the
/// engine's held-out predictions.
fn bundles_reproduce_the_held_out_predictions(
    config: &PipelineConfig,
    input: &RunInput,
    score: impl Fn(&LoadedModel) -> microlearn_pipeline::Scored,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine: Engine = engine(dir.path());
    let outcome = engine
        .run(input, config, &NoopObserver)
        .expect("the run succeeds");
    assert!(!outcome.leaderboard.is_empty());
    // A fresh plugin host: the bundle brings its own preparer components.
    let host = plugins();
    for (i, entry) in outcome.leaderboard.iter().enumerate() {
        let bytes = engine
            .store()
            .artefacts()
            .get(&entry.model.bundle.sha256)
            .expect("the bundle is stored");
        if i == outcome.best {
            assert_eq!(
                bytes, outcome.best_bundle,
                "best_bundle is the best's bundle"
            );
        }
        let bundle = Bundle::from_bytes(&bytes, "stored bundle").expect("the bundle decodes");
        assert_eq!(bundle.header.model_id, entry.model.id);
        let model = LoadedModel::from_bundle(bundle, &host).expect("the bundle loads");
        let scored = score(&model);
        assert_eq!(
            scored, entry.test_predictions,
            "{} ({}) scores the held-out rows as the engine did",
            entry.model.id, entry.model.kind
        );
    }
}

#[test]
fn a_bundle_scores_a_held_out_file_as_the_engine_did() {
    // Multiclass with a string target and missing values, from a separate test file read
    // the way `predict` reads one (the target column is there and ignored).
    let input = input("penguins.train.csv", Some("penguins.test.csv"));
    let test = input.test.clone().expect("a test file");
    bundles_reproduce_the_held_out_predictions(&seeded("species", 11, 6), &input, |model| {
        let file = microlearn_data::read_dataset(&test).expect("the test file reads");
        model.predict_dataset(file).expect("scores")
    });
}

#[test]
fn a_bundle_scores_the_rows_ingest_held_out_as_the_engine_did() {
    // Regression on a seeded split: the rows are the ones ingest held out for this config.
    let config = seeded("Price", 6, 6);
    let input = input("toyota_corolla.csv", None);
    let held_out = ingest::load(&input, &config)
        .expect("ingest reads the file")
        .test_x;
    bundles_reproduce_the_held_out_predictions(&config, &input, |model| {
        model.predict(held_out.clone()).expect("scores")
    });
}
