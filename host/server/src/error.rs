//! Errors as RFC 9457 problem details (`application/problem+json`), each kind with a stable
//! `type` URI so clients can branch on it without parsing messages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The error kinds the API answers with. The slug is the stable part of `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// No or an unknown API key.
    Unauthorized,
    /// The key may not do this (an admin-only call, a built-in plugin).
    Forbidden,
    /// No such resource for this tenant (also another tenant's resources).
    NotFound,
    /// No such route.
    NoRoute,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The body is not well-formed JSON.
    MalformedJson,
    /// The request is well-formed but its content is invalid (names the field).
    InvalidRequest,
    /// An uploaded table cannot be read or used.
    InvalidDataset,
    /// An uploaded plugin is invalid.
    InvalidPlugin,
    /// Rows sent to predict do not match the model's input schema.
    InvalidRows,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// The body's media type is not accepted.
    UnsupportedMediaType,
    /// The resource's state does not allow this (e.g. cancelling a finished pipeline).
    Conflict,
    /// A tenant quota would be exceeded.
    QuotaExceeded,
    /// Too many concurrent pipelines for the tenant.
    TooManyPipelines,
    /// The request took longer than the server allows (a stage ran past its deadline, or the
    /// request's own deadline passed first).
    Timeout,
    /// The request body stopped arriving (a slow or stalled client).
    BodyTimeout,
    /// The server (or the caller's share of it) has no free slot for this work right now;
    /// `Retry-After` says when to try again.
    Overloaded,
    /// A plugin stage of the model failed (the detail is the stage error, naming the plugin).
    PluginFailed,
    /// A failure of the host itself.
    Internal,
}

impl ProblemKind {
    /// The stable slug.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::NoRoute => "no-route",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::InvalidRequest => "invalid-request",
            ProblemKind::InvalidDataset => "invalid-dataset",
            ProblemKind::InvalidPlugin => "invalid-plugin",
            ProblemKind::InvalidRows => "invalid-rows",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::Conflict => "conflict",
            ProblemKind::QuotaExceeded => "quota-exceeded",
            ProblemKind::TooManyPipelines => "too-many-pipelines",
            ProblemKind::Timeout => "timeout",
            ProblemKind::BodyTimeout => "body-timeout",
            ProblemKind::Overloaded => "overloaded",
            ProblemKind::PluginFailed => "plugin-failed",
            ProblemKind::Internal => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden | ProblemKind::QuotaExceeded => StatusCode::FORBIDDEN,
            ProblemKind::NotFound | ProblemKind::NoRoute => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::MalformedJson => StatusCode::BAD_REQUEST,
            ProblemKind::InvalidRequest
            | ProblemKind::InvalidDataset
            | ProblemKind::InvalidPlugin
            | ProblemKind::InvalidRows => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::TooManyPipelines => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProblemKind::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::PluginFailed => StatusCode::BAD_GATEWAY,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, fixed summary (RFC 9457 `title`).
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::Unauthorized => "Missing or unknown API key",
            ProblemKind::Forbidden => "Not allowed",
            ProblemKind::NotFound => "Not found",
            ProblemKind::NoRoute => "No such route",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::MalformedJson => "Malformed JSON",
            ProblemKind::InvalidRequest => "Invalid request",
            ProblemKind::InvalidDataset => "Invalid dataset",
            ProblemKind::InvalidPlugin => "Invalid plugin",
            ProblemKind::InvalidRows => "Rows do not match the model's input",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::QuotaExceeded => "Quota exceeded",
            ProblemKind::TooManyPipelines => "Too many concurrent pipelines",
            ProblemKind::Timeout => "Request timed out",
            ProblemKind::BodyTimeout => "Request body timed out",
            ProblemKind::Overloaded => "Server busy",
            ProblemKind::PluginFailed => "A plugin failed",
            ProblemKind::Internal => "Internal error",
        }
    }

    /// Every kind, for the OpenAPI document.
    pub const ALL: [ProblemKind; 20] = [
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::NoRoute,
        ProblemKind::MethodNotAllowed,
        ProblemKind::MalformedJson,
        ProblemKind::InvalidRequest,
        ProblemKind::InvalidDataset,
        ProblemKind::InvalidPlugin,
        ProblemKind::InvalidRows,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Conflict,
        ProblemKind::QuotaExceeded,
        ProblemKind::TooManyPipelines,
        ProblemKind::Timeout,
        ProblemKind::BodyTimeout,
        ProblemKind::Overloaded,
        ProblemKind::PluginFailed,
        ProblemKind::Internal,
    ];
}

/// The `type` URI of a kind.
pub fn type_uri(kind: ProblemKind) -> String {
    format!("urn:microlearn:problem:{}", kind.slug())
}

/// An API error: a kind and a message that says what is wrong and where.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Kind.
    pub kind: ProblemKind,
    /// RFC 9457 `detail`.
    pub detail: String,
    /// Extra members (e.g. `field`, `limit`).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError {
            kind,
            detail: detail.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// Add a member to the problem object.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// `what 'id' not found`.
    pub fn not_found(what: &str, id: &str) -> Self {
        ApiError::new(ProblemKind::NotFound, format!("{what} '{id}' not found"))
    }

    /// 422 naming a request field.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        ApiError::new(ProblemKind::InvalidRequest, detail).with("field", field)
    }

    /// A host failure. The cause goes to the log under a fresh incident id; the client gets
    /// only that id. Store and I/O errors name files under the data directory and records of
    /// the host, which are not the caller's business on a shared service, and an operator
    /// finds the full cause by grepping the log for the id.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        let incident = hex::encode(rand::random::<[u8; 6]>());
        tracing::error!(incident, error = %e, "internal error");
        ApiError::new(
            ProblemKind::Internal,
            format!(
                "the server failed to handle this request (incident {incident}); \
                 its log has the cause"
            ),
        )
        .with("incident", incident)
    }

    /// 503 with `Retry-After: secs`: the work was refused for lack of a free slot, so the
    /// same request may succeed shortly.
    pub fn overloaded(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError::new(ProblemKind::Overloaded, detail).with(RETRY_AFTER_MEMBER, retry_after_secs)
    }

    /// The problem object. Host paths (see [`redact_under`]) are cut out of every text in it.
    pub fn body(&self) -> serde_json::Value {
        let roots = redaction_roots();
        let mut v = json!({
            "type": type_uri(self.kind),
            "title": self.kind.title(),
            "status": self.kind.status().as_u16(),
            "detail": redact(&self.detail, &roots),
        });
        if let Some(obj) = v.as_object_mut() {
            for (k, val) in &self.extra {
                let val = match val {
                    serde_json::Value::String(s) => serde_json::Value::String(redact(s, &roots)),
                    other => other.clone(),
                };
                obj.insert(k.clone(), val);
            }
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)
    }
}

impl From<microlearn_store::StoreError> for ApiError {
    fn from(e: microlearn_store::StoreError) -> Self {
        match e {
            // A cluster's database or object store is down or failing over (the store has
            // already retried for a while): the request was fine, so say when to try again
            // rather than report a fault of the server.
            microlearn_store::StoreError::Backend { .. } => {
                tracing::warn!(error = %e, "storage unavailable");
                ApiError::new(
                    ProblemKind::Overloaded,
                    "the service's storage (database or object store) is unreachable right now; \
                     try again shortly",
                )
                .with(RETRY_AFTER_MEMBER, 5)
            }
            e => ApiError::internal(e),
        }
    }
}

/// The problem member that also becomes the `Retry-After` header (seconds).
const RETRY_AFTER_MEMBER: &str = "retry_after_secs";

/// Folders whose paths never appear in an answer: the data directory, plugin folders, the
/// temporary directory. A process may serve several data directories (the tests do), so this
/// is a set that only grows.
static REDACTED: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Keep `dir` (and everything under it) out of every problem body from now on.
pub fn redact_under(dir: &std::path::Path) {
    let mut roots = REDACTED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Both spellings: the configured one and the resolved one (symlinks, `..`).
    let resolved = dir.canonicalize().ok();
    for d in std::iter::once(dir.to_path_buf()).chain(resolved) {
        let text = d.to_string_lossy().trim_end_matches('/').to_string();
        // `/` itself would cut every URL path out of "no route GET /v1/…".
        if text.len() > 1 && !roots.contains(&text) {
            roots.push(text);
        }
    }
    // Longest first, so a folder inside another is cut as a whole.
    roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
}

fn redaction_roots() -> Vec<String> {
    let mut roots = REDACTED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if roots.is_empty() {
        // Even before any data directory is registered, temporary files stay private.
        let tmp = std::env::temp_dir()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        if tmp.len() > 1 {
            roots.push(tmp);
        }
    }
    roots
}

/// `text` with every path under one of `roots` replaced by its file name, which is all a
/// caller needs to recognise the thing meant (the host's layout is not theirs to see).
fn redact(text: &str, roots: &[String]) -> String {
    let mut out = text.to_string();
    for root in roots {
        let mut from = 0;
        while let Some(at) = out[from..].find(root.as_str()).map(|i| i + from) {
            let after = at + root.len();
            // Only whole path components: `/data` must not match `/database`.
            if out[after..]
                .chars()
                .next()
                .is_some_and(|c| c != '/' && is_path_char(c))
            {
                from = after;
                continue;
            }
            let end = out[after..]
                .find(|c: char| !is_path_char(c))
                .map_or(out.len(), |i| i + after);
            // The root itself says nothing to the caller; a path below it keeps its last part.
            let below = out[after..end].trim_matches('/');
            let name = match below.rsplit('/').next() {
                Some(last) if !below.is_empty() => format!("…/{last}"),
                _ => "…".to_string(),
            };
            out.replace_range(at..end, &name);
            from = at + name.len();
        }
    }
    out
}

/// Characters a path token runs over in a message (messages put paths between spaces,
/// quotes, parentheses or before a `:`).
fn is_path_char(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '\'' | '"' | '`' | ':' | ',' | ';' | '(' | ')' | '[' | ']'
        ))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.kind.status(), body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.kind == ProblemKind::Unauthorized {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.extra.get(RETRY_AFTER_MEMBER).and_then(|v| v.as_u64()) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_cut_to_their_file_name() {
        let roots = vec!["/srv/ml/home".to_string(), "/tmp".to_string()];
        assert_eq!(
            redact("reading /srv/ml/home/tmp/.upload-x.csv: line 3", &roots),
            "reading …/.upload-x.csv: line 3"
        );
        assert_eq!(
            redact("artefact abc missing in '/srv/ml/home/artefacts'", &roots),
            "artefact abc missing in '…/artefacts'"
        );
        assert_eq!(redact("in /srv/ml/home", &roots), "in …");
        // Other paths and look-alike prefixes stay.
        assert_eq!(
            redact("no route GET /v1/x; /srv/ml/homework", &roots),
            "no route GET /v1/x; /srv/ml/homework"
        );
        assert_eq!(redact("/tmp/a /tmp/b", &roots), "…/a …/b");
    }

    #[test]
    fn an_internal_error_shows_an_incident_not_its_cause() {
        let e = ApiError::internal("opening /srv/ml/home/db/conf: permission denied");
        let body = e.body();
        let detail = body["detail"].as_str().expect("detail");
        assert!(
            !detail.contains("/srv") && !detail.contains("permission"),
            "{detail}"
        );
        let incident = body["incident"].as_str().expect("incident");
        assert!(
            detail.contains(incident) && incident.len() == 12,
            "{detail}"
        );
    }

    #[test]
    fn overloaded_answers_503_with_retry_after() {
        let resp = ApiError::overloaded("busy", 2).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
    }
}
