//! `portfolio`: rank the host's model kinds with rules from the dataset's meta-features.
//!
//! Rules (each candidate's `reason` says which fired):
//! - Gradient-boosted trees (`gbdt`) lead on most tabular data.
//! - A regularised linear model (`linear`) leads on tiny data (< 1 000 rows) and on very wide
//!   data (more features than rows, or ≥ 1 000 features), and is a cheap second otherwise.
//! - Random forests and extra trees get a modest share (less on huge data or tight budgets),
//!   with only tree count, split randomness and leaf size searched.
//! - k-nearest neighbours is proposed for small data (≤ 50 000 rows, ≤ 200 features) and gets
//!   a single default trial otherwise; the MLP gets a small share, more when a GPU is present.
//! - Kinds this selector does not know get a default share and their default configuration.
//! - Search spaces are narrowed (never widened) to what the data and budget can use: fewer
//!   boosting rounds for tight budgets or huge data, `min_data_in_leaf` scaled with rows,
//!   smaller trees for tiny data, low-impact dimensions dropped when the budget is tight.
//! - Warm starts, tried before any sampled configuration, are a zero-shot portfolio learned
//!   offline from public datasets (`src/portfolio.json`; method and numbers in `PORTFOLIO.md`):
//!   an ordered list of strong configurations per kind, clamped into the narrowed domains and
//!   limited to parameter names the space declares. Tight budgets and huge data still cap tree
//!   counts and MLP epochs, and forests on big data sample rows per tree.
//!
//! It works with any catalogue and fails with `Unsupported` only if no kind supports the task.

mod rules;
mod shipped;

use microlearn_sdk::config;
use microlearn_sdk::prelude::*;
use serde::Deserialize;

/// The selector.
pub struct Portfolio;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_candidates": {"type": "integer", "minimum": 0, "default": 0,
      "description": "Return at most this many candidates (0 = all that support the task)."},
    "exclude": {"type": "array", "items": {"type": "string"}, "default": [],
      "description": "Model kinds never to propose."}
  }
}"#;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_candidates: usize,
    exclude: Vec<String>,
}

impl Selector for Portfolio {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "portfolio",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Selector,
            "Ranks model kinds from dataset meta-features and budget, with narrowed spaces and warm starts.",
        )
        .with_schema(SCHEMA)
    }

    fn select(request: &SelectionRequest) -> Result<Vec<Candidate>, PluginError> {
        let config: Config = config::parse(&request.config)?;
        let task = request.meta.task;
        let usable: Vec<&ModelKind> = request
            .catalogue
            .iter()
            .filter(|k| k.tasks.contains(&task) && !config.exclude.contains(&k.name))
            .collect();
        if usable.is_empty() {
            let offered: Vec<String> = request
                .catalogue
                .iter()
                .map(|k| {
                    let tasks: Vec<&str> = k.tasks.iter().map(|t| t.as_str()).collect();
                    format!("{} ({})", k.name, tasks.join("/"))
                })
                .collect();
            return Err(PluginError::unsupported(format!(
                "no model kind in the catalogue supports the {task} task (offered: {}{})",
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                },
                if config.exclude.is_empty() {
                    String::new()
                } else {
                    format!("; excluded by config: {}", config.exclude.join(", "))
                }
            )));
        }
        let profile = rules::Profile::new(request);
        let shipped = shipped::Shipped::load()?;
        let mut ranked: Vec<(f64, usize, Candidate)> = usable
            .iter()
            .enumerate()
            .map(|(order, kind)| {
                let (score, candidate) = rules::propose(kind, &profile, &shipped);
                (score, order, candidate)
            })
            .collect();
        // Best score first; the catalogue's order breaks ties so the result is deterministic.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        if config.max_candidates > 0 {
            ranked.truncate(config.max_candidates);
        }
        let total: f64 = ranked.iter().map(|(_, _, c)| c.budget_share).sum();
        Ok(ranked
            .into_iter()
            .map(|(_, _, mut c)| {
                c.budget_share /= total;
                c
            })
            .collect())
    }
}

microlearn_sdk::export_selector!(Portfolio);

#[cfg(test)]
mod tests;
