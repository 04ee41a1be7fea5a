//! The second step of a sign-in at `/token` (SPEC section 7): the first
//! step's `mfa_required`, and the `urn:rampart:grant-type:mfa` grant that
//! trades its `mfa_token` and a code for the usual pair.

use axum::response::Response;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use super::{failure, oauth2_error, token_response};
use crate::{
    audit::{Action, Outcome, Provenance},
    auth::amr::{Amr, Method},
    http::{caller::Requester, client::ClientInfo, error::ApiError},
    state::AppState,
    store::UserRecord,
};

pub const GRANT_TYPE: &str = "urn:rampart:grant-type:mfa";

/// What a wrong or spent code, or a dead `mfa_token`, answers
/// (`invalid_grant`).
const INVALID_CODE: &str = "Invalid code";

/// The second step of a sign-in.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct MfaGrant {
    #[schema(value_type = String, pattern = "^urn:rampart:grant-type:mfa$")]
    grant_type: &'static str,
    /// The first step's, from its `mfa_required` answer.
    mfa_token: String,
    /// A TOTP code, or a recovery code.
    #[schema(format = Password)]
    otp: String,
}

/// The first step's answer for `user`, whose password was right and who
/// has a second factor. (Audited when the sign-in ends: `login`, or
/// `mfa_failed`.)
pub async fn required(state: &AppState, user: &UserRecord) -> Result<Response, ApiError> {
    let token = state.factors.begin_sign_in(user, None).await?;
    Ok(oauth2_error::mfa_required(token))
}

/// The grant: a right code ends the pending sign-in and starts a refresh
/// family whose tokens carry `pwd otp mfa`. A wrong code counts against
/// the sign-in (the fifth ends it) and under `login_per_username`.
pub async fn second_factor(
    state: &AppState,
    client: &ClientInfo,
    provenance: &Provenance,
    headers: &HeaderMap,
    mfa_token: &str,
    otp: &SecretString,
) -> Result<Response, ApiError> {
    let refused = || ApiError::Unauthorized(INVALID_CODE);
    let Some(pending) = state.factors.pending(mfa_token).await? else {
        state
            .audit
            .record(Action::MfaFailed, Outcome::Failure, None, None, provenance);
        return Err(refused());
    };
    // A browser's pending sign-in is the sign-in form's, not this grant's;
    // a password change or a disable since the first step ends it.
    let user = state
        .store
        .find_user_by_id(pending.user_id)
        .await?
        .filter(|user| !user.disabled && user.token_version == pending.token_version);
    let Some(user) = user.filter(|_| pending.binding.is_none()) else {
        state.factors.complete(mfa_token).await?;
        return Err(refused());
    };
    if state
        .check_code(
            &user,
            otp.expose_secret(),
            Requester {
                client,
                headers,
                provenance,
            },
        )
        .await?
        .is_none()
    {
        state.factors.failed(mfa_token).await?;
        return Err(refused());
    }
    // Single use: of two requests with one token, one signs in.
    if !state.factors.complete(mfa_token).await? {
        return Err(refused());
    }
    let amr = Amr::of(&[Method::Pwd, Method::Otp, Method::Mfa]);
    let pair = state
        .accounts
        .start_login(&user, Some(client.ip), amr)
        .await
        .map_err(failure)?;
    state.audit.record(
        Action::Login,
        Outcome::Success,
        Some(&user.username),
        None,
        provenance,
    );
    Ok(token_response(pair))
}
