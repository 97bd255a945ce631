//! apply_schema and profile.

use microlearn_core::{ColumnData, ColumnKind};

use super::{csv, read_file};
use crate::{apply_schema, apply_schema_for_scoring, profile};

#[test]
fn apply_schema_coerces_types_orders_columns_and_drops_extras() {
    let train = csv("age,income,member,when,city,y\n31,1.5,yes,2020-01-01,Oslo,1\n40,2.5,no,2020-02-01,Rome,0\n")
        .expect("train");
    // Rows to score from JSON: strings for numbers, floats for ints, an extra column, no target.
    let score = read_file(
        "score.json",
        br#"[{"extra": 1, "city": 7, "when": "2021-03-04T05:06:07Z", "member": "True", "income": 3, "age": "52"},
             {"extra": 2, "city": "Oslo", "when": null, "member": false, "income": 4.5, "age": "NA"}]"#,
    )
    .expect("score");
    let out = apply_schema_for_scoring(score.table, &train.schema, "y").expect("coerces");
    assert_eq!(out.names(), vec!["age", "income", "member", "when", "city"]);
    let age = out.column("age").expect("age");
    assert_eq!(age.data, ColumnData::Int64(vec![52, 0]));
    assert_eq!(age.validity, Some(vec![true, false]));
    assert_eq!(
        out.column("income").expect("income").data,
        ColumnData::Float64(vec![3.0, 4.5])
    );
    assert_eq!(
        out.column("member").expect("member").data,
        ColumnData::Boolean(vec![true, false])
    );
    assert_eq!(
        out.column("when").expect("when").data.type_name(),
        "timestamp"
    );
    let ColumnData::Categorical(city) = &out.column("city").expect("city").data else {
        panic!("city must be categorical")
    };
    assert_eq!(city.value(0), Some("7"));
}

#[test]
fn apply_schema_names_every_missing_column() {
    let train = csv("a,b,c,y\n1,2,3,0\n").expect("train");
    let score = csv("b,z\n1,2\n").expect("score");
    let err = apply_schema(score.table.clone(), &train.schema).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.code(), "missing-columns");
    assert!(msg.contains("'a', 'c', 'y'"), "{msg}");
    let err = apply_schema_for_scoring(score.table, &train.schema, "y").unwrap_err();
    assert!(
        !err.to_string().contains("'y'"),
        "target is optional: {err}"
    );
}

#[test]
fn apply_schema_rejects_values_that_do_not_convert() {
    let train = csv("n\n1\n2\n").expect("train");
    let score = csv("n\n3\nabc\n").expect("score");
    let err = apply_schema(score.table, &train.schema).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.code(), "coerce");
    assert!(
        msg.contains("'n'") && msg.contains("row 2") && msg.contains("'abc'"),
        "{msg}"
    );
    let score = csv("n\n3.5\n").expect("score");
    let err = apply_schema(score.table, &train.schema).unwrap_err();
    assert!(err.to_string().contains("not a whole number"), "{err}");
}

#[test]
fn profile_reports_missing_distinct_quantiles_histogram_and_top_values() {
    let mut text = String::from("x,c\n");
    for i in 0..100 {
        let c = ["a", "b", "b", "c"][i % 4];
        if i == 0 {
            text.push_str(",a\n");
        } else {
            text.push_str(&format!("{i},{c}\n"));
        }
    }
    let ds = csv(&text).expect("reads");
    let p = profile(&ds);
    assert_eq!((p.rows, p.columns, p.missing_cells), (100, 2, 1));
    let x = &p.column_profiles[0];
    assert_eq!(x.kind, ColumnKind::IdLike);
    assert_eq!((x.missing, x.distinct), (1, 99));
    let num = x.numeric.as_ref().expect("numeric summary");
    assert_eq!((num.min, num.max, num.mean), (1.0, 99.0, 50.0));
    assert_eq!(num.histogram.counts.len(), 20);
    assert_eq!(num.histogram.counts.iter().sum::<usize>(), 99);
    assert_eq!(num.histogram.edges.len(), 21);
    let median = num
        .quantiles
        .iter()
        .find(|(q, _)| *q == 0.5)
        .expect("median")
        .1;
    assert_eq!(median, 50.0);
    let c = &p.column_profiles[1];
    assert_eq!(c.kind, ColumnKind::Categorical);
    assert_eq!(c.distinct, 3);
    assert_eq!(c.top_values[0].value, "b");
    assert_eq!(c.top_values[0].count, 50);
    let json = serde_json::to_string(&p).expect("serializes");
    let back: crate::DatasetProfile = serde_json::from_str(&json).expect("deserializes");
    // serde_json may move floats by an ulp; the structure must survive.
    assert_eq!(back.column_profiles[1], p.column_profiles[1]);
    assert_eq!(back.rows, p.rows);
}

#[test]
fn numeric_dates_keep_the_training_order_when_scored() {
    use crate::conform_dates;
    use crate::datetime::days_from_civil;
    use microlearn_core::DateOrder;
    let day = |y, m, d| days_from_civil(y, m, d) * 86_400_000;
    // 27.11 settles the order: day first.
    let train = csv("when,x,y\n27.11.2024,1,a\n05.06.2024,2,b\n01.02.2023,3,a\n").expect("train");
    let when = train.schema.column("when").expect("when");
    assert_eq!(
        (when.dtype.as_str(), when.date_order),
        ("timestamp", Some(DateOrder::Dmy))
    );
    assert_eq!(
        train.schema.column("when").map(|c| c.kind),
        Some(ColumnKind::Datetime)
    );
    assert_eq!(
        train.table.column("when").expect("when").data,
        ColumnData::TimestampMs(vec![day(2024, 11, 27), day(2024, 6, 5), day(2023, 2, 1)])
    );

    // A scoring file with `/` and only ambiguous dates is read month first on its own, then
    // turned around to the training order.
    let mut score = csv("when,x\n05/06/2024,1\n,2\n").expect("score");
    assert_eq!(
        score.schema.column("when").and_then(|c| c.date_order),
        Some(DateOrder::Mdy)
    );
    conform_dates(&mut score, &train.schema).expect("conforms");
    let when = score.table.column("when").expect("when");
    assert_eq!(when.data, ColumnData::TimestampMs(vec![day(2024, 6, 5), 0]));
    assert_eq!(when.validity, Some(vec![true, false]));

    // Text rows (serving) use the schema's order too; ISO 8601 is always accepted.
    let rows = read_file(
        "rows.json",
        br#"[{"when": "05.06.2024", "x": 1}, {"when": "2024-06-05", "x": 2}]"#,
    )
    .expect("rows");
    let out = apply_schema_for_scoring(rows.table, &train.schema, "y").expect("coerces");
    assert_eq!(
        out.column("when").expect("when").data,
        ColumnData::TimestampMs(vec![day(2024, 6, 5), day(2024, 6, 5)])
    );

    // A date that only reads month first is refused, naming the column and row.
    let mut wrong = csv("when,x\n01/02/2024,1\n11/27/2024,2\n").expect("wrong");
    let err = conform_dates(&mut wrong, &train.schema)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'when'") && err.contains("row 2") && err.contains("day-first"),
        "{err}"
    );
}

#[test]
fn every_numeric_date_column_of_a_scoring_file_is_conformed() {
    use crate::conform_dates;
    use crate::datetime::days_from_civil;
    let day = |y, m, d| days_from_civil(y, m, d) * 86_400_000;
    let train = csv("a,b,y\n27.11.2024,13.01.2020,x\n05.06.2024,02.03.2021,z\n").expect("train");
    let mut score = csv("a,b\n05/06/2024,02/03/2021\n").expect("score");
    conform_dates(&mut score, &train.schema).expect("conforms");
    for (name, want) in [("a", day(2024, 6, 5)), ("b", day(2021, 3, 2))] {
        assert_eq!(
            score.table.column(name).expect("column").data,
            ColumnData::TimestampMs(vec![want]),
            "{name}"
        );
    }
}
