//! Deploy: write every leaderboard model's bundle and record, ask the deployer plugin whether
//! to promote one, then commit ([`crate::RunControl::commit`]): switch the deployment and fill
//! in the pipeline's result.

use crate::PipelineError;
use crate::bundle::{Bundle, BundleHeader};
use crate::engine::{LeaderboardEntry, default_deployment_name};
use crate::stages::evaluate::EvaluatedModel;
use crate::stages::ingest::Ingested;
use crate::stages::prepare::Prepared;
use crate::stages::train::Finalist;
use crate::stages::{RunCtx, StageOutput};
use microlearn_core::stages::{Decision, DeployAction, DeployRequest, Evaluation, ModelSummary};
use microlearn_core::{Metric, ModelId, Stage};
use microlearn_plugins::DeployerHandle;
use microlearn_store::{DeploymentRecord, ModelRecord, PipelineRecord, now_ms};

/// What the deploy stage reads.
pub(crate) struct DeployInput<'a> {
    pub data: &'a Ingested,
    pub prepared: &'a Prepared,
    /// The evaluated leaderboard models, in leaderboard order.
    pub models: Vec<EvaluatedModel>,
    pub deployer: &'a DeployerHandle,
    pub metric: &'a str,
    pub prob_floor: f64,
}

/// What the deploy stage produced.
pub(crate) struct Deployed {
    /// The stored leaderboard models with their held-out predictions.
    pub leaderboard: Vec<LeaderboardEntry>,
    /// Each leaderboard model's bundle bytes, in the same order.
    pub bundles: Vec<Vec<u8>>,
    /// Index into `leaderboard` of the promoted model, or of the best by validation score
    /// when the deployer kept the current deployment or failed.
    pub best: usize,
    /// The deployer's decision; `None` when it failed.
    pub decision: Option<Decision>,
    /// The deploy stage's summary line.
    pub summary: String,
}

impl StageOutput for Deployed {
    fn summary(&self) -> String {
        self.summary.clone()
    }
}

pub(crate) fn run(
    ctx: &RunCtx<'_>,
    pipeline: &mut PipelineRecord,
    mut input: DeployInput<'_>,
) -> Result<Deployed, PipelineError> {
    let config = ctx.config;
    let deployer = input.deployer;
    let metric = input.metric;
    let mut leaderboard = Vec::new();
    let mut bundles = Vec::new();
    // Models the storage quota had no room for, best first: (kind, why).
    let mut unstored: Vec<(String, String)> = Vec::new();
    for evaluated in std::mem::take(&mut input.models) {
        let EvaluatedModel {
            finalist,
            evaluations,
            test_metrics,
            predictions,
        } = evaluated;
        let kind = finalist.kind.clone();
        match store_model(ctx, pipeline, &input, finalist, evaluations, test_metrics)? {
            Ok((record, bytes)) => {
                bundles.push(bytes);
                leaderboard.push(LeaderboardEntry {
                    model: record,
                    test_predictions: predictions,
                });
            }
            // A smaller bundle further down may still fit: the work of every model that
            // fits is kept, and the run fails only when none does.
            Err(refused) => unstored.push((kind, refused)),
        }
    }
    if leaderboard.is_empty() {
        let (kind, why) = unstored.first().cloned().unwrap_or_default();
        return Err(PipelineError::Stage {
            stage: Stage::Deploying,
            message: format!(
                "no model could be stored, so nothing was deployed: the best ({kind}): {why}"
            ),
        });
    }
    if !unstored.is_empty() {
        let kinds: Vec<&str> = unstored.iter().map(|(k, _)| k.as_str()).collect();
        let message = format!(
            "{} of {} leaderboard models were not stored ({}): {}",
            unstored.len(),
            unstored.len() + leaderboard.len(),
            kinds.join(", "),
            unstored[0].1
        );
        ctx.observer.note(&format!("deploying: {message}"));
        ctx.engine.event(
            ctx.tenant,
            &pipeline.id,
            "storage_quota",
            &message,
            serde_json::json!({ "unstored": kinds, "reason": unstored[0].1 }),
        )?;
    }
    let deployment_name = config
        .deployment
        .clone()
        .unwrap_or_else(|| default_deployment_name(&input.data.dataset.source, &config.target));
    let current = ctx.tenant.deployment(&deployment_name)?;
    let current_summary = match &current {
        Some(d) => ctx.tenant.model(&d.model_id)?.map(|m| summary_of(&m)),
        None => None,
    };
    // A deployer that fails (or names a model that is not a candidate) deploys nothing,
    // but the models and their bundles are already stored: the pipeline ends with them,
    // the failure recorded, and the current deployment (if any) left as it was.
    let decided = deployer
        .decide(&DeployRequest {
            task: input.data.train_y.task,
            primary_metric: metric.to_string(),
            candidates: leaderboard.iter().map(|e| summary_of(&e.model)).collect(),
            current: current_summary,
            config: config.deployer.config_string(),
        })
        .map_err(|e| e.to_string())
        .and_then(|decision| match &decision.action {
            DeployAction::Promote(id) => match leaderboard.iter().position(|e| &e.model.id == id) {
                Some(pos) => Ok((decision, Some(pos))),
                None => Err(format!(
                    "deployer '{}' promoted '{id}', which is not a candidate of this pipeline",
                    deployer.info().id
                )),
            },
            DeployAction::Keep => Ok((decision, None)),
        });
    let (decision, promoted, summary) = match decided {
        Ok((decision, promoted)) => {
            let reason = decision.reason.clone();
            (Some(decision), promoted, reason)
        }
        Err(error) => {
            let consequence = match &current {
                Some(c) => format!(
                    "nothing was deployed; '{deployment_name}' keeps serving {}",
                    c.model_id
                ),
                None => "nothing was deployed".to_string(),
            };
            ctx.plugin_failed(
                pipeline,
                Stage::Deploying,
                &deployer.info().id,
                &error,
                &consequence,
            )?;
            let summary = format!(
                "{consequence}: deployer '{}' failed: {error}",
                deployer.info().id
            );
            (None, None, summary)
        }
    };
    // The point of no return: a cancel that came while the deployer decided wins (the
    // models stay stored, nothing switches); one that comes after this is refused, so a
    // deployment never switches under a pipeline recorded as cancelled.
    ctx.control.commit()?;
    let best = match (&decision, promoted) {
        (Some(decision), Some(pos)) => {
            let id = &leaderboard[pos].model.id;
            let mut history = current
                .as_ref()
                .map(|c| c.history.clone())
                .unwrap_or_default();
            if let Some(c) = &current {
                history.push(c.model_id.clone());
            }
            ctx.tenant.put_deployment(&DeploymentRecord {
                name: deployment_name.clone(),
                model_id: id.clone(),
                decision: (*decision).clone(),
                history,
                updated_at_ms: now_ms(),
            })?;
            ctx.engine.event(
                ctx.tenant,
                &pipeline.id,
                "deployment",
                &format!("{deployment_name} now serves {id}"),
                serde_json::json!({ "deployment": deployment_name, "model": id }),
            )?;
            pos
        }
        // Kept the current deployment, or failed: the best by validation score.
        _ => 0,
    };
    pipeline.leaderboard = leaderboard.iter().map(|e| e.model.id.clone()).collect();
    pipeline.best_model = Some(leaderboard[best].model.id.clone());
    // The deployment is named only when the deployer decided about it.
    pipeline.deployment = decision.as_ref().map(|_| deployment_name);
    pipeline.decision.clone_from(&decision);
    Ok(Deployed {
        leaderboard,
        bundles,
        best,
        decision,
        summary,
    })
}

/// Write one model's bundle (the pipeline's preparer chain and the model) as an artefact and
/// its record; returns the record and the bundle bytes, or (inner `Err`) why the tenant's
/// storage quota has no room for it (nothing is written then).
#[allow(clippy::type_complexity)]
fn store_model(
    ctx: &RunCtx<'_>,
    pipeline: &PipelineRecord,
    input: &DeployInput<'_>,
    finalist: Finalist,
    evaluations: Vec<(String, Evaluation)>,
    test_metrics: Vec<Metric>,
) -> Result<Result<(ModelRecord, Vec<u8>), String>, PipelineError> {
    let config = ctx.config;
    let data = input.data;
    let x_train = &input.prepared.x_train;
    let task = data.train_y.task;
    let Finalist {
        kind,
        trial,
        params,
        validation_score,
        model,
        fit_secs,
        ..
    } = finalist;
    let model_id = ModelId::generate().0;
    let importance = model.feature_importance();
    let mut feature_importance: Vec<(String, f64)> =
        x_train.names().iter().cloned().zip(importance).collect();
    feature_importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    let bundle = Bundle::new(
        BundleHeader {
            format: crate::bundle::FORMAT_VERSION,
            microlearn_version: env!("CARGO_PKG_VERSION").into(),
            model_id: model_id.clone(),
            kind: kind.clone(),
            task,
            target: config.target.clone(),
            labels: data.train_y.labels.clone(),
            input_schema: data.feature_schema.clone(),
            prepared_features: x_train.names().to_vec(),
            params: params.clone(),
            metrics: test_metrics.clone(),
            created_at_ms: now_ms(),
            payload_sha256: String::new(),
            probability_floor: input.prob_floor,
        },
        input.prepared.chain.bundled(),
        model,
    );
    let bytes = bundle.to_bytes()?;
    // Held until the record naming the bundle is written: from then the bytes count as the
    // tenant's storage, and never zero times in between.
    let _promise = match ctx.engine.reserve_storage(
        ctx.tenant.name(),
        bytes.len() as u64,
        &format!("{kind} model bundle"),
    ) {
        Ok(p) => p,
        Err(refused) => return Ok(Err(refused)),
    };
    let artefact = ctx.engine.store().artefacts().put(&bytes)?;
    let record = ModelRecord {
        id: model_id,
        pipeline_id: pipeline.id.clone(),
        kind,
        params,
        task,
        target: config.target.clone(),
        trial,
        validation_score,
        metric: input.metric.to_string(),
        test_metrics,
        evaluations,
        feature_importance,
        fit_seconds: fit_secs,
        bundle: artefact,
        created_at_ms: now_ms(),
    };
    ctx.tenant.put_model(&record)?;
    Ok(Ok((record, bytes)))
}

fn summary_of(m: &ModelRecord) -> ModelSummary {
    ModelSummary {
        model_id: m.id.clone(),
        kind: m.kind.clone(),
        metrics: m.test_metrics.clone(),
        fit_seconds: m.fit_seconds,
        size_bytes: m.bundle.size,
    }
}
