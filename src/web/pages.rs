//! The page handlers: `/login`, `/logout`, `/app`, `/app/items`,
//! `/csrftoken/` and the stylesheet.

use axum::{
    Extension, Json,
    body::Bytes,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use minijinja::context;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::templates::render;
use crate::{
    audit::{Action, Origin, Outcome},
    auth::throttle::Budgets,
    auth::{
        csrf::{Binding, new_presession},
        device::DEVICE_LIFETIME,
        names::Username,
        service::AuthError,
        session::SessionId,
    },
    http::{client::ClientInfo, cookies, csrf, error::ApiError, identity::CurrentUser},
    items::fields::ItemForm,
    state::AppState,
};

const STYLESHEET: &str = include_str!("../../static/app.css");
/// Items shown on `/app`, newest first.
const APP_PAGE_ITEMS: i64 = 100;

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

#[derive(Serialize, ToSchema)]
pub struct CsrfTokenBody {
    csrf_token: String,
}

/// The session the request's cookie names, live or not: CSRF tokens are
/// bound to it.
fn session_cookie(headers: &HeaderMap, https: bool) -> Option<SessionId> {
    cookies::get(headers, cookies::names(https).session).map(SessionId::from_cookie)
}

/// Pages hold CSRF tokens and personal data: never cached.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The CSRF token for `binding` and the cookie that carries it: the one
/// the browser holds while it is still valid for this binding, so forms in
/// other tabs keep working; a fresh one otherwise.
fn csrf_pair(state: &AppState, headers: &HeaderMap, binding: Binding, https: bool) -> (String, HeaderValue) {
    let name = cookies::names(https).csrf;
    let token = match cookies::get(headers, name) {
        Some(held) if state.csrf.key.verify(held, binding) => held.to_owned(),
        _ => state.csrf.key.issue(binding),
    };
    let cookie = cookies::set(name, &token, https);
    (token, cookie)
}

/// What the CSRF token of a page without a live session is bound to: the
/// session the cookie names, if any, else the browser's pre-session nonce;
/// with the cookie of a new nonce when the browser has none.
fn pre_login_binding(headers: &HeaderMap, https: bool) -> (Binding, Option<HeaderValue>) {
    if let Some(session) = session_cookie(headers, https) {
        return (Binding::session(&session), None);
    }
    let name = cookies::names(https).presession;
    match cookies::get(headers, name) {
        Some(nonce) => (Binding::presession(nonce), None),
        None => {
            let nonce = new_presession();
            (
                Binding::presession(&nonce),
                Some(cookies::set(name, &nonce, https)),
            )
        }
    }
}

/// The CSRF token of a page without a live session, and its cookies.
fn pre_login_pair(state: &AppState, headers: &HeaderMap, https: bool) -> (String, Vec<HeaderValue>) {
    let (binding, presession) = pre_login_binding(headers, https);
    let (token, cookie) = csrf_pair(state, headers, binding, https);
    (token, presession.into_iter().chain([cookie]).collect())
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    https: bool,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
) -> Result<Response, ApiError> {
    let (token, cookies) = pre_login_pair(state, headers, https);
    let page = render(
        "login.html",
        context! { title => "Sign in", csrf_token => token, error, username },
    )?;
    let mut response = (status, page).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(no_store(response))
}

/// The sign-in page.
#[utoipa::path(get, path = "/login", tag = "pages",
    responses((status = 200, description = "HTML form; sets the CSRF cookie", content_type = "text/html")))]
pub async fn login_form(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    login_page(&state, &headers, client.https, StatusCode::OK, None, "")
}

/// Sign in from the form: a new session, then the app page.
#[utoipa::path(post, path = "/login", tag = "pages",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to /app, with the session cookie"),
        (status = 401, description = "Bad credentials: the form again", content_type = "text/html"),
        (status = 403, description = "CSRF token missing or invalid, or a cross-site request", body = crate::http::error::ErrorBody),
        (status = 429, description = "Too many attempts", body = crate::http::error::ErrorBody)
    ))]
pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    origin: Origin,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let https = client.https;
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let previous = session_cookie(&headers, https);
    // No session yet, so the envelope has checked nothing: the form's token
    // is checked here, against the pre-login binding (login CSRF).
    let (binding, _) = pre_login_binding(&headers, https);
    if let Err(failure) = state
        .csrf
        .verify(&uri, &headers, form.csrf_token.as_deref(), binding, https)
    {
        state.audit.record(
            Action::CsrfRejected,
            Outcome::Denied,
            None,
            Some("/login"),
            &origin,
        );
        return Ok(csrf::refused(failure));
    }
    let attempt = match Username::parse(&form.username) {
        Ok(name) => Some(
            state
                .login_attempt(&name, &client, &headers, &origin, Budgets::Name)
                .await?,
        ),
        Err(_) => None,
    };
    let user = match state
        .accounts
        .check_password(&form.username, SecretString::from(form.password))
        .await
    {
        Ok(user) => {
            if let Some(attempt) = attempt {
                attempt.succeeded(&state.limits).await;
            }
            user
        }
        Err(AuthError::InvalidCredentials) => {
            state.audit.record(
                Action::Login,
                Outcome::Failure,
                Some(Username::loggable(&form.username)),
                None,
                &origin,
            );
            return login_page(
                &state,
                &headers,
                https,
                StatusCode::UNAUTHORIZED,
                Some("Incorrect username or password"),
                &form.username,
            );
        }
        Err(AuthError::Hash(err)) => return Err(err.into()),
        Err(AuthError::Store(err)) => return Err(err.into()),
        Err(err) => return Err(ApiError::internal(err)),
    };
    // A new id at every login, the old session ended: no session fixation.
    if let Some(previous) = previous {
        state.sessions.end(&previous).await?;
    }
    let started = state.sessions.start(user.id, user.token_version).await?;
    let Some(id) = started else {
        // The password changed (or the user was disabled) while this
        // login was being checked: the password it checked is stale.
        return login_page(
            &state,
            &headers,
            https,
            StatusCode::UNAUTHORIZED,
            Some("Incorrect username or password"),
            &form.username,
        );
    };
    state.audit.record(
        Action::Login,
        Outcome::Success,
        Some(&user.username),
        None,
        &origin,
    );
    let names = cookies::names(https);
    let mut response = Redirect::to("/app").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookies::set(names.session, id.expose(), https),
    );
    // The pre-login token and its nonce are spent; /app issues a token
    // bound to the session.
    headers.append(header::SET_COOKIE, cookies::clear(names.csrf, https));
    headers.append(header::SET_COOKIE, cookies::clear(names.presession, https));
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
    Ok(no_store(response))
}

/// Sign out: the session ends (CSRF-checked like every cookie-authenticated
/// unsafe request).
#[utoipa::path(post, path = "/logout", tag = "pages",
    responses((status = 303, description = "To /login, the session cookie cleared")))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    user: Option<CurrentUser>,
) -> Result<Response, ApiError> {
    if let Some(CurrentUser::Session(session)) = user {
        state.sessions.end(&session.id).await?;
    }
    let names = cookies::names(client.https);
    let mut response = Redirect::to("/login").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookies::clear(names.session, client.https));
    headers.append(header::SET_COOKIE, cookies::clear(names.csrf, client.https));
    Ok(no_store(response))
}

/// The app page for `session`, with `form` and its `errors` shown.
async fn app_page(
    state: &AppState,
    user: &CurrentUser,
    (token, cookie): (String, HeaderValue),
    status: StatusCode,
    form: &ItemForm,
    errors: &[(&str, &str)],
) -> Result<Response, ApiError> {
    let (items, total) = state.items.list(user, None, APP_PAGE_ITEMS, 0).await?;
    let items: Vec<_> = items
        .iter()
        .map(|item| {
            context! {
                name => &item.name,
                price => item.price,
                tax => item.tax,
                description => &item.description,
            }
        })
        .collect();
    let errors: Vec<_> = errors
        .iter()
        .map(|&(field, message)| context! { field, message })
        .collect();
    let page = render(
        "app.html",
        context! {
            title => "Items",
            username => user.username(),
            csrf_token => token,
            items,
            total,
            form => context! {
                name => &form.name,
                description => &form.description,
                price => &form.price,
                tax => &form.tax,
            },
            errors,
        },
    )?;
    Ok(no_store(
        (status, [(header::SET_COOKIE, cookie)], page).into_response(),
    ))
}

/// The signed-in user and their session's binding, or the way to `/login`.
#[allow(clippy::result_large_err)]
fn signed_in(user: Option<CurrentUser>) -> Result<(CurrentUser, Binding), Response> {
    match user {
        Some(CurrentUser::Session(session)) => {
            let binding = Binding::session(&session.id);
            Ok((CurrentUser::Session(session), binding))
        }
        _ => Err(no_store(Redirect::to("/login").into_response())),
    }
}

/// The caller's items, with a form to add one. Without a session: to /login.
#[utoipa::path(get, path = "/app", tag = "pages",
    responses(
        (status = 200, description = "HTML page; sets the CSRF cookie", content_type = "text/html"),
        (status = 303, description = "No session: to /login")
    ))]
pub async fn app(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    user: Option<CurrentUser>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (user, binding) = match signed_in(user) {
        Ok(signed_in) => signed_in,
        Err(redirect) => return Ok(redirect),
    };
    app_page(
        &state,
        &user,
        csrf_pair(&state, &headers, binding, client.https),
        StatusCode::OK,
        &ItemForm::default(),
        &[],
    )
    .await
}

/// Add an item from the app page's form, then back to the page.
#[utoipa::path(post, path = "/app/items", tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "name, description, price, tax, csrf_token"),
    responses(
        (status = 303, description = "Added: back to /app"),
        (status = 403, description = "CSRF token missing or invalid", body = crate::http::error::ErrorBody),
        (status = 422, description = "The page again, with what to correct", content_type = "text/html")
    ))]
pub async fn add_item(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (user, binding) = match signed_in(user) {
        Ok(signed_in) => signed_in,
        Err(redirect) => return Ok(redirect),
    };
    let form: ItemForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match form.parse() {
        Ok(fields) => {
            state
                .items
                .create(&user, &fields)
                .await?
                .ok_or(ApiError::NotFound("User not found"))?;
            Ok(no_store(Redirect::to("/app").into_response()))
        }
        Err(errors) => {
            app_page(
                &state,
                &user,
                csrf_pair(&state, &headers, binding, client.https),
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
            )
            .await
        }
    }
}

/// A CSRF token for the caller's session (or for signing in), and its
/// cookie: send it back as `X-CSRF-Token` with unsafe requests that the
/// session cookie authenticates.
#[utoipa::path(get, path = "/csrftoken/", tag = "pages",
    responses((status = 200, body = CsrfTokenBody, description = "Sets the CSRF cookie")))]
pub async fn csrf_token(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    headers: HeaderMap,
) -> Response {
    let (csrf_token, cookies) = pre_login_pair(&state, &headers, client.https);
    let mut response = Json(CsrfTokenBody { csrf_token }).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    no_store(response)
}

/// The pages' stylesheet (no inline style anywhere, per the HTML CSP).
pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        STYLESHEET,
    )
        .into_response()
}
