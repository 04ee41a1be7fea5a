//! A user's passkeys (SPEC section 7): creation options (after the current
//! password), the registration that answers them, and removal. The JSON
//! is WebAuthn L3's: the options are `PublicKeyCredentialCreationOptionsJSON`
//! (what `PublicKeyCredential.parseCreationOptionsFromJSON` takes) and the
//! credential `RegistrationResponseJSON` (what `toJSON()` gives).

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::mfa::CurrentPassword;
use crate::{
    audit::{Action, Outcome},
    auth::mfa::passkeys::PasskeyError,
    http::{
        caller::Caller,
        credentials::CurrentUser,
        error::{ApiError, ErrorBody},
        extract::{Json, Path},
    },
    input::{Field, Fields, Model, bounded_text},
    state::AppState,
    store::rfc3339,
};

/// The most characters a passkey's name has.
pub const NAME_MAX: usize = 64;

/// A new passkey: its name and the authenticator's answer.
#[derive(ToSchema)]
pub struct NewPasskey {
    #[schema(min_length = 1, max_length = 64, example = "Laptop")]
    name: String,
    /// WebAuthn L3 `RegistrationResponseJSON`: what the browser's
    /// `PublicKeyCredential.toJSON()` gives.
    #[schema(value_type = Object)]
    credential: Map<String, Value>,
}

impl Model for NewPasskey {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let name = fields.required("name", |raw| bounded_text(raw, 1, NAME_MAX));
        let credential = fields.required("credential", Map::read);
        Some(Self {
            name: name?,
            credential: credential?,
        })
    }
}

/// A passkey added.
#[derive(Serialize, ToSchema)]
pub struct PasskeyCreated {
    id: String,
    name: String,
    /// RFC 3339.
    created_at: String,
    /// The recovery codes when this is the user's first factor (shown
    /// once), else empty.
    recovery_codes: Vec<String>,
}

/// Creation options for a new passkey; the challenge is single use and
/// lives 5 minutes.
#[utoipa::path(post, path = "/users/me/passkeys/options", tag = "mfa", security(("bearer" = [])),
    request_body = CurrentPassword,
    responses((status = 200, description = "WebAuthn L3 `PublicKeyCredentialCreationOptionsJSON`", body = Object),
        (status = 400, description = "Incorrect password, or no relying party id for this address", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn options(
    State(state): State<AppState>,
    user: CurrentUser,
    caller: Caller,
    Json(body): Json<CurrentPassword>,
) -> Result<Json<Value>, ApiError> {
    let account = state
        .reauthenticate(
            Action::MfaEnrolled,
            &user,
            body.current_password,
            caller.requester(),
        )
        .await?;
    let origin = caller.served_origin().ok_or(PasskeyError::NoRelyingParty)?;
    let options = state.factors.begin_registration(&origin, &account).await?;
    Ok(Json(options))
}

/// Register a passkey: the authenticator's answer to the options.
#[utoipa::path(post, path = "/users/me/passkeys", tag = "mfa", security(("bearer" = [])),
    request_body = NewPasskey,
    responses((status = 201, body = PasskeyCreated),
        (status = 400, description = "Invalid passkey: a bad challenge, origin or attestation", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "Registered already, or too many passkeys", body = ErrorBody),
        (status = 422, description = "Invalid input", body = crate::input::ValidationErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    user: CurrentUser,
    caller: Caller,
    Json(body): Json<NewPasskey>,
) -> Result<Response, ApiError> {
    let account = state.account_of(&user).await?;
    let origin = caller.served_origin().ok_or(PasskeyError::NoRelyingParty)?;
    let registered =
        match serde_json::from_value::<RegisterPublicKeyCredential>(Value::Object(body.credential)) {
            Ok(credential) => {
                state
                    .factors
                    .finish_registration(&origin, &account, body.name.trim(), &credential)
                    .await
            }
            Err(_) => Err(PasskeyError::Invalid),
        };
    let registered = match registered {
        Ok(registered) => registered,
        Err(err) => {
            if matches!(err, PasskeyError::Invalid) {
                state.audit.record(
                    Action::MfaFailed,
                    Outcome::Failure,
                    Some(&account.username),
                    Some("passkey registration"),
                    &caller.provenance,
                );
            }
            return Err(err.into());
        }
    };
    state.audit.record(
        Action::MfaEnrolled,
        Outcome::Success,
        Some(&account.username),
        Some("passkey"),
        &caller.provenance,
    );
    let passkey = registered.passkey;
    let created = PasskeyCreated {
        id: passkey.id,
        name: passkey.name,
        created_at: rfc3339(passkey.created_at),
        recovery_codes: registered.recovery_codes,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Remove one of the caller's passkeys. Recovery codes go with the last
/// factor.
#[utoipa::path(post, path = "/users/me/passkeys/{id}/remove", tag = "mfa", security(("bearer" = [])),
    request_body = CurrentPassword,
    responses((status = 204), (status = 400, description = "Incorrect password", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "No such passkey of the caller's", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    caller: Caller,
    Path(id): Path<String>,
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
    if !state.factors.remove_passkey(account.id, &id).await? {
        return Err(ApiError::NotFound("Passkey not found"));
    }
    state.audit.record(
        Action::MfaRemoved,
        Outcome::Success,
        Some(&account.username),
        Some("passkey"),
        &caller.provenance,
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}
