//! Per-column profiles for the dashboard and the selector's meta-features.

use std::collections::HashSet;

use microlearn_core::{Column, ColumnData, ColumnKind};
use serde::{Deserialize, Serialize};

use crate::read::Dataset;

/// Distinct values are counted exactly up to this many; past it the count is a lower bound.
pub const DISTINCT_CAP: usize = 100_000;
/// Bins in a numeric histogram.
pub const HISTOGRAM_BINS: usize = 20;
/// Most frequent values listed per column.
pub const TOP_VALUES: usize = 10;
/// Quantiles reported for numeric columns.
pub const QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

/// A whole dataset's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetProfile {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub columns: usize,
    /// Missing cells over all columns.
    pub missing_cells: usize,
    /// `missing_cells / (rows × columns)`.
    pub missing_share: f64,
    /// One profile per column, in table order.
    pub column_profiles: Vec<ColumnProfile>,
}

/// One column's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    /// Name.
    pub name: String,
    /// Inferred kind.
    pub kind: ColumnKind,
    /// Storage type (`float64`, `int64`, `boolean`, `categorical`, `timestamp`).
    pub dtype: String,
    /// Missing values.
    pub missing: usize,
    /// `missing / rows`.
    pub missing_share: f64,
    /// Distinct present values, exact unless `distinct_capped`.
    pub distinct: usize,
    /// The count stopped at [`DISTINCT_CAP`].
    pub distinct_capped: bool,
    /// For numeric and timestamp columns (timestamps in milliseconds since the epoch).
    pub numeric: Option<NumericSummary>,
    /// Most frequent values (strings, booleans, and numbers with at most 20 distinct values),
    /// most frequent first.
    pub top_values: Vec<ValueCount>,
}

/// Summary statistics of the present values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericSummary {
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
    /// `(q, value)` for each of [`QUANTILES`], linear interpolation.
    pub quantiles: Vec<(f64, f64)>,
    /// Equal-width histogram over `[min, max]`.
    pub histogram: Histogram,
}

/// Equal-width bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `bins + 1` edges, ascending.
    pub edges: Vec<f64>,
    /// Values per bin; the last bin includes its right edge.
    pub counts: Vec<usize>,
}

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueCount {
    /// The value as text.
    pub value: String,
    /// Occurrences.
    pub count: usize,
}

/// Profile every column of a dataset.
pub fn profile(dataset: &Dataset) -> DatasetProfile {
    let rows = dataset.table.num_rows();
    let column_profiles: Vec<ColumnProfile> = dataset
        .table
        .columns()
        .iter()
        .map(|c| {
            let kind = dataset
                .schema
                .column(&c.name)
                .map_or_else(|| crate::infer::infer_kind(c), |s| s.kind);
            profile_column(c, kind, dataset)
        })
        .collect();
    let missing_cells: usize = column_profiles.iter().map(|p| p.missing).sum();
    let cells = rows * column_profiles.len();
    DatasetProfile {
        rows,
        columns: column_profiles.len(),
        missing_cells,
        missing_share: share(missing_cells, cells),
        column_profiles,
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn profile_column(column: &Column, kind: ColumnKind, dataset: &Dataset) -> ColumnProfile {
    let rows = column.len();
    let missing = column.null_count();
    let mut profile = ColumnProfile {
        name: column.name.clone(),
        kind,
        dtype: column.data.type_name().to_string(),
        missing,
        missing_share: share(missing, rows),
        distinct: 0,
        distinct_capped: false,
        numeric: None,
        top_values: Vec::new(),
    };
    match &column.data {
        ColumnData::Categorical(d) => {
            let mut counts = vec![0usize; d.dictionary.len()];
            for (row, &code) in d.codes.iter().enumerate() {
                if column.is_valid(row) {
                    counts[code as usize] += 1;
                }
            }
            profile.distinct = counts.iter().filter(|&&c| c > 0).count();
            profile.top_values = top(d
                .dictionary
                .iter()
                .zip(counts)
                .map(|(value, count)| (value.clone(), count)));
        }
        ColumnData::Boolean(values) => {
            let labels = dataset
                .bool_labels
                .get(&column.name)
                .cloned()
                .unwrap_or_default();
            let (mut f, mut t) = (0, 0);
            for (row, &b) in values.iter().enumerate() {
                if column.is_valid(row) {
                    if b {
                        t += 1;
                    } else {
                        f += 1;
                    }
                }
            }
            profile.distinct = usize::from(f > 0) + usize::from(t > 0);
            profile.top_values = top([(labels.false_label, f), (labels.true_label, t)]);
        }
        ColumnData::Float64(_) | ColumnData::Int64(_) | ColumnData::TimestampMs(_) => {
            let values: Vec<f64> = column
                .to_f64_nan()
                .into_iter()
                .filter(|v| !v.is_nan())
                .collect();
            let (distinct, capped, small) = count_distinct(&values);
            profile.distinct = distinct;
            profile.distinct_capped = capped;
            if let Some(mut counts) = small {
                // Few distinct numbers (a coded category, a count): show them like a category.
                counts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let is_time = matches!(column.data, ColumnData::TimestampMs(_));
                profile.top_values = top(counts.into_iter().map(|(v, c)| {
                    let text = if is_time {
                        crate::datetime::format_iso8601_ms(v as i64)
                    } else {
                        format!("{v}")
                    };
                    (text, c)
                }));
            }
            profile.numeric = numeric_summary(values);
        }
    }
    profile
}

/// The `TOP_VALUES` most frequent entries with a non-zero count; ties keep input order.
fn top(values: impl IntoIterator<Item = (String, usize)>) -> Vec<ValueCount> {
    let mut all: Vec<(String, usize)> = values.into_iter().filter(|(_, c)| *c > 0).collect();
    all.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    all.truncate(TOP_VALUES);
    all.into_iter()
        .map(|(value, count)| ValueCount { value, count })
        .collect()
}

/// Distinct count (capped), whether the cap was hit, and per-value counts when there are at most
/// 20 distinct values.
fn count_distinct(values: &[f64]) -> (usize, bool, Option<Vec<(f64, usize)>>) {
    const SMALL: usize = 20;
    let mut small: Vec<(u64, usize)> = Vec::new();
    let mut set: HashSet<u64> = HashSet::new();
    let mut use_small = true;
    for &v in values {
        // -0.0 and 0.0 are one value.
        let bits = if v == 0.0 { 0 } else { v.to_bits() };
        if use_small {
            if let Some(entry) = small.iter_mut().find(|(b, _)| *b == bits) {
                entry.1 += 1;
                continue;
            }
            if small.len() < SMALL {
                small.push((bits, 1));
                continue;
            }
            use_small = false;
            set.extend(small.iter().map(|(b, _)| *b));
        }
        set.insert(bits);
        if set.len() >= DISTINCT_CAP {
            return (set.len(), true, None);
        }
    }
    if use_small {
        let distinct = small.len();
        let counts = small
            .into_iter()
            .map(|(b, c)| (f64::from_bits(b), c))
            .collect();
        (distinct, false, Some(counts))
    } else {
        (set.len(), false, None)
    }
}

fn numeric_summary(mut values: Vec<f64>) -> Option<NumericSummary> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let quantiles = quantiles(&mut values, &QUANTILES);
    let width = (max - min) / HISTOGRAM_BINS as f64;
    let edges: Vec<f64> = (0..=HISTOGRAM_BINS)
        .map(|i| {
            if i == HISTOGRAM_BINS {
                max
            } else {
                min + width * i as f64
            }
        })
        .collect();
    let mut counts = vec![0usize; HISTOGRAM_BINS];
    for &v in &values {
        let bin = if width > 0.0 && width.is_finite() {
            (((v - min) / width) as usize).min(HISTOGRAM_BINS - 1)
        } else {
            0
        };
        counts[bin] += 1;
    }
    Some(NumericSummary {
        min,
        max,
        mean,
        std: var.sqrt(),
        quantiles,
        histogram: Histogram { edges, counts },
    })
}

/// The quantiles `qs` of `values` (reordered in place), linearly interpolated between the two
/// nearest order statistics exactly as on the sorted values, but by successive selection
/// instead of a full sort: a profile needs a few order statistics per column, and sorting every
/// column of a 10M-row file took seconds of ingest.
fn quantiles(values: &mut [f64], qs: &[f64]) -> Vec<(f64, f64)> {
    let n = values.len();
    let mut positions: Vec<usize> = qs
        .iter()
        .flat_map(|&q| {
            let pos = q * (n - 1) as f64;
            [pos.floor() as usize, pos.ceil() as usize]
        })
        .map(|p| p.min(n - 1))
        .collect();
    positions.sort_unstable();
    positions.dedup();
    // After selecting position p, everything right of it is no smaller, so the next (larger)
    // position is selected within that part alone.
    let mut at = Vec::with_capacity(positions.len());
    let mut start = 0;
    for &p in &positions {
        let (_, v, _) = values[start..].select_nth_unstable_by(p - start, f64::total_cmp);
        at.push((p, *v));
        start = p;
    }
    let value = |p: usize| {
        at.iter()
            .find(|(q, _)| *q == p)
            .map_or(f64::NAN, |&(_, v)| v)
    };
    qs.iter()
        .map(|&q| {
            let pos = q * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, (pos.ceil() as usize).min(n - 1));
            let frac = pos - lo as f64;
            (q, value(lo) + (value(hi) - value(lo)) * frac)
        })
        .collect()
}

/// The reference the selection is tested against.
#[cfg(test)]
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_selection_match_the_sorted_values() {
        for n in [1usize, 2, 3, 10, 101, 1000] {
            // Unordered, with repeats and negative values.
            let values: Vec<f64> = (0..n)
                .map(|i| ((i * 7919) % 251) as f64 - 100.0 + (i % 3) as f64 * 0.25)
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let mut scratch = values.clone();
            for (q, got) in quantiles(&mut scratch, &QUANTILES) {
                assert_eq!(got, quantile_sorted(&sorted, q), "n = {n}, q = {q}");
            }
        }
    }
}
