//! `{{id}}`: a MicroLearn preparer.
//!
//! It clips every numeric (float64) column to the quantiles learnt on the training rows, so a
//! few extreme values cannot dominate a linear model; other columns pass through unchanged.
//! Put it before `standard` in a chain: `--preparer {{id}} --preparer standard`.
//!
//! Config (JSON, every field optional): `{"lower": 0.01, "upper": 0.99}`.

use microlearn_sdk::prelude::*;
use microlearn_sdk::{config, data};
use serde::{Deserialize, Serialize};

/// The JSON Schema of the configuration, shown by `microlearn plugin info {{id}}`.
const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "lower": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.01},
    "upper": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.99}
  }
}"#;

/// The configuration; `{}` means the defaults, an unknown field is an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Lower quantile, in [0, 1].
    pub lower: f64,
    /// Upper quantile, in [0, 1], above `lower`.
    pub upper: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lower: 0.01,
            upper: 0.99,
        }
    }
}

/// The fitted state: clip bounds per column, in training order. It is stored with the model,
/// so serving applies exactly the same transformation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// (column, low, high).
    pub bounds: Vec<(String, f64, f64)>,
}

/// The plugin.
pub struct {{Type}};

/// The `q` quantile of sorted values (linear interpolation).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Preparer for {{Type}} {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "{{id}}",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Preparer,
            "{{description}}",
        )
        .with_schema(SCHEMA)
    }

    fn fit(
        train: &Table,
        _target: &Column,
        _task: Task,
        config: &str,
    ) -> Result<FitOutput, PluginError> {
        let config: Config = config::parse(config)?;
        config::check_range("lower", config.lower, 0.0, 1.0)?;
        config::check_range("upper", config.upper, config.lower, 1.0)?;
        let mut bounds = Vec::new();
        for col in train.columns() {
            let Ok(values) = data::float64(col) else {
                continue;
            };
            // Missing values (validity or NaN) do not count towards the quantiles.
            let mut present: Vec<f64> = values
                .iter()
                .enumerate()
                .filter(|&(i, v)| col.is_valid(i) && !v.is_nan())
                .map(|(_, &v)| v)
                .collect();
            if present.is_empty() {
                continue;
            }
            present.sort_by(f64::total_cmp);
            bounds.push((
                col.name.clone(),
                quantile(&present, config.lower),
                quantile(&present, config.upper),
            ));
        }
        microlearn_sdk::log::info!("clipping {} numeric columns", bounds.len());
        let state = serde_json::to_vec(&State { bounds })
            .map_err(|e| PluginError::internal(e.to_string()))?;
        let table = Self::transform(&state, train)?;
        Ok(FitOutput { state, table })
    }

    fn transform(state: &[u8], input: &Table) -> Result<Table, PluginError> {
        let state: State = serde_json::from_slice(state)
            .map_err(|e| PluginError::state(format!("not a {{id}} state: {e}")))?;
        let mut out = data::TableBuilder::with_capacity(input.num_rows(), input.num_columns());
        for col in input.columns() {
            match state.bounds.iter().find(|(name, _, _)| *name == col.name) {
                Some((_, low, high)) => {
                    // A fitted column must still be numeric: say which one if it is not.
                    let values = data::float64(col)?;
                    let mut clipped = col.clone();
                    // NaN stays NaN (missing); `clamp` would keep it too, but be explicit.
                    clipped.data = ColumnData::Float64(
                        values
                            .iter()
                            .map(|&v| if v.is_nan() { v } else { v.clamp(*low, *high) })
                            .collect(),
                    );
                    out.push(clipped);
                }
                None => out.push(col.clone()),
            }
        }
        out.build()
    }
}

microlearn_sdk::export_preparer!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    fn train() -> Table {
        Table::new(vec![
            Column::float64_nan_missing("x", (0..101).map(f64::from).collect()),
            Column::categorical_from_strs("c", &[Some("a"); 101]),
        ])
        .expect("equal lengths")
    }

    #[test]
    fn clips_to_the_training_quantiles_and_passes_other_columns_through() {
        let target = Column::float64("y", vec![0.0; 101]);
        let out = {{Type}}::fit(&train(), &target, Task::Regression, r#"{"lower": 0.1, "upper": 0.9}"#)
            .expect("fit succeeds");
        let x = data::float64(out.table.column("x").expect("x kept")).expect("x is float");
        assert_eq!(x[0], 10.0);
        assert_eq!(x[50], 50.0);
        assert_eq!(x[100], 90.0);
        assert_eq!(out.table.column("c"), train().column("c"));
    }

    #[test]
    fn rejects_bounds_in_the_wrong_order() {
        let target = Column::float64("y", vec![0.0; 101]);
        let err = {{Type}}::fit(&train(), &target, Task::Regression, r#"{"lower": 0.9, "upper": 0.1}"#)
            .expect_err("upper below lower");
        assert!(matches!(err, PluginError::InvalidConfig(_)), "{err:?}");
    }
}
