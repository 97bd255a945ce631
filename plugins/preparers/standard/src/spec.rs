//! The fitted specification (the plugin's opaque state) and how `fit` learns it.
//!
//! Fitting walks each training column once or twice (columnar; the only per-column copies are
//! the present values, for the median), and decides per column what to emit.

use crate::dates::Part;
use crate::{Config, HighCardinality};
use microlearn_sdk::log;
use microlearn_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Bumped whenever the state layout changes, so old state is rejected clearly.
pub const STATE_VERSION: u32 = 1;

/// Everything `transform` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// [`STATE_VERSION`] at fit time.
    pub version: u32,
    /// Training columns that produce output, in training order.
    pub columns: Vec<ColumnSpec>,
    /// Training columns dropped, with why (for logs and inspection).
    pub dropped: Vec<(String, String)>,
    /// Time between pairs of timestamp columns of one row (empty in specs fitted before gaps
    /// existed, which therefore transform as they always did).
    #[serde(default)]
    pub gaps: Vec<Gap>,
}

/// `first − second` in days, for two timestamp columns of the same row (an order date and a
/// ship date: the delay often says more than either date).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// The first column, in training order.
    pub first: String,
    /// The second column.
    pub second: String,
    /// Output column name, `<first>__minus__<second>`.
    pub output: String,
    /// Imputation (when either side is missing) and scaling.
    pub scaled: Scaled,
}

/// One target statistic of a level (the smoothed share of a class, or the smoothed mean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStat {
    /// Output column name.
    pub output: String,
    /// Which target values it averages (`target`, or `target=<class>`; see [`target_outputs`]).
    pub of: String,
    /// The value for unseen and missing levels: the training mean.
    pub prior: f64,
    /// (level, smoothed statistic), for levels seen in training.
    pub levels: Vec<(i64, f64)>,
    /// Scaling of the statistic (learned on the training rows' encoded values).
    pub scaled: Scaled,
}

/// One input column and the outputs it produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// Input column name.
    pub name: String,
    /// How it is encoded.
    pub encoding: Encoding,
    /// Output name of the missing indicator, when missing values were seen in training.
    pub missing_indicator: Option<String>,
}

/// An affine scaling `(x - center) * factor` with a fill for missing values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scaled {
    /// Value used for missing entries, before scaling (the training median).
    pub fill: f64,
    /// Subtracted (the mean, or 0 without scaling).
    pub center: f64,
    /// Multiplied (1/std, or 1 without scaling).
    pub factor: f64,
}

/// How one input column is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Encoding {
    /// Float or integer: imputed, scaled; output named `output`.
    Numeric {
        /// Output column name.
        output: String,
        /// Imputation and scaling.
        scaled: Scaled,
    },
    /// Only the missing indicator survives (the values were constant).
    IndicatorOnly,
    /// Boolean as 0/1, missing filled with the training mode.
    Boolean {
        /// Output column name.
        output: String,
        /// The training mode.
        mode: bool,
    },
    /// One output per training level (`<col>=<level>`); unseen and missing are all zeros.
    OneHot {
        /// Training levels, most frequent first.
        levels: Vec<String>,
        /// Output names, one per level.
        outputs: Vec<String>,
    },
    /// Share of training rows holding the level; unseen and missing are 0.
    Frequency {
        /// Output column name.
        output: String,
        /// (level, share of training rows).
        levels: Vec<(String, f64)>,
    },
    /// Rank of the level in sorted order, scaled; unseen and missing get `scaled.fill`.
    Ordinal {
        /// Output column name.
        output: String,
        /// Training levels in sorted order.
        levels: Vec<String>,
        /// Imputation and scaling of the rank.
        scaled: Scaled,
    },
    /// An integer column that may be a code (an area, a model, a configuration: many levels
    /// whose order may mean nothing): its value as a number, as with `Numeric`, plus the share
    /// of training rows holding its level and target statistics of its level, so that models
    /// can use whichever carries the signal. Unseen and missing levels get share 0 and the
    /// prior. At fit the target statistics are computed out of fold (see [`OOF_FOLDS`]).
    IntCode {
        /// Output name of the value.
        output: String,
        /// Imputation and scaling of the value.
        scaled: Scaled,
        /// Output name of the level's share, `<col>__freq`.
        frequency: String,
        /// (level, share of training rows).
        shares: Vec<(i64, f64)>,
        /// Target statistics (one for a binary or regression target, one per class otherwise).
        target: Vec<TargetStat>,
    },
    /// Calendar parts, each imputed and scaled.
    Timestamp {
        /// (part, output name, scaling) for each non-constant part.
        parts: Vec<(Part, String, Scaled)>,
    },
}

/// Present values as f64: validity true and finite.
fn present_values(col: &Column, values: &[f64]) -> Vec<f64> {
    match &col.validity {
        None => values.iter().copied().filter(|v| v.is_finite()).collect(),
        Some(mask) => values
            .iter()
            .zip(mask)
            .filter(|&(v, &ok)| ok && v.is_finite())
            .map(|(&v, _)| v)
            .collect(),
    }
}

/// Median of a non-empty slice (reorders it).
fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    let mid = n / 2;
    let (lower, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + upper) / 2.0
    }
}

/// Learn imputation and scaling from the present values of a column of `rows` rows.
/// `None` when the imputed column would be constant.
fn learn_scaling(present: &mut [f64], rows: usize, scale: bool) -> Option<Scaled> {
    let fill = median(present);
    let missing = (rows - present.len()) as f64;
    let n = rows as f64;
    let mean = (present.iter().sum::<f64>() + missing * fill) / n;
    let var = (present.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
        + missing * (fill - mean) * (fill - mean))
        / n;
    let std = var.sqrt();
    // Relative threshold: a column whose spread is rounding noise is constant.
    // `std` may be NaN (overflowing input), which must count as constant too.
    let spread = std.is_finite() && std > 1e-12 * mean.abs().max(1.0);
    if !spread {
        return None;
    }
    Some(if scale {
        Scaled {
            fill,
            center: mean,
            factor: 1.0 / std,
        }
    } else {
        Scaled {
            fill,
            center: 0.0,
            factor: 1.0,
        }
    })
}

/// Whether a column name reads like an identifier (`id`, `user_id`, `CustomerID`, `orderId`).
pub fn id_like_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower == "id" || lower == "uuid" || lower == "guid" {
        return true;
    }
    if ["_id", "-id", " id", ".id"]
        .iter()
        .any(|s| lower.ends_with(s))
    {
        return true;
    }
    // camelCase or PascalCase: a lowercase letter followed by `Id`/`ID` at the end.
    let bytes = name.as_bytes();
    bytes.len() > 2
        && (name.ends_with("Id") || name.ends_with("ID"))
        && bytes[bytes.len() - 3].is_ascii_lowercase()
}

/// Integers that are all distinct and either nearly consecutive or named like an id.
fn id_like_ints(col: &Column, values: &[i64]) -> bool {
    let n = values.len();
    if n < 2 || col.validity.is_some() {
        return false;
    }
    let by_name = id_like_name(&col.name);
    // Consecutive-ish needs enough rows to mean anything; a name says it on its own.
    if !by_name && n < 20 {
        return false;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return false;
    }
    let span = (sorted[n - 1] as i128 - sorted[0] as i128) as f64;
    by_name || span < 2.0 * n as f64
}

/// Learn the spec from the training table and its target.
pub fn fit(
    train: &Table,
    target: &Column,
    task: Task,
    config: &Config,
) -> Result<Spec, PluginError> {
    let rows = train.num_rows();
    if rows == 0 {
        return Err(PluginError::input("the training table has no rows"));
    }
    if target.len() != rows {
        return Err(PluginError::input(format!(
            "the target has {} rows but the training table {rows}",
            target.len()
        )));
    }
    let targets = target_outputs(target, task);
    let mut spec = Spec {
        version: STATE_VERSION,
        columns: Vec::new(),
        dropped: Vec::new(),
        gaps: Vec::new(),
    };
    for col in train.columns() {
        match fit_column(col, rows, config, &targets, Ids::Drop)? {
            Ok(c) => spec.columns.push(c),
            Err(why) => spec.dropped.push((col.name.clone(), why)),
        }
    }
    spec.gaps = fit_gaps(train, config);
    if spec.columns.is_empty() && spec.gaps.is_empty() {
        keep_ids_as_last_resort(train, rows, config, &targets, &mut spec)?;
    }
    dedupe_outputs(&mut spec);
    Ok(spec)
}

/// Whether id-like columns (all distinct) are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    Drop,
    Keep,
}

/// When every column would be dropped, an id-like column is better than no model at all (an
/// index beside a code column whose values never repeat in the training rows, say): keep the
/// id-like ones, strings ranked in sorted order rather than by share (every share is the same
/// when no value repeats, while the sort order of codes such as `A17`/`B03` often carries
/// their grouping), and say so. Only columns that are empty or constant are left out.
fn keep_ids_as_last_resort(
    train: &Table,
    rows: usize,
    config: &Config,
    targets: &[(String, Vec<f64>)],
    spec: &mut Spec,
) -> Result<(), PluginError> {
    let ranked = Config {
        high_cardinality: HighCardinality::Ordinal,
        ..config.clone()
    };
    // Strings first: a row number says less than a code does, so integers come back only
    // when no string column can.
    for strings in [true, false] {
        for col in train.columns() {
            if matches!(col.data, ColumnData::Categorical(_)) != strings {
                continue;
            }
            let Some(pos) = spec
                .dropped
                .iter()
                .position(|(name, why)| name == &col.name && why.starts_with("id-like"))
            else {
                continue;
            };
            if let Ok(kept) = fit_column(col, rows, &ranked, targets, Ids::Keep)? {
                let (name, why) = spec.dropped.remove(pos);
                log::warn!(
                    "keeping column '{name}' although it is {why}: no other column is usable"
                );
                spec.columns.push(kept);
            }
        }
        if !spec.columns.is_empty() {
            break;
        }
    }
    dedupe_outputs(spec);
    Ok(())
}

/// At most this many timestamp columns are paired into gaps (28 pairs), so a wide table of
/// dates does not grow quadratically.
pub const MAX_GAP_COLUMNS: usize = 8;

/// One gap per pair of timestamp columns that share present rows and whose difference varies.
fn fit_gaps(train: &Table, config: &Config) -> Vec<Gap> {
    let stamps: Vec<&Column> = train
        .columns()
        .iter()
        .filter(|c| matches!(c.data, ColumnData::TimestampMs(_)))
        .take(MAX_GAP_COLUMNS)
        .collect();
    let rows = train.num_rows();
    let mut gaps = Vec::new();
    for (i, a) in stamps.iter().enumerate() {
        for b in &stamps[i + 1..] {
            let mut present = gap_values(a, b, None);
            present.retain(|v| v.is_finite());
            if present.is_empty() {
                continue;
            }
            if let Some(scaled) = learn_scaling(&mut present, rows, config.scale) {
                gaps.push(Gap {
                    first: a.name.clone(),
                    second: b.name.clone(),
                    output: format!("{}__minus__{}", a.name, b.name),
                    scaled,
                });
            }
        }
    }
    gaps
}

/// Per row, `a − b` in days; `fill` (NaN when `None`) where either is missing.
pub fn gap_values(a: &Column, b: &Column, fill: Option<f64>) -> Vec<f64> {
    let fill = fill.unwrap_or(f64::NAN);
    let (ColumnData::TimestampMs(x), ColumnData::TimestampMs(y)) = (&a.data, &b.data) else {
        return vec![fill; a.len()];
    };
    x.iter()
        .zip(y)
        .enumerate()
        .map(|(i, (&p, &q))| {
            if a.is_valid(i) && b.is_valid(i) {
                (p - q) as f64 / 86_400_000.0
            } else {
                fill
            }
        })
        .collect()
}

/// Folds of the out-of-fold target statistics computed at fit (see [`fold_of`]).
pub const OOF_FOLDS: usize = 5;

/// The fold of training row `i`: a hash of the index, not `i % 5`, because tables are often
/// sorted or periodic (every 40th row the same area) and a level whose rows all share a fold
/// would only ever see the prior.
pub fn fold_of(i: usize) -> usize {
    // splitmix64's finaliser.
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % OOF_FOLDS as u64) as usize
}

/// Weight of the prior in a level's smoothed statistic, in rows: a level seen 10 times sits
/// halfway between its own mean and the overall one. Codes with few rows per level otherwise
/// hand the models a near-copy of the target.
pub const SMOOTHING: f64 = 10.0;

/// Classes beyond this many get no per-class target statistics (too many outputs).
pub const MAX_TARGET_CLASSES: usize = 10;

/// The target as the values its statistics average: `(suffix, per-row value or NaN)`. Binary:
/// whether the row is the second class; multiclass (up to [`MAX_TARGET_CLASSES`]): one
/// indicator per class; regression: the value.
pub fn target_outputs(target: &Column, task: Task) -> Vec<(String, Vec<f64>)> {
    let rows = target.len();
    let class_of = |i: usize| -> Option<usize> {
        if !target.is_valid(i) {
            return None;
        }
        match &target.data {
            ColumnData::Categorical(d) => Some(d.codes[i] as usize),
            ColumnData::Float64(v) => (v[i] >= 0.0 && v[i].fract() == 0.0).then(|| v[i] as usize),
            ColumnData::Int64(v) => usize::try_from(v[i]).ok(),
            ColumnData::Boolean(v) => Some(usize::from(v[i])),
            ColumnData::TimestampMs(_) => None,
        }
    };
    match task {
        Task::Regression => {
            let values: Vec<f64> = match &target.data {
                ColumnData::Float64(v) => v.clone(),
                ColumnData::Int64(v) => v.iter().map(|&x| x as f64).collect(),
                _ => return Vec::new(),
            };
            let values = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| if target.is_valid(i) { v } else { f64::NAN })
                .collect();
            vec![("target".to_string(), values)]
        }
        Task::Binary => vec![(
            "target".to_string(),
            (0..rows)
                .map(|i| class_of(i).map_or(f64::NAN, |c| f64::from(u8::from(c == 1))))
                .collect(),
        )],
        Task::Multiclass => {
            let labels: Vec<String> = match &target.data {
                ColumnData::Categorical(d) => d.dictionary.clone(),
                _ => {
                    let k = (0..rows).filter_map(class_of).max().map_or(0, |m| m + 1);
                    (0..k).map(|c| c.to_string()).collect()
                }
            };
            if labels.len() > MAX_TARGET_CLASSES {
                return Vec::new();
            }
            labels
                .iter()
                .enumerate()
                .map(|(c, label)| {
                    (
                        format!("target={label}"),
                        (0..rows)
                            .map(|i| class_of(i).map_or(f64::NAN, |k| f64::from(u8::from(k == c))))
                            .collect(),
                    )
                })
                .collect()
        }
    }
}

/// Whether an integer column should also be read as a code: more distinct levels than would
/// be one-hot encoded (with fewer, trees isolate each level with numeric splits anyway), and
/// levels that repeat (at most one per two rows), or there is nothing to learn per level.
fn code_levels(col: &Column, values: &[i64], config: &Config) -> Option<Vec<(i64, usize)>> {
    if !config.codes {
        return None;
    }
    let mut counts: HashMap<i64, usize> = HashMap::new();
    let mut present = 0usize;
    for (i, &v) in values.iter().enumerate() {
        if col.is_valid(i) {
            *counts.entry(v).or_default() += 1;
            present += 1;
        }
    }
    let k = counts.len();
    if k <= config.max_onehot.max(2) || k * 2 > present {
        return None;
    }
    let mut levels: Vec<(i64, usize)> = counts.into_iter().collect();
    levels.sort_unstable();
    Some(levels)
}

/// `(sum of the target, rows)` per level.
type LevelSums = HashMap<i64, (f64, f64)>;

/// `(sum, count)` per level of the rows `keep` accepts, over present values and targets.
fn level_sums(col: &Column, values: &[i64], y: &[f64], keep: impl Fn(usize) -> bool) -> LevelSums {
    let mut sums = LevelSums::new();
    for (i, (&v, &t)) in values.iter().zip(y).enumerate() {
        if col.is_valid(i) && t.is_finite() && keep(i) {
            let e = sums.entry(v).or_default();
            e.0 += t;
            e.1 += 1.0;
        }
    }
    sums
}

/// The smoothed statistic of a level with target sum `s` over `n` rows.
fn smoothed(s: f64, n: f64, prior: f64) -> f64 {
    (s + SMOOTHING * prior) / (n + SMOOTHING)
}

/// The mean of the finite values among the rows `keep` accepts (0 when none).
fn mean_where(y: &[f64], keep: impl Fn(usize) -> bool) -> f64 {
    let (mut s, mut n) = (0.0, 0.0);
    for (i, &t) in y.iter().enumerate() {
        if t.is_finite() && keep(i) {
            s += t;
            n += 1.0;
        }
    }
    if n > 0.0 { s / n } else { 0.0 }
}

/// Per row, the statistic of its level learned from the other folds only (unscaled): what the
/// training table holds, so that validation folds never see their own labels through it.
pub fn out_of_fold(col: &Column, values: &[i64], y: &[f64]) -> Vec<f64> {
    let folds: Vec<(LevelSums, f64)> = (0..OOF_FOLDS)
        .map(|f| {
            let keep = |i: usize| fold_of(i) != f;
            (level_sums(col, values, y, keep), mean_where(y, keep))
        })
        .collect();
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (sums, prior) = &folds[fold_of(i)];
            match sums.get(v) {
                Some(&(s, n)) if col.is_valid(i) => smoothed(s, n, *prior),
                _ => *prior,
            }
        })
        .collect()
}

/// The `IntCode` encoding of an integer column with these `levels`, whose value is output as
/// `numeric` (its output name and scaling).
fn int_code_spec(
    col: &Column,
    values: &[i64],
    levels: &[(i64, usize)],
    (rows, config): (usize, &Config),
    targets: &[(String, Vec<f64>)],
    (output, scaled): (String, Scaled),
) -> Encoding {
    let name = &col.name;
    let shares = levels
        .iter()
        .map(|&(l, n)| (l, n as f64 / rows as f64))
        .collect();
    let target = targets
        .iter()
        .filter_map(|(suffix, y)| {
            let prior = mean_where(y, |_| true);
            let sums = level_sums(col, values, y, |_| true);
            let stats: Vec<(i64, f64)> = levels
                .iter()
                .map(|&(l, _)| {
                    let (s, n) = sums.get(&l).copied().unwrap_or_default();
                    (l, smoothed(s, n, prior))
                })
                .collect();
            // Scale by the out-of-fold values the models are trained on.
            let mut oof = out_of_fold(col, values, y);
            let scaled = learn_scaling(&mut oof, rows, config.scale)?;
            Some(TargetStat {
                output: format!("{name}__{suffix}"),
                of: suffix.clone(),
                prior,
                levels: stats,
                scaled,
            })
        })
        .collect();
    Encoding::IntCode {
        output,
        scaled,
        frequency: format!("{name}__freq"),
        shares,
        target,
    }
}

/// `Ok(Ok(spec))` to keep, `Ok(Err(reason))` to drop.
fn fit_column(
    col: &Column,
    rows: usize,
    config: &Config,
    targets: &[(String, Vec<f64>)],
    ids: Ids,
) -> Result<Result<ColumnSpec, String>, PluginError> {
    let name = col.name.clone();
    let indicator = |seen_missing: bool| seen_missing.then(|| format!("{name}__missing"));
    Ok(match &col.data {
        ColumnData::Float64(_) | ColumnData::Int64(_) => {
            if let ColumnData::Int64(v) = &col.data
                && ids == Ids::Drop
                && id_like_ints(col, v)
            {
                return Ok(Err("id-like: distinct integers".into()));
            }
            let values = match &col.data {
                ColumnData::Float64(v) => present_values(col, v),
                ColumnData::Int64(v) => {
                    let as_f64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
                    present_values(col, &as_f64)
                }
                _ => unreachable_kind(col)?,
            };
            let numeric = numeric_spec(name.clone(), values, rows, config, indicator);
            // An integer code: keep the number and add the level's share and target
            // statistics; the models (and so the search) find out which one predicts.
            if let ColumnData::Int64(v) = &col.data
                && let Some(levels) = code_levels(col, v, config)
                && let Ok(ColumnSpec {
                    encoding: Encoding::Numeric { output, scaled },
                    missing_indicator,
                    name,
                }) = &numeric
            {
                return Ok(Ok(ColumnSpec {
                    encoding: int_code_spec(
                        col,
                        v,
                        &levels,
                        (rows, config),
                        targets,
                        (output.clone(), *scaled),
                    ),
                    missing_indicator: missing_indicator.clone(),
                    name: name.clone(),
                }));
            }
            numeric
        }
        ColumnData::Boolean(v) => {
            let (mut trues, mut present) = (0usize, 0usize);
            for (i, &b) in v.iter().enumerate() {
                if col.is_valid(i) {
                    present += 1;
                    trues += usize::from(b);
                }
            }
            let missing = present < rows;
            if present == 0 {
                Err("all values missing".into())
            } else if (trues == 0 || trues == present) && !missing {
                Err("constant".into())
            } else {
                Ok(ColumnSpec {
                    encoding: Encoding::Boolean {
                        output: name.clone(),
                        // Ties go to true: either is a valid mode.
                        mode: trues * 2 >= present,
                    },
                    missing_indicator: indicator(missing),
                    name,
                })
            }
        }
        ColumnData::Categorical(dict) => {
            categorical_spec(col, dict, (rows, ids), config, indicator)
        }
        ColumnData::TimestampMs(v) => {
            let mut parts = Vec::new();
            let mut present_count = 0;
            for part in Part::ALL {
                let mut values: Vec<f64> = v
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| col.is_valid(i))
                    .map(|(_, &ms)| part.of(ms))
                    .collect();
                present_count = values.len();
                if values.is_empty() {
                    break;
                }
                if let Some(scaled) = learn_scaling(&mut values, rows, config.scale) {
                    parts.push((part, format!("{name}__{}", part.suffix()), scaled));
                }
            }
            let missing = present_count < rows;
            if present_count == 0 {
                Err("all values missing".into())
            } else if parts.is_empty() && !missing {
                Err("constant".into())
            } else {
                Ok(ColumnSpec {
                    encoding: if parts.is_empty() {
                        Encoding::IndicatorOnly
                    } else {
                        Encoding::Timestamp { parts }
                    },
                    missing_indicator: indicator(missing),
                    name,
                })
            }
        }
    })
}

fn unreachable_kind(col: &Column) -> Result<Vec<f64>, PluginError> {
    Err(PluginError::internal(format!(
        "column '{}': numeric branch reached with {}",
        col.name,
        col.data.type_name()
    )))
}

fn numeric_spec(
    name: String,
    mut values: Vec<f64>,
    rows: usize,
    config: &Config,
    indicator: impl Fn(bool) -> Option<String>,
) -> Result<ColumnSpec, String> {
    if values.is_empty() {
        return Err("all values missing".into());
    }
    let missing = values.len() < rows;
    match learn_scaling(&mut values, rows, config.scale) {
        Some(scaled) => Ok(ColumnSpec {
            encoding: Encoding::Numeric {
                output: name.clone(),
                scaled,
            },
            missing_indicator: indicator(missing),
            name,
        }),
        // Constant values, but whether they were missing may still tell something.
        None if missing => Ok(ColumnSpec {
            encoding: Encoding::IndicatorOnly,
            missing_indicator: indicator(true),
            name,
        }),
        None => Err("constant".into()),
    }
}

fn categorical_spec(
    col: &Column,
    dict: &Dictionary,
    (rows, ids): (usize, Ids),
    config: &Config,
    indicator: impl Fn(bool) -> Option<String>,
) -> Result<ColumnSpec, String> {
    let name = col.name.clone();
    // Count per code (columnar, one pass), then merge codes whose strings repeat.
    let mut per_code = vec![0usize; dict.dictionary.len()];
    let mut present = 0usize;
    for (i, &code) in dict.codes.iter().enumerate() {
        if col.is_valid(i) {
            per_code[code as usize] += 1;
            present += 1;
        }
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (code, &n) in per_code.iter().enumerate() {
        if n > 0 {
            *counts.entry(dict.dictionary[code].as_str()).or_default() += n;
        }
    }
    let missing = present < rows;
    if present == 0 {
        return Err("all values missing".into());
    }
    if counts.len() == 1 && !missing {
        return Err("constant".into());
    }
    if ids == Ids::Drop && counts.len() == present && present == rows && rows >= 10 {
        return Err("id-like: every value distinct".into());
    }
    // Most frequent first, then by text, so output order is deterministic.
    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
    levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));

    let encoding = if levels.len() <= config.max_onehot {
        Encoding::OneHot {
            outputs: levels.iter().map(|(l, _)| format!("{name}={l}")).collect(),
            levels: levels.iter().map(|(l, _)| l.to_string()).collect(),
        }
    } else {
        match config.high_cardinality {
            HighCardinality::Frequency => Encoding::Frequency {
                output: name.clone(),
                levels: levels
                    .iter()
                    .map(|&(l, n)| (l.to_string(), n as f64 / rows as f64))
                    .collect(),
            },
            HighCardinality::Ordinal => {
                let mut sorted: Vec<String> = levels.iter().map(|(l, _)| l.to_string()).collect();
                sorted.sort();
                let rank: HashMap<&str, f64> = sorted
                    .iter()
                    .enumerate()
                    .map(|(r, l)| (l.as_str(), r as f64))
                    .collect();
                let mut ranks: Vec<f64> = levels
                    .iter()
                    .flat_map(|&(l, n)| std::iter::repeat_n(rank[l], n))
                    .collect();
                let scaled = learn_scaling(&mut ranks, rows, config.scale)
                    .ok_or_else(|| "constant".to_string())?;
                Encoding::Ordinal {
                    output: name.clone(),
                    levels: sorted,
                    scaled,
                }
            }
        }
    };
    Ok(ColumnSpec {
        encoding,
        missing_indicator: indicator(missing),
        name,
    })
}

/// Make every output name unique (a one-hot `a=b` could collide with a column named `a=b`).
fn dedupe_outputs(spec: &mut Spec) {
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut unique = |name: &mut String| {
        if taken.insert(name.clone()) {
            return;
        }
        let mut k = 2;
        while !taken.insert(format!("{name}#{k}")) {
            k += 1;
        }
        *name = format!("{name}#{k}");
    };
    for c in &mut spec.columns {
        match &mut c.encoding {
            Encoding::Numeric { output, .. }
            | Encoding::Boolean { output, .. }
            | Encoding::Frequency { output, .. }
            | Encoding::Ordinal { output, .. } => unique(output),
            Encoding::OneHot { outputs, .. } => outputs.iter_mut().for_each(&mut unique),
            Encoding::Timestamp { parts } => parts.iter_mut().for_each(|(_, o, _)| unique(o)),
            Encoding::IntCode {
                output,
                frequency,
                target,
                ..
            } => {
                unique(output);
                unique(frequency);
                target.iter_mut().for_each(|t| unique(&mut t.output));
            }
            Encoding::IndicatorOnly => {}
        }
        if let Some(ind) = &mut c.missing_indicator {
            unique(ind);
        }
    }
    for g in &mut spec.gaps {
        unique(&mut g.output);
    }
}
