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
    /// The request took longer than the server allows.
    Timeout,
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
            ProblemKind::Timeout => StatusCode::SERVICE_UNAVAILABLE,
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
            ProblemKind::Internal => "Internal error",
        }
    }

    /// Every kind, for the OpenAPI document.
    pub const ALL: [ProblemKind; 17] = [
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

    /// A host failure. The cause is logged; the client gets a generic message plus the cause,
    /// which never carries secrets (store and plugin errors name files and records).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        ApiError::new(ProblemKind::Internal, e.to_string())
    }

    /// The problem object.
    pub fn body(&self) -> serde_json::Value {
        let mut v = json!({
            "type": type_uri(self.kind),
            "title": self.kind.title(),
            "status": self.kind.status().as_u16(),
            "detail": self.detail,
        });
        if let Some(obj) = v.as_object_mut() {
            for (k, val) in &self.extra {
                obj.insert(k.clone(), val.clone());
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
        ApiError::internal(e)
    }
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
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
