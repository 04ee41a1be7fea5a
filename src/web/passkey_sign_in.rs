//! Signing in with a passkey (SPEC section 7), from `/static/mfa.js`: as
//! the second step after a password (`/login/mfa/passkey*`, the browser's
//! pending sign-in) and alone (`/login/passkey*`, a discoverable credential
//! that verified its user). Each is two JSON calls, options then the
//! authenticator's answer; both carry the sign-in form's CSRF token in
//! `X-CSRF-Token`, and success is 200 `{"location"}` with the session
//! cookie set.

use axum::{
    body::Bytes,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use webauthn_rs::prelude::PublicKeyCredential;

use super::{
    PreLoginPost,
    login_mfa::{Waiting, binding, waiting},
    sign_in::{ReturnTo, signed_in},
};
use crate::{
    audit::{Action, Outcome},
    auth::{
        amr::{Amr, Method},
        mfa::passkeys::PasskeyError,
    },
    http::{
        cookies,
        csrf::CSRF_HEADER,
        detail::detail_response,
        error::{ApiError, ErrorBody},
    },
    input::{Field, Fields, Model, read_json},
    state::AppState,
};

/// The authenticator's answer to a sign-in's options.
#[derive(ToSchema)]
pub struct PasskeyAssertion {
    /// WebAuthn L3 `AuthenticationResponseJSON`: what the browser's
    /// `PublicKeyCredential.toJSON()` gives.
    #[schema(value_type = Object)]
    credential: Map<String, Value>,
}

impl Model for PasskeyAssertion {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let credential = fields.required("credential", Map::read)?;
        Some(Self { credential })
    }
}

/// The request's CSRF check (the header, against the pre-session): the
/// 403 to answer, if it fails.
fn refusal(state: &AppState, post: &PreLoginPost, route: &'static str) -> Option<Response> {
    let sent = post
        .headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok());
    post.refusal(state, sent, route)
}

fn invalid_passkey() -> Response {
    detail_response(StatusCode::UNAUTHORIZED, "Invalid passkey")
}

/// No pending sign-in of this browser's: it must sign in again.
fn expired(https: bool) -> Response {
    let mut response = detail_response(StatusCode::UNAUTHORIZED, "The sign-in expired: sign in again");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::names(https).mfa, https),
    );
    response
}

fn options_answer(options: Result<Value, PasskeyError>) -> Result<Response, ApiError> {
    match options {
        Ok(options) => Ok(axum::Json(options).into_response()),
        Err(err @ (PasskeyError::Store(_) | PasskeyError::Check(_) | PasskeyError::NoRelyingParty)) => {
            Err(err.into())
        }
        Err(_) => Ok(invalid_passkey()),
    }
}

/// The credential of a JSON body, once its CSRF check passed.
fn assertion(body: &Bytes) -> Result<Option<PublicKeyCredential>, ApiError> {
    let read: PasskeyAssertion = read_json(body).map_err(ApiError::Validation)?;
    Ok(serde_json::from_value(Value::Object(read.credential)).ok())
}

/// Options for the second step by passkey.
#[utoipa::path(post, path = "/login/mfa/passkey/options", tag = "pages",
    params(("X-CSRF-Token" = String, Header, description = "The sign-in form's CSRF token")),
    responses(
        (status = 200, description = "WebAuthn L3 `PublicKeyCredentialRequestOptionsJSON`", body = Object),
        (status = 401, description = "No pending sign-in, or no passkey to ask for", body = ErrorBody),
        (status = 403, description = "CSRF token missing or invalid", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)
    ))]
pub async fn second_step_options(
    State(state): State<AppState>,
    post: PreLoginPost,
) -> Result<Response, ApiError> {
    if let Some(refusal) = refusal(&state, &post, "/login/mfa/passkey/options") {
        return Ok(refusal);
    }
    let Some(Waiting { token, user }) = waiting(&state, &post).await? else {
        return Ok(expired(post.client.https));
    };
    let Some(origin) = post.served_origin() else {
        return options_answer(Err(PasskeyError::NoRelyingParty));
    };
    options_answer(state.factors.begin_second_step(&origin, user.id, &token).await)
}

/// The second step by passkey: a session.
#[utoipa::path(post, path = "/login/mfa/passkey", tag = "pages",
    params(
        ("X-CSRF-Token" = String, Header, description = "The sign-in form's CSRF token"),
        ("return_to" = Option<String>, Query, description = "A path on this server to go to once signed in")
    ),
    request_body = PasskeyAssertion,
    responses(
        (status = 200, description = "Signed in: `{\"location\"}`, with the session cookie"),
        (status = 401, description = "Invalid passkey, or no pending sign-in", body = ErrorBody),
        (status = 403, description = "CSRF token missing or invalid", body = ErrorBody),
        (status = 422, description = "Invalid input", body = crate::input::ValidationErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)
    ))]
pub async fn second_step(
    State(state): State<AppState>,
    post: PreLoginPost,
    Query(back): Query<ReturnTo>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(refusal) = refusal(&state, &post, "/login/mfa/passkey") {
        return Ok(refusal);
    }
    let https = post.client.https;
    let credential = assertion(&body)?;
    let Some(Waiting { token, user }) = waiting(&state, &post).await? else {
        return Ok(expired(https));
    };
    let asserted = match (credential, post.served_origin()) {
        (Some(credential), Some(origin)) => {
            state
                .factors
                .finish_second_step(&origin, user.id, &token, &credential)
                .await
        }
        _ => Err(PasskeyError::Invalid),
    };
    match asserted {
        Ok(_) => {}
        Err(err @ (PasskeyError::Store(_) | PasskeyError::Check(_))) => return Err(err.into()),
        Err(_) => {
            state.audit.record(
                Action::MfaFailed,
                Outcome::Failure,
                Some(&user.username),
                Some("passkey"),
                &post.provenance,
            );
            if !state.factors.failed(&token).await? {
                return Ok(expired(https));
            }
            return Ok(invalid_passkey());
        }
    }
    if !state.factors.complete(&token).await? {
        return Ok(expired(https));
    }
    state.audit.record(
        Action::MfaPassed,
        Outcome::Success,
        Some(&user.username),
        Some("passkey"),
        &post.provenance,
    );
    // Two factors shown: `mfa` whatever the authenticator verified.
    let amr = Amr::of(&[Method::Pwd, Method::Hwk, Method::Mfa]);
    match signed_in(&state, &post, &user, amr, back.landing_by_script(&state)).await? {
        Some(response) => Ok(response),
        None => Ok(expired(https)),
    }
}

/// Options for a passwordless sign-in: the authenticator picks the
/// account.
#[utoipa::path(post, path = "/login/passkey/options", tag = "pages",
    params(("X-CSRF-Token" = String, Header, description = "The sign-in form's CSRF token")),
    request_body(content = Object, description = "`{}`"),
    responses(
        (status = 200, description = "WebAuthn L3 `PublicKeyCredentialRequestOptionsJSON`", body = Object),
        (status = 403, description = "CSRF token missing or invalid", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)
    ))]
pub async fn passwordless_options(
    State(state): State<AppState>,
    post: PreLoginPost,
) -> Result<Response, ApiError> {
    if let Some(refusal) = refusal(&state, &post, "/login/passkey/options") {
        return Ok(refusal);
    }
    // The CSRF check passed: the pre-session is there.
    let binding = binding(&post.headers, post.client.https)
        .ok_or(ApiError::Forbidden("CSRF token missing or invalid"))?;
    let Some(origin) = post.served_origin() else {
        return options_answer(Err(PasskeyError::NoRelyingParty));
    };
    options_answer(state.factors.begin_passwordless(&origin, &binding).await)
}

/// A passwordless sign-in: a discoverable passkey that verified its user
/// starts a session alone.
#[utoipa::path(post, path = "/login/passkey", tag = "pages",
    params(
        ("X-CSRF-Token" = String, Header, description = "The sign-in form's CSRF token"),
        ("return_to" = Option<String>, Query, description = "A path on this server to go to once signed in")
    ),
    request_body = PasskeyAssertion,
    responses(
        (status = 200, description = "Signed in: `{\"location\"}`, with the session cookie"),
        (status = 401, description = "Invalid passkey", body = ErrorBody),
        (status = 403, description = "CSRF token missing or invalid", body = ErrorBody),
        (status = 422, description = "Invalid input", body = crate::input::ValidationErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)
    ))]
pub async fn passwordless(
    State(state): State<AppState>,
    post: PreLoginPost,
    Query(back): Query<ReturnTo>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(refusal) = refusal(&state, &post, "/login/passkey") {
        return Ok(refusal);
    }
    let credential = assertion(&body)?;
    let binding = binding(&post.headers, post.client.https)
        .ok_or(ApiError::Forbidden("CSRF token missing or invalid"))?;
    let asserted = match (credential, post.served_origin()) {
        (Some(credential), Some(origin)) => {
            state
                .factors
                .finish_passwordless(&origin, &binding, &credential)
                .await
        }
        _ => Err(PasskeyError::Invalid),
    };
    let user = match asserted {
        Ok(asserted) => state
            .store
            .find_user_by_id(asserted.user_id)
            .await?
            .filter(|user| !user.disabled),
        Err(err @ (PasskeyError::Store(_) | PasskeyError::Check(_))) => return Err(err.into()),
        Err(_) => None,
    };
    let Some(user) = user else {
        state.audit.record(
            Action::Login,
            Outcome::Failure,
            None,
            Some("passkey"),
            &post.provenance,
        );
        return Ok(invalid_passkey());
    };
    let amr = Amr::of(&[Method::Hwk, Method::Mfa]);
    match signed_in(&state, &post, &user, amr, back.landing_by_script(&state)).await? {
        Some(response) => Ok(response),
        None => Ok(invalid_passkey()),
    }
}
