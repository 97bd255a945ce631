//! Every format reads the same table identically.

use microlearn_core::{ColumnData, ColumnKind};
use polars::prelude as pl;
use polars::prelude::{NamedFrom, SerWriter};

use super::read_file;
use crate::datetime::civil_from_days;

const DAYS: [i32; 4] = [19_000, 19_001, 19_365, 0];

fn date_text(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

fn csv_text(sep: char) -> String {
    let rows = [
        ["Ann", "31", "1.5", "true", &date_text(DAYS[0])],
        ["Bob", "", "2.25", "false", &date_text(DAYS[1])],
        ["Cy", "45", "", "true", &date_text(DAYS[2])],
        ["Ann", "27", "-3", "", &date_text(DAYS[3])],
    ];
    let mut out = ["name", "age", "score", "member", "joined"].join(&sep.to_string());
    out.push('\n');
    for row in rows {
        out.push_str(&row.join(&sep.to_string()));
        out.push('\n');
    }
    out
}

fn json_rows() -> Vec<String> {
    vec![
        format!(
            r#"{{"name":"Ann","age":31,"score":1.5,"member":true,"joined":"{}"}}"#,
            date_text(DAYS[0])
        ),
        format!(
            r#"{{"name":"Bob","age":null,"score":2.25,"member":false,"joined":"{}"}}"#,
            date_text(DAYS[1])
        ),
        format!(
            r#"{{"name":"Cy","age":45,"score":null,"member":true,"joined":"{}"}}"#,
            date_text(DAYS[2])
        ),
        format!(
            r#"{{"name":"Ann","age":27,"score":-3.0,"member":null,"joined":"{}"}}"#,
            date_text(DAYS[3])
        ),
    ]
}

fn parquet_bytes() -> Vec<u8> {
    let date = pl::Series::new("joined".into(), &DAYS[..])
        .cast(&pl::DataType::Date)
        .expect("i32 casts to date");
    let mut df = pl::DataFrame::new_infer_height(vec![
        pl::Series::new("name".into(), &["Ann", "Bob", "Cy", "Ann"]).into(),
        pl::Series::new("age".into(), &[Some(31i32), None, Some(45), Some(27)]).into(),
        pl::Series::new(
            "score".into(),
            &[Some(1.5f32), Some(2.25), None, Some(-3.0)],
        )
        .into(),
        pl::Series::new(
            "member".into(),
            &[Some(true), Some(false), Some(true), None],
        )
        .into(),
        date.into(),
    ])
    .expect("valid frame");
    let mut bytes = Vec::new();
    pl::ParquetWriter::new(&mut bytes)
        .finish(&mut df)
        .expect("parquet written");
    bytes
}

#[test]
fn every_format_reads_the_same_table() {
    let csv = read_file("t.csv", csv_text(',').as_bytes()).expect("csv");
    let tsv = read_file("t.TSV", csv_text('\t').as_bytes()).expect("tsv");
    // Spreadsheet exports: `;` (or a tab, or `|`) in a file named .csv.
    let semicolons = read_file("t.csv", csv_text(';').as_bytes()).expect("; csv");
    let tabs_in_csv = read_file("t.csv", csv_text('\t').as_bytes()).expect("tab csv");
    let pipes = read_file("t.csv", csv_text('|').as_bytes()).expect("| csv");
    let json = read_file(
        "t.json",
        format!("[{}]", json_rows().join(",\n")).as_bytes(),
    )
    .expect("json");
    let ndjson = read_file("t.ndjson", json_rows().join("\n").as_bytes()).expect("ndjson");
    let jsonl_as_json = read_file("t.json", json_rows().join("\n").as_bytes())
        .expect("ndjson content in a .json file");
    let parquet = read_file("t.parquet", &parquet_bytes()).expect("parquet");

    let table = &csv.table;
    assert_eq!(table.num_rows(), 4);
    assert_eq!(
        table.names(),
        vec!["name", "age", "score", "member", "joined"]
    );
    let age = table.column("age").expect("age");
    assert_eq!(age.data, ColumnData::Int64(vec![31, 0, 45, 27]));
    assert_eq!(age.validity, Some(vec![true, false, true, true]));
    let joined = table.column("joined").expect("joined");
    let ms: Vec<i64> = DAYS.iter().map(|&d| i64::from(d) * 86_400_000).collect();
    assert_eq!(joined.data, ColumnData::TimestampMs(ms));
    assert!(matches!(
        table.column("member").expect("member").data,
        ColumnData::Boolean(_)
    ));
    let kinds: Vec<ColumnKind> = csv.schema.columns.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ColumnKind::Categorical,
            ColumnKind::Numeric,
            ColumnKind::Numeric,
            ColumnKind::Boolean,
            ColumnKind::Datetime
        ]
    );

    for (label, other) in [
        ("tsv", &tsv),
        ("csv with ;", &semicolons),
        ("csv with tabs", &tabs_in_csv),
        ("csv with |", &pipes),
        ("json", &json),
        ("ndjson", &ndjson),
        ("ndjson in .json", &jsonl_as_json),
        ("parquet", &parquet),
    ] {
        // Debug output compares NaN placeholders of missing floats as equal, unlike `==`.
        assert_eq!(
            format!("{:?}", other.table),
            format!("{table:?}"),
            "{label} table differs from csv"
        );
        assert_eq!(other.schema, csv.schema, "{label} schema differs from csv");
    }
}

#[test]
fn csv_handles_bom_crlf_quotes_na_tokens_and_blank_lines() {
    let text =
        "\u{feff}id,\"label, quoted\",x\r\n1,\"a \"\"b\"\"\",NA\r\n\r\n2,plain,?\r\n3,N/A,2.5\r\n";
    let ds = read_file("t.csv", text.as_bytes()).expect("reads");
    assert_eq!(ds.table.names(), vec!["id", "label, quoted", "x"]);
    assert_eq!(ds.table.num_rows(), 3);
    let label = ds.table.column("label, quoted").expect("label");
    let ColumnData::Categorical(d) = &label.data else {
        panic!("categorical expected, got {:?}", label.data)
    };
    assert_eq!(d.value(0), Some("a \"b\""));
    assert_eq!(label.validity, Some(vec![true, true, false]));
    let x = ds.table.column("x").expect("x");
    assert_eq!(x.null_count(), 2);
    assert!(matches!(x.data, ColumnData::Float64(_)));
}

#[test]
fn late_float_in_integer_column_is_read_as_float() {
    let mut text = String::from("n,s\n");
    for i in 0..12_000 {
        text.push_str(&format!("{i},a\n"));
    }
    text.push_str("0.5,b\n");
    let ds = super::csv(&text).expect("re-read with full inference");
    let n = ds.table.column("n").expect("n");
    let ColumnData::Float64(v) = &n.data else {
        panic!("float expected, got {}", n.data.type_name())
    };
    assert_eq!(v[12_000], 0.5);
    assert_eq!(v[11_999], 11_999.0);
}

#[test]
fn word_booleans_keep_their_spelling_and_iso_datetimes_become_timestamps() {
    let ds = super::csv(
        "churn,when,flag\nYes,2013-01-01T10:00:00Z,TRUE\nNo,2013-01-01 12:00:00+02:00,False\nYes,,true\n",
    )
    .expect("reads");
    let churn = ds.table.column("churn").expect("churn");
    assert_eq!(churn.data, ColumnData::Boolean(vec![true, false, true]));
    let labels = &ds.bool_labels["churn"];
    assert_eq!(
        (labels.false_label.as_str(), labels.true_label.as_str()),
        ("No", "Yes")
    );
    let when = ds.table.column("when").expect("when");
    assert_eq!(
        when.data,
        ColumnData::TimestampMs(vec![1_357_034_400_000, 1_357_034_400_000, 0])
    );
    assert_eq!(when.validity, Some(vec![true, true, false]));
    assert!(matches!(
        ds.table.column("flag").expect("flag").data,
        ColumnData::Boolean(_)
    ));
}

#[test]
fn blank_header_cells_get_positional_names() {
    let ds = super::csv(",b,\n1,2,3\n4,5,6\n").expect("reads");
    assert_eq!(ds.table.names(), vec!["column_1", "b", "column_3"]);
}

#[test]
fn json_writer_output_reads_back() {
    // A round trip through polars' own JSON writer, as a different producer would write it.
    let mut df = pl::DataFrame::new_infer_height(vec![
        pl::Series::new("a".into(), &[1i64, 2, 3]).into(),
        pl::Series::new("b".into(), &["x", "y", "x"]).into(),
    ])
    .expect("frame");
    let mut bytes = Vec::new();
    pl::JsonWriter::new(&mut bytes)
        .with_json_format(pl::JsonFormat::Json)
        .finish(&mut df)
        .expect("json written");
    let ds = read_file("w.json", &bytes).expect("reads");
    assert_eq!(
        ds.table.column("a").expect("a").data,
        ColumnData::Int64(vec![1, 2, 3])
    );
}

#[test]
fn na_tokens_in_numeric_columns_are_missing_values() {
    let ds = super::csv("x,y,z\n1,NA,0.5\n2,?,N/A\n3,4,null\n").expect("reads");
    let y = ds.table.column("y").expect("y");
    assert_eq!(y.data, ColumnData::Int64(vec![0, 0, 4]));
    assert_eq!(y.validity, Some(vec![false, false, true]));
    let z = ds.table.column("z").expect("z");
    assert!(matches!(z.data, ColumnData::Float64(_)));
    assert_eq!(z.null_count(), 2);
    // Past polars' inference window too.
    let mut text = String::from("n\n");
    for i in 0..10_500 {
        text.push_str(&format!("{i}\n"));
    }
    text.push_str("NA\n");
    let ds = super::csv(&text).expect("reads");
    let n = ds.table.column("n").expect("n");
    assert_eq!(n.data.type_name(), "int64");
    assert_eq!(n.null_count(), 1);
}

#[test]
fn integers_beyond_i64_become_floats() {
    let ds = super::csv("x\n99999999999999999999\n1\n").expect("reads");
    assert_eq!(
        ds.table.column("x").expect("x").data,
        ColumnData::Float64(vec![1e20, 1.0])
    );
    let mut df = pl::DataFrame::new_infer_height(vec![
        pl::Series::new("big".into(), &[u64::MAX, 1]).into(),
        pl::Series::new("small".into(), &[7u64, 1]).into(),
    ])
    .expect("frame");
    let mut bytes = Vec::new();
    pl::ParquetWriter::new(&mut bytes)
        .finish(&mut df)
        .expect("parquet written");
    let ds = read_file("u.parquet", &bytes).expect("reads");
    assert_eq!(
        ds.table.column("big").expect("big").data.type_name(),
        "float64"
    );
    assert_eq!(
        ds.table.column("small").expect("small").data,
        ColumnData::Int64(vec![7, 1])
    );
}

#[test]
fn semicolon_files_with_decimal_commas_read_as_numbers() {
    let text = "city;\"area, km²\";price\nOslo;454,0;1,5\nRome;1285;-2,25\nLyon;47,87;\n";
    let ds = read_file("eu.csv", text.as_bytes()).expect("eu csv");
    assert_eq!(ds.table.names(), vec!["city", "area, km²", "price"]);
    let price = ds.table.column("price").expect("price");
    match &price.data {
        ColumnData::Float64(v) => assert_eq!(&v[..2], &[1.5, -2.25]),
        other => panic!("price is {other:?}"),
    }
    assert_eq!(price.validity, Some(vec![true, true, false]));
    // A comma inside quotes in the header does not make the file comma-separated, and a
    // comma file keeps its commas as separators even when values contain semicolons.
    let ds = read_file("c.csv", b"a,b\nx;y,1\nz,2\n").expect("comma csv");
    assert_eq!(ds.table.names(), vec!["a", "b"]);
}
