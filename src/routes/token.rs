//! `POST /token` (OAuth2 password and refresh grants, RFC 6749 sections 4.3
//! and 6) and `POST /token/revoke` (RFC 7009).

use std::net::IpAddr;

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
    auth::names::Username,
    auth::service::{AuthError, TokenPair},
    http::{
        client::ClientInfo,
        error::{ApiError, ErrorBody, detail_response},
        extract::{Form, Json},
        validation::{LocPart, Source, ValidationIssue},
    },
    ratelimit::{KnownClient, PolicyName, Subject},
    state::AppState,
    web::cookies,
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
    ApiError::validation(ValidationIssue::new(
        "missing",
        Source::Body,
        [LocPart::Key(field.into())],
        "Field required",
    ))
}

/// 401 with `WWW-Authenticate: Bearer` (RFC 6750 section 3).
fn unauthorized(detail: &str) -> Response {
    let mut response = detail_response(StatusCode::UNAUTHORIZED, detail);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
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
        .map(|name| loggable_name(name).to_owned());
    let refreshing = form.grant_type.as_deref() == Some("refresh_token");
    let result = match form.grant_type.as_deref().unwrap_or("password") {
        "password" => {
            let username = form.username.ok_or_else(|| missing("username"))?;
            let password = form.password.ok_or_else(|| missing("password"))?;
            // A name that cannot exist cannot be guessed at: only valid
            // names spend (and fill) the per-name budgets.
            let attempt = match Username::parse(&username) {
                Ok(name) => Some(
                    throttle_password_check(&state, &name, &client, &headers, &origin, Budgets::Name).await?,
                ),
                Err(_) => None,
            };
            let result = accounts
                .login(&username, SecretString::from(password), Some(client.ip))
                .await;
            if let (Some(attempt), Ok(_)) = (attempt, &result) {
                attempt.succeeded(&state).await;
            }
            result
        }
        "refresh_token" => {
            let refresh_token = form.refresh_token.ok_or_else(|| missing("refresh_token"))?;
            accounts.refresh(&refresh_token).await
        }
        _ => {
            return Err(ApiError::validation(ValidationIssue::new(
                "literal_error",
                Source::Body,
                [LocPart::Key("grant_type".into())],
                "Input should be 'password' or 'refresh_token'",
            )));
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
            Ok(unauthorized("Incorrect username or password"))
        }
        Err(AuthError::InvalidCredentials) => {
            audit(Action::Refresh, Outcome::Failure, None);
            Ok(unauthorized("Invalid refresh token"))
        }
        Err(AuthError::RefreshReuse) => {
            audit(Action::RefreshReuse, Outcome::Denied, None);
            Ok(unauthorized("Invalid refresh token"))
        }
        Err(AuthError::Hash(crate::auth::password::HashError::Busy)) => {
            let mut response = detail_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many login attempts in progress, retry shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(response)
        }
        Err(err) => Err(ApiError::internal(err)),
    }
}

/// How an attempted user name is logged and audited: as typed when it is a
/// valid name, else `"<invalid>"` (a password typed into the name field, or
/// a megabyte of junk, never reaches the logs; ASVS 5.0 16.2.5).
pub(crate) fn loggable_name(attempted: &str) -> &str {
    match Username::parse(attempted) {
        Ok(_) => attempted,
        Err(_) => "<invalid>",
    }
}

/// Which login budgets a password check spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Budgets {
    /// The name's (the client IP's `login` budget was spent by the
    /// middleware, the route being under that policy).
    Name,
    /// The client IP's `login` budget and the name's: a password check
    /// outside the login routes (the current password at a change).
    IpAndName,
}

/// Spends one attempt of the login budgets before any hashing, or answers
/// 429; the attempt gives them back if the password is right. The name's budget (`login_per_username`) stops guessing spread over
/// many addresses; a client where the user signed in successfully in the
/// last 30 days (by device cookie, else by address) spends a budget of its
/// own, so that guessing from elsewhere cannot lock the owner out (OWASP
/// Authentication cheat sheet, "Account lockout"; OWASP "Slow Down Online
/// Guessing Attacks with Device Cookies").
pub(crate) async fn throttle_password_check(
    state: &AppState,
    username: &Username,
    client: &ClientInfo,
    headers: &HeaderMap,
    origin: &Origin,
    budgets: Budgets,
) -> Result<LoginAttempt, ApiError> {
    if budgets == Budgets::IpAndName {
        spend(state, PolicyName::Login, Subject::ip(client.ip), None, origin).await?;
    }
    let device = cookies::get(headers, cookies::names(client.https).device);
    let known = state
        .accounts
        .known_client(username, Some(client.ip), device)
        .await
        .map_err(ApiError::internal)?;
    let attempt = LoginAttempt {
        username: username.clone(),
        known,
        ip: (budgets == Budgets::IpAndName).then_some(client.ip),
    };
    spend(
        state,
        PolicyName::LoginPerUsername,
        attempt.name_subject(),
        Some(username.as_str()),
        origin,
    )
    .await?;
    Ok(attempt)
}

/// The login budgets one password check spent. The budgets count
/// failures: a check that succeeds gives its share back.
#[must_use = "a successful check gives its budget back"]
pub(crate) struct LoginAttempt {
    username: Username,
    known: Option<KnownClient>,
    /// The client IP whose `login` budget was spent here, if it was.
    ip: Option<IpAddr>,
}

impl LoginAttempt {
    fn name_subject(&self) -> Subject<'_> {
        match self.known {
            Some(client) => Subject::Known(self.username.as_str(), client),
            None => Subject::name(self.username.as_str()),
        }
    }

    /// The password was right.
    pub(crate) async fn succeeded(self, state: &AppState) {
        state
            .limits
            .refund(PolicyName::LoginPerUsername, self.name_subject())
            .await;
        if let Some(ip) = self.ip {
            state.limits.refund(PolicyName::Login, Subject::ip(ip)).await;
        }
    }
}

/// Spends one request of `subject`'s budget under `policy`, or the 429,
/// audited as a refusal of `actor` (the name that was tried).
async fn spend(
    state: &AppState,
    policy: PolicyName,
    subject: Subject<'_>,
    actor: Option<&str>,
    origin: &Origin,
) -> Result<(), ApiError> {
    let refusal = match state.limits.check(policy, subject).await {
        Ok(_) => return Ok(()),
        Err(refusal) => refusal,
    };
    if refusal.audit {
        state.audit.record(
            Action::RateLimited,
            Outcome::Denied,
            actor,
            Some(policy.as_str()),
            origin,
        );
    }
    Err(ApiError::RateLimited(refusal))
}

fn token_response(pair: TokenPair) -> Response {
    let body = TokenResponse {
        access_token: pair.access_token,
        token_type: "bearer",
        expires_in: pair.expires_in,
        refresh_token: pair.refresh_token,
    };
    let mut response = Json(body).into_response();
    // RFC 6749 section 5.1: tokens must not be cached.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
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
