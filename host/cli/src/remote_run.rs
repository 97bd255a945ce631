//! `microlearn run` submitted to the `microlearn serve` that holds the data directory: the same
//! configuration, the same progress display and the same result as a local run, with the work
//! done by the server (upload, pipeline, events, leaderboard, bundle download).

use crate::args::RunArgs;
use crate::progress::CliProgress;
use crate::remote::{Client, Server};
use crate::render::{ReportModel, RunReport};
use anyhow::{Context, Result, bail};
use microlearn_core::{Direction, Metric, Stage, Task};
use microlearn_pipeline::{Observer, PipelineConfig, default_deployment_name};
use microlearn_store::{TrialRecord, TrialStatus};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a run goes to a server rather than running in this process.
pub enum Via<'a> {
    /// A `microlearn serve` holds the data directory.
    HeldHome(&'a Path),
    /// The settings name a cluster with a work queue: the run goes to its workers, through
    /// an API node of this process's own (`description` says where the cluster is).
    Cluster { description: String },
}

/// Run `config` on the server, following it like a local run.
pub fn run(via: &Via, server: &Server, args: &RunArgs, config: &PipelineConfig) -> Result<()> {
    let (held, note, records) = match via {
        Via::HeldHome(home) => {
            let held = format!(
                "the data directory {} is in use by microlearn serve (pid {}, {})",
                home.display(),
                server.file.pid,
                server.file.url
            );
            let note = format!(
                "note: {} is in use by microlearn serve (pid {}, {}); submitting this run to it",
                home.display(),
                server.file.pid,
                server.file.url
            );
            let records = format!(
                "{}, through microlearn serve at {}",
                home.display(),
                server.file.url
            );
            (
                format!(
                    "{held}, and its API does not return held-out predictions; drop --predictions, stop the server, or use another --home"
                ),
                note,
                records,
            )
        }
        Via::Cluster { description } => (
            format!(
                "the run goes to the cluster ({description}), whose API does not return \
                 held-out predictions; drop --predictions, or run without the cluster settings"
            ),
            format!("note: submitting this run to the cluster ({description})"),
            format!("the cluster ({description})"),
        ),
    };
    // Refused before anything is uploaded, naming the flag.
    if let Some(p) = &args.predictions {
        bail!("cannot run with --predictions {}: {held}", p.display());
    }
    eprintln!("{note}");
    let client = &server.client;
    let progress = CliProgress::new(args.progress, args.json);
    let result = submit_and_follow(client, args, config, &progress);
    let (id, test_rows) = match result {
        Ok(r) => r,
        Err(e) => {
            progress.abandon();
            return Err(e);
        }
    };
    let p = client.get(&format!("/v1/pipelines/{id}"))?;
    match p["status"].as_str().unwrap_or_default() {
        "done" => progress.finish(),
        status => {
            progress.abandon();
            let error = p["error"].as_str().unwrap_or("no error was recorded");
            match status {
                "failed" => bail!("pipeline {id} failed on the server: {error}"),
                "cancelled" => bail!("pipeline {id} was cancelled on the server"),
                other => bail!("pipeline {id} did not finish on the server (status {other})"),
            }
        }
    }
    let report = report(client, &id, &p, test_rows)?;
    let best = &report.leaderboard[report.best];
    let bundle = client
        .download(&format!("/v1/models/{}/bundle", best.id))
        .with_context(|| format!("downloading the bundle of model {}", best.id))?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}.mlbundle",
            default_deployment_name(&args.file, &args.target)
        ))
    });
    microlearn_store::write_atomic(&out, &bundle)
        .with_context(|| format!("writing the model bundle to {}", out.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::render::outcome_json(&report, &out))?
        );
    } else {
        crate::render::print_outcome(&report, &out, &records);
    }
    Ok(())
}

/// Upload the tables, create the pipeline and follow its events to the end. Returns the
/// pipeline's id and its held-out row count (from the ingest event).
fn submit_and_follow(
    client: &Client,
    args: &RunArgs,
    config: &PipelineConfig,
    progress: &CliProgress,
) -> Result<(String, Option<usize>)> {
    let train = id_of(&client.upload_dataset(&args.file)?, "dataset")?;
    let test = match &args.test {
        Some(t) => Some(id_of(&client.upload_dataset(t)?, "dataset")?),
        None => None,
    };
    // Named here, as the engine would name it from the local path: the server only knows the
    // uploaded file's name.
    let deployment = config
        .deployment
        .clone()
        .unwrap_or_else(|| default_deployment_name(&args.file, &config.target));
    let request = pipeline_request(config, &train, test.as_deref(), &deployment);
    let created = client
        .post("/v1/pipelines", &request)
        .context("creating the pipeline on the server")?;
    let id = id_of(&created, "pipeline")?;
    progress.note(&format!(
        "pipeline {id} runs on the server: stopping this command leaves it running (POST \
         /v1/pipelines/{id}/cancel stops it)"
    ));
    // The engine records no event when ingest starts (it has no pipeline record yet), so
    // its spinner starts here; its time includes a wait in the server's queue.
    progress.stage_started(Stage::Ingest);
    let test_rows = follow(client, &id, progress)?;
    Ok((id, test_rows))
}

fn id_of(v: &Value, what: &str) -> Result<String> {
    v["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the server's answer names no {what} id: {v}"))
}

/// The `POST /v1/pipelines` body that carries `config`: every field of the engine's settings
/// the API takes (the tenant is the caller's). `pipeline_request_maps_every_setting` fails
/// when `PipelineConfig` gains a field this does not carry.
fn pipeline_request(
    config: &PipelineConfig,
    dataset_id: &str,
    test_dataset_id: Option<&str>,
    deployment: &str,
) -> Value {
    let mut r = json!({
        "dataset_id": dataset_id,
        "target": config.target,
        "budget_secs": config.budget_secs,
        "seed": config.seed,
        "test_fraction": config.test_fraction,
        "validation_fraction": config.validation_fraction,
        "refit_top": config.refit_top,
        "preparers": config.preparers,
        "selector": config.selector,
        "deployer": config.deployer,
        "deployment": deployment,
    });
    let optional = [
        ("test_dataset_id", test_dataset_id.map(Value::from)),
        ("task", config.task.map(|t| json!(t))),
        ("max_trials", config.max_trials.map(Value::from)),
        ("folds", config.folds.map(Value::from)),
        // Unset locally means every core; on the server it means its share per pipeline,
        // which is what a server shared with other work should give.
        ("threads", config.threads.map(Value::from)),
        ("metric", config.metric.clone().map(Value::from)),
        // Empty means every installed evaluator for the task, which is also the server's
        // default when the field is absent.
        (
            "evaluators",
            (!config.evaluators.is_empty()).then(|| json!(config.evaluators)),
        ),
    ];
    if let Some(o) = r.as_object_mut() {
        for (k, v) in optional {
            if let Some(v) = v {
                o.insert(k.into(), v);
            }
        }
    }
    r
}

/// Follow the pipeline's event stream into `progress` until it ends; returns the held-out row
/// count the ingest stage reported.
fn follow(client: &Client, id: &str, progress: &CliProgress) -> Result<Option<usize>> {
    let mut test_rows = None;
    let mut stopped = false;
    let mut trials = 0usize;
    client
        .events(&format!("/v1/pipelines/{id}/events"), |kind, ev| {
            let data = &ev["data"];
            let stage = || serde_json::from_value::<Stage>(data["stage"].clone()).ok();
            match kind {
                "stage_started" => {
                    if let Some(s) = stage() {
                        progress.stage_started(s);
                    }
                }
                "stage_finished" => {
                    if let Some(s) = stage() {
                        if s == Stage::Ingest {
                            test_rows = data["test_rows"].as_u64().map(|n| n as usize);
                        }
                        let summary = data["summary"].as_str().unwrap_or_default();
                        progress.stage_finished(s, summary);
                    }
                }
                "search_started" => {
                    let secs = data["budget_secs"].as_f64().unwrap_or(0.0).max(0.0);
                    progress.search_started(Duration::from_secs_f64(secs));
                }
                "trial_finished" => {
                    trials += 1;
                    if let Some(t) = trial_of(id, data) {
                        progress.trial_finished(&t, data["best"].as_f64());
                    }
                }
                "log" => progress.note(ev["message"].as_str().unwrap_or_default()),
                "shutdown" => {
                    stopped = true;
                    return false;
                }
                "end" => return false,
                _ => {}
            }
            true
        })
        .with_context(|| {
            format!(
                "following pipeline {id} on the server (it goes on there: GET /v1/pipelines/{id})"
            )
        })?;
    if stopped {
        bail!(
            "the server stopped while pipeline {id} was running ({trials} trials so far); it \
             resumes when microlearn serve starts again on this data directory"
        );
    }
    Ok(test_rows)
}

/// A trial record from a `trial_finished` event: what the progress display reads of it.
fn trial_of(pipeline_id: &str, d: &Value) -> Option<TrialRecord> {
    Some(TrialRecord {
        pipeline_id: pipeline_id.to_string(),
        number: d["number"].as_u64()? as usize,
        kind: d["kind"].as_str()?.to_string(),
        params: Default::default(),
        fitted_params: None,
        warm_start: false,
        status: serde_json::from_value(d["status"].clone()).ok()?,
        metric: d["metric"].as_str().unwrap_or_default().to_string(),
        score: d["score"].as_f64(),
        error: d["error"].as_str().map(str::to_string),
        started_at_ms: d["started_at_ms"].as_i64().unwrap_or(0),
        duration_secs: d["duration_secs"].as_f64().unwrap_or(0.0),
        fidelity: d["fidelity"].as_f64().unwrap_or(1.0),
        fold_scores: Vec::new(),
        workers: Vec::new(),
    })
}

fn field<T: DeserializeOwned>(v: &Value, name: &str, what: &str) -> Result<T> {
    serde_json::from_value(v[name].clone())
        .with_context(|| format!("the server's {what} has no readable `{name}`: {}", v[name]))
}

/// A number the server writes as `null` when it is not finite.
fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn metrics(v: &Value) -> Result<Vec<Metric>> {
    v.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            Ok(Metric {
                name: field(m, "name", "metric")?,
                value: number(&m["value"]),
                direction: field(m, "direction", "metric")?,
            })
        })
        .collect()
}

/// The report of a finished pipeline, from its record, leaderboard, trials and best model.
fn report(client: &Client, id: &str, p: &Value, test_rows: Option<usize>) -> Result<RunReport> {
    let board = client.get(&format!("/v1/pipelines/{id}/leaderboard"))?;
    let models = board["models"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if models.is_empty() {
        bail!("pipeline {id} finished on the server without a leaderboard");
    }
    let mut leaderboard = Vec::with_capacity(models.len());
    for m in models {
        leaderboard.push(ReportModel {
            id: field(m, "model_id", "leaderboard entry")?,
            kind: field(m, "kind", "leaderboard entry")?,
            params: field(m, "params", "leaderboard entry")?,
            validation_score: number(&m["validation_score"]),
            test_metrics: metrics(&m["test_metrics"])?,
            fit_seconds: number(&m["fit_seconds"]),
            feature_importance: Vec::new(),
        });
    }
    let best = models
        .iter()
        .position(|m| m["best"] == json!(true))
        .unwrap_or(0);
    let detail = client.get(&format!("/v1/models/{}", leaderboard[best].id))?;
    leaderboard[best].feature_importance = detail["feature_importance"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|pair| Some((pair[0].as_str()?.to_string(), number(&pair[1]))))
        .collect();
    let metric: String = field(&models[best], "metric", "leaderboard entry")?;
    // The objective's direction is on its held-out value, which its evaluator computed.
    let direction = leaderboard
        .iter()
        .flat_map(|m| &m.test_metrics)
        .find(|m| m.name == metric)
        .map_or(Direction::Maximize, |m| m.direction);
    let trials = client.get(&format!("/v1/pipelines/{id}/trials"))?;
    let trials = trials["trials"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| field::<TrialStatus>(t, "status", "trial"))
        .collect::<Result<Vec<_>>>()?;
    let task: Task = field(p, "task", "pipeline")?;
    // From the first stage's start to the last stage's end: the pipeline's own time, without
    // the upload or a wait in the server's queue.
    let stages = p["stages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let start = stages.first().and_then(|s| s["started_at_ms"].as_i64());
    let end = stages.last().and_then(|s| s["finished_at_ms"].as_i64());
    let elapsed_secs = match (start, end) {
        (Some(s), Some(e)) if e >= s => (e - s) as f64 / 1000.0,
        _ => 0.0,
    };
    Ok(RunReport {
        pipeline_id: id.to_string(),
        task,
        metric: (metric, direction),
        leaderboard,
        best,
        decision: field(p, "decision", "pipeline")?,
        deployment: field(p, "deployment", "pipeline")?,
        plugin_errors: field(p, "plugin_errors", "pipeline")?,
        trials,
        test_rows: test_rows.unwrap_or(0),
        elapsed_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlearn_pipeline::PluginRef;

    /// Every setting of the engine is carried, or named here as not the request's to carry;
    /// a field added to `PipelineConfig` fails this until `pipeline_request` maps it.
    #[test]
    fn pipeline_request_maps_every_setting() {
        let mut c = PipelineConfig::new("y");
        c.task = Some(Task::Binary);
        c.max_trials = Some(3);
        c.folds = Some(2);
        c.threads = Some(1);
        c.metric = Some("log_loss".into());
        c.evaluators = vec![PluginRef::new("classification")];
        c.deployment = Some("d".into());
        let r = pipeline_request(&c, "ds_1", Some("ds_2"), "d");
        let config = serde_json::to_value(&c).unwrap();
        let not_carried = ["tenant"];
        for key in config.as_object().unwrap().keys() {
            if not_carried.contains(&key.as_str()) {
                continue;
            }
            assert_eq!(r[key], config[key], "{key} is not carried to the server");
        }
        assert_eq!(r["dataset_id"], "ds_1");
        assert_eq!(r["test_dataset_id"], "ds_2");
        // Unset settings are left to the server's defaults.
        let r = pipeline_request(&PipelineConfig::new("y"), "ds_1", None, "d");
        for key in [
            "task",
            "max_trials",
            "folds",
            "threads",
            "metric",
            "evaluators",
        ] {
            assert!(r.get(key).is_none(), "{key}: {r}");
        }
    }
}
