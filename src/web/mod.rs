//! The browser side: a sign-in page, the app page, the session and CSRF
//! endpoints, and the stylesheet. Pages are minijinja templates with
//! automatic escaping; they carry no script and no inline style, so they
//! work under the HTML CSP, and every form works without JavaScript.
//! Sessions are `auth::session`, CSRF tokens `auth::csrf`, the cookies
//! `http::cookies`, and the CSRF rules for cookie-authenticated requests
//! `http::csrf`.

pub mod pages;
mod templates;
