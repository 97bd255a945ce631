//! `/v1/datasets`: upload (raw body or multipart, streamed to disk under a cap), list, get
//! (schema and profile), delete.

use super::{Reply, check_id, query};
use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use crate::extract::{ApiPath, Caller};
use crate::upload::{Received, UploadLimits, body_to_file, persist_artefact, stream_to_file};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use microlearn_core::Schema;
use microlearn_data::FileFormat;
use microlearn_store::{ArtefactRef, DatasetRecord, now_ms};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    /// File name (its extension picks the format unless `format` is given).
    pub name: Option<String>,
    /// csv, tsv, json, ndjson or parquet (also `tab`, `jsonl`, `pq`; any case).
    pub format: Option<String>,
}

/// The format of an upload from `?format=` or the file name's extension.
pub(crate) fn upload_format(format: Option<&str>, name: Option<&str>) -> ApiResult<FileFormat> {
    if let Some(f) = format {
        return FileFormat::from_extension(f).ok_or_else(|| {
            ApiError::invalid(
                "format",
                format!("unknown format '{f}': use csv, tsv, json, ndjson or parquet"),
            )
        });
    }
    let ext = name
        .and_then(|n| std::path::Path::new(n).extension())
        .map(|e| e.to_string_lossy().into_owned());
    match ext {
        Some(ext) => FileFormat::from_extension(&ext).ok_or_else(|| {
            ApiError::invalid(
                "name",
                format!("unsupported file extension '.{ext}': use .csv, .tsv, .json, .ndjson or .parquet, or pass ?format="),
            )
        }),
        None => Err(ApiError::invalid(
            "format",
            "say what the upload is: ?format=csv (or tsv, json, ndjson, parquet), or ?name=file.csv",
        )),
    }
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// An uploaded table on disk.
#[derive(Debug)]
pub(crate) struct Upload {
    /// The temporary file and its hash.
    pub received: Received,
    /// The name it was sent under (what messages call it).
    pub name: String,
    /// Its format.
    pub format: FileFormat,
}

impl Upload {
    pub(crate) fn path(&self) -> &std::path::Path {
        self.received.file.path()
    }
}

/// The bounds of uploads on this server.
pub(crate) fn upload_limits(app: &App) -> UploadLimits {
    UploadLimits {
        max_bytes: app.config.max_upload_bytes,
        idle: app.serving.limits.upload_idle_timeout,
    }
}

/// Receive an uploaded table: a multipart form's `file` field or the raw body.
pub(crate) async fn receive_table(
    app: &App,
    req: Request,
    q: UploadQuery,
    what: &str,
) -> ApiResult<Upload> {
    let tmp = app.config.home.join("tmp");
    let limits = upload_limits(app);
    if is_multipart(&req) {
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::new(ProblemKind::InvalidRequest, e.body_text()))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::new(ProblemKind::InvalidRequest, e.body_text()))?
        {
            if field.name() != Some("file") {
                continue;
            }
            let name = q
                .name
                .clone()
                .or_else(|| field.file_name().map(str::to_string))
                .unwrap_or_else(|| "upload".into());
            let format = upload_format(q.format.as_deref(), Some(&name))?;
            let suffix = format!(".{}", format.extension());
            let received = stream_to_file(field, &tmp, &suffix, limits, what).await?;
            return Ok(Upload {
                received,
                name,
                format,
            });
        }
        Err(ApiError::invalid(
            "file",
            "the multipart form has no 'file' field",
        ))
    } else {
        let format = upload_format(q.format.as_deref(), q.name.as_deref())?;
        let name = q
            .name
            .clone()
            .unwrap_or_else(|| format!("upload.{}", format.extension()));
        let suffix = format!(".{}", format.extension());
        let received = body_to_file(req.into_body(), &tmp, &suffix, limits, what).await?;
        Ok(Upload {
            received,
            name,
            format,
        })
    }
}

/// A dataset in the list.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DatasetSummary {
    /// Id, derived from the content hash (one file is stored once per tenant).
    id: String,
    /// The name it was uploaded under.
    name: String,
    /// File format (`csv`, `tsv`, `json`, `ndjson`, `parquet`).
    format: String,
    /// Rows.
    rows: u64,
    /// Columns.
    columns: usize,
    /// File size, bytes.
    size_bytes: u64,
    /// sha256 of the file.
    sha256: String,
    /// When it was stored.
    created_at_ms: i64,
}

impl DatasetSummary {
    fn of(d: &DatasetRecord) -> Self {
        DatasetSummary {
            id: d.id.clone(),
            name: d.name.clone(),
            format: d.format.clone(),
            rows: d.rows,
            columns: d.schema.columns.len(),
            size_bytes: d.file.size,
            sha256: d.file.sha256.clone(),
            created_at_ms: d.created_at_ms,
        }
    }
}

/// A dataset with its inferred schema and column profile.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DatasetView {
    #[serde(flatten)]
    summary: DatasetSummary,
    /// The columns, in file order, with their inferred kinds.
    schema: Schema,
    /// Per-column statistics (`microlearn-data`'s `DatasetProfile`: counts, missing values,
    /// distributions), for people and the dashboard rather than a fixed contract.
    #[schemars(with = "Map<String, Value>")]
    profile: Value,
}

impl DatasetView {
    fn of(d: &DatasetRecord) -> Self {
        DatasetView {
            summary: DatasetSummary::of(d),
            schema: d.schema.clone(),
            profile: d.profile.clone(),
        }
    }
}

/// `GET /v1/datasets`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DatasetList {
    datasets: Vec<DatasetSummary>,
}

pub(crate) async fn upload(
    State(app): State<App>,
    caller: Caller,
    req: Request,
) -> ApiResult<(StatusCode, Reply<DatasetView>)> {
    let q: UploadQuery = query(req.uri())?;
    // A slot first: each upload holds a file of up to the cap and then a parser's memory, so
    // a tenant sending many at once waits its turn (503) instead of crowding out the others.
    let limits = &app.serving.limits;
    let admission = app
        .serving
        .uploads
        .admit(&caller.tenant, None, limits.upload_timeout)
        .await?;
    let upload = receive_table(&app, req, q, "dataset").await?;
    let size = upload.received.size;
    // Reserved under the tenant's gate and held until the record is written, so concurrent
    // uploads cannot together pass the storage quota (see `quota`).
    let reservation = app
        .gate(&caller.tenant)
        .await?
        .reserve_storage(&app, size, "dataset")?;
    let app2 = app.clone();
    let (record, created) = admission
        .run(limits.upload_timeout, move || {
            let Upload {
                received,
                name,
                format,
            } = upload;
            let path = received.file.path().to_path_buf();
            let dataset = microlearn_data::read_dataset(&path).map_err(|e| {
                // Name the upload, not the temporary file.
                let text = e.to_string().replace(&path.display().to_string(), &name);
                ApiError::new(ProblemKind::InvalidDataset, text)
            })?;
            if dataset.table.num_rows() == 0 || dataset.table.num_columns() == 0 {
                return Err(ApiError::new(
                    ProblemKind::InvalidDataset,
                    format!("{name}: the table has no rows or no columns"),
                ));
            }
            let artefact = ArtefactRef {
                sha256: received.sha256.clone(),
                size: received.size,
            };
            let id = format!("ds_{}", &artefact.sha256[..16]);
            let tenant = app2.store.tenant(&caller.tenant);
            if let Some(existing) = tenant.dataset(&id)? {
                return Ok((existing, false));
            }
            // Hashed while it arrived: moved into the store, not read a second time.
            persist_artefact(received, &app2.store.artefacts().path(&artefact.sha256))?;
            // In a cluster the file is only a cache until the shared store holds it too; the
            // record is written after, so no node ever sees a dataset it cannot fetch.
            app2.store.artefacts().publish(&artefact.sha256)?;
            let record = DatasetRecord {
                id,
                name: name.clone(),
                format: format.extension().to_string(),
                file: artefact,
                rows: dataset.table.num_rows() as u64,
                schema: dataset.schema.clone(),
                profile: serde_json::to_value(microlearn_data::profile(&dataset))
                    .unwrap_or(Value::Null),
                created_at_ms: now_ms(),
            };
            tenant.put_dataset(&record)?;
            Ok((record, true))
        })
        .await?;
    drop(reservation);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Reply(DatasetView::of(&record))))
}

pub(crate) async fn list(State(app): State<App>, caller: Caller) -> ApiResult<Reply<DatasetList>> {
    let all = app.store.tenant(&caller.tenant).datasets()?;
    Ok(Reply(DatasetList {
        datasets: all.iter().map(DatasetSummary::of).collect(),
    }))
}

pub(crate) fn find(app: &App, tenant: &str, id: &str) -> ApiResult<DatasetRecord> {
    check_id("dataset", id)?;
    app.store
        .tenant(tenant)
        .dataset(id)?
        .ok_or_else(|| ApiError::not_found("dataset", id))
}

pub(crate) async fn get(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<DatasetView>> {
    Ok(Reply(DatasetView::of(&find(&app, &caller.tenant, &id)?)))
}

pub(crate) async fn remove(
    State(app): State<App>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let d = find(&app, &caller.tenant, &id)?;
    let tenant = app.store.tenant(&caller.tenant);
    if let Some(p) = tenant.pipelines()?.iter().find(|p| {
        !p.status.is_terminal()
            && (p.dataset_id == id
                || p.config.get("test_dataset_id").and_then(|v| v.as_str()) == Some(id.as_str()))
    }) {
        return Err(ApiError::new(
            ProblemKind::Conflict,
            format!(
                "dataset '{id}' is used by pipeline '{}', which is still {}; cancel it first",
                p.id, p.status
            ),
        ));
    }
    tenant.delete_dataset(&id)?;
    // The file is content-addressed and may be shared by another tenant's record.
    let shared = app
        .store
        .all_datasets()?
        .iter()
        .any(|(_, other)| other.file.sha256 == d.file.sha256);
    if !shared {
        let ext = FileFormat::from_extension(&d.format).map_or("csv", |f| f.extension());
        let _ = std::fs::remove_file(
            app.config
                .home
                .join("datasets")
                .join(format!("{}.{ext}", d.file.sha256)),
        );
        if let Err(e) = app.store.artefacts().remove(&d.file.sha256) {
            // The record is gone, so the tenant is no longer charged; the file is garbage.
            tracing::warn!(dataset = %id, error = %e, "removing a deleted dataset's file");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
