//! Column kinds and the learning task, inferred from values.

use std::collections::HashSet;

use microlearn_core::{Column, ColumnData, ColumnKind, ColumnSchema, Schema, Task};

/// Below this many present values, "every value is distinct" says nothing about a column, so
/// value-based id detection is off (the name-based rule still applies).
const MIN_ROWS_FOR_ID: usize = 20;

/// Integer targets with at most this many distinct values may be classes.
const MAX_INT_CLASSES: usize = 20;

/// The schema of a table: one [`ColumnSchema`] per column, in order.
pub fn infer_schema(table: &microlearn_core::Table) -> Schema {
    Schema {
        columns: table
            .columns()
            .iter()
            .map(|c| ColumnSchema {
                name: c.name.clone(),
                kind: infer_kind(c),
                dtype: c.data.type_name().to_string(),
                nullable: c.null_count() > 0,
                date_order: None,
            })
            .collect(),
    }
}

/// What a column holds.
///
/// - Boolean storage → `Boolean`; timestamps → `Datetime`.
/// - Numbers → `Numeric`, except an `IdLike` column: all values distinct and either named like an
///   id (`id`, `*_id`, `*Id`) or integers forming a near-contiguous run (a row number).
///   Integer columns with few distinct values stay `Numeric`; the profile shows their count.
/// - Strings → `Text` when mostly distinct (> 50%) and long (average > 30 characters) or
///   mostly multi-word; `IdLike` when every value is distinct; otherwise `Categorical`.
pub fn infer_kind(column: &Column) -> ColumnKind {
    let present = column.len() - column.null_count();
    let id_name = looks_like_id_name(&column.name);
    match &column.data {
        ColumnData::Boolean(_) => ColumnKind::Boolean,
        ColumnData::TimestampMs(_) => ColumnKind::Datetime,
        ColumnData::Int64(values) => {
            if present >= 2 && (id_name || present >= MIN_ROWS_FOR_ID) {
                let (distinct, min, max) = int_distinct(column, values);
                if distinct == present {
                    // A row number or a sequence: the range barely exceeds the count.
                    let span = (max as i128 - min as i128 + 1) as f64;
                    if id_name || span <= 1.5 * present as f64 {
                        return ColumnKind::IdLike;
                    }
                }
            }
            ColumnKind::Numeric
        }
        ColumnData::Float64(values) => {
            if id_name && present >= 2 && all_distinct_integral(column, values) {
                ColumnKind::IdLike
            } else {
                ColumnKind::Numeric
            }
        }
        ColumnData::Categorical(dict) => {
            if present == 0 {
                return ColumnKind::Categorical;
            }
            let mut counts = vec![0usize; dict.dictionary.len()];
            for (row, &code) in dict.codes.iter().enumerate() {
                if column.is_valid(row) {
                    counts[code as usize] += 1;
                }
            }
            let distinct = counts.iter().filter(|&&c| c > 0).count();
            let mut total_len = 0usize;
            let mut with_space = 0usize;
            for (value, &count) in dict.dictionary.iter().zip(&counts) {
                total_len += value.chars().count() * count;
                if value.trim().contains(char::is_whitespace) {
                    with_space += count;
                }
            }
            let distinct_share = distinct as f64 / present as f64;
            let avg_len = total_len as f64 / present as f64;
            let spaced_share = with_space as f64 / present as f64;
            let enough_rows = present >= MIN_ROWS_FOR_ID;
            if enough_rows && distinct_share > 0.5 && (avg_len > 30.0 || spaced_share > 0.5) {
                ColumnKind::Text
            } else if distinct == present && (enough_rows || (id_name && present >= 2)) {
                ColumnKind::IdLike
            } else {
                ColumnKind::Categorical
            }
        }
    }
}

/// `id`, `ID`, `user_id`, `user-id`, `userId`, `UserID`, `customer id`.
fn looks_like_id_name(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    if lower == "id" || lower == "uuid" || lower == "guid" {
        return true;
    }
    if ["_id", "-id", " id", ".id"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
    {
        return true;
    }
    // camelCase: a lowercase letter then "Id"/"ID" at the end.
    let trimmed = name.trim();
    (trimmed.ends_with("Id") || trimmed.ends_with("ID"))
        && trimmed
            .chars()
            .rev()
            .nth(2)
            .is_some_and(|c| c.is_ascii_lowercase())
}

/// Distinct count (stopping at the first repeat), min and max of the present values.
fn int_distinct(column: &Column, values: &[i64]) -> (usize, i64, i64) {
    let mut seen = HashSet::with_capacity(values.len());
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for (row, &v) in values.iter().enumerate() {
        if !column.is_valid(row) {
            continue;
        }
        if !seen.insert(v) {
            // One repeat settles it: not all distinct.
            return (0, min, max);
        }
        min = min.min(v);
        max = max.max(v);
    }
    (seen.len(), min, max)
}

fn all_distinct_integral(column: &Column, values: &[f64]) -> bool {
    let mut seen = HashSet::with_capacity(values.len());
    values
        .iter()
        .enumerate()
        .filter(|(row, _)| column.is_valid(*row))
        .all(|(_, v)| v.fract() == 0.0 && seen.insert(v.to_bits()))
}

/// The task a target column suggests.
///
/// Strings and booleans → classification (binary with two distinct values). Integers — or floats
/// that are all whole numbers — with exactly two distinct values → binary; with at most 20
/// distinct values that are also at most 5% of the rows → multiclass. Everything else →
/// regression.
pub fn infer_task(column: &Column) -> Task {
    let present: Vec<usize> = (0..column.len()).filter(|&r| column.is_valid(r)).collect();
    let classes = |distinct: usize| {
        if distinct <= 2 {
            Task::Binary
        } else {
            Task::Multiclass
        }
    };
    match &column.data {
        ColumnData::Boolean(_) => Task::Binary,
        ColumnData::Categorical(d) => {
            let used: HashSet<u32> = present.iter().map(|&r| d.codes[r]).collect();
            classes(used.len())
        }
        ColumnData::TimestampMs(_) => Task::Regression,
        ColumnData::Int64(values) => {
            int_like_task(present.iter().map(|&r| values[r]), present.len(), classes)
        }
        ColumnData::Float64(values) => {
            if present.iter().all(|&r| values[r].fract() == 0.0) {
                int_like_task(
                    present.iter().map(|&r| values[r] as i64),
                    present.len(),
                    classes,
                )
            } else {
                Task::Regression
            }
        }
    }
}

fn int_like_task(
    values: impl Iterator<Item = i64>,
    present: usize,
    classes: impl Fn(usize) -> Task,
) -> Task {
    let mut seen = HashSet::new();
    for v in values {
        seen.insert(v);
        if seen.len() > MAX_INT_CLASSES {
            return Task::Regression;
        }
    }
    let distinct = seen.len();
    if distinct == 2 || (distinct <= MAX_INT_CLASSES && distinct as f64 <= 0.05 * present as f64) {
        classes(distinct)
    } else {
        Task::Regression
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_row_numbers_are_id_like_but_measurements_are_numeric() {
        let ids = Column::new("row", ColumnData::Int64((1..=100).collect()));
        assert_eq!(infer_kind(&ids), ColumnKind::IdLike);
        let sparse = Column::new(
            "km",
            ColumnData::Int64((1..=100).map(|v| v * 977).collect()),
        );
        assert_eq!(infer_kind(&sparse), ColumnKind::Numeric);
        let named = Column::new("user_id", ColumnData::Int64(vec![17, 3, 9000]));
        assert_eq!(infer_kind(&named), ColumnKind::IdLike);
        let small = Column::new("x", ColumnData::Int64(vec![1, 2, 3]));
        assert_eq!(infer_kind(&small), ColumnKind::Numeric);
    }

    #[test]
    fn strings_split_into_categorical_text_and_ids() {
        let cats: Vec<Option<&str>> = (0..100).map(|i| Some(["a", "b", "c"][i % 3])).collect();
        assert_eq!(
            infer_kind(&Column::categorical_from_strs("c", &cats)),
            ColumnKind::Categorical
        );
        let texts: Vec<String> = (0..100)
            .map(|i| format!("review number {i} says it was fine"))
            .collect();
        let refs: Vec<Option<&str>> = texts.iter().map(|s| Some(s.as_str())).collect();
        assert_eq!(
            infer_kind(&Column::categorical_from_strs("review", &refs)),
            ColumnKind::Text
        );
        let codes: Vec<String> = (0..100).map(|i| format!("X{i:05}")).collect();
        let refs: Vec<Option<&str>> = codes.iter().map(|s| Some(s.as_str())).collect();
        assert_eq!(
            infer_kind(&Column::categorical_from_strs("code", &refs)),
            ColumnKind::IdLike
        );
    }

    #[test]
    fn infers_task_from_target_values() {
        let binary = Column::new("y", ColumnData::Int64((0..100).map(|i| i % 2).collect()));
        assert_eq!(infer_task(&binary), Task::Binary);
        let classes = Column::new("y", ColumnData::Int64((0..150).map(|i| i / 50).collect()));
        assert_eq!(infer_task(&classes), Task::Multiclass);
        let counts = Column::new("y", ColumnData::Int64((0..100).map(|i| i % 30).collect()));
        assert_eq!(infer_task(&counts), Task::Regression);
        let few_rows = Column::new("y", ColumnData::Int64(vec![1, 2, 3, 1, 2, 3]));
        assert_eq!(infer_task(&few_rows), Task::Regression);
        let floats = Column::float64("y", vec![0.5, 1.5, 2.0]);
        assert_eq!(infer_task(&floats), Task::Regression);
        let whole = Column::float64("y", (0..100).map(|i| (i % 2) as f64).collect());
        assert_eq!(infer_task(&whole), Task::Binary);
        let strings = Column::categorical_from_strs("y", &[Some("a"), Some("b"), Some("c")]);
        assert_eq!(infer_task(&strings), Task::Multiclass);
        let yes_no = Column::categorical_from_strs("y", &[Some("yes"), Some("no")]);
        assert_eq!(infer_task(&yes_no), Task::Binary);
    }
}
