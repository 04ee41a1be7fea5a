//! `POST /token` (OAuth2 password and refresh grants, RFC 6749 sections 4.3
//! and 6) and `POST /token/revoke` (RFC 7009).

mod mfa;
mod oauth2_error;

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use self::oauth2_error::{MfaRequiredBody, OAuthErrorBody, OAuthValidationErrorBody};
use crate::{
    audit::{Action, Outcome, Provenance},
    auth::{
        amr::Amr,
        login::Budgets,
        service::{AuthError, TokenPair},
    },
    http::{
        caller::Requester,
        client::ClientInfo,
        error::ApiError,
        extract::{Form, Json},
    },
    input::{Field, Fields, Model, Problem},
    names::Username,
    state::{AppState, LoginRefused},
};

/// The answer to a wrong name or password (as FastAPI's guides word it).
const BAD_CREDENTIALS: &str = "Incorrect username or password";

// The token request as the OpenAPI document describes it; read as
// [`TokenRequest`].
/// One of the grants, form-encoded.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TokenForm {
    Password(PasswordGrant),
    RefreshToken(RefreshGrant),
    SecondFactor(mfa::MfaGrant),
}

/// RFC 6749 section 4.3.2.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PasswordGrant {
    /// `password`, the default.
    #[schema(value_type = String, required = false, pattern = "^password$")]
    grant_type: &'static str,
    username: String,
    #[schema(format = Password)]
    password: String,
    /// Accepted and ignored: access follows the user's roles.
    #[schema(required = false)]
    scope: String,
}

/// RFC 6749 section 6.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RefreshGrant {
    #[schema(value_type = String, pattern = "^refresh_token$")]
    grant_type: &'static str,
    refresh_token: String,
    /// Accepted and ignored.
    #[schema(required = false)]
    scope: String,
}

/// The token request as read: one grant with what it needs. Fields the
/// grant does not use (`client_id`, `scope`, ...) are ignored, as OAuth2
/// clients send them.
pub enum TokenRequest {
    Password {
        username: String,
        password: SecretString,
    },
    RefreshToken(String),
    /// The second step of a sign-in that answered `mfa_required`.
    SecondFactor {
        mfa_token: String,
        otp: SecretString,
    },
}

impl Model for TokenRequest {
    const FORBID_EXTRA: bool = false;

    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let grant_type = fields.optional("grant_type", |raw| match String::read(raw)?.as_str() {
            "password" => Ok(Grant::Password),
            "refresh_token" => Ok(Grant::RefreshToken),
            mfa::GRANT_TYPE => Ok(Grant::SecondFactor),
            _ => Err(
                Problem::literal_error("'password', 'refresh_token' or 'urn:rampart:grant-type:mfa'").into(),
            ),
        })?;
        match grant_type.unwrap_or(Grant::Password) {
            Grant::Password => {
                let username = fields.required("username", String::read);
                let password = fields.required("password", String::read);
                Some(Self::Password {
                    username: username?,
                    password: SecretString::from(password?),
                })
            }
            Grant::RefreshToken => fields
                .required("refresh_token", String::read)
                .map(Self::RefreshToken),
            Grant::SecondFactor => {
                let mfa_token = fields.required("mfa_token", String::read);
                let otp = fields.required("otp", String::read);
                Some(Self::SecondFactor {
                    mfa_token: mfa_token?,
                    otp: SecretString::from(otp?),
                })
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Grant {
    Password,
    RefreshToken,
    SecondFactor,
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

#[derive(ToSchema)]
pub struct RevokeForm {
    token: String,
    /// Accepted as a hint and ignored (RFC 7009 section 2.1).
    #[allow(dead_code)]
    #[schema(value_type = String, required = false)]
    token_type_hint: Option<String>,
}

impl Model for RevokeForm {
    const FORBID_EXTRA: bool = false;

    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let token = fields.required("token", String::read);
        let token_type_hint = fields.optional("token_type_hint", String::read);
        Some(Self {
            token: token?,
            token_type_hint: token_type_hint?,
        })
    }
}

/// Log in, or exchange a refresh token for a new pair.
#[utoipa::path(
    post,
    path = "/token",
    tag = "auth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Bad credentials, refresh token or second factor (`invalid_grant`)", body = OAuthErrorBody),
        (status = 403, description = "Right password, and the user has a second factor: `mfa_required`, with the `mfa_token` of the second step", body = MfaRequiredBody),
        (status = 422, description = "A missing or malformed field (`invalid_request`), an unknown grant type (`unsupported_grant_type`)", body = OAuthValidationErrorBody),
        (status = 503, description = "Too many logins in progress; retry", body = crate::http::error::ErrorBody)
    )
)]
pub async fn token(
    State(state): State<AppState>,
    client: ClientInfo,
    provenance: Provenance,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, ApiError>,
) -> Response {
    let answer = match form {
        Ok(Form(TokenRequest::Password { .. })) if !state.settings.auth.password_login => {
            return oauth2_error::grant_switched_off(crate::auth::login::PASSWORD_LOGIN_OFF);
        }
        Ok(Form(request)) => grant(&state, &client, &provenance, &headers, request).await,
        Err(err) => Err(err),
    };
    answer.unwrap_or_else(oauth2_error::answer)
}

async fn grant(
    state: &AppState,
    client: &ClientInfo,
    provenance: &Provenance,
    headers: &HeaderMap,
    request: TokenRequest,
) -> Result<Response, ApiError> {
    let accounts = &state.accounts;
    let (refreshing, attempted) = match &request {
        TokenRequest::Password { username, .. } => (false, Some(Username::loggable(username).to_owned())),
        TokenRequest::RefreshToken(_) => (true, None),
        // Audited by its own step.
        TokenRequest::SecondFactor { .. } => (false, None),
    };
    let result = match request {
        TokenRequest::Password { username, password } => {
            let checked = state
                .check_password(
                    Action::Login,
                    &username,
                    password,
                    Requester {
                        client,
                        headers,
                        provenance,
                    },
                    Budgets::Name,
                )
                .await;
            match checked {
                Ok(user) if state.factors.counts(user.id).await?.any() => {
                    return mfa::required(state, &user).await;
                }
                Ok(user) => accounts.start_login(&user, Some(client.ip), Amr::PASSWORD).await,
                // Audited by the check.
                Err(LoginRefused::BadCredentials) => {
                    return Err(ApiError::Unauthorized(BAD_CREDENTIALS));
                }
                Err(LoginRefused::Error(err)) => return Err(err),
            }
        }
        TokenRequest::RefreshToken(refresh_token) => accounts.refresh(&refresh_token).await,
        TokenRequest::SecondFactor { mfa_token, otp } => {
            return mfa::second_factor(state, client, provenance, headers, &mfa_token, &otp).await;
        }
    };
    let audit =
        |action, outcome, actor: Option<&str>| state.audit.record(action, outcome, actor, None, provenance);
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
            Err(ApiError::Unauthorized(BAD_CREDENTIALS))
        }
        Err(AuthError::InvalidCredentials) => {
            audit(Action::Refresh, Outcome::Failure, None);
            Err(ApiError::Unauthorized("Invalid refresh token"))
        }
        Err(AuthError::RefreshReuse) => {
            audit(Action::RefreshReuse, Outcome::Denied, None);
            Err(ApiError::Unauthorized("Invalid refresh token"))
        }
        Err(err) => Err(failure(err)),
    }
}

/// A failure of the token service that is the server's, not the client's.
fn failure(err: AuthError) -> ApiError {
    match err {
        AuthError::Hash(err) => err.into(),
        AuthError::Store(err) => err.into(),
        err => ApiError::internal(err),
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
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 422, description = "No `token` (`invalid_request`)", body = OAuthValidationErrorBody)
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    provenance: Provenance,
    form: Result<Form<RevokeForm>, ApiError>,
) -> Response {
    let answer = match form {
        Ok(Form(form)) => revoke_token(&state, &provenance, &form).await,
        Err(err) => Err(err),
    };
    answer.unwrap_or_else(oauth2_error::answer)
}

async fn revoke_token(
    state: &AppState,
    provenance: &Provenance,
    form: &RevokeForm,
) -> Result<Response, ApiError> {
    state
        .accounts
        .revoke(&form.token)
        .await
        .map_err(ApiError::internal)?;
    state
        .audit
        .record(Action::Revoke, Outcome::Success, None, None, provenance);
    Ok((StatusCode::OK, Json(serde_json::json!({}))).into_response())
}
