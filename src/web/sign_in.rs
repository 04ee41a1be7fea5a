//! The end of a sign-in, whichever form it took (a password alone, or a
//! password and a second factor): the sign-in form shown again, and the
//! session a complete sign-in starts.

use axum::{
    Json,
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, StatusCode, header};
use minijinja::context;
use serde_json::json;

use super::{PreLoginPost, no_store, templates::render};
use crate::{
    audit::{Action, Outcome},
    auth::{amr::Amr, device::DEVICE_LIFETIME},
    http::{cookies, credentials::SessionCookie, error::ApiError},
    state::AppState,
    store::UserRecord,
};

/// The sign-in form, with a pre-login CSRF token (and its cookies).
#[expect(clippy::too_many_arguments, reason = "the form's parts, each its own")]
pub(super) fn login_page(
    state: &AppState,
    session: Option<&SessionCookie>,
    headers: &HeaderMap,
    https: bool,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
    back: &ReturnTo,
) -> Result<Response, ApiError> {
    let providers: Vec<_> = state
        .sso
        .providers()
        .iter()
        .map(|provider| context! { name => provider.settings.name.as_str(), label => provider.settings.label() })
        .collect();
    let password_login = state.settings.auth.password_login;
    let page = PreLoginPage {
        template: "login.html",
        status,
        context: context! {
            title => "Sign in", error, username, providers, password_login,
            return_to => back.path(), back_query => back.query()
        },
    };
    page.render(state, session, headers, https)
}

/// Where a sign-in returns to, as a form's field or a query parameter
/// carries it (`return_to`); only a path [`return_path`] accepts is kept.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ReturnTo {
    #[serde(default)]
    return_to: Option<String>,
}

impl ReturnTo {
    pub(super) fn new(return_to: Option<String>) -> Self {
        Self { return_to }
    }

    /// The path, if one was given and may be followed.
    pub(super) fn path(&self) -> Option<&str> {
        self.return_to.as_deref().and_then(return_path)
    }

    /// `?return_to=...` for a link or a script's call on the way, or
    /// nothing.
    pub(super) fn query(&self) -> String {
        self.path().map_or_else(String::new, |path| {
            let encoded: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
            format!("?return_to={encoded}")
        })
    }

    /// The end of a form's sign-in: there, else home.
    pub(super) fn landing(&self, state: &AppState) -> Landing {
        self.path()
            .map_or_else(|| Landing::home(state), |path| Landing::Redirect(path.to_owned()))
    }

    /// The end of a script's sign-in: there, else home.
    pub(super) fn landing_by_script(&self, state: &AppState) -> Landing {
        Landing::Location(self.path().unwrap_or(state.home()).to_owned())
    }
}

/// A page shown before sign-in (a form of a sign-in's steps): its
/// template, status and context, to which the pre-login CSRF token is
/// added.
pub(super) struct PreLoginPage {
    pub template: &'static str,
    pub status: StatusCode,
    pub context: minijinja::Value,
}

impl PreLoginPage {
    pub(super) fn render(
        self,
        state: &AppState,
        session: Option<&SessionCookie>,
        headers: &HeaderMap,
        https: bool,
    ) -> Result<Response, ApiError> {
        let (token, cookies) = state.csrf.pre_login_token(session, headers, https);
        // Also shown at `/login/mfa`: links and forms go from the root.
        let root = format!("{}/", state.settings.own_prefix());
        let context = context! { csrf_token => token, root, ..self.context };
        let page = render(self.template, context)?;
        let mut response = (self.status, page).into_response();
        for cookie in cookies {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        Ok(no_store(response))
    }
}

/// How a complete sign-in sends the browser on, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Landing {
    /// A form's post (or a provider's callback): 303 there.
    Redirect(String),
    /// A script's call (the passkey sign-ins): 200 `{"location"}`, for
    /// the script to navigate to.
    Location(String),
}

impl Landing {
    /// To the home page (the app page; with a gateway, `/`).
    pub(super) fn home(state: &AppState) -> Self {
        Self::Redirect(state.home().to_owned())
    }
}

/// A return path as a sign-in may follow it (SPEC section 6): a path on
/// this server, starting with one `/` (not `//` or `/\`, which browsers
/// read as another host), with no control character; else `None`.
pub fn return_path(wanted: &str) -> Option<&str> {
    let bytes = wanted.as_bytes();
    let same_origin = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !wanted.chars().any(|c| c.is_control() || c == '\\')
        && wanted.len() <= 2048;
    same_origin.then_some(wanted)
}

/// A sign-in complete: a new session (the old one ended: no session
/// fixation), its cookie, then the app page. `None` when the user changed
/// (a password, a disable) since their credentials were checked.
pub(super) async fn signed_in(
    state: &AppState,
    post: &PreLoginPost,
    user: &UserRecord,
    amr: Amr,
    landing: Landing,
) -> Result<Option<Response>, ApiError> {
    let https = post.client.https;
    if let Some(SessionCookie(previous)) = &post.session {
        state.sessions.end(previous).await?;
    }
    let started = state
        .sessions
        .start(user.id, user.token_version, amr, post.client.ip)
        .await?;
    let Some(id) = started else {
        return Ok(None);
    };
    state.audit.record(
        Action::Login,
        Outcome::Success,
        Some(&user.username),
        None,
        &post.provenance,
    );
    let names = cookies::names(https);
    let mut response = match landing {
        Landing::Redirect(to) => Redirect::to(&to).into_response(),
        Landing::Location(to) => Json(json!({ "location": to })).into_response(),
    };
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookies::set(names.session, id.expose(), https),
    );
    // The pre-login token and its nonce are spent; /app issues a token
    // bound to the session.
    headers.append(header::SET_COOKIE, cookies::clear(names.csrf, https));
    headers.append(header::SET_COOKIE, cookies::clear(names.presession, https));
    headers.append(header::SET_COOKIE, cookies::clear(names.mfa, https));
    // This browser is now known for this user: its login attempts keep a
    // budget of their own (kept at logout).
    headers.append(
        header::SET_COOKIE,
        cookies::set_lasting(
            names.device,
            &state.accounts.device_cookie(&user.username),
            https,
            DEVICE_LIFETIME,
        ),
    );
    Ok(Some(no_store(response)))
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn return_paths_stay_on_this_server() {
        for good in ["/", "/app", "/items/?q=a&b=c", "/a/b#frag"] {
            assert_eq!(return_path(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "app",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "/a\nb",
            "/a\\b",
            "\\\\evil",
        ] {
            assert_eq!(return_path(bad), None, "{bad:?}");
        }
    }
}
