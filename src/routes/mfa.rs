//! A user's second factors (SPEC section 7): `GET /users/me/mfa`, TOTP's
//! enrolment, confirmation and removal, renewed recovery codes; and the
//! admin's reset for a lost phone. Every change that adds or removes a
//! factor asks for the current password first.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::admin::UserView;
use crate::{
    admin::Operator,
    audit::{Action, Outcome, Provenance},
    auth::mfa::Confirmed,
    http::{
        caller::Caller,
        credentials::CurrentUser,
        error::{ApiError, ErrorBody},
        extract::{Json, Path},
        identity::{Admin, RequireRole},
    },
    input::{Field, Fields, Model},
    state::AppState,
    store::{StoredPasskey, rfc3339},
};

/// A user's factors.
#[derive(Serialize, ToSchema)]
pub struct Factors {
    totp: bool,
    passkeys: Vec<PasskeyView>,
    recovery_codes_left: i64,
}

/// One passkey, as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    id: String,
    name: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339; `null` until first used.
    last_used_at: Option<String>,
}

impl From<&StoredPasskey> for PasskeyView {
    fn from(passkey: &StoredPasskey) -> Self {
        Self {
            id: passkey.id.clone(),
            name: passkey.name.clone(),
            created_at: rfc3339(passkey.created_at),
            last_used_at: passkey.last_used_at.map(rfc3339),
        }
    }
}

/// The current password, for a change to the account's factors.
#[derive(ToSchema)]
pub struct CurrentPassword {
    #[schema(format = Password)]
    pub(super) current_password: String,
}

impl Model for CurrentPassword {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let current_password = fields.required("current_password", String::read)?;
        Some(Self { current_password })
    }
}

/// A TOTP code from the user's app.
#[derive(ToSchema)]
pub struct CodeBody {
    #[schema(example = "123456")]
    code: String,
}

impl Model for CodeBody {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let code = fields.required("code", String::read)?;
        Some(Self { code })
    }
}

/// A pending TOTP secret, for the user's authenticator app.
#[derive(Serialize, ToSchema)]
pub struct TotpSecret {
    /// Base32, to type into the app.
    secret: String,
    /// `otpauth://totp/<issuer>:<username>?secret=...&issuer=<issuer>`, to
    /// scan as a QR code.
    otpauth_uri: String,
}

/// Recovery codes: shown once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// `xxxxx-xxxxx`, each good once; empty when the user already had a
    /// factor (their codes stay as they were).
    pub(super) recovery_codes: Vec<String>,
}

/// The caller's second factors.
#[utoipa::path(get, path = "/users/me/mfa", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = Factors), (status = 401, body = ErrorBody)))]
pub async fn factors(State(state): State<AppState>, user: CurrentUser) -> Result<Json<Factors>, ApiError> {
    let record = state.account_of(&user).await?;
    let counts = state.factors.counts(record.id).await?;
    let passkeys = state.factors.passkeys(record.id).await?;
    Ok(Json(Factors {
        totp: counts.totp,
        passkeys: passkeys.iter().map(PasskeyView::from).collect(),
        recovery_codes_left: counts.recovery_codes,
    }))
}

/// Begin TOTP: a new secret, pending until a code from it confirms it.
#[utoipa::path(post, path = "/users/me/mfa/totp", tag = "mfa", security(("bearer" = [])),
    request_body = CurrentPassword,
    responses((status = 200, body = TotpSecret), (status = 400, description = "Incorrect password", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "TOTP is on already", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn begin_totp(
    State(state): State<AppState>,
    user: CurrentUser,
    caller: Caller,
    Json(body): Json<CurrentPassword>,
) -> Result<Json<TotpSecret>, ApiError> {
    let account = state
        .reauthenticate(
            Action::MfaEnrolled,
            &user,
            body.current_password,
            caller.requester(),
        )
        .await?;
    let enrolment = state
        .factors
        .begin_totp(&account)
        .await?
        .ok_or(ApiError::Conflict("TOTP is already on"))?;
    Ok(Json(TotpSecret {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
    }))
}

/// Confirm TOTP with a code from the app: TOTP is on. The recovery codes
/// come with the user's first factor.
#[utoipa::path(post, path = "/users/me/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = CodeBody,
    responses((status = 200, body = RecoveryCodes), (status = 400, description = "Invalid code", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "Nothing pending", body = ErrorBody)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    user: CurrentUser,
    provenance: Provenance,
    Json(body): Json<CodeBody>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let record = state.account_of(&user).await?;
    match state.factors.confirm_totp(record.id, &body.code).await? {
        Confirmed::On(recovery_codes) => {
            state.audit.record(
                Action::MfaEnrolled,
                Outcome::Success,
                Some(&record.username),
                Some("totp"),
                &provenance,
            );
            Ok(Json(RecoveryCodes { recovery_codes }))
        }
        Confirmed::WrongCode => Err(ApiError::BadRequest("Invalid code")),
        Confirmed::NothingPending => Err(ApiError::Conflict("No TOTP enrollment is pending")),
    }
}

/// Turn TOTP off. Recovery codes go with the last factor.
#[utoipa::path(post, path = "/users/me/mfa/totp/remove", tag = "mfa", security(("bearer" = [])),
    request_body = CurrentPassword,
    responses((status = 204), (status = 400, description = "Incorrect password", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn remove_totp(
    State(state): State<AppState>,
    user: CurrentUser,
    caller: Caller,
    Json(body): Json<CurrentPassword>,
) -> Result<Response, ApiError> {
    let account = state
        .reauthenticate(
            Action::MfaRemoved,
            &user,
            body.current_password,
            caller.requester(),
        )
        .await?;
    if state.factors.remove_totp(account.id).await? {
        state.audit.record(
            Action::MfaRemoved,
            Outcome::Success,
            Some(&account.username),
            Some("totp"),
            &caller.provenance,
        );
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A new set of recovery codes; the old set is void.
#[utoipa::path(post, path = "/users/me/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])),
    request_body = CurrentPassword,
    responses((status = 200, body = RecoveryCodes), (status = 400, description = "Incorrect password", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "No second factor", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    user: CurrentUser,
    caller: Caller,
    Json(body): Json<CurrentPassword>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let account = state
        .reauthenticate(
            Action::MfaEnrolled,
            &user,
            body.current_password,
            caller.requester(),
        )
        .await?;
    let recovery_codes = state
        .factors
        .renew_recovery_codes(account.id)
        .await?
        .ok_or(ApiError::Conflict("No second factor to recover"))?;
    state.audit.record(
        Action::MfaEnrolled,
        Outcome::Success,
        Some(&account.username),
        Some("recovery_codes"),
        &caller.provenance,
    );
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Remove every factor and recovery code of a user, and end their
/// sessions and tokens: for a lost phone.
#[utoipa::path(post, path = "/admin/users/{username}/mfa/reset", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    RequireRole(admin, _): RequireRole<Admin>,
    provenance: Provenance,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let reset = Operator::new(&state, &admin, &provenance)
        .reset_factors(&username)
        .await?;
    let user = reset.ok_or(ApiError::NotFound("User not found"))?;
    Ok(Json(UserView::from(user)))
}
