//! Signing in through an OpenID provider (SPEC section 8): `GET
//! /login/oidc/{name}` sends the browser to the provider with a sealed
//! `rampart_oidc` cookie; `GET /login/oidc/{name}/callback` checks what
//! came back (`auth::oidc`), links or creates the account, sets its roles
//! anew, and starts a session exactly as `POST /login` does.

use std::time::Duration;

use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use minijinja::context;
use serde::Deserialize;
use url::Url;
use utoipa::IntoParams;

use super::{
    PreLoginPost, no_store,
    sign_in::{Landing, return_path, signed_in},
    templates::render,
};
use crate::{
    audit::{Action, Outcome},
    auth::oidc::{Callback, SsoError, flow::FLOW_LIFETIME_MS, identity::Refusal},
    http::{cookies, error::ApiError, extract::Path},
    names::{Role, Username},
    observability::metrics::SSO_LOGINS,
    state::AppState,
    store::UserRecord,
};

/// Where the sign-in goes after the provider.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ReturnTo {
    /// A path on this server (SPEC section 6); anything else is ignored.
    return_to: Option<String>,
}

/// The callback's address for provider `name`, at the origin the browser
/// used.
fn redirect_uri(state: &AppState, post: &PreLoginPost, name: &str) -> Result<Url, ApiError> {
    let origin = post
        .served_origin()
        .ok_or(ApiError::BadRequest("The request names no host"))?;
    origin
        .join(&format!(
            "{}/login/oidc/{name}/callback",
            state.settings.own_prefix()
        ))
        .map_err(ApiError::internal)
}

/// The page that says a sign-in failed, with its status. The sign-in's
/// cookie is cleared, unless the failure was a callback that did not
/// match it (then it may be a forgery's, and the person's own sign-in goes
/// on).
fn failed(
    state: &AppState,
    status: StatusCode,
    reason: &str,
    https: bool,
    clear: bool,
) -> Result<Response, ApiError> {
    let root = format!("{}/", state.settings.own_prefix());
    let page = render(
        "sso_failed.html",
        context! { title => "Sign-in failed", reason, root },
    )?;
    let mut response = (status, page).into_response();
    if clear {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookies::clear(cookies::names(https).oidc, https),
        );
    }
    Ok(no_store(response))
}

/// Sign in with provider `name`: to its authorization endpoint.
#[utoipa::path(get, path = "/login/oidc/{name}", tag = "pages",
    params(("name" = String, Path, description = "The provider's name"), ReturnTo),
    responses(
        (status = 302, description = "To the provider, with the sealed `rampart_oidc` cookie"),
        (status = 404, description = "No such provider", body = crate::http::error::ErrorBody),
        (status = 503, description = "The provider's discovery document is not available", body = crate::http::error::ErrorBody)
    ))]
pub async fn sso_begin(
    State(state): State<AppState>,
    post: PreLoginPost,
    Path(name): Path<String>,
    Query(query): Query<ReturnTo>,
) -> Result<Response, ApiError> {
    let return_to = query
        .return_to
        .as_deref()
        .and_then(return_path)
        .unwrap_or(state.home())
        .to_owned();
    let callback = redirect_uri(&state, &post, &name)?;
    let (url, cookie) = match state.sso.begin(&name, &callback, &return_to) {
        Ok(begun) => begun,
        Err(SsoError::UnknownProvider) => return Err(ApiError::NotFound("No such provider")),
        Err(SsoError::Unavailable) => return Err(ApiError::Unavailable("The provider is not available")),
        Err(err) => return Err(ApiError::internal(err)),
    };
    let https = post.client.https;
    let lifetime = Duration::from_millis(u64::try_from(FLOW_LIFETIME_MS).unwrap_or_default());
    let mut response = (StatusCode::FOUND, [(header::LOCATION, url.as_str())]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set_lasting(cookies::names(https).oidc, &cookie, https, lifetime),
    );
    Ok(no_store(response))
}

/// The provider sends the browser back here: a session, then the return
/// path.
#[utoipa::path(get, path = "/login/oidc/{name}/callback", tag = "pages",
    params(("name" = String, Path, description = "The provider's name")),
    responses(
        (status = 303, description = "Signed in: to the return path, with the session cookie"),
        (status = 400, description = "The state does not match the sign-in's cookie", content_type = "text/html"),
        (status = 401, description = "The provider refused, the code exchange failed, or the ID token is not valid", content_type = "text/html"),
        (status = 403, description = "Not allowed (email domain, or a disabled account)", content_type = "text/html"),
        (status = 404, description = "No such provider", body = crate::http::error::ErrorBody)
    ))]
pub async fn sso_callback(
    State(state): State<AppState>,
    post: PreLoginPost,
    Path(name): Path<String>,
    Query(callback): Query<Callback>,
) -> Result<Response, ApiError> {
    let https = post.client.https;
    let outcome = |result: &'static str| {
        metrics::counter!(SSO_LOGINS, "provider" => name.clone(), "outcome" => result).increment(1);
    };
    let refused = |status: StatusCode, result: &'static str, reason: &str| {
        outcome(result);
        state.audit.record(
            Action::SsoLogin,
            Outcome::Failure,
            None,
            Some(&name),
            &post.provenance,
        );
        failed(&state, status, reason, https, status != StatusCode::BAD_REQUEST)
    };
    if state.sso.provider(&name).is_err() {
        return Err(ApiError::NotFound("No such provider"));
    }
    let redirect_uri = redirect_uri(&state, &post, &name)?;
    let cookie = cookies::get(&post.headers, cookies::names(https).oidc);
    let (identity, return_to) = match state.sso.finish(&name, &redirect_uri, cookie, &callback).await {
        Ok(finished) => finished,
        Err(err) => {
            tracing::info!(provider = name.as_str(), error = %err, "a sign-in through a provider failed");
            return match err {
                SsoError::State => refused(
                    StatusCode::BAD_REQUEST,
                    "state",
                    "The sign-in expired or did not start here: sign in again.",
                ),
                SsoError::Refused(Refusal::Domain) => {
                    refused(StatusCode::FORBIDDEN, "not_allowed", "Not allowed")
                }
                SsoError::Store(err) => Err(err.into()),
                SsoError::Unavailable | SsoError::UnknownProvider => refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The provider is not available.",
                ),
                SsoError::Provider(_) => refused(
                    StatusCode::UNAUTHORIZED,
                    "provider_error",
                    "The provider did not sign you in.",
                ),
                SsoError::Exchange(_) => refused(
                    StatusCode::UNAUTHORIZED,
                    "exchange",
                    "The provider's answer could not be used.",
                ),
                SsoError::IdToken(_) | SsoError::Refused(Refusal::NoSubject) => refused(
                    StatusCode::UNAUTHORIZED,
                    "id_token",
                    "The provider's answer could not be used.",
                ),
            };
        }
    };
    let account = state.sso.account(&name, &identity).await?;
    let Some(user) = with_roles(&state, account, &identity.roles).await? else {
        return refused(StatusCode::FORBIDDEN, "not_allowed", "Not allowed");
    };
    let username = user.username.clone();
    match signed_in(&state, &post, &user, identity.amr, Landing::Redirect(return_to)).await? {
        Some(mut response) => {
            outcome("success");
            state.audit.record(
                Action::SsoLogin,
                Outcome::Success,
                Some(&username),
                Some(&name),
                &post.provenance,
            );
            response.headers_mut().append(
                header::SET_COOKIE,
                cookies::clear(cookies::names(https).oidc, https),
            );
            Ok(response)
        }
        None => refused(
            StatusCode::UNAUTHORIZED,
            "changed",
            "The account changed during the sign-in: sign in again.",
        ),
    }
}

/// The account with its roles set to `roles` (when they differ: a change
/// ends the account's other credentials, as any change of roles does);
/// `None` when it is disabled.
async fn with_roles(
    state: &AppState,
    account: UserRecord,
    roles: &[Role],
) -> Result<Option<UserRecord>, ApiError> {
    if account.disabled {
        return Ok(None);
    }
    let mut current = account.roles.clone();
    current.sort();
    let wanted: Vec<String> = roles.iter().map(|role| role.as_str().to_owned()).collect();
    if current == wanted {
        return Ok(Some(account));
    }
    let name = Username::parse(&account.username).map_err(ApiError::internal)?;
    let change = state.users.set_roles(&name, roles).await?;
    if matches!(change, crate::store::UserChange::LastAdmin) {
        tracing::warn!(
            user = account.username.as_str(),
            "a provider took the admin role from the last enabled admin; the role stays"
        );
    }
    Ok(state.store.find_user(&name).await?.filter(|user| !user.disabled))
}
