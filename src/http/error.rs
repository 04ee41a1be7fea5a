//! The error model (SPEC section 3): every error is `{"detail": ...}`.
//!
//! Handlers return [`ApiError`]; the mapping to HTTP lives here and nowhere
//! else. Errors raised outside handlers (no route, wrong method, body too
//! large, time-out, panic) arrive as bare status codes and get their body in
//! [`fill_body`], so there is one place that decides what an error says.
//! A 500 never says more than `Internal Server Error` and the request id:
//! the cause is logged under that id, never sent (OWASP ASVS 5.0 V16.5.1).

use std::any::Any;

use axum::{
    Json,
    body::Body,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    request_id::RequestId,
    validation::{ValidationErrorBody, ValidationIssue},
};

/// The body of every error but validation errors.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Not Found")]
    pub detail: String,
}

/// A failed request, as a handler or extractor reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("invalid input")]
    Validation(Vec<ValidationIssue>),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("rate limit exceeded")]
    RateLimited(crate::ratelimit::Refusal),
    /// Anything unexpected: logged with the request id, answered with a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn validation(issue: ValidationIssue) -> Self {
        Self::Validation(vec![issue])
    }

    /// Wraps any error as an internal one.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

/// Why a request failed inside the server, carried on a bare 500 to
/// [`fill_body`], which logs it next to the request id.
#[derive(Clone, Debug)]
struct InternalCause(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound(detail) => detail_response(StatusCode::NOT_FOUND, detail),
            Self::Conflict(detail) => detail_response(StatusCode::CONFLICT, detail),
            Self::Unavailable(detail) => detail_response(StatusCode::SERVICE_UNAVAILABLE, detail),
            Self::RateLimited(refusal) => super::rate_limit::refused(&refusal),
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response(),
            Self::Validation(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ValidationErrorBody { detail }),
            )
                .into_response(),
            Self::Internal(err) => {
                let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                response
                    .extensions_mut()
                    .insert(InternalCause(format!("{err:#}")));
                response
            }
        }
    }
}

/// `{"detail": detail}` with `status`.
pub fn detail_response(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

/// Gives every error response that has no JSON (or HTML) body the spec's
/// body: `{"detail": "<reason phrase>"}`, and for 500 also the request id.
pub fn fill_body(response: Response, request_id: &RequestId) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || has_own_body(&response) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = if status == StatusCode::INTERNAL_SERVER_ERROR {
        let request_id = request_id.as_str();
        let cause = parts
            .extensions
            .get::<InternalCause>()
            .map_or("unknown", |c| c.0.as_str());
        tracing::error!(request_id, cause, "request failed");
        json!({ "detail": reason, "request_id": request_id })
    } else {
        json!({ "detail": reason })
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

fn has_own_body(response: &Response) -> bool {
    response.headers().get(header::CONTENT_TYPE).is_some_and(|ct| {
        let ct = ct.as_bytes();
        ct.starts_with(b"application/json") || ct.starts_with(b"text/html")
    })
}

/// The response for a panicking handler: a bare 500 that [`fill_body`] turns
/// into the spec's body. The server lives on.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response
        .extensions_mut()
        .insert(InternalCause(format!("handler panicked: {message}")));
    response
}
