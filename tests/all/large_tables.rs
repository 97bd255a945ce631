//! A table larger than one plugin call, end to end: with `[plugins]` batches and an output cap
//! far below the table's size, `microlearn run` fits the preparer on a sample, prepares the
//! rest in batches, trains and writes a bundle, and `microlearn predict` scores every row in
//! batches too. Before batching, the same run failed with "returned about … bytes, more than
//! the … byte output limit".

use crate::common::*;
use std::fmt::Write as _;

/// `rows` rows of four numbers, a 12-level category and a label that depends on `x0` and the
/// category (about 6 MB as f64 values).
fn table(rows: usize) -> String {
    let mut s = String::from("x0,x1,x2,x3,group,label\n");
    for i in 0..rows {
        // A multiplicative hash spreads the values; no file order to exploit.
        let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let x0 = (h >> 40) as f64 / (1u64 << 24) as f64;
        let x1 = ((h >> 16) & 0xFFFF) as f64 / 65536.0;
        let group = (h >> 8) % 12;
        let label = if x0 + 0.1 * (group % 4) as f64 > 0.65 {
            "yes"
        } else {
            "no"
        };
        writeln!(
            s,
            "{x0:.5},{x1:.5},{},{},g{group},{label}",
            i % 97,
            (i * 31) % 1009
        )
        .unwrap();
    }
    s
}

#[test]
fn a_table_far_larger_than_one_plugin_call_trains_and_scores_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // 1 MiB batches and fit sample, a 2 MiB output cap: the ~120k-row table's prepared form
    // (several MiB) cannot come back from any single call.
    std::fs::write(
        home.join("microlearn.toml"),
        "[plugins]\nbatch_mib = 1\nfit_sample_mib = 1\nmax_output_mib = 2\n",
    )
    .unwrap();
    let rows = 120_000;
    let train = dir.path().join("big.csv");
    std::fs::write(&train, table(rows)).unwrap();
    let bundle = dir.path().join("big.mlbundle");
    let out = microlearn(
        &home,
        &[
            "run",
            train.to_str().unwrap(),
            "--target",
            "label",
            "--budget",
            "20",
            "--max-trials",
            "3",
            "--seed",
            "3",
            "--out",
            bundle.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let outcome: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let auc = test_metric(&outcome, "roc_auc");
    // The label is a threshold on x0 shifted by the group: the rows prepared outside the
    // fitted sample must line up with their labels for this to be learnt.
    assert!(auc >= 0.97, "held-out ROC-AUC {auc}");

    let scored = dir.path().join("scored.csv");
    let o = microlearn(
        &home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            train.to_str().unwrap(),
            "-o",
            scored.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "predict failed: {}", stderr(&o));
    let (_, predictions) = read_csv(&scored);
    assert_eq!(predictions.len(), rows, "one prediction per input row");
}
