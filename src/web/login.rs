//! The sign-in page (`GET /login`, `POST /login`) and signing out
//! (`POST /logout`).

use axum::{
    body::Bytes,
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, StatusCode, header};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    PreLoginPost, no_store,
    sign_in::{ReturnTo, login_page, signed_in},
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
    /// Where to go once signed in (a path on this server).
    #[serde(default)]
    return_to: Option<String>,
}

/// 401 and the form again, with the name and the way back kept.
fn bad_credentials(
    state: &AppState,
    session: Option<&SessionCookie>,
    headers: &HeaderMap,
    https: bool,
    username: &str,
    back: &ReturnTo,
) -> Result<Response, ApiError> {
    login_page(
        state,
        session,
        headers,
        https,
        StatusCode::UNAUTHORIZED,
        Some("Incorrect username or password"),
        username,
        back,
    )
}

/// The sign-in page; `return_to`: where a sign-in ends (a path on this
/// server; anything else is ignored).
#[utoipa::path(get, path = "/login", tag = "pages",
    params(("return_to" = Option<String>, Query, description = "A path on this server to go to once signed in")),
    responses((status = 200, description = "HTML form; sets the CSRF cookie", content_type = "text/html")))]
pub async fn login_form(
    State(state): State<AppState>,
    client: ClientInfo,
    session: Option<SessionCookie>,
    headers: HeaderMap,
    Query(back): Query<ReturnTo>,
) -> Result<Response, ApiError> {
    login_page(
        &state,
        session.as_ref(),
        &headers,
        client.https,
        StatusCode::OK,
        None,
        "",
        &back,
    )
}

/// Sign in from the form: a new session, then the app page.
#[utoipa::path(post, path = "/login", tag = "pages",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to the form's `return_to`, else /app (with a gateway, /), with the session cookie"),
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
    let back = ReturnTo::new(form.return_to.clone());
    let https = post.client.https;
    let refused = || {
        bad_credentials(
            &state,
            post.session.as_ref(),
            &post.headers,
            https,
            &form.username,
            &back,
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
        return super::login_mfa::begin(&state, &post, &user, factors.passkeys > 0, &back).await;
    }
    match signed_in(&state, &post, &user, Amr::PASSWORD, back.landing(&state)).await? {
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
