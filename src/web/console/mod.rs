//! The console (SPEC section 9): operating rampart from a browser. Pages
//! under `/console` for a session whose user has the role `admin`: the
//! overview, users, one user, keys and the audit trail. Every change is
//! `admin::Operator`'s, as through the admin API.
//!
//! The rules are the other pages': minijinja templates, no inline script
//! or style, every form works without JavaScript and carries the session's
//! CSRF token (checked by the envelope, as every unsafe request with a
//! session cookie is), `Cache-Control: no-store` (`/console` is also a
//! private area). `/console` is an `mfa` area: under `auth.mfa` other than
//! `"optional"`, the envelope refuses a session without a second factor.
//!
//! A change answers 303 back to its page with `?said=` naming what was
//! done (post/redirect/get: a reload does not post again); a refused one
//! answers the page again with the reason and the status of the API's
//! refusal.

mod audit;
mod chart;
mod keys;
mod overview;
mod user;
mod users;

pub use audit::*;
pub use keys::*;
pub use overview::*;
pub use user::*;
pub use users::*;

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, StatusCode, header, request::Parts};
use minijinja::{Value, context};

use super::{no_store, templates::render};
use crate::{
    admin::Operator,
    audit::{Action, Outcome, Provenance},
    auth::csrf::Binding,
    http::{client::ClientInfo, credentials::CurrentUser, error::ApiError},
    names::Role,
    state::AppState,
};

/// A signed-in admin at the console, with what answering them needs.
pub struct ConsoleAdmin {
    user: CurrentUser,
    binding: Binding,
    headers: HeaderMap,
    https: bool,
    provenance: Provenance,
}

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = Response;

    /// No session: 303 to the sign-in page, which returns here. A session
    /// without the role: the 403 page (audited, as the API's refusal is).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let user = <CurrentUser as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .ok()
            .flatten();
        let provenance = Provenance::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let Some(CurrentUser::Session(session)) = user else {
            // The path as the browser asked it: below `own_prefix`, the
            // router sees it without.
            let prefix = state.settings.own_prefix();
            let asked = parts.uri.path_and_query().map_or("/console", |pq| pq.as_str());
            let back = format!("{prefix}{asked}");
            let back: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
            let login = format!("{prefix}/login?return_to={back}");
            return Err(no_store(Redirect::to(&login).into_response()));
        };
        let binding = Binding::session(&session.id);
        let user = CurrentUser::Session(session);
        if !user.has_role(Role::ADMIN) {
            state.audit.record(
                Action::AccessDenied,
                Outcome::Denied,
                Some(user.username()),
                Some("/console"),
                &provenance,
            );
            return Err(forbidden(state, user.username()));
        }
        let client = ClientInfo::from_request_parts(parts, state).await?;
        Ok(Self {
            binding,
            user,
            headers: parts.headers.clone(),
            https: client.https,
            provenance,
        })
    }
}

/// The 403 page for a signed-in user who is no admin.
fn forbidden(state: &AppState, username: &str) -> Response {
    let page = render(
        "console_forbidden.html",
        context! {
            title => "Not allowed",
            root => format!("{}/", state.settings.own_prefix()),
            prefix => state.settings.own_prefix(),
            home => state.home(),
            username,
        },
    );
    match page {
        Ok(page) => no_store((StatusCode::FORBIDDEN, page).into_response()),
        Err(err) => err.into_response(),
    }
}

impl ConsoleAdmin {
    /// The admin acting, for a change.
    fn operator<'a>(&'a self, state: &'a AppState) -> Operator<'a> {
        Operator::new(state, &self.user, &self.provenance)
    }

    /// Console page `template` with `context`, the parts every page has
    /// added: the admin's name, a CSRF token bound to their session (and
    /// its cookie), the prefix, and what was said.
    fn page(
        &self,
        state: &AppState,
        template: &str,
        status: StatusCode,
        said: Said,
        context: Value,
    ) -> Result<Response, ApiError> {
        let (csrf_token, cookie) = state.csrf.token(&self.headers, self.binding, self.https);
        let prefix = state.settings.own_prefix();
        let page = render(
            template,
            context! {
                prefix,
                // Pages answer at several depths: the stylesheet's path
                // from the root.
                root => format!("{prefix}/"),
                admin => self.user.username(),
                csrf_token,
                notice => said.notice,
                error => said.error,
                ..context
            },
        )?;
        Ok(no_store(
            (status, [(header::SET_COOKIE, cookie)], page).into_response(),
        ))
    }

    /// 303 to console page `path` (below `/console`), saying `said`.
    fn done(state: &AppState, path: &str, said: &str) -> Response {
        let prefix = state.settings.own_prefix();
        no_store(Redirect::to(&format!("{prefix}/console{path}?said={said}")).into_response())
    }
}

/// What a page says besides its content.
#[derive(Default)]
struct Said {
    notice: Option<&'static str>,
    error: Option<String>,
}

impl Said {
    /// The notice a `?said=` names; anything else says nothing (a link
    /// cannot make the console say what it likes).
    fn from_query(said: Option<&str>) -> Self {
        let notice = match said.unwrap_or("") {
            "created" => "User created.",
            "roles" => "Roles saved: their earlier tokens no longer work.",
            "disabled" => "User disabled: they cannot sign in, and their credentials no longer work.",
            "enabled" => "User enabled.",
            "reset" => "Second factors reset: every factor and recovery code removed, every session ended.",
            "revoked" => "Ended.",
            "rotated" => "A new key signs from now on; tokens of the old keys keep working.",
            "key-revoked" => "Key revoked: nothing it signed is accepted any more.",
            _ => return Self::default(),
        };
        Self {
            notice: Some(notice),
            error: None,
        }
    }

    fn error(error: impl Into<String>) -> Self {
        Self {
            notice: None,
            error: Some(error.into()),
        }
    }
}

/// `?said=` of a console page's query.
#[derive(Default, serde::Deserialize)]
struct SaidQuery {
    said: Option<String>,
}

impl SaidQuery {
    fn read(query: Option<&str>) -> Said {
        let query: Self = serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        Said::from_query(query.said.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_notices_are_said() {
        assert!(Said::from_query(Some("rotated")).notice.is_some());
        assert!(Said::from_query(Some("<b>pwned</b>")).notice.is_none());
        assert!(Said::from_query(None).notice.is_none());
        assert_eq!(
            SaidQuery::read(Some("said=created&x=1")).notice,
            Some("User created.")
        );
    }
}
