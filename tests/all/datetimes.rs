//! Date-times written as people export them (`25/06/2008 17:18`, `Jun 25, 2008 5:18 PM`),
//! through `microlearn run` and `microlearn predict` on a bundle.

use crate::common::*;
use std::fmt::Write as _;
use std::path::Path;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `placed` day first with a 24-hour time, `shipped` with a month name and a 12-hour time;
/// the label is whether the order was placed in the afternoon, which only the parsed hour
/// tells (as text every value is distinct and carries nothing).
fn orders(rows: usize) -> String {
    let mut s = String::from("placed,shipped,noise,label\n");
    for i in 0..rows {
        let (d, m, y) = (1 + (i * 7) % 28, 1 + (i * 5) % 12, 2008 + i % 3);
        let (hour, minute) = ((i * 11) % 24, (i * 13) % 60);
        // The ship time is scrambled (a multiplicative hash of the row), so that only
        // `placed` tells the label.
        let ship_hour = (((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) % 24) as usize;
        let h12 = if ship_hour.is_multiple_of(12) {
            12
        } else {
            ship_hour % 12
        };
        let ampm = if ship_hour < 12 { "AM" } else { "PM" };
        let shipped = format!(
            "\"{} {}, {y} {h12}:{:02} {ampm}\"",
            MONTHS[m - 1],
            (d + i % 3).min(28),
            (i * 17) % 60
        );
        let label = if hour >= 12 { "pm" } else { "am" };
        writeln!(
            s,
            "{d:02}/{m:02}/{y} {hour}:{minute:02},{shipped},{},{label}",
            (i * 37) % 101
        )
        .unwrap();
    }
    s
}

fn predictions(home: &Path, bundle: &Path, file: &Path, out: &Path) -> Vec<Vec<String>> {
    let o = microlearn(
        home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "predict failed: {}", stderr(&o));
    read_csv(out).1
}

#[test]
fn date_times_with_a_time_of_day_feed_the_model_and_score_in_the_training_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let train = dir.path().join("orders.csv");
    std::fs::write(&train, orders(400)).unwrap();
    let bundle = dir.path().join("orders.mlbundle");
    let out = microlearn(
        &home,
        &[
            "run",
            train.to_str().unwrap(),
            "--target",
            "label",
            "--budget",
            "10",
            "--max-trials",
            "12",
            "--seed",
            "1",
            "--out",
            bundle.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let outcome: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let accuracy = test_metric(&outcome, "accuracy");
    assert!(
        accuracy >= 0.95,
        "held-out accuracy {accuracy}: the hour of `placed` was not used"
    );

    // The same instants three ways: ISO 8601; numeric dates that all fit both orders (read
    // month first on their own, so turned around to the training's day-first order); and a
    // month name. Each is scored the same, and the hour decides. Each row ships the next
    // morning, as in training (a gap far outside the training range would decide instead).
    let (ship1, ship2) = ("\"Jun 6, 2008 9:00 AM\"", "\"Feb 2, 2009 9:00 AM\"");
    let write = |name: &str, first: &str, second: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("placed,shipped,noise\n{first},{ship1},3\n{second},{ship2},3\n"),
        )
        .unwrap();
        path
    };
    let iso = write("iso.csv", "2008-06-05T17:18:00", "2009-02-01T03:05:00Z");
    let ambiguous = write("ambiguous.csv", "05/06/2008 17:18", "01/02/2009 3:05");
    let named = write("named.csv", "\"Jun 5, 2008 5:18 PM\"", "1 Feb 2009 3:05 AM");
    let by_iso = predictions(&home, &bundle, &iso, &dir.path().join("p1.csv"));
    assert_eq!(by_iso[0][0], "pm");
    assert_eq!(by_iso[1][0], "am");
    for file in [&ambiguous, &named] {
        let scored = predictions(&home, &bundle, file, &dir.path().join("p2.csv"));
        assert_eq!(scored, by_iso, "{}", file.display());
    }

    // A date that only reads month first cannot be a day-first date: refused by column and row.
    let impossible = write("impossible.csv", "05/06/2008 17:18", "06/25/2008 17:18");
    let o = microlearn(
        &home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            impossible.to_str().unwrap(),
            "-o",
            dir.path().join("p3.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("'placed'") && err.contains("row 2") && err.contains("day-first"),
        "{err}"
    );
}

/// 600 rows, 60 area codes; the label is positive for codes that are multiples of 7, which no
/// threshold on the number isolates, plus a weak numeric feature.
fn areas(rows: usize) -> String {
    let mut s = String::from("area_code,size,label\n");
    for i in 0..rows {
        let code = 1000 + (i * 13) % 60;
        let label = u8::from(code % 7 == 0);
        writeln!(s, "{code},{},{label}", (i * 31) % 97).unwrap();
    }
    s
}

#[test]
fn an_integer_code_that_predicts_is_kept_and_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let train = dir.path().join("areas.csv");
    std::fs::write(&train, areas(600)).unwrap();
    let out = microlearn(
        &home,
        &[
            "run",
            train.to_str().unwrap(),
            "--target",
            "label",
            "--budget",
            "8",
            "--max-trials",
            "8",
            "--seed",
            "1",
            "--json",
        ],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let outcome: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let auc = test_metric(&outcome, "roc_auc");
    assert!(
        auc >= 0.95,
        "held-out ROC-AUC {auc}: the area code was not used as a code"
    );
}
