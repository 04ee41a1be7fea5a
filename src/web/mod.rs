//! The browser side: the first-run setup page, a sign-in page, the app
//! page, the account page, the console (`console`), the session and CSRF
//! endpoints, the stylesheet and the app page's script. Pages are minijinja
//! templates with automatic escaping; they carry no inline script or style,
//! so they work under the HTML CSP, and every form works without
//! JavaScript.
//! Sessions are `auth::session`, CSRF tokens `auth::csrf`, the cookies
//! `http::cookies`, and the CSRF rules for cookie-authenticated requests
//! `http::csrf`.

mod account;
mod app_page;
mod assets;
mod console;
mod csrf_token;
mod login;
mod login_mfa;
mod passkey_sign_in;
mod setup;
mod sign_in;
mod sso;
mod templates;

use axum::{extract::FromRequestParts, response::Response};
use http::{HeaderValue, header, request::Parts};

use crate::{
    http::{caller::Caller, context::RequestContext, credentials::SessionCookie, csrf},
    state::AppState,
};

/// The page handlers, for the router.
pub mod pages {
    pub use super::{
        account::*, app_page::*, assets::*, console::*, csrf_token::*, login::*, login_mfa::*,
        passkey_sign_in::*, setup::*, sso::*,
    };
}

/// Pages hold CSRF tokens and personal data: never cached.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A form posted before sign-in (the login and first-run forms), with what
/// answering it needs. No session yet, so the envelope has checked no CSRF
/// token: [`PreLoginPost::refusal`] does, against the pre-session binding
/// (login CSRF).
pub struct PreLoginPost {
    pub caller: Caller,
    pub session: Option<SessionCookie>,
}

/// The caller's parts (`client`, `provenance`, `uri`, `headers`), read
/// as the post's own.
impl std::ops::Deref for PreLoginPost {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl PreLoginPost {
    /// The 403 to answer when the form's `sent` token is missing or wrong,
    /// or the post is cross-site (audited for `route`).
    pub fn refusal(&self, state: &AppState, sent: Option<&str>, route: &'static str) -> Option<Response> {
        let checked = state.csrf.verify_pre_login(
            &self.uri,
            &self.headers,
            self.session.as_ref(),
            sent,
            self.client.https,
        );
        checked
            .err()
            .map(|failure| csrf::refuse(failure, &state.audit, None, Some(route), &self.provenance))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PreLoginPost {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            caller: Caller::from_request_parts(parts, state).await?,
            session: RequestContext::of(&parts.extensions).and_then(|context| context.session.clone()),
        })
    }
}
