//! The fitted specification (the plugin's opaque state) and how `fit` learns it.
//!
//! Fitting walks each training column once or twice (columnar; the only per-column copies are
//! the present values, for the median), and decides per column what to emit.

use crate::dates::Part;
use crate::{Config, HighCardinality};
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

/// Learn the spec from the training table.
pub fn fit(train: &Table, config: &Config) -> Result<Spec, PluginError> {
    let rows = train.num_rows();
    if rows == 0 {
        return Err(PluginError::input("the training table has no rows"));
    }
    let mut spec = Spec {
        version: STATE_VERSION,
        columns: Vec::new(),
        dropped: Vec::new(),
    };
    for col in train.columns() {
        match fit_column(col, rows, config)? {
            Ok(c) => spec.columns.push(c),
            Err(why) => spec.dropped.push((col.name.clone(), why)),
        }
    }
    dedupe_outputs(&mut spec);
    Ok(spec)
}

/// `Ok(Ok(spec))` to keep, `Ok(Err(reason))` to drop.
fn fit_column(
    col: &Column,
    rows: usize,
    config: &Config,
) -> Result<Result<ColumnSpec, String>, PluginError> {
    let name = col.name.clone();
    let indicator = |seen_missing: bool| seen_missing.then(|| format!("{name}__missing"));
    Ok(match &col.data {
        ColumnData::Float64(_) | ColumnData::Int64(_) => {
            if let ColumnData::Int64(v) = &col.data
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
            numeric_spec(name.clone(), values, rows, config, indicator)
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
        ColumnData::Categorical(dict) => categorical_spec(col, dict, rows, config, indicator),
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
    rows: usize,
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
    if counts.len() == present && present == rows && rows >= 10 {
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
            Encoding::IndicatorOnly => {}
        }
        if let Some(ind) = &mut c.missing_indicator {
            unique(ind);
        }
    }
}
