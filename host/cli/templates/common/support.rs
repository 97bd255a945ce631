//! Test helpers shared by the tests in this folder.

/// The manifest's top-level strings, read with just enough TOML to need no other dependency.
pub struct Manifest {
    pub id: String,
    pub kind: String,
    pub version: String,
}

/// `microlearn.toml` of this crate.
pub fn manifest() -> Manifest {
    let text = include_str!("../../microlearn.toml");
    let get = |key: &str| {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("microlearn.toml has no `{key}`"))
    };
    Manifest {
        id: get("id"),
        kind: get("kind"),
        version: get("version"),
    }
}

/// Assert two tables are equal, treating NaN as equal to NaN (missing floats are NaN, and
/// `NaN != NaN` would make every table with a missing value unequal to itself).
#[allow(dead_code)]
pub fn assert_same_table(a: &microlearn_sdk::Table, b: &microlearn_sdk::Table, what: &str) {
    use microlearn_sdk::ColumnData;
    assert_eq!(a.num_rows(), b.num_rows(), "{what}: row count");
    assert_eq!(a.names(), b.names(), "{what}: column names");
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(x.validity, y.validity, "{what}: validity of '{}'", x.name);
        match (&x.data, &y.data) {
            (ColumnData::Float64(p), ColumnData::Float64(q)) => {
                for (row, (u, v)) in p.iter().zip(q).enumerate() {
                    assert!(
                        u == v || (u.is_nan() && v.is_nan()),
                        "{what}: '{}' row {row}: {u} vs {v}",
                        x.name
                    );
                }
            }
            (p, q) => assert_eq!(p, q, "{what}: column '{}'", x.name),
        }
    }
}
