//! The browser side: a sign-in page, the app page, the session and CSRF
//! endpoints, and the stylesheet. Pages are minijinja templates with
//! automatic escaping; they carry no script and no inline style, so they
//! work under the HTML CSP, and every form works without JavaScript.
//! Sessions are `auth::session`, CSRF tokens `auth::csrf`, the cookies
//! `http::cookies`, and the CSRF rules for cookie-authenticated requests
//! `http::csrf`.

mod app_page;
mod csrf_token;
mod login;
mod stylesheet;
mod templates;

use axum::response::Response;
use http::{HeaderValue, header};

/// The page handlers, for the router.
pub mod pages {
    pub use super::{app_page::*, csrf_token::*, login::*, stylesheet::*};
}

/// Pages hold CSRF tokens and personal data: never cached.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
