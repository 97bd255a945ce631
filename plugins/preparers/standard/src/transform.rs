//! Applying a fitted spec: one pass per output column, no per-row allocation.

use crate::spec::{self, ColumnSpec, Encoding, Scaled, Spec};
use microlearn_sdk::data::{self, TableBuilder};
use microlearn_sdk::prelude::*;
use std::collections::HashMap;

/// Transform `input` with `spec`. Columns are found by name (any order; extras ignored).
pub fn apply(spec: &Spec, input: &Table) -> Result<Table, PluginError> {
    apply_with(spec, input, None)
}

/// [`apply`], but with the training rows' target values (`(of, per row)`, see
/// [`spec::target_outputs`]): then target statistics are computed out of fold, as the
/// training table needs them.
pub fn apply_with(
    spec: &Spec,
    input: &Table,
    oof: Option<&[(String, Vec<f64>)]>,
) -> Result<Table, PluginError> {
    let rows = input.num_rows();
    let mut out = TableBuilder::with_capacity(rows, spec.columns.len() * 2 + spec.gaps.len());
    for c in &spec.columns {
        let col = data::column(input, &c.name)?;
        encode(c, col, &mut out, oof)?;
    }
    for g in &spec.gaps {
        let a = data::column(input, &g.first)?;
        let b = data::column(input, &g.second)?;
        for col in [a, b] {
            if !matches!(col.data, ColumnData::TimestampMs(_)) {
                return Err(wrong_type(col, "timestamp"));
            }
        }
        let values = spec::gap_values(a, b, Some(g.scaled.fill));
        out.push_float64(g.output.clone(), scale(values.into_iter(), None, g.scaled));
    }
    out.build()
}

fn wrong_type(col: &Column, expected: &str) -> PluginError {
    PluginError::column(
        col.name.clone(),
        format!(
            "expected {expected} (as in training), found {}",
            col.data.type_name()
        ),
    )
}

fn encode(
    c: &ColumnSpec,
    col: &Column,
    out: &mut TableBuilder,
    oof: Option<&[(String, Vec<f64>)]>,
) -> Result<(), PluginError> {
    let mask = col.validity.as_deref();
    match &c.encoding {
        Encoding::IntCode {
            output,
            scaled,
            frequency,
            shares,
            target,
        } => {
            let ColumnData::Int64(v) = &col.data else {
                return Err(wrong_type(col, "int64"));
            };
            out.push_float64(
                output.clone(),
                scale(v.iter().map(|&x| x as f64), mask, *scaled),
            );
            let valid = |i: usize| mask.is_none_or(|m| m[i]);
            let share: HashMap<i64, f64> = shares.iter().copied().collect();
            out.push_float64(
                frequency.clone(),
                v.iter()
                    .enumerate()
                    .map(|(i, x)| {
                        if valid(i) {
                            share.get(x).copied().unwrap_or(0.0)
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            );
            for t in target {
                let raw: Vec<f64> = match oof.and_then(|ys| ys.iter().find(|(of, _)| *of == t.of)) {
                    Some((_, y)) if y.len() == v.len() => spec::out_of_fold(col, v, y),
                    _ => {
                        let stat: HashMap<i64, f64> = t.levels.iter().copied().collect();
                        v.iter()
                            .enumerate()
                            .map(|(i, x)| {
                                if valid(i) {
                                    stat.get(x).copied().unwrap_or(t.prior)
                                } else {
                                    t.prior
                                }
                            })
                            .collect()
                    }
                };
                out.push_float64(t.output.clone(), scale(raw.into_iter(), None, t.scaled));
            }
            if let Some(name) = &c.missing_indicator {
                out.push_float64(name.clone(), numeric_missing(col, mask));
            }
        }
        Encoding::Numeric { output, scaled } => {
            match &col.data {
                ColumnData::Float64(v) => {
                    out.push_float64(output.clone(), scale(v.iter().copied(), mask, *scaled));
                }
                ColumnData::Int64(v) => {
                    out.push_float64(
                        output.clone(),
                        scale(v.iter().map(|&x| x as f64), mask, *scaled),
                    );
                }
                _ => return Err(wrong_type(col, "numeric (float64 or int64)")),
            }
            if let Some(name) = &c.missing_indicator {
                out.push_float64(name.clone(), numeric_missing(col, mask));
            }
        }
        Encoding::IndicatorOnly => {
            let Some(name) = &c.missing_indicator else {
                return Err(PluginError::state(format!(
                    "column '{}' is encoded as its missing indicator but has none",
                    c.name
                )));
            };
            out.push_float64(name.clone(), numeric_missing(col, mask));
        }
        Encoding::Boolean { output, mode } => {
            let ColumnData::Boolean(v) = &col.data else {
                return Err(wrong_type(col, "boolean"));
            };
            let values = match mask {
                None => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
                Some(m) => v
                    .iter()
                    .zip(m)
                    .map(|(&b, &ok)| f64::from(u8::from(if ok { b } else { *mode })))
                    .collect(),
            };
            out.push_float64(output.clone(), values);
            push_validity_indicator(c, col, out);
        }
        Encoding::OneHot { levels, outputs } => {
            let dict = data::categorical(col).map_err(|_| wrong_type(col, "categorical"))?;
            let index: HashMap<&str, u32> = levels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i as u32))
                .collect();
            // Translate the input's dictionary once; rows then index a small array.
            let code_to_level: Vec<u32> = dict
                .dictionary
                .iter()
                .map(|s| index.get(s.as_str()).copied().unwrap_or(u32::MAX))
                .collect();
            let rows = dict.codes.len();
            let mut columns: Vec<Vec<f64>> = vec![vec![0.0; rows]; levels.len()];
            for (i, &code) in dict.codes.iter().enumerate() {
                if mask.is_none_or(|m| m[i])
                    && let Some(&level) = code_to_level.get(code as usize)
                    && let Some(column) = columns.get_mut(level as usize)
                {
                    column[i] = 1.0;
                }
            }
            for (name, values) in outputs.iter().zip(columns) {
                out.push_float64(name.clone(), values);
            }
            push_validity_indicator(c, col, out);
        }
        Encoding::Frequency { output, levels } => {
            let dict = data::categorical(col).map_err(|_| wrong_type(col, "categorical"))?;
            let share: HashMap<&str, f64> = levels.iter().map(|(l, f)| (l.as_str(), *f)).collect();
            let code_to_value: Vec<f64> = dict
                .dictionary
                .iter()
                .map(|s| share.get(s.as_str()).copied().unwrap_or(0.0))
                .collect();
            out.push_float64(
                output.clone(),
                lookup(&dict.codes, mask, &code_to_value, 0.0),
            );
            push_validity_indicator(c, col, out);
        }
        Encoding::Ordinal {
            output,
            levels,
            scaled,
        } => {
            let dict = data::categorical(col).map_err(|_| wrong_type(col, "categorical"))?;
            let rank: HashMap<&str, f64> = levels
                .iter()
                .enumerate()
                .map(|(r, l)| (l.as_str(), r as f64))
                .collect();
            let fill = (scaled.fill - scaled.center) * scaled.factor;
            let code_to_value: Vec<f64> = dict
                .dictionary
                .iter()
                .map(|s| {
                    rank.get(s.as_str())
                        .map_or(fill, |r| (r - scaled.center) * scaled.factor)
                })
                .collect();
            out.push_float64(
                output.clone(),
                lookup(&dict.codes, mask, &code_to_value, fill),
            );
            push_validity_indicator(c, col, out);
        }
        Encoding::Timestamp { parts } => {
            let v = data::timestamp_ms(col).map_err(|_| wrong_type(col, "timestamp"))?;
            for (part, name, scaled) in parts {
                let fill = (scaled.fill - scaled.center) * scaled.factor;
                let values = match mask {
                    None => v
                        .iter()
                        .map(|&ms| (part.of(ms) - scaled.center) * scaled.factor)
                        .collect(),
                    Some(m) => v
                        .iter()
                        .zip(m)
                        .map(|(&ms, &ok)| {
                            if ok {
                                (part.of(ms) - scaled.center) * scaled.factor
                            } else {
                                fill
                            }
                        })
                        .collect(),
                };
                out.push_float64(name.clone(), values);
            }
            push_validity_indicator(c, col, out);
        }
    }
    Ok(())
}

/// `(x - center) * factor`, with missing or non-finite results replaced by the scaled fill.
/// The hot loop of the plugin: branch-free selects that the compiler vectorises.
#[inline]
fn scale(values: impl Iterator<Item = f64>, mask: Option<&[bool]>, s: Scaled) -> Vec<f64> {
    let fill = (s.fill - s.center) * s.factor;
    let (center, factor) = (s.center, s.factor);
    match mask {
        None => values
            .map(|x| {
                let z = (x - center) * factor;
                if z.is_finite() { z } else { fill }
            })
            .collect(),
        Some(m) => values
            .zip(m)
            .map(|(x, &ok)| {
                let z = (x - center) * factor;
                if ok && z.is_finite() { z } else { fill }
            })
            .collect(),
    }
}

/// 1.0 where a numeric value is missing (masked, NaN or infinite).
fn numeric_missing(col: &Column, mask: Option<&[bool]>) -> Vec<f64> {
    let flag = |missing: bool| f64::from(u8::from(missing));
    match (&col.data, mask) {
        (ColumnData::Float64(v), None) => v.iter().map(|x| flag(!x.is_finite())).collect(),
        (ColumnData::Float64(v), Some(m)) => v
            .iter()
            .zip(m)
            .map(|(x, &ok)| flag(!ok || !x.is_finite()))
            .collect(),
        (_, Some(m)) => m.iter().map(|&ok| flag(!ok)).collect(),
        (data, None) => vec![0.0; data.len()],
    }
}

fn push_validity_indicator(c: &ColumnSpec, col: &Column, out: &mut TableBuilder) {
    if let Some(name) = &c.missing_indicator {
        let values = match &col.validity {
            Some(m) => m.iter().map(|&ok| f64::from(u8::from(!ok))).collect(),
            None => vec![0.0; col.len()],
        };
        out.push_float64(name.clone(), values);
    }
}

/// Per-row lookup of a per-code value; missing rows and out-of-range codes get `fill`.
fn lookup(codes: &[u32], mask: Option<&[bool]>, by_code: &[f64], fill: f64) -> Vec<f64> {
    match mask {
        None => codes
            .iter()
            .map(|&c| by_code.get(c as usize).copied().unwrap_or(fill))
            .collect(),
        Some(m) => codes
            .iter()
            .zip(m)
            .map(|(&c, &ok)| {
                if ok {
                    by_code.get(c as usize).copied().unwrap_or(fill)
                } else {
                    fill
                }
            })
            .collect(),
    }
}
