//! Select: ask the selector plugin which model kinds to search, with what share of the budget
//! and which search spaces, and check its answer against the host's catalogue.

use crate::PipelineError;
use crate::config::PipelineConfig;
use crate::features::meta_features;
use crate::observer::Observer;
use crate::stages::StageOutput;
use crate::stages::ingest::Ingested;
use microlearn_core::Stage;
use microlearn_core::stages::{Candidate, Hardware, ModelKindInfo, SelectionRequest};
use microlearn_hpo::PlannerCandidate;
use microlearn_plugins::SelectorHandle;

/// What the select stage reads.
#[derive(Debug, Clone, Copy)]
pub struct SelectInput<'a> {
    /// The ingested rows (their meta-features go to the selector).
    pub data: &'a Ingested,
    /// How many columns the preparers produced.
    pub prepared_features: usize,
    /// The selector plugin.
    pub selector: &'a SelectorHandle,
    /// Cores the run may use (the selector sizes its plan by them).
    pub threads: usize,
}

/// What the select stage produced: the candidates the search plans over.
#[derive(Debug)]
pub struct Selected {
    /// Known model kinds, once each, with known parameters only; budget shares sum to 1.
    pub candidates: Vec<PlannerCandidate>,
}

impl StageOutput for Selected {
    fn summary(&self) -> String {
        self.candidates
            .iter()
            .map(|c| format!("{} ({:.0}%)", c.kind, 100.0 * c.budget_share))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Ask the selector and plan its candidates; what it proposed that the host cannot search is
/// skipped with a note to `observer`.
pub fn run(
    input: SelectInput<'_>,
    config: &PipelineConfig,
    observer: &dyn Observer,
) -> Result<Selected, PipelineError> {
    let data = input.data;
    let task = data.train_y.task;
    let catalogue: Vec<_> = microlearn_train::catalogue()
        .into_iter()
        .filter(|k| k.tasks.contains(&task))
        .collect();
    let request = SelectionRequest {
        meta: meta_features(
            task,
            &data.train_x,
            &data.dataset.schema,
            &data.train_y,
            &data.train_rows(),
            input.prepared_features,
        ),
        catalogue: catalogue.clone(),
        budget_seconds: config.budget_secs,
        hardware: Hardware {
            cpus: input.threads as u32,
            memory_bytes: available_memory(),
            gpus: microlearn_train::gpu_count() as u32,
        },
        config: config.selector.config_string(),
    };
    let candidates = input
        .selector
        .select(&request)
        .map_err(PipelineError::plugin(Stage::Selecting))?;
    let candidates = plan_candidates(
        &candidates,
        &catalogue,
        input.selector.info().id.as_str(),
        observer,
    )?;
    Ok(Selected { candidates })
}

/// Turn a selector's candidates into planner input, checking them against the catalogue: an
/// unknown kind is skipped, an unknown parameter dropped, each with a note to the user.
fn plan_candidates(
    candidates: &[Candidate],
    catalogue: &[ModelKindInfo],
    selector_id: &str,
    observer: &dyn Observer,
) -> Result<Vec<PlannerCandidate>, PipelineError> {
    let mut out: Vec<PlannerCandidate> = Vec::new();
    for c in candidates {
        let Some(kind) = catalogue.iter().find(|k| k.name == c.kind) else {
            observer.note(&format!(
                "selector '{selector_id}' proposed unknown model kind '{}'; skipped",
                c.kind
            ));
            continue;
        };
        if out.iter().any(|p| p.kind == c.kind) {
            continue;
        }
        let known = |name: &str| kind.params.iter().any(|p| p.name == name);
        let mut space = Vec::new();
        for spec in &c.search_space {
            if known(&spec.name) {
                space.push(spec.clone());
            } else {
                observer.note(&format!(
                    "selector '{selector_id}': {} has no parameter '{}'; not searched",
                    c.kind, spec.name
                ));
            }
        }
        let warm_starts = c
            .warm_starts
            .iter()
            .map(|w| {
                let mut p = w.clone();
                p.0.retain(|name, _| known(name));
                p
            })
            .collect();
        let share = if c.budget_share.is_finite() && c.budget_share > 0.0 {
            c.budget_share
        } else {
            0.1
        };
        out.push(PlannerCandidate {
            kind: c.kind.clone(),
            budget_share: share,
            search_space: space,
            warm_starts,
        });
    }
    if out.is_empty() {
        return Err(PipelineError::Stage {
            stage: Stage::Selecting,
            message: format!(
                "selector '{selector_id}' proposed no model kind the host offers (offered: {})",
                catalogue
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let total: f64 = out.iter().map(|c| c.budget_share).sum();
    for c in &mut out {
        c.budget_share /= total;
    }
    Ok(out)
}

/// Available memory in bytes (Linux `MemAvailable`), 0 when unknown.
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
