//! The browser side: the first-run setup page, a sign-in page, the app page, the session and CSRF
//! endpoints, the stylesheet and the app page's script. Pages are minijinja
//! templates with automatic escaping; they carry no inline script or style,
//! so they work under the HTML CSP, and every form works without
//! JavaScript.
//! Sessions are `auth::session`, CSRF tokens `auth::csrf`, the cookies
//! `http::cookies`, and the CSRF rules for cookie-authenticated requests
//! `http::csrf`.

mod app_page;
mod assets;
mod csrf_token;
mod login;
mod setup;
mod templates;

use axum::response::Response;
use http::{HeaderValue, header};

/// The page handlers, for the router.
pub mod pages {
    pub use super::{app_page::*, assets::*, csrf_token::*, login::*, setup::*};
}

/// Pages hold CSRF tokens and personal data: never cached.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
