//! Extractors that read input into typed values ([`crate::input::Model`]s)
//! and fail with the spec's errors: 415 for a wrong content type, 413 for a
//! body over the limit, 422 listing every field that does not read. Handlers
//! use these, never axum's own `Json`/`Form`/`Path`/`Query`, whose
//! rejections are plain text.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::input::{LocPart, Model, Source, ValidationIssue, read_json, read_pairs};

/// A JSON request body (`Content-Type: application/json` or `+json`).
#[derive(Debug)]
pub struct Json<T>(pub T);

/// A form request body (`application/x-www-form-urlencoded`).
#[derive(Debug)]
pub struct Form<T>(pub T);

/// Path parameters.
#[derive(Debug)]
pub struct Path<T>(pub T);

/// The query string.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: Model, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is(&request, |mime| {
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        }) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = body(request, state).await?;
        read_json(&bytes).map(Json).map_err(ApiError::Validation)
    }
}

impl<T: Model, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is(&request, |mime| mime == "application/x-www-form-urlencoded") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = body(request, state).await?;
        read_pairs(&bytes, Source::Body)
            .map(Form)
            .map_err(ApiError::Validation)
    }
}

impl<T: Model, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        read_pairs(query.as_bytes(), Source::Query)
            .map(Query)
            .map_err(ApiError::Validation)
    }
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(axum::extract::rejection::PathRejection::FailedToDeserializePathParams(err)) => {
                // For a single value or a tuple axum reports no name; the
                // route's parameter names give it.
                let names: Vec<String> = axum::extract::RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|params| params.iter().map(|(name, _)| name.to_owned()).collect())
                    .unwrap_or_default();
                let issue = match err.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key, expected_type, ..
                    } => path_issue(Some(key), expected_type),
                    ErrorKind::ParseErrorAtIndex {
                        index, expected_type, ..
                    } => path_issue(names.get(*index).map(String::as_str), expected_type),
                    ErrorKind::ParseError { expected_type, .. } => {
                        let only = names.first().filter(|_| names.len() == 1);
                        path_issue(only.map(String::as_str), expected_type)
                    }
                    other => ValidationIssue::new("value_error", Source::Path, [], other.to_string()),
                };
                Err(ApiError::validation(issue))
            }
            Err(other) => Err(ApiError::internal(anyhow::anyhow!("path extraction: {other}"))),
        }
    }
}

fn path_issue(key: Option<&str>, expected_type: &str) -> ValidationIssue {
    let loc = key.map(|k| LocPart::Key(k.to_owned().into()));
    let integer = [
        "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "isize", "usize",
    ]
    .iter()
    .any(|t| expected_type.ends_with(t));
    if integer {
        ValidationIssue::new(
            "int_parsing",
            Source::Path,
            loc,
            "Input should be a valid integer, unable to parse string as an integer",
        )
    } else {
        ValidationIssue::new(
            "value_error",
            Source::Path,
            loc,
            format!("Input should be a valid {expected_type}"),
        )
    }
}

fn content_type_is(request: &Request, accept: impl Fn(&str) -> bool) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|mime| accept(&mime))
}

/// Reads the body; the limit is enforced by the body-limit layer.
async fn body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|err: BytesRejection| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                // The client went away or sent a broken body.
                ApiError::validation(ValidationIssue::new(
                    "body_error",
                    Source::Body,
                    [],
                    "The request body could not be read",
                ))
            }
        })
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
