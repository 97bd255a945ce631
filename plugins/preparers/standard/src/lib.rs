//! `standard`: make any table model-ready.
//!
//! `fit` learns, per training column by type:
//!
//! - **numeric** (float, integer): median imputation, a `<col>__missing` 0/1 indicator when
//!   training had missing values (NaN, ±inf or masked), then a z-score; constant columns are
//!   dropped, and so are id-like integers (all distinct and nearly consecutive, or all distinct
//!   with a name like `id`, `user_id`, `orderId`);
//! - **boolean**: 0/1, missing filled with the training mode (plus an indicator if seen);
//! - **categorical**: up to `max_onehot` levels → one-hot `<col>=<level>` (unseen and missing
//!   → all zeros, plus an indicator if missing was seen); more levels → frequency encoding
//!   (share of training rows; unseen → 0) or, by config, a scaled ordinal rank; columns where
//!   every value is distinct (ids, free text) are dropped;
//! - **timestamp**: year, month, day, weekday, hour, day-of-year, each imputed and scaled,
//!   constant parts (e.g. an hour that is always 0) dropped.
//!
//! The output is all `float64`, no missing values, no NaN or infinity, the same rows, and
//! columns in a deterministic order (training column order, then each column's outputs). The
//! state is the fitted spec as JSON; `transform` finds columns by name, ignores extra ones and
//! reports a missing column or a changed type as `InvalidInput` naming the column.
//!
//! Config: `{"max_onehot": 10, "high_cardinality": "frequency" | "ordinal", "scale": true}`.

pub mod dates;
pub mod spec;
pub mod transform;

use microlearn_sdk::prelude::*;
use microlearn_sdk::{config, log};
use serde::Deserialize;

/// The preparer.
pub struct Standard;

/// How categorical columns with more than `max_onehot` levels are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HighCardinality {
    /// Share of training rows holding the level.
    Frequency,
    /// Rank of the level in sorted order, scaled like a numeric column.
    Ordinal,
}

/// The configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Most levels a categorical column may have to be one-hot encoded.
    pub max_onehot: usize,
    /// Encoding of categorical columns with more levels.
    pub high_cardinality: HighCardinality,
    /// Standardise numeric outputs (z-score); `false` keeps imputed raw values.
    pub scale: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_onehot: 10,
            high_cardinality: HighCardinality::Frequency,
            scale: true,
        }
    }
}

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_onehot": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 10,
      "description": "Most distinct values a categorical column may have to be one-hot encoded."},
    "high_cardinality": {"enum": ["frequency", "ordinal"], "default": "frequency",
      "description": "Encoding of categorical columns with more distinct values."},
    "scale": {"type": "boolean", "default": true,
      "description": "Standardise numeric outputs to zero mean and unit variance."}
  }
}"#;

impl Preparer for Standard {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "standard",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Preparer,
            "Imputes, scales and encodes every column by type; drops constant and id-like columns.",
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
        config::check_range("max_onehot", config.max_onehot, 0, 1000)?;
        let spec = spec::fit(train, &config)?;
        for (name, why) in &spec.dropped {
            log::info!("dropping column '{name}': {why}");
        }
        // Learning the spec and applying it are the two halves of a fit; the host turns these
        // reports into pipeline events.
        log::progress(
            0.5,
            &format!(
                "learned encodings for {} columns ({} dropped)",
                train.num_columns(),
                spec.dropped.len()
            ),
        );
        let state = serde_json::to_vec(&spec)
            .map_err(|e| PluginError::internal(format!("serialising the fitted spec: {e}")))?;
        // Transform with the spec exactly as `transform` will decode it, so the training table
        // and every later table go through bit-identical arithmetic.
        let table = Self::transform(&state, train)?;
        log::progress(1.0, &format!("{} prepared features", table.num_columns()));
        Ok(FitOutput { state, table })
    }

    fn transform(state: &[u8], input: &Table) -> Result<Table, PluginError> {
        let spec: spec::Spec = serde_json::from_slice(state)
            .map_err(|e| PluginError::state(format!("not a `standard` fitted spec: {e}")))?;
        if spec.version != spec::STATE_VERSION {
            return Err(PluginError::state(format!(
                "fitted spec version {} is not supported (expected {}); refit the pipeline",
                spec.version,
                spec::STATE_VERSION
            )));
        }
        transform::apply(&spec, input)
    }
}

microlearn_sdk::export_preparer!(Standard);

#[cfg(test)]
mod tests;
