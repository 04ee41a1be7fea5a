//! The pages' one stylesheet (no inline style anywhere, per the HTML CSP).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

const STYLESHEET: &str = include_str!("../../static/app.css");

/// The pages' stylesheet (no inline style anywhere, per the HTML CSP).
pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        STYLESHEET,
    )
        .into_response()
}
