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

use super::{detail::detail_response, request_id::RequestId};
use crate::input::{LocPart, Source, ValidationErrorBody, ValidationIssue};

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
    /// 400: a request that cannot be served as sent.
    #[error("{0}")]
    BadRequest(&'static str),
    /// 401 with `WWW-Authenticate: Bearer` (RFC 6750 section 3).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// 429 for a limit other than a rate (which is [`Self::RateLimited`]).
    #[error("{0}")]
    TooMany(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    /// 503 with `Retry-After: 1`: the password hashing queue is full; the
    /// request may be sent again at once.
    #[error("password hashing queue full")]
    HashingBusy,
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

    /// 422 for one field of the body (`loc` `["body", field]`), found wrong
    /// after the body was read: a rule that needs the store, say.
    pub fn body_field(field: &'static str, problem: crate::input::Problem) -> Self {
        let mut issue = ValidationIssue::new(problem.kind, Source::Body, [LocPart::from(field)], problem.msg);
        issue.ctx = problem.ctx;
        Self::validation(issue)
    }

    /// Wraps any error as an internal one.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

/// A store failure is the server's, never the client's: a 500, its cause
/// logged with the request id.
impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::Internal(anyhow::Error::new(err).context("store"))
    }
}

/// A full hashing queue is a 503 to retry; anything else a 500.
impl From<crate::auth::password::HashError> for ApiError {
    fn from(err: crate::auth::password::HashError) -> Self {
        match err {
            crate::auth::password::HashError::Busy => Self::HashingBusy,
            other => Self::Internal(anyhow::Error::new(other).context("password hashing")),
        }
    }
}

/// A passkey step that failed (SPEC section 7).
impl From<crate::auth::mfa::passkeys::PasskeyError> for ApiError {
    fn from(err: crate::auth::mfa::passkeys::PasskeyError) -> Self {
        use crate::auth::mfa::passkeys::PasskeyError;
        match err {
            PasskeyError::Invalid => Self::BadRequest("Invalid passkey"),
            PasskeyError::NoRelyingParty => Self::BadRequest(
                "Passkeys need a domain name: reach this server by one, or set auth.webauthn_rp_id",
            ),
            PasskeyError::Duplicate => Self::Conflict("This passkey is registered already"),
            PasskeyError::TooMany => Self::Conflict("Too many passkeys: remove one first"),
            PasskeyError::Store(err) => err.into(),
            PasskeyError::Check(err) => Self::Internal(anyhow::anyhow!(err).context("passkey check")),
        }
    }
}

/// What a full hashing queue answers.
const HASHING_BUSY: &str = "Too many password operations in progress, retry shortly";

/// Why a request failed inside the server, carried on a bare 500 to
/// [`fill_body`], which logs it next to the request id.
#[derive(Clone, Debug)]
struct InternalCause(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound(detail) => detail_response(StatusCode::NOT_FOUND, detail),
            Self::BadRequest(detail) => detail_response(StatusCode::BAD_REQUEST, detail),
            Self::Unauthorized(detail) => {
                let mut response = detail_response(StatusCode::UNAUTHORIZED, detail);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Self::Forbidden(detail) => detail_response(StatusCode::FORBIDDEN, detail),
            Self::Conflict(detail) => detail_response(StatusCode::CONFLICT, detail),
            Self::TooMany(detail) => detail_response(StatusCode::TOO_MANY_REQUESTS, detail),
            Self::Unavailable(detail) => detail_response(StatusCode::SERVICE_UNAVAILABLE, detail),
            Self::HashingBusy => {
                let mut response = detail_response(StatusCode::SERVICE_UNAVAILABLE, HASHING_BUSY);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Self::RateLimited(refusal) => super::limited::refused(&refusal),
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

/// Gives every error response that has no JSON (or HTML) body the spec's
/// body: `{"detail": "<reason phrase>"}`, and for 500 also the request id.
pub fn fill_body(response: Response, request_id: &RequestId) -> Response {
    let status = response.status();
    let relayed = response.extensions().get::<super::resolve::Relayed>().is_some();
    if !(status.is_client_error() || status.is_server_error()) || relayed || has_own_body(&response) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::HashError;

    #[test]
    fn a_full_hashing_queue_is_a_503_to_retry_and_other_hash_errors_a_500() {
        let busy = ApiError::from(HashError::Busy).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let failed = ApiError::from(HashError::Failed("lost".into())).into_response();
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_401_names_the_bearer_scheme() {
        let response = ApiError::Unauthorized("Not authenticated").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let forbidden = ApiError::Forbidden("Not enough permissions").into_response();
        assert!(!forbidden.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
