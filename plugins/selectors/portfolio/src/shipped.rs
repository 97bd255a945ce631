//! The learned zero-shot portfolio shipped inside the component: `portfolio.json`, written by
//! `host/pipeline/examples/learn_portfolio.rs` (method in `PORTFOLIO.md`). Per model kind it
//! holds an ordered list of configurations; the selector tries them first, in that order.

use microlearn_sdk::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The file, compiled in: a component has no files to read at run time.
pub(crate) const PORTFOLIO_JSON: &str = include_str!("portfolio.json");

/// The only layout this code reads.
const FORMAT: u32 = 1;

/// One configuration: parameter names and values, in name order.
pub(crate) type Config = Vec<(String, ParamValue)>;

#[derive(Debug, Deserialize)]
struct File {
    format: u32,
    kinds: BTreeMap<String, Vec<Entry>>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    params: BTreeMap<String, serde_json::Value>,
}

/// The parsed portfolio.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shipped {
    kinds: BTreeMap<String, Vec<Config>>,
}

impl Shipped {
    /// The portfolio compiled into this component.
    pub(crate) fn load() -> Result<Shipped, PluginError> {
        Shipped::parse(PORTFOLIO_JSON)
    }

    /// Parse a portfolio document; any malformed part is an error naming it.
    pub(crate) fn parse(text: &str) -> Result<Shipped, PluginError> {
        let bad = |what: String| PluginError::Internal(format!("portfolio.json: {what}"));
        let file: File = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if file.format != FORMAT {
            return Err(bad(format!(
                "format {} where this selector reads {FORMAT}",
                file.format
            )));
        }
        let mut kinds = BTreeMap::new();
        for (kind, entries) in file.kinds {
            let mut configs = Vec::with_capacity(entries.len());
            for (i, entry) in entries.into_iter().enumerate() {
                let mut config = Config::with_capacity(entry.params.len());
                for (name, value) in entry.params {
                    let value = param_value(&value).ok_or_else(|| {
                        bad(format!(
                            "{kind} entry {i}: parameter '{name}' has value {value}, which is no number, flag or string"
                        ))
                    })?;
                    config.push((name, value));
                }
                configs.push(config);
            }
            kinds.insert(kind, configs);
        }
        Ok(Shipped { kinds })
    }

    /// The configurations for `kind`, best first; empty for a kind the portfolio does not cover.
    pub(crate) fn configs(&self, kind: &str) -> Vec<Config> {
        self.kinds.get(kind).cloned().unwrap_or_default()
    }

    /// The kinds covered.
    #[cfg(test)]
    pub(crate) fn kinds(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }
}

/// A JSON value as a parameter value: integers stay integers (`31`), reals stay reals (`1.0`,
/// `0.05`), so each meets the domain type the catalogue declares.
fn param_value(v: &serde_json::Value) -> Option<ParamValue> {
    match v {
        serde_json::Value::Bool(b) => Some(ParamValue::Flag(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Some(ParamValue::Int(i)),
            None => n.as_f64().map(ParamValue::Float),
        },
        serde_json::Value::String(s) => Some(ParamValue::Choice(s.clone())),
        _ => None,
    }
}
