//! Choosing the target column: checks, task, class labels and the numeric `y`.

use std::cmp::Ordering;
use std::collections::HashMap;

use microlearn_core::{Column, ColumnData, Table, Task};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, DataErrorKind};
use crate::infer::infer_task;
use crate::read::Dataset;

/// More classes than this almost always means the wrong column (an id, a free-text field, or a
/// numeric target that wants regression).
pub const MAX_CLASSES: usize = 1000;

/// The target of a learning task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Column name.
    pub name: String,
    /// The task.
    pub task: Task,
    /// Class labels in index order (sorted, numbers by value; booleans as false then true, in the
    /// file's spelling). Empty for regression.
    pub labels: Vec<String>,
    /// Per row: the class index (as f64) or the target value.
    pub y: Vec<f64>,
}

impl TargetInfo {
    /// Number of classes (0 for regression).
    pub fn num_classes(&self) -> usize {
        self.labels.len()
    }

    /// The class index of a label, for encoding values at serving time.
    pub fn class_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }
}

/// Split a dataset into its feature table and target.
///
/// `task` overrides inference (see [`infer_task`]). Fails on an unknown column (suggesting the
/// closest name), missing target values, a single class, more than [`MAX_CLASSES`] classes, a
/// non-numeric regression target, or a `binary` task with other than two classes.
pub fn split_target(
    dataset: &Dataset,
    target: &str,
    task: Option<Task>,
) -> Result<(Table, TargetInfo), DataError> {
    let info = target_info(dataset, target, task)?;
    let mut features = dataset.table.clone();
    features.remove(target);
    Ok((features, info))
}

/// [`split_target`]'s target alone, with the same checks, for a caller that takes the feature
/// rows it needs from the dataset itself (a large file's features are then not copied whole
/// once more).
pub fn target_info(
    dataset: &Dataset,
    target: &str,
    task: Option<Task>,
) -> Result<TargetInfo, DataError> {
    let table = &dataset.table;
    let Some(column) = table.column(target) else {
        let available: Vec<String> = table.names().iter().map(|s| s.to_string()).collect();
        let suggestion = closest_name(target, &available);
        return Err(DataErrorKind::UnknownTarget {
            target: target.to_string(),
            available,
            suggestion,
        }
        .into());
    };
    let missing = column.null_count();
    if missing == column.len() {
        return Err(DataErrorKind::TargetAllMissing {
            target: target.to_string(),
        }
        .into());
    }
    if missing > 0 {
        let first = (0..column.len())
            .find(|&r| !column.is_valid(r))
            .unwrap_or_default();
        return Err(DataErrorKind::TargetHasMissing {
            target: target.to_string(),
            count: missing,
            first_row: first + 1,
        }
        .into());
    }
    let task = task.unwrap_or_else(|| infer_task(column));
    let info = if task.is_classification() {
        let bool_labels = dataset.bool_labels.get(target).cloned().unwrap_or_default();
        let (labels, y) = encode_classes(column, &bool_labels.false_label, &bool_labels.true_label);
        if labels.len() < 2 {
            return Err(DataErrorKind::SingleClass {
                target: target.to_string(),
                label: labels.into_iter().next().unwrap_or_default(),
            }
            .into());
        }
        if labels.len() > MAX_CLASSES {
            return Err(DataErrorKind::TooManyClasses {
                target: target.to_string(),
                classes: labels.len(),
                max: MAX_CLASSES,
            }
            .into());
        }
        if task == Task::Binary && labels.len() != 2 {
            return Err(DataErrorKind::TaskMismatch {
                target: target.to_string(),
                task,
                classes: labels.len(),
            }
            .into());
        }
        TargetInfo {
            name: target.to_string(),
            task,
            labels,
            y,
        }
    } else {
        let y = match &column.data {
            ColumnData::Float64(v) => v.clone(),
            ColumnData::Int64(v) => v.iter().map(|&x| x as f64).collect(),
            other => {
                return Err(DataErrorKind::RegressionTargetNotNumeric {
                    target: target.to_string(),
                    dtype: other.type_name().to_string(),
                }
                .into());
            }
        };
        TargetInfo {
            name: target.to_string(),
            task,
            labels: Vec::new(),
            y,
        }
    };
    Ok(info)
}

/// Labels (sorted) and per-row class indices. The column has no missing values.
fn encode_classes(column: &Column, false_label: &str, true_label: &str) -> (Vec<String>, Vec<f64>) {
    match &column.data {
        ColumnData::Boolean(values) => {
            let has_false = values.iter().any(|&b| !b);
            let has_true = values.iter().any(|&b| b);
            let labels: Vec<String> = match (has_false, has_true) {
                (true, true) => vec![false_label.to_string(), true_label.to_string()],
                (true, false) => vec![false_label.to_string()],
                _ => vec![true_label.to_string()],
            };
            let y = values
                .iter()
                .map(|&b| if b && has_false { 1.0 } else { 0.0 })
                .collect();
            (labels, y)
        }
        ColumnData::Categorical(d) => {
            let mut used = vec![false; d.dictionary.len()];
            for &c in &d.codes {
                used[c as usize] = true;
            }
            let mut labels: Vec<String> = d
                .dictionary
                .iter()
                .zip(&used)
                .filter(|(_, u)| **u)
                .map(|(s, _)| s.clone())
                .collect();
            labels.sort_by(|a, b| label_order(a, b));
            let index: HashMap<&str, usize> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i))
                .collect();
            let by_code: Vec<f64> = d
                .dictionary
                .iter()
                .map(|s| index.get(s.as_str()).map_or(f64::NAN, |&i| i as f64))
                .collect();
            let y = d.codes.iter().map(|&c| by_code[c as usize]).collect();
            (labels, y)
        }
        ColumnData::Int64(v) | ColumnData::TimestampMs(v) => {
            let mut distinct: Vec<i64> = v.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let y = v
                .iter()
                .map(|x| distinct.binary_search(x).unwrap_or_default() as f64)
                .collect();
            (distinct.iter().map(|x| x.to_string()).collect(), y)
        }
        ColumnData::Float64(v) => {
            let mut distinct: Vec<f64> = v.clone();
            distinct.sort_unstable_by(f64::total_cmp);
            distinct.dedup_by(|a, b| a.total_cmp(b) == Ordering::Equal);
            let y = v
                .iter()
                .map(|x| {
                    distinct
                        .binary_search_by(|d| d.total_cmp(x))
                        .unwrap_or_default() as f64
                })
                .collect();
            // `{}` prints 1.0 as "1", matching how the same class reads when stored as integers.
            (distinct.iter().map(|x| format!("{x}")).collect(), y)
        }
    }
}

/// Numbers first, by value; then strings in natural order ("class2" < "class10").
pub fn label_order(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => natural_cmp(a, b).then_with(|| a.cmp(b)),
    }
}

fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let na = trim_zeros(&a[..da]);
                let nb = trim_zeros(&b[..db]);
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                let ord = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

/// The available name closest to `wanted` (case-insensitive edit distance), when it is close
/// enough to be a plausible typo: at most a third of the name's length, and at least 1.
fn closest_name(wanted: &str, available: &[String]) -> Option<String> {
    let w = wanted.to_lowercase();
    let budget = (w.chars().count() / 3).max(1);
    available
        .iter()
        .map(|name| (edit_distance(&w, &name.to_lowercase()), name))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name.clone())
}

/// Levenshtein distance over chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sort_numbers_by_value_and_strings_naturally() {
        let mut labels = vec!["10", "9", "-1", "2.5"];
        labels.sort_by(|a, b| label_order(a, b));
        assert_eq!(labels, vec!["-1", "2.5", "9", "10"]);
        let mut labels = vec!["class10", "class2", "Class1", "b"];
        labels.sort_by(|a, b| label_order(a, b));
        assert_eq!(labels, vec!["b", "Class1", "class2", "class10"]);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("survived", "survivd"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("price", "price"), 0);
        assert_eq!(
            closest_name("Survived", &["survived".into(), "sex".into()]),
            Some("survived".into())
        );
        assert_eq!(closest_name("zzzz", &["survived".into()]), None);
    }
}
