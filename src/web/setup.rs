//! The first-run setup page (SPEC section 3, "First run"): `GET /setup`
//! with the one-time token the server named at start shows a form, and
//! `POST /setup` creates the first admin under the password policy, then
//! sends the browser to `/login`. Without a valid token, or once an admin
//! exists, both are 404. The form is CSRF-checked like the login form
//! (bound to the pre-session nonce).

use axum::{
    body::Bytes,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, StatusCode, Uri};
use minijinja::context;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{PreLoginPost, no_store, templates::render};
use crate::{
    audit::{Action, Outcome},
    auth::users::NewUserError,
    http::{client::ClientInfo, credentials::SessionCookie, error::ApiError},
    names::Username,
    state::AppState,
};

const NOT_FOUND: &str = "Not Found";

/// The link's query.
#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SetupQuery {
    /// The one-time token from the server's start.
    token: String,
}

/// The setup form as the browser posts it.
#[derive(Default, Deserialize, ToSchema)]
pub struct SetupForm {
    #[serde(default)]
    username: String,
    #[schema(format = Password)]
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    csrf_token: Option<String>,
}

/// Whether the setup is open to `token`: it is right and unspent, and no
/// admin exists yet.
async fn open(state: &AppState, token: &str) -> Result<bool, ApiError> {
    let Some(first_run) = &state.first_run else {
        return Ok(false);
    };
    Ok(first_run.accepts(token) && !state.store.has_admin().await?)
}

struct Page<'a> {
    status: StatusCode,
    error: Option<&'a str>,
    username: &'a str,
    token: &'a str,
}

fn page(
    state: &AppState,
    session: Option<&SessionCookie>,
    headers: &HeaderMap,
    https: bool,
    page: Page<'_>,
) -> Result<Response, ApiError> {
    let (csrf_token, cookies) = state.csrf.pre_login_token(session, headers, https);
    let html = render(
        "setup.html",
        context! {
            title => "Create the first admin",
            csrf_token,
            error => page.error,
            username => page.username,
            token => page.token,
        },
    )?;
    let mut response = (page.status, html).into_response();
    for cookie in cookies {
        response.headers_mut().append(http::header::SET_COOKIE, cookie);
    }
    Ok(no_store(response))
}

/// The setup form, for the link the server named at start.
#[utoipa::path(get, path = "/setup", tag = "pages", params(SetupQuery),
    responses(
        (status = 200, description = "HTML form; sets the CSRF cookie", content_type = "text/html"),
        (status = 404, description = "No such link, or an admin exists", body = crate::http::error::ErrorBody)
    ))]
pub async fn setup_form(
    State(state): State<AppState>,
    client: ClientInfo,
    session: Option<SessionCookie>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let query: SetupQuery = serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    if !open(&state, &query.token).await? {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let form = Page {
        status: StatusCode::OK,
        error: None,
        username: "",
        token: &query.token,
    };
    page(&state, session.as_ref(), &headers, client.https, form)
}

/// Create the first admin; then to `/login`.
#[utoipa::path(post, path = "/setup", tag = "pages",
    request_body(content = SetupForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Created: to /login"),
        (status = 403, description = "CSRF token missing or invalid", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such link, or an admin exists", body = crate::http::error::ErrorBody),
        (status = 409, description = "The name is taken: the form again", content_type = "text/html"),
        (status = 422, description = "A name or password the policy refuses: the form again", content_type = "text/html")
    ))]
pub async fn setup(
    State(state): State<AppState>,
    post: PreLoginPost,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form: SetupForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(first_run) = state.first_run.as_ref().filter(|_| !form.token.is_empty()) else {
        return Err(ApiError::NotFound(NOT_FOUND));
    };
    if !open(&state, &form.token).await? {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    if let Some(refusal) = post.refusal(&state, form.csrf_token.as_deref(), "/setup") {
        return Ok(refusal);
    }
    let https = post.client.https;
    // One setup at a time in this process; the token and the absence of an
    // admin are checked again under the lock. Other instances on the
    // database have links of their own: the store creates the admin only
    // if none exists, in the transaction that inserts it.
    let Some(setup) = first_run.begin(&form.token).await else {
        return Err(ApiError::NotFound(NOT_FOUND));
    };
    if state.store.has_admin().await? {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let again = |status, error: &str| {
        let form = Page {
            status,
            error: Some(error),
            username: &form.username,
            token: &form.token,
        };
        page(&state, post.session.as_ref(), &post.headers, https, form)
    };
    let Ok(username) = Username::parse(&form.username) else {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "A username is 3 to 32 letters, digits, '_', '.' or '-'",
        );
    };
    let created = state
        .users
        .create_first_admin(&username, SecretString::from(form.password.clone()))
        .await;
    match created {
        // Another instance's link created the first admin meanwhile.
        Ok(None) => {
            setup.spend();
            Err(ApiError::NotFound(NOT_FOUND))
        }
        Ok(Some(user)) => {
            setup.spend();
            state.audit.record(
                Action::UserCreated,
                Outcome::Success,
                Some(&user.username),
                Some(&user.username),
                &post.provenance,
            );
            tracing::info!(username = %user.username, "first admin created");
            Ok(no_store(
                Redirect::to(&format!("{}/login", state.settings.own_prefix())).into_response(),
            ))
        }
        Err(NewUserError::Taken) => again(StatusCode::CONFLICT, "That username is taken"),
        Err(NewUserError::Password(err)) => again(StatusCode::UNPROCESSABLE_ENTITY, &err.to_string()),
        Err(NewUserError::Hash(err)) => Err(err.into()),
        Err(err) => Err(ApiError::internal(err)),
    }
}
