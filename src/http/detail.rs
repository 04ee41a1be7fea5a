//! The body of every error answer but validation errors (SPEC section 3):
//! `{"detail": "<sentence>"}`, FastAPI's. At the bottom of the HTTP layer:
//! errors, refusals and steps all answer with it.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde_json::json;

/// `{"detail": detail}` with `status`.
pub fn detail_response(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}
