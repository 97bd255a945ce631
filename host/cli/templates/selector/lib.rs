//! `{{id}}`: a MicroLearn selector.
//!
//! It proposes every model kind of the host's catalogue that handles the task, with the
//! kind's full search space, and gives the cheaper kinds a larger share of the search budget
//! on large datasets. Use it with `microlearn run … --selector {{id}}`.
//!
//! Config (JSON, every field optional): `{"exclude": ["linear"]}`.

use microlearn_sdk::config;
use microlearn_sdk::prelude::*;
use serde::Deserialize;

/// The JSON Schema of the configuration.
const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "exclude": {"type": "array", "items": {"type": "string"}, "default": []}
  }
}"#;

/// The configuration; `{}` means the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Model kinds never to propose.
    pub exclude: Vec<String>,
}

/// The plugin.
pub struct {{Type}};

impl Selector for {{Type}} {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "{{id}}",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Selector,
            "{{description}}",
        )
        .with_schema(SCHEMA)
    }

    fn select(request: &SelectionRequest) -> Result<Vec<Candidate>, PluginError> {
        let config: Config = config::parse(&request.config)?;
        let large = request.meta.rows > 100_000;
        let kinds: Vec<&ModelKind> = request
            .catalogue
            .iter()
            .filter(|k| k.tasks.contains(&request.meta.task))
            .filter(|k| !config.exclude.contains(&k.name))
            .collect();
        if kinds.is_empty() {
            return Err(PluginError::unsupported(format!(
                "no catalogue model kind handles {} tasks (after excluding {:?})",
                request.meta.task.as_str(),
                config.exclude
            )));
        }
        // Weight 2 for cheap kinds on large data, 1 otherwise; shares sum to 1.
        let weight = |k: &ModelKind| if large && k.cost == Cost::Low { 2.0 } else { 1.0 };
        let total: f64 = kinds.iter().map(|k| weight(k)).sum();
        let mut candidates: Vec<Candidate> = kinds
            .into_iter()
            .map(|k| Candidate {
                kind: k.name.clone(),
                budget_share: weight(k) / total,
                search_space: k.params.clone(),
                warm_starts: vec![],
                reason: format!("{} handles {} tasks", k.name, request.meta.task.as_str()),
            })
            .collect();
        candidates.sort_by(|a, b| b.budget_share.total_cmp(&a.budget_share));
        Ok(candidates)
    }
}

microlearn_sdk::export_selector!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_removes_a_kind() {
        let kind = |name: &str| ModelKind {
            name: name.into(),
            description: String::new(),
            tasks: vec![Task::Binary],
            params: vec![],
            cost: Cost::Low,
        };
        let request = SelectionRequest {
            meta: MetaFeatures {
                task: Task::Binary,
                rows: 10,
                raw_features: 1,
                prepared_features: 1,
                numeric_features: 1,
                categorical_features: 0,
                datetime_features: 0,
                missing_fraction: 0.0,
                classes: 2,
                minority_class_fraction: 0.5,
            },
            catalogue: vec![kind("gbdt"), kind("linear")],
            budget_seconds: 10.0,
            hardware: Hardware { cpus: 1, memory_bytes: 1 << 30, gpus: 0 },
            config: r#"{"exclude": ["linear"]}"#.into(),
        };
        let picked = {{Type}}::select(&request).expect("selects");
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].kind, "gbdt");
        assert_eq!(picked[0].budget_share, 1.0);
    }
}
