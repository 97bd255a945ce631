//! Date-times in the textual forms people export, through ingest and scoring-time coercion.

use super::{csv, read_file};
use crate::datetime::days_from_civil;
use crate::{apply_schema_for_scoring, conform_dates};
use microlearn_core::{ColumnData, ColumnKind, DateOrder};

const H: i64 = 3_600_000;
const M: i64 = 60_000;

fn day(y: i64, m: i64, d: i64) -> i64 {
    days_from_civil(y, m, d) * 86_400_000
}

fn stamps(ds: &crate::Dataset, name: &str) -> Vec<i64> {
    match &ds.table.column(name).expect("column").data {
        ColumnData::TimestampMs(v) => v.clone(),
        other => panic!("{name} is {}, not timestamps", other.type_name()),
    }
}

#[test]
fn every_common_form_is_a_datetime_column_with_its_order() {
    // One column per form; the first row of each is 2008-06-25 17:18 (UTC).
    let at = day(2008, 6, 25) + 17 * H + 18 * M;
    let text = "\
us,eu,us12,short,iso_t,iso_off,named,named_us,rfc,y
6/25/2008 17:18,25.06.2008 17:18:00,6/25/2008 5:18 PM,25/06/08 17:18,2008-06-25T17:18:00.000Z,2008-06-25 19:18+02:00,25 Jun 2008 17:18,\"Jun 25, 2008 5:18 pm\",\"Wed, 25 Jun 2008 17:18:00 +0000\",a
1/1/2013 22:33,01.01.2013 22:33:00,1/1/2013 10:33 PM,01/01/13 22:33,2013-01-01T22:33:00.000Z,2013-01-01 22:33Z,1 January 2013 22:33,\"January 1, 2013 10:33 PM\",\"Tue, 01 Jan 2013 22:33:00 GMT\",b
";
    let ds = csv(text).expect("reads");
    let second = day(2013, 1, 1) + 22 * H + 33 * M;
    for (name, order) in [
        ("us", Some(DateOrder::Mdy)),
        ("eu", Some(DateOrder::Dmy)),
        ("us12", Some(DateOrder::Mdy)),
        ("short", Some(DateOrder::Dmy)),
        ("iso_t", None),
        ("iso_off", None),
        ("named", None),
        ("named_us", None),
        ("rfc", None),
    ] {
        let col = ds.schema.column(name).expect("in schema");
        assert_eq!(
            (col.kind, col.dtype.as_str(), col.date_order),
            (ColumnKind::Datetime, "timestamp", order),
            "{name}"
        );
        assert_eq!(stamps(&ds, name), vec![at, second], "{name}");
    }
}

#[test]
fn values_that_only_look_like_dates_stay_text() {
    let ds = csv("version,when,y\n1.2.10,6/25/2008 17:18,a\n1.10.12,tomorrow,b\n").expect("reads");
    for name in ["version", "when"] {
        assert_eq!(
            ds.schema.column(name).map(|c| c.kind),
            Some(ColumnKind::Categorical),
            "{name}"
        );
    }
}

#[test]
fn ambiguous_date_times_of_a_scoring_file_follow_the_training_order() {
    // 25/06 settles day first; two-digit years and a time of day ride along.
    let train = csv("when,y\n25/06/08 17:18,a\n05/06/08 5:00,b\n").expect("train");
    assert_eq!(
        train.schema.column("when").and_then(|c| c.date_order),
        Some(DateOrder::Dmy)
    );
    // Every date of this file fits both orders: on its own it reads month first (`/`).
    let mut score = csv("when\n05/06/08 5:18 PM\n12/01/09 0:00\n").expect("score");
    assert_eq!(
        score.schema.column("when").and_then(|c| c.date_order),
        Some(DateOrder::Mdy)
    );
    conform_dates(&mut score, &train.schema).expect("conforms");
    assert_eq!(
        stamps(&score, "when"),
        vec![day(2008, 6, 5) + 17 * H + 18 * M, day(2009, 1, 12)]
    );
    // A date-time readable only month first is refused by column and row.
    let mut wrong = csv("when\n05/06/08 17:18\n06/25/08 17:18\n").expect("wrong");
    let err = conform_dates(&mut wrong, &train.schema)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'when'") && err.contains("row 2") && err.contains("day-first"),
        "{err}"
    );
    // Rows sent one by one (serving) use the schema's order, in any of the forms.
    let rows = read_file(
        "rows.json",
        br#"[{"when": "05/06/08 5:18 PM"}, {"when": "5 Jun 2008 17:18"}, {"when": "2008-06-05T19:18:00+02:00"}]"#,
    )
    .expect("rows");
    let out = apply_schema_for_scoring(rows.table, &train.schema, "y").expect("coerces");
    assert_eq!(
        out.column("when").expect("when").data,
        ColumnData::TimestampMs(vec![day(2008, 6, 5) + 17 * H + 18 * M; 3])
    );
}

#[test]
fn mixed_offsets_are_one_instant_each() {
    let ds =
        csv("t,y\n2024-03-01T10:00:00+02:00,a\n2024-03-01T08:00:00Z,b\n2024-03-01 03:00-05:00,a\n")
            .expect("reads");
    assert_eq!(stamps(&ds, "t"), vec![day(2024, 3, 1) + 8 * H; 3]);
}
