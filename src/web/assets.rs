//! The pages' static files: one stylesheet and two scripts, served from
//! the binary. No inline style or script anywhere, per the HTML CSP
//! (`script-src 'self'`).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

const STYLESHEET: &str = include_str!("../../static/app.css");
/// `/app`'s live updates; the page works without it.
const SCRIPT: &str = include_str!("../../static/app.js");
/// The passkey buttons of the sign-in and account pages.
const PASSKEY_SCRIPT: &str = include_str!("../../static/mfa.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `/static/app.css`.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

/// `/static/app.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `/static/mfa.js`.
pub async fn passkey_script() -> Response {
    asset("text/javascript; charset=utf-8", PASSKEY_SCRIPT)
}
