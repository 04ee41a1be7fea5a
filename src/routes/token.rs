//! `POST /token` (OAuth2 password and refresh grants, RFC 6749 sections 4.3
//! and 6) and `POST /token/revoke` (RFC 7009).

use axum::{
    Extension,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    audit::{Action, Origin, Outcome},
    auth::login::Budgets,
    auth::service::{AuthError, TokenPair},
    http::{
        client::ClientInfo,
        error::{ApiError, ErrorBody},
        extract::{Form, Json},
    },
    names::Username,
    state::{AppState, LoginRefused},
};

/// The token request, form-encoded.
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password` (the default) or `refresh_token`.
    grant_type: Option<String>,
    username: Option<String>,
    #[schema(format = Password)]
    password: Option<String>,
    refresh_token: Option<String>,
    /// Accepted and ignored: access follows the user's roles.
    #[allow(dead_code)]
    scope: Option<String>,
}

/// RFC 6749 section 5.1.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    #[schema(example = "bearer")]
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeForm {
    token: String,
    /// Accepted as a hint and ignored (RFC 7009 section 2.1).
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

fn missing(field: &'static str) -> ApiError {
    ApiError::body_field("missing", field, "Field required")
}

/// Log in, or exchange a refresh token for a new pair.
#[utoipa::path(
    post,
    path = "/token",
    tag = "auth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Bad credentials or refresh token", body = ErrorBody),
        (status = 503, description = "Too many logins in progress; retry", body = ErrorBody)
    )
)]
pub async fn token(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    origin: Origin,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, ApiError> {
    let accounts = &state.accounts;
    let attempted = form
        .username
        .as_deref()
        .map(|name| Username::loggable(name).to_owned());
    let refreshing = form.grant_type.as_deref() == Some("refresh_token");
    let result = match form.grant_type.as_deref().unwrap_or("password") {
        "password" => {
            let username = form.username.ok_or_else(|| missing("username"))?;
            let password = form.password.ok_or_else(|| missing("password"))?;
            let checked = state
                .check_password(
                    &username,
                    SecretString::from(password),
                    &client,
                    &headers,
                    &origin,
                    Budgets::Name,
                )
                .await;
            match checked {
                Ok(user) => accounts.start_login(&user, Some(client.ip)).await,
                Err(LoginRefused::BadCredentials) => Err(AuthError::InvalidCredentials),
                Err(LoginRefused::Error(err)) => return Err(err),
            }
        }
        "refresh_token" => {
            let refresh_token = form.refresh_token.ok_or_else(|| missing("refresh_token"))?;
            accounts.refresh(&refresh_token).await
        }
        _ => {
            return Err(ApiError::body_field(
                "literal_error",
                "grant_type",
                "Input should be 'password' or 'refresh_token'",
            ));
        }
    };
    let audit =
        |action, outcome, actor: Option<&str>| state.audit.record(action, outcome, actor, None, &origin);
    let action = if refreshing {
        Action::Refresh
    } else {
        Action::Login
    };
    match result {
        Ok(pair) => {
            audit(action, Outcome::Success, Some(&pair.username));
            Ok(token_response(pair))
        }
        Err(AuthError::InvalidCredentials) if !refreshing => {
            audit(Action::Login, Outcome::Failure, attempted.as_deref());
            Err(ApiError::Unauthorized("Incorrect username or password"))
        }
        Err(AuthError::InvalidCredentials) => {
            audit(Action::Refresh, Outcome::Failure, None);
            Err(ApiError::Unauthorized("Invalid refresh token"))
        }
        Err(AuthError::RefreshReuse) => {
            audit(Action::RefreshReuse, Outcome::Denied, None);
            Err(ApiError::Unauthorized("Invalid refresh token"))
        }
        Err(AuthError::Hash(err)) => Err(err.into()),
        Err(AuthError::Store(err)) => Err(err.into()),
        Err(err) => Err(ApiError::internal(err)),
    }
}

fn token_response(pair: TokenPair) -> Response {
    let body = TokenResponse {
        access_token: pair.access_token,
        token_type: "bearer",
        expires_in: pair.expires_in,
        refresh_token: pair.refresh_token,
    };
    let mut response = Json(body).into_response();
    // RFC 6749 section 5.1: tokens must not be cached. `Cache-Control:
    // no-store` is the envelope's, on every `/token` answer; the HTTP/1.0
    // `Pragma` is this answer's alone.
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Revoke a refresh token (and its family) or an access token. Always 200.
#[utoipa::path(
    post,
    path = "/token/revoke",
    tag = "auth",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked, or nothing to revoke"))
)]
pub async fn revoke(
    State(state): State<AppState>,
    origin: Origin,
    Form(form): Form<RevokeForm>,
) -> Result<Response, ApiError> {
    state
        .accounts
        .revoke(&form.token)
        .await
        .map_err(ApiError::internal)?;
    state
        .audit
        .record(Action::Revoke, Outcome::Success, None, None, &origin);
    Ok((StatusCode::OK, Json(serde_json::json!({}))).into_response())
}
