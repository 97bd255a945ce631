//! Every ingest error says what is wrong and where.

use std::path::Path;

use super::{csv, read_file};
use crate::{DataErrorKind, FileFormat, read_dataset, read_dataset_bytes};

fn message_of(result: Result<crate::Dataset, crate::DataError>) -> (String, &'static str) {
    let err = result.expect_err("should fail");
    (err.to_string(), err.code())
}

#[test]
fn missing_file_names_the_path() {
    let err = read_dataset(Path::new("/no/such/dir/data.csv")).unwrap_err();
    assert!(matches!(err.kind(), DataErrorKind::NotFound { .. }));
    assert!(err.to_string().contains("/no/such/dir/data.csv"), "{err}");
}

#[test]
fn unreadable_file_reports_permission() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("secret.csv");
    std::fs::write(&path, "a\n1\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    // Root reads a mode-000 file through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, and CI runs
    // as root. Capabilities belong to a thread on Linux: the read happens on a thread that has
    // dropped both from its effective set (no privilege needed to lower it), so root gets the
    // same refusal as anyone else while the rest of the test process keeps its rights.
    let err = std::thread::spawn(move || {
        #[cfg(target_os = "linux")]
        for cap in [
            caps::Capability::CAP_DAC_OVERRIDE,
            caps::Capability::CAP_DAC_READ_SEARCH,
        ] {
            caps::drop(None, caps::CapSet::Effective, cap).expect("lowering a capability");
        }
        assert!(
            std::fs::read(&path).is_err(),
            "a mode-000 file is still readable: the test cannot mean anything here"
        );
        read_dataset(&path)
    })
    .join()
    .expect("the reading thread")
    .unwrap_err();
    assert_eq!(err.code(), "permission-denied");
    assert!(err.to_string().contains("secret.csv"), "{err}");
}

#[test]
fn unsupported_extension_lists_supported_ones() {
    let (msg, code) = message_of(read_file("book.xlsx", b"a\n1\n"));
    assert_eq!(code, "unsupported-format");
    assert!(msg.contains(".xlsx") && msg.contains(".csv, .tsv"), "{msg}");
}

#[test]
fn empty_inputs_say_what_is_missing() {
    for (name, bytes) in [
        ("e.csv", &b""[..]),
        ("e.csv", b"\xEF\xBB\xBF\n\n"),
        ("e.json", b"  "),
        ("e.parquet", b""),
    ] {
        let (msg, code) = message_of(read_file(name, bytes));
        assert_eq!(code, "empty-file", "{name}: {msg}");
        assert!(msg.contains("is empty"), "{msg}");
    }
    let (msg, code) = message_of(read_file("h.csv", b"a,b,c\n"));
    assert_eq!(code, "no-rows");
    assert!(msg.contains("no data rows"), "{msg}");
    let (_, code) = message_of(read_file("h.json", b"[]"));
    assert_eq!(code, "no-rows");
}

#[test]
fn invalid_utf8_reports_offset_and_line() {
    let (msg, code) = message_of(read_file("l1.csv", b"name,x\nJos\xE9,1\n"));
    assert_eq!(code, "not-utf8");
    assert!(msg.contains("offset 10") && msg.contains("line 2"), "{msg}");
    let (msg, _) = message_of(read_file("u16.csv", b"\xFF\xFEa\x00,\x00b\x00"));
    assert!(msg.contains("UTF-16"), "{msg}");
}

#[test]
fn ragged_rows_report_line_and_field_counts() {
    let (msg, code) = message_of(csv("a,b,c\n1,2,3\n4,5\n"));
    assert_eq!(code, "ragged-csv");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(
        msg.contains("expected 3 fields") && msg.contains("found 2"),
        "{msg}"
    );
    let (msg, _) = message_of(csv("a,b\n1,2\n3,4,5\n"));
    assert!(msg.contains("line 3") && msg.contains("found 3"), "{msg}");
    let (msg, code) = message_of(csv("a,b\n1,\"open\n2,3\n"));
    assert_eq!(code, "unterminated-quote");
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn malformed_json_reports_line_and_column() {
    let (msg, code) = message_of(read_file("bad.json", b"[\n{\"a\": 1},\n{\"a\": 2,,}\n]"));
    assert_eq!(code, "malformed-json");
    assert!(msg.contains("line 3"), "{msg}");
    let (msg, code) = message_of(read_file("bad.ndjson", b"{\"a\":1}\n{\"a\":2}\n{\"a\":\n"));
    assert_eq!(code, "malformed-json");
    assert!(msg.contains("line 3"), "{msg}");
    let (msg, code) = message_of(read_file("nums.json", b"[1, 2, 3]"));
    assert_eq!(code, "json-not-records");
    assert!(msg.contains("array of objects"), "{msg}");
}

#[test]
fn duplicate_column_names_are_rejected() {
    let (msg, code) = message_of(csv("a,b,a\n1,2,3\n"));
    assert_eq!(code, "duplicate-column");
    assert!(
        msg.contains("'a'") && msg.contains("more than once"),
        "{msg}"
    );
}

#[test]
fn nested_json_values_name_the_column() {
    let (msg, code) = message_of(read_dataset_bytes(
        br#"[{"a": 1, "tags": [1, 2]}, {"a": 2, "tags": [3]}]"#,
        FileFormat::Json,
        "nested.json",
    ));
    assert_eq!(code, "unsupported-column-type");
    assert!(msg.contains("'tags'") && msg.contains("nested"), "{msg}");
}

#[test]
fn garbage_parquet_is_a_parse_error() {
    let (msg, code) = message_of(read_file("x.parquet", b"this is not parquet at all"));
    assert_eq!(code, "parse");
    assert!(msg.contains("Parquet"), "{msg}");
}
