//! Tables and summaries for the terminal, and the `--json` outcome.

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use microlearn_core::stages::{Decision, DeployAction};
use microlearn_core::{Direction, Metric, Params, Task};
use microlearn_pipeline::PipelineOutcome;
use microlearn_plugins::InstalledPlugin;
use microlearn_store::{PluginFailure, TrialStatus};
use std::path::Path;

/// Metrics shown per task in the leaderboard, after the objective.
fn shown_metrics(task: microlearn_core::Task) -> &'static [&'static str] {
    match task {
        microlearn_core::Task::Binary => &["roc_auc", "accuracy", "f1", "log_loss"],
        microlearn_core::Task::Multiclass => &["log_loss", "accuracy", "balanced_accuracy"],
        microlearn_core::Task::Regression => &["r2", "rmse", "mae"],
    }
}

/// What `run` prints about a finished pipeline: built from the engine's outcome after a local
/// run, or from the server's answers after a run submitted to `microlearn serve`, so both print
/// the same tables and the same JSON.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub pipeline_id: String,
    pub task: Task,
    /// Objective metric and its direction.
    pub metric: (String, Direction),
    /// Refit models, best validation score first.
    pub leaderboard: Vec<ReportModel>,
    /// Index into `leaderboard` of the recommended model.
    pub best: usize,
    pub decision: Option<Decision>,
    /// The deployment the deployer decided about.
    pub deployment: Option<String>,
    pub plugin_errors: Vec<PluginFailure>,
    /// Status of every trial.
    pub trials: Vec<TrialStatus>,
    pub test_rows: usize,
    pub elapsed_secs: f64,
}

/// One leaderboard entry of a [`RunReport`].
#[derive(Debug, Clone)]
pub struct ReportModel {
    pub id: String,
    pub kind: String,
    pub params: Params,
    pub validation_score: f64,
    pub test_metrics: Vec<Metric>,
    pub fit_seconds: f64,
    /// Largest first (shown for the best model).
    pub feature_importance: Vec<(String, f64)>,
}

impl RunReport {
    /// The report of a local run.
    pub fn of_outcome(outcome: &PipelineOutcome) -> RunReport {
        RunReport {
            pipeline_id: outcome.pipeline.id.clone(),
            task: outcome.leaderboard[0].model.task,
            metric: outcome.metric.clone(),
            leaderboard: outcome
                .leaderboard
                .iter()
                .map(|e| ReportModel {
                    id: e.model.id.clone(),
                    kind: e.model.kind.clone(),
                    params: e.model.params.clone(),
                    validation_score: e.model.validation_score,
                    test_metrics: e.model.test_metrics.clone(),
                    fit_seconds: e.model.fit_seconds,
                    feature_importance: e.model.feature_importance.clone(),
                })
                .collect(),
            best: outcome.best,
            decision: outcome.decision.clone(),
            deployment: outcome.pipeline.deployment.clone(),
            plugin_errors: outcome.pipeline.plugin_errors.clone(),
            trials: outcome.trials.iter().map(|t| t.status).collect(),
            test_rows: outcome.test_rows,
            elapsed_secs: outcome.elapsed_secs,
        }
    }
}

/// `records`: where the pipeline's records are (the data directory, or the server holding it).
pub fn print_outcome(outcome: &RunReport, bundle: &Path, records: &str) {
    let (metric, direction) = &outcome.metric;
    let names = shown_metrics(outcome.task);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![
        Cell::new("#"),
        Cell::new("model"),
        Cell::new("params"),
        Cell::new(format!("valid {metric}")),
    ];
    header.extend(names.iter().map(|n| Cell::new(format!("test {n}"))));
    header.push(Cell::new("fit s"));
    table.set_header(header);
    let deployed = match outcome.decision.as_ref().map(|d| &d.action) {
        Some(DeployAction::Promote(id)) => Some(id.as_str()),
        Some(DeployAction::Keep) | None => None,
    };
    for (i, m) in outcome.leaderboard.iter().enumerate() {
        let mark = if deployed == Some(m.id.as_str()) {
            " ★"
        } else {
            ""
        };
        let mut params = m.params.to_string();
        if params.len() > 60 {
            params.truncate(57);
            params.push_str("...");
        }
        let mut row = vec![
            Cell::new(i + 1),
            Cell::new(format!("{}{mark}", m.kind)),
            Cell::new(params),
            Cell::new(format!("{:.4}", m.validation_score)).set_alignment(CellAlignment::Right),
        ];
        for n in names {
            let v = m
                .test_metrics
                .iter()
                .find(|x| &x.name == n)
                .map_or("–".to_string(), |x| format!("{:.4}", x.value));
            row.push(Cell::new(v).set_alignment(CellAlignment::Right));
        }
        row.push(Cell::new(format!("{:.2}", m.fit_seconds)).set_alignment(CellAlignment::Right));
        table.add_row(row);
    }
    let count = |status: TrialStatus| outcome.trials.iter().filter(|&&t| t == status).count();
    let (complete, pruned) = (count(TrialStatus::Complete), count(TrialStatus::Pruned));
    println!();
    println!(
        "Leaderboard — {} trials ({complete} complete, {pruned} pruned), objective {metric} ({}), {} held-out rows",
        outcome.trials.len(),
        match direction {
            Direction::Maximize => "higher is better",
            Direction::Minimize => "lower is better",
        },
        outcome.test_rows
    );
    println!("{table}");
    let best = &outcome.leaderboard[outcome.best];
    match &outcome.decision {
        Some(decision) => println!(
            "Deployment '{}': {}",
            outcome.deployment.as_deref().unwrap_or("?"),
            decision.reason
        ),
        None => println!("Deployment: nothing was deployed"),
    }
    // Failures the pipeline went on without, so a user sees why a metric or a deployment is
    // missing without digging in the data directory.
    for f in &outcome.plugin_errors {
        println!(
            "Warning: {} '{}' failed in {} ({}): {}",
            microlearn_pipeline::stage_plugin_kind(f.stage),
            f.plugin,
            f.stage,
            f.consequence,
            f.error
        );
    }
    println!(
        "Best model {} ({}) → {}",
        best.id,
        best.kind,
        bundle.display()
    );
    let top: Vec<&str> = best
        .feature_importance
        .iter()
        .take(5)
        .map(|(n, _)| n.as_str())
        .collect();
    if !top.is_empty() {
        println!("Top features: {}", top.join(", "));
    }
    println!(
        "Pipeline {} finished in {:.1} s (records in {records})",
        outcome.pipeline_id, outcome.elapsed_secs,
    );
    println!(
        "Score new rows: microlearn predict --model {} FILE -o predictions.csv",
        bundle.display()
    );
}

pub fn outcome_json(outcome: &RunReport, bundle: &Path) -> serde_json::Value {
    serde_json::json!({
        "pipeline": outcome.pipeline_id,
        "metric": outcome.metric.0,
        "elapsed_secs": outcome.elapsed_secs,
        "trials": outcome.trials.len(),
        "bundle": bundle.display().to_string(),
        "best": outcome.leaderboard[outcome.best].id,
        "decision": outcome.decision,
        "deployed": outcome.decision.is_some(),
        "plugin_errors": outcome.plugin_errors,
        "leaderboard": outcome.leaderboard.iter().map(|m| serde_json::json!({
            "model": m.id,
            "kind": m.kind,
            "params": m.params,
            "validation_score": m.validation_score,
            "test_metrics": m.test_metrics,
            "fit_seconds": m.fit_seconds,
        })).collect::<Vec<_>>(),
    })
}

pub fn plugin_json(p: &InstalledPlugin) -> serde_json::Value {
    serde_json::json!({
        "id": p.info.id,
        "kind": p.info.kind,
        "version": p.info.version,
        "description": p.info.description,
        "sha256": p.sha256,
        "path": p.dir.as_ref().map(|d| d.display().to_string()),
    })
}

pub fn print_plugins(list: &[InstalledPlugin]) {
    if list.is_empty() {
        println!(
            "No plugins found. Build the first-party ones with scripts/build-plugins.sh, or install one with `microlearn plugins install DIR`."
        );
        return;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec!["kind", "id", "version", "description", "from"]);
    for p in list {
        table.add_row(vec![
            p.info.kind.to_string(),
            p.info.id.clone(),
            p.info.version.clone(),
            p.info.description.clone(),
            p.dir
                .as_ref()
                .map_or_else(String::new, |d| d.display().to_string()),
        ]);
    }
    println!("{table}");
}
