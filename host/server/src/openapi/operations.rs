//! Every operation of the API: what it reads, what it answers and which problems it can give.
//! The API tests compare this list with the routes of the real router.

use super::{Op, Payload, op};
use crate::error::ProblemKind::{
    BodyTimeout, Conflict, Forbidden, InvalidDataset, InvalidPlugin, InvalidRequest, InvalidRows,
    MalformedJson, NotFound, Overloaded, PayloadTooLarge, PluginFailed, QuotaExceeded, Timeout,
    TooManyPipelines, UnsupportedMediaType,
};
use crate::routes::{Health, Me, datasets, deployments, models, pipelines, plugins, tenants};
use serde_json::json;

/// A file sent as the raw body (any media type but `multipart/form-data`) or as the `file`
/// field of a multipart form.
fn table_upload() -> Vec<(&'static str, Payload)> {
    vec![
        (
            "application/octet-stream",
            Payload::Literal(json!({
                "type": "string",
                "format": "binary",
                "description": "The file itself: CSV, TSV, JSON, NDJSON or Parquet, named by ?name= or ?format=. Any media type but multipart/form-data is read this way."
            })),
        ),
        (
            "multipart/form-data",
            Payload::Literal(json!({
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The table; its file name picks the format unless ?format= does."
                    }
                }
            })),
        ),
    ]
}

/// What an upload can run into on its way to disk and into a parser.
const UPLOAD_ERRORS: &[crate::ProblemKind] = &[
    InvalidRequest,
    PayloadTooLarge,
    BodyTimeout,
    Overloaded,
    Timeout,
];

/// A predict body: rows are objects of column values (`null` is a missing value).
fn predict_rows() -> Payload {
    let row = json!({
        "type": "object",
        "description": "One row: the model's input columns (see the deployment's `input.columns`); other fields are refused.",
        "additionalProperties": { "type": ["string", "number", "boolean", "null"] }
    });
    Payload::Literal(json!({
        "description": "One row object, an array of rows, or `{\"rows\": [...]}`; at most 100,000 rows.",
        "anyOf": [
            row,
            { "type": "array", "items": row, "minItems": 1 },
            {
                "type": "object",
                "required": ["rows"],
                "additionalProperties": false,
                "properties": { "rows": { "type": "array", "items": row, "minItems": 1 } }
            }
        ]
    }))
}

fn text(description: &'static str) -> Payload {
    Payload::Literal(json!({ "type": "string", "description": description }))
}

const LOCATION: &str = "Location";
const MODEL: &str = "X-MicroLearn-Model";
const ROUTING: &str = "X-Routing-Key";

pub(super) fn all() -> Vec<Op> {
    vec![
        // --- service -----------------------------------------------------------------------
        op("get", "/healthz", "service", "Liveness")
            .public()
            .ok::<Health>(200, "The process answers."),
        op("get", "/metrics", "service", "Prometheus metrics (a global admin key)")
            .admin()
            .answer(
                200,
                "Prometheus text exposition format 0.0.4.",
                vec![("text/plain", text("Prometheus metrics."))],
            ),
        op("get", "/v1/openapi.json", "service", "This document")
            .public()
            .answer(
                200,
                "The OpenAPI 3.1 document.",
                vec![(
                    "application/json",
                    Payload::Literal(json!({ "type": "object" })),
                )],
            ),
        op(
            "get",
            "/v1/me",
            "service",
            "The calling key: its tenant, whether it is an admin key, its public id",
        )
        .ok::<Me>(200, "The key."),
        // --- datasets ----------------------------------------------------------------------
        op(
            "post",
            "/v1/datasets",
            "datasets",
            "Upload a table: the raw body with ?name=file.csv or ?format=csv, or a multipart form with a 'file' field; streamed to disk under the upload cap",
        )
        .streaming()
        .query::<datasets::UploadQuery>()
        .body(true, table_upload())
        .ok::<datasets::DatasetView>(201, "Stored, with its schema and profile.")
        .ok::<datasets::DatasetView>(
            200,
            "The same file was stored before: that dataset.",
        )
        .errors(UPLOAD_ERRORS)
        .errors(&[InvalidDataset, QuotaExceeded]),
        op("get", "/v1/datasets", "datasets", "List datasets")
            .ok::<datasets::DatasetList>(200, "The tenant's datasets."),
        op(
            "get",
            "/v1/datasets/{id}",
            "datasets",
            "A dataset with its schema and profile",
        )
        .ok::<datasets::DatasetView>(200, "The dataset."),
        op("delete", "/v1/datasets/{id}", "datasets", "Delete a dataset")
            .no_content("Deleted.")
            .errors(&[Conflict]),
        // --- pipelines ---------------------------------------------------------------------
        op(
            "post",
            "/v1/pipelines",
            "pipelines",
            "Start a pipeline on a dataset: target, budget, seed, max_trials, metric, preparers, selector, evaluators, deployer, deployment",
        )
        .json_body::<pipelines::CreatePipeline>()
        .ok::<pipelines::PipelineView>(202, "Queued; it runs in the background.")
        .answer_header(LOCATION, "The pipeline's URL.")
        // NotFound: the dataset (or test dataset) named in the body.
        .errors(&[NotFound, QuotaExceeded, TooManyPipelines]),
        op("get", "/v1/pipelines", "pipelines", "List pipelines")
            .ok::<pipelines::PipelineList>(200, "The tenant's pipelines."),
        op(
            "get",
            "/v1/pipelines/{id}",
            "pipelines",
            "A pipeline with its stages and timestamps",
        )
        .ok::<pipelines::PipelineView>(200, "The pipeline."),
        op(
            "delete",
            "/v1/pipelines/{id}",
            "pipelines",
            "Delete an ended pipeline with its trials and events",
        )
        .no_content("Deleted.")
        .errors(&[Conflict]),
        op(
            "get",
            "/v1/pipelines/{id}/trials",
            "pipelines",
            "Trials, by number",
        )
        .ok::<pipelines::TrialList>(200, "The trials recorded so far."),
        op(
            "get",
            "/v1/pipelines/{id}/leaderboard",
            "pipelines",
            "Refit and evaluated models, best first",
        )
        .ok::<pipelines::Leaderboard>(200, "The leaderboard (empty until training)."),
        op(
            "post",
            "/v1/pipelines/{id}/cancel",
            "pipelines",
            "Cancel a queued or running pipeline",
        )
        .ok::<pipelines::PipelineView>(200, "Cancelled: the pipeline as it stands now.")
        .errors(&[Conflict]),
        op(
            "get",
            "/v1/pipelines/{id}/events",
            "pipelines",
            "Event stream: every stored event after ?after=SEQ (or Last-Event-ID), then new ones until the pipeline ends",
        )
        .streaming()
        .query::<pipelines::EventsQuery>()
        .header(
            "Last-Event-ID",
            "Resume after this event (the `id` of the last event received); `?after=` wins. A value that is not a sequence number is ignored.",
        )
        .answer(
            200,
            "Server-sent events, then `end` once the pipeline has ended, or `shutdown` when the server stops (reconnect with Last-Event-ID).",
            vec![(
                "text/event-stream",
                Payload::Literal(json!({
                    "description": "One server-sent event.",
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "id": { "type": "string", "description": "The event's sequence number (absent on `end` and `shutdown`)." },
                        "event": { "type": "string", "description": "Its kind: `stage_started`, `stage_finished`, `plugin_progress`, `deployment`, … (the stored event's `kind`), or `end`, `shutdown`." },
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "The stored event as JSON (`seq`, `at_ms`, `kind`, `message`, `data`); `{}` for `end`, `{\"reason\": …}` for `shutdown`."
                        }
                    }
                })),
            )],
        ),
        // --- models ------------------------------------------------------------------------
        op("get", "/v1/models", "models", "List models")
            .ok::<models::ModelList>(200, "The tenant's models."),
        op(
            "get",
            "/v1/models/{id}",
            "models",
            "A model: params, scores, feature importance",
        )
        .ok::<models::ModelDetail>(200, "The model."),
        op(
            "delete",
            "/v1/models/{id}",
            "models",
            "Delete a model and its bundle (409 while a deployment serves it or its pipeline runs)",
        )
        .no_content("Deleted.")
        .errors(&[Conflict]),
        op(
            "get",
            "/v1/models/{id}/evaluation",
            "models",
            "Held-out metrics and curves per evaluator",
        )
        .ok::<models::ModelEvaluation>(200, "The evaluation."),
        op(
            "get",
            "/v1/models/{id}/bundle",
            "models",
            "Download the model bundle (.mlbundle)",
        )
        .answer(
            200,
            "The bundle file.",
            vec![(
                "application/octet-stream",
                Payload::Literal(json!({ "type": "string", "format": "binary" })),
            )],
        )
        .answer_header("Content-Disposition", "`attachment; filename=\"<id>.mlbundle\"`."),
        // --- deployments -------------------------------------------------------------------
        op(
            "post",
            "/v1/deployments",
            "deployments",
            "Deploy a model under a name",
        )
        .json_body::<deployments::CreateDeployment>()
        .ok::<deployments::DeploymentView>(201, "Deployed and loaded.")
        .answer_header(LOCATION, "The deployment's URL.")
        // NotFound: the model named in the body.
        .errors(&[NotFound, Conflict, QuotaExceeded]),
        op("get", "/v1/deployments", "deployments", "List deployments")
            .ok::<deployments::DeploymentList>(200, "The tenant's deployments."),
        op("get", "/v1/deployments/{name}", "deployments", "A deployment")
            .ok::<deployments::DeploymentView>(200, "The deployment."),
        op(
            "put",
            "/v1/deployments/{name}",
            "deployments",
            "Replace the served model (the old one goes to the history); traffic_percent < 100 starts a canary",
        )
        .json_body::<deployments::ReplaceDeployment>()
        .ok::<deployments::DeploymentView>(200, "Serving the new model (or the split).")
        .errors(&[Conflict]),
        op(
            "delete",
            "/v1/deployments/{name}",
            "deployments",
            "Delete a deployment",
        )
        .no_content("Deleted and unloaded."),
        op(
            "post",
            "/v1/deployments/{name}/rollback",
            "deployments",
            "Serve the previous model again (ends a canary)",
        )
        .ok::<deployments::DeploymentView>(200, "Serving the earlier model.")
        .errors(&[Conflict]),
        op(
            "post",
            "/v1/deployments/{name}/promote",
            "deployments",
            "Give a canary all traffic",
        )
        .ok::<deployments::DeploymentView>(200, "The canary takes all traffic.")
        .errors(&[Conflict]),
        op(
            "post",
            "/v1/deployments/{name}/predict",
            "deployments",
            "Score JSON rows: one object, an array, or {\"rows\": [...]}",
        )
        .header(
            ROUTING,
            "A user or session id: pins its caller to one side of a canary.",
        )
        .body(true, vec![("application/json", predict_rows())])
        .errors(&[MalformedJson, PayloadTooLarge, UnsupportedMediaType])
        .ok::<deployments::Predictions>(200, "One prediction per row, in order.")
        .answer_header(MODEL, "The model that scored the rows.")
        .errors(&[InvalidRows, Overloaded, Timeout, PluginFailed]),
        op(
            "post",
            "/v1/deployments/{name}/batch",
            "deployments",
            "Score an uploaded file (?name= or ?format=, ?output=csv|tsv|json|ndjson)",
        )
        .streaming()
        .query::<deployments::BatchQuery>()
        .header(
            ROUTING,
            "A user or session id: pins its caller to one side of a canary.",
        )
        .body(true, table_upload())
        .answer(
            200,
            "One row per input row, in order: `prediction`, then `proba_<label>` per class.",
            vec![
                ("text/csv", text("CSV with a header line.")),
                ("text/tab-separated-values", text("TSV with a header line.")),
                (
                    "application/json",
                    Payload::Literal(json!({
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["prediction"],
                            "properties": { "prediction": { "type": ["string", "number", "null"] } },
                            "additionalProperties": { "type": ["number", "null"] }
                        }
                    })),
                ),
                ("application/x-ndjson", text("One JSON object per line.")),
            ],
        )
        .answer_header(MODEL, "The model that scored the file.")
        .errors(UPLOAD_ERRORS)
        .errors(&[InvalidDataset, PluginFailed]),
        op(
            "get",
            "/v1/deployments/{name}/stats",
            "deployments",
            "Request counts and latency histogram",
        )
        .ok::<deployments::DeploymentStats>(200, "The counters."),
        // --- plugins -----------------------------------------------------------------------
        op("get", "/v1/plugins", "plugins", "Plugins this tenant can use")
            .ok::<plugins::PluginList>(200, "The host's plugins and the tenant's own."),
        op(
            "post",
            "/v1/plugins",
            "plugins",
            "Upload a plugin: multipart 'manifest' (plugin.toml) and 'component' (.wasm); visible to this tenant only",
        )
        .streaming()
        .body(
            true,
            vec![(
                "multipart/form-data",
                Payload::Literal(json!({
                    "type": "object",
                    "required": ["manifest", "component"],
                    "properties": {
                        "manifest": { "type": "string", "description": "plugin.toml (at most 1 MiB)." },
                        "component": { "type": "string", "format": "binary", "description": "The WebAssembly component its manifest names." }
                    }
                })),
            )],
        )
        .ok::<plugins::PluginView>(201, "Validated and installed for this tenant.")
        .errors(UPLOAD_ERRORS)
        .errors(&[InvalidPlugin, QuotaExceeded]),
        op(
            "get",
            "/v1/plugins/{id}",
            "plugins",
            "A plugin with its manifest API and config schema",
        )
        .ok::<plugins::PluginDetails>(200, "Every kind's plugin with this id."),
        op(
            "delete",
            "/v1/plugins/{id}",
            "plugins",
            "Remove one of this tenant's plugins",
        )
        .no_content("Removed; running pipelines keep the version they started with.")
        // Forbidden: a plugin of the host's, shared by every tenant.
        .errors(&[Forbidden]),
        // --- tenants -----------------------------------------------------------------------
        op(
            "post",
            "/v1/tenants",
            "tenants",
            "Create a tenant (a global admin key; returns its first API key once)",
        )
        .admin()
        .json_body::<tenants::CreateTenant>()
        .ok::<tenants::CreatedTenant>(201, "Created, with its first key.")
        .answer_header(LOCATION, "The tenant's URL.")
        .errors(&[Conflict]),
        op(
            "get",
            "/v1/tenants",
            "tenants",
            "List tenants with quotas and usage (a tenant admin sees its own)",
        )
        .admin()
        .ok::<tenants::TenantList>(200, "The tenants."),
        op(
            "get",
            "/v1/tenants/{name}",
            "tenants",
            "A tenant with quotas and usage",
        )
        .admin()
        .ok::<tenants::TenantView>(200, "The tenant."),
        op(
            "patch",
            "/v1/tenants/{name}",
            "tenants",
            "Change a tenant's quotas (a global admin key)",
        )
        .admin()
        .json_body::<tenants::UpdateTenant>()
        .ok::<tenants::TenantView>(200, "The tenant with its new quotas."),
        op(
            "delete",
            "/v1/tenants/{name}",
            "tenants",
            "Delete a tenant and everything it owns (a global admin key)",
        )
        .admin()
        .no_content("Deleted, its keys revoked.")
        .errors(&[Conflict]),
        op(
            "get",
            "/v1/tenants/{name}/keys",
            "tenants",
            "List a tenant's API keys (ids, never secrets)",
        )
        .admin()
        .ok::<tenants::KeyList>(200, "The keys."),
        op(
            "post",
            "/v1/tenants/{name}/keys",
            "tenants",
            "Create an API key (shown once); the body is optional",
        )
        .admin()
        // Read by `parse_json` whatever the media type; an empty body means the defaults.
        .body(
            false,
            vec![(
                "application/json",
                Payload::Typed(super::schema_of::<tenants::CreateKey>),
            )],
        )
        .errors(&[MalformedJson, InvalidRequest, PayloadTooLarge])
        .ok::<tenants::CreatedKey>(201, "The key, shown this once."),
        op(
            "delete",
            "/v1/tenants/{name}/keys/{key_id}",
            "tenants",
            "Revoke an API key",
        )
        .admin()
        .no_content("Revoked."),
    ]
}
