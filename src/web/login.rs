//! The sign-in page (`GET /login`, `POST /login`) and signing out
//! (`POST /logout`).

use axum::{
    body::Bytes,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    PreLoginPost, no_store,
    sign_in::{Landing, login_page, signed_in},
};
use crate::{
    audit::Action,
    auth::{amr::Amr, login::Budgets},
    http::{
        client::ClientInfo,
        cookies,
        credentials::{CurrentUser, SessionCookie},
        error::ApiError,
    },
    state::{AppState, LoginRefused},
};

/// The login form as the browser posts it. Every field may be absent, so
/// that the CSRF token is checked before anything else is said about the
/// form (SPEC: a missing token is 403, whatever else is missing).
#[derive(Default, Deserialize, ToSchema)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[schema(format = Password)]
    #[serde(default)]
    password: String,
    csrf_token: Option<String>,
}

/// 401 and the form again, with the name kept.
fn bad_credentials(
    state: &AppState,
    session: Option<&SessionCookie>,
    headers: &HeaderMap,
    https: bool,
    username: &str,
) -> Result<Response, ApiError> {
    login_page(
        state,
        session,
        headers,
        https,
        StatusCode::UNAUTHORIZED,
        Some("Incorrect username or password"),
        username,
    )
}

/// The sign-in page.
#[utoipa::path(get, path = "/login", tag = "pages",
    responses((status = 200, description = "HTML form; sets the CSRF cookie", content_type = "text/html")))]
pub async fn login_form(
    State(state): State<AppState>,
    client: ClientInfo,
    session: Option<SessionCookie>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    login_page(
        &state,
        session.as_ref(),
        &headers,
        client.https,
        StatusCode::OK,
        None,
        "",
    )
}

/// Sign in from the form: a new session, then the app page.
#[utoipa::path(post, path = "/login", tag = "pages",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to /app (with a gateway, to /), with the session cookie"),
        (status = 401, description = "Bad credentials: the form again", content_type = "text/html"),
        (status = 403, description = "CSRF token missing or invalid, or a cross-site request", body = crate::http::error::ErrorBody),
        (status = 429, description = "Too many attempts", body = crate::http::error::ErrorBody)
    ))]
pub async fn login(
    State(state): State<AppState>,
    post: PreLoginPost,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !state.settings.auth.password_login {
        return Err(ApiError::Forbidden(crate::auth::login::PASSWORD_LOGIN_OFF));
    }
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refusal) = post.refusal(&state, form.csrf_token.as_deref(), "/login") {
        return Ok(refusal);
    }
    let https = post.client.https;
    let refused = || {
        bad_credentials(
            &state,
            post.session.as_ref(),
            &post.headers,
            https,
            &form.username,
        )
    };
    let checked = state
        .check_password(
            Action::Login,
            &form.username,
            SecretString::from(form.password),
            post.requester(),
            Budgets::Name,
        )
        .await;
    let user = match checked {
        Ok(user) => user,
        Err(LoginRefused::BadCredentials) => return refused(),
        Err(LoginRefused::Error(err)) => return Err(err),
    };
    let factors = state.factors.counts(user.id).await?;
    if factors.any() {
        return super::login_mfa::begin(&state, &post, &user, factors.passkeys > 0).await;
    }
    match signed_in(&state, &post, &user, Amr::PASSWORD, Landing::home(&state)).await? {
        Some(response) => Ok(response),
        // The password changed (or the user was disabled) while this
        // login was being checked: the password it checked is stale.
        None => refused(),
    }
}

/// Sign out: the session ends (CSRF-checked like every cookie-authenticated
/// unsafe request).
#[utoipa::path(post, path = "/logout", tag = "pages",
    responses((status = 303, description = "To /login, the session cookie cleared")))]
pub async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    user: Option<CurrentUser>,
) -> Result<Response, ApiError> {
    if let Some(CurrentUser::Session(session)) = user {
        state.sessions.end(&session.id).await?;
    }
    let names = cookies::names(client.https);
    let mut response = Redirect::to(&format!("{}/login", state.settings.own_prefix())).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookies::clear(names.session, client.https));
    headers.append(header::SET_COOKIE, cookies::clear(names.csrf, client.https));
    Ok(no_store(response))
}
