//! Request extractors that answer with problem+json instead of axum's plain-text rejections.

use crate::error::{ApiError, ProblemKind};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// Who is calling: resolved from the API key by the auth middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Tenant the key acts for.
    pub tenant: String,
    /// Whether the key is an admin key.
    pub admin: bool,
    /// The key's public id.
    pub key_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                ProblemKind::Unauthorized,
                "send an API key as `Authorization: Bearer <key>`",
            )
        })
    }
}

impl Caller {
    /// An admin key of the default tenant (the host operator's): it manages every tenant. An
    /// admin key of any other tenant manages only that tenant.
    pub fn is_global_admin(&self) -> bool {
        self.admin && self.tenant == microlearn_store::DEFAULT_TENANT
    }
}

/// The caller, who must hold an admin key (global or of its own tenant; routes that take one
/// check the tenant they act on).
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.admin {
            return Err(ApiError::new(
                ProblemKind::Forbidden,
                "this call needs an admin API key",
            ));
        }
        Ok(Admin(caller))
    }
}

/// The caller, who must hold a global admin key (see [`Caller::is_global_admin`]).
#[derive(Debug, Clone)]
pub struct GlobalAdmin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for GlobalAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Admin(caller) = Admin::from_request_parts(parts, state).await?;
        if !caller.is_global_admin() {
            return Err(ApiError::new(
                ProblemKind::Forbidden,
                format!(
                    "this call needs a global admin key; this admin key manages only tenant '{}'",
                    caller.tenant
                ),
            ));
        }
        Ok(GlobalAdmin(caller))
    }
}

/// A JSON body: a missing or wrong media type is 415, bad syntax 400, a well-formed body with
/// wrong content 422 naming the field, an oversized body 413.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::new(
                    ProblemKind::UnsupportedMediaType,
                    format!(
                        "expected a JSON body (Content-Type: application/json), got '{essence}'"
                    ),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rej| body_rejection(rej.status(), &rej.body_text()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parse a JSON body with the error kinds described on [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::new(
            ProblemKind::MalformedJson,
            "the request body is empty; a JSON object was expected",
        ));
    }
    let classify = |e: serde_json::Error, field: Option<String>| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                let err = ApiError::new(ProblemKind::InvalidRequest, format!("{e}"));
                match field {
                    Some(f) => err.with("field", f),
                    None => err,
                }
            }
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                ProblemKind::MalformedJson,
                format!("the body is not valid JSON: {e}"),
            ),
        }
    };
    // The path of a mistyped value (`traffic_percent`, `deployer.config`) goes into the
    // problem's `field`, as for every other invalid-request answer.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        classify(e.into_inner(), field)
    })?;
    de.end().map_err(|e| classify(e, None))?;
    Ok(value)
}

/// Map an axum body rejection to a problem.
pub fn body_rejection(status: StatusCode, text: &str) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("the body is too large: {text}"),
        )
    } else {
        ApiError::new(
            ProblemKind::MalformedJson,
            format!("cannot read the body: {text}"),
        )
    }
}

/// Path parameters with problem+json errors. A segment that is not UTF-8 once
/// percent-decoded can name no record, so it answers 404 like any other unknown id (axum's
/// own rejection is a plain-text 400).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::new(
                ProblemKind::NotFound,
                format!(
                    "no resource has this id: {}",
                    e.body_text()
                        .trim_start_matches("Invalid URL: ")
                        .trim_end_matches('.')
                ),
            )),
            Err(other) => Err(ApiError::internal(format!(
                "the route has no such path parameter: {}",
                other.body_text()
            ))),
        }
    }
}
