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
//! - **integer codes**: an integer column with more levels than `max_onehot` that repeat (at
//!   most one level per two rows) keeps its value and also gets `<col>__freq` (share of training
//!   rows) and `<col>__target` (binary, regression) or `<col>__target=<class>` (multiclass, up
//!   to 10 classes): the level's target mean smoothed towards the overall mean, computed out of
//!   fold (5 folds by a hash of the row index) for the training table that `fit` returns; off with `"codes": false`;
//! - **timestamp**: year, month, day, weekday, hour, minute, day-of-year and epoch (days since
//!   1970), each imputed and scaled, constant parts (e.g. an hour that is always 0) dropped;
//!   for each pair of timestamp columns (of the first 8) their difference in days,
//!   `<a>__minus__<b>`.
//!
//! When that would leave no feature at all, the id-like columns come back as a last resort
//! (string ones first, as a scaled ordinal rank; integers only when no string column can), with
//! a warning: a code whose values never repeat in the training rows is still better than no
//! model. Only empty and constant columns are never kept.
//!
//! The output is all `float64`, no missing values, no NaN or infinity, the same rows, and
//! columns in a deterministic order (training column order, then each column's outputs). The
//! state is the fitted spec as JSON; `transform` finds columns by name, ignores extra ones and
//! reports a missing column or a changed type as `InvalidInput` naming the column.
//!
//! Config: `{"max_onehot": 10, "high_cardinality": "frequency" | "ordinal", "scale": true,
//! "codes": true}`.

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
    /// Also encode integer columns with many repeating levels as codes (level share and
    /// out-of-fold target statistics beside the value).
    pub codes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_onehot: 10,
            high_cardinality: HighCardinality::Frequency,
            scale: true,
            codes: true,
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
      "description": "Standardise numeric outputs to zero mean and unit variance."},
    "codes": {"type": "boolean", "default": true,
      "description": "Also encode integer columns with many repeating levels (area, model or configuration ids) by level share and out-of-fold target mean."}
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
        target: &Column,
        task: Task,
        config: &str,
    ) -> Result<FitOutput, PluginError> {
        let config: Config = config::parse(config)?;
        config::check_range("max_onehot", config.max_onehot, 0, 1000)?;
        let spec = spec::fit(train, target, task, &config)?;
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
        // and every later table go through bit-identical arithmetic; the one difference is that
        // target statistics of the training rows are computed out of fold, since the host
        // validates trials on subsets of this table.
        let decoded = decode(&state)?;
        let table = transform::apply_with(
            &decoded,
            train,
            Some(spec::target_outputs(target, task).as_slice()),
        )?;
        log::progress(1.0, &format!("{} prepared features", table.num_columns()));
        Ok(FitOutput { state, table })
    }

    fn transform(state: &[u8], input: &Table) -> Result<Table, PluginError> {
        transform::apply(&decode(state)?, input)
    }
}

/// The fitted spec in `state`, checked for its version.
fn decode(state: &[u8]) -> Result<spec::Spec, PluginError> {
    let spec: spec::Spec = serde_json::from_slice(state)
        .map_err(|e| PluginError::state(format!("not a `standard` fitted spec: {e}")))?;
    if spec.version != spec::STATE_VERSION {
        return Err(PluginError::state(format!(
            "fitted spec version {} is not supported (expected {}); refit the pipeline",
            spec.version,
            spec::STATE_VERSION
        )));
    }
    Ok(spec)
}

microlearn_sdk::export_preparer!(Standard);

#[cfg(test)]
mod tests;
