//! `GET /console/keys`: the signing keys (never key material); rotate now,
//! and revoke one key with its `kid` typed again to confirm (a revoke
//! makes every token that key signed fail at once).

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    response::Response,
};
use http::StatusCode;
use minijinja::context;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ConsoleAdmin, Said, SaidQuery, overview::key_rows};
use crate::{http::error::ApiError, state::AppState};

/// The revoke form, as the browser posts it.
#[derive(Default, Deserialize, ToSchema)]
pub struct RevokeKeyForm {
    /// The key to revoke.
    #[serde(default)]
    kid: String,
    /// The same `kid`, typed by the admin.
    #[serde(default)]
    confirm: String,
}

async fn keys_page(
    state: &AppState,
    admin: &ConsoleAdmin,
    (status, said): (StatusCode, Said),
) -> Result<Response, ApiError> {
    let context = context! {
        title => "Signing keys",
        nav => "keys",
        algorithm => crate::auth::keys::algorithm_name(state.settings.auth.algorithm),
        keys => key_rows(state).await?,
    };
    admin.page(state, "console_keys.html", status, said, context)
}

/// The signing keys.
#[utoipa::path(get, path = "/console/keys", tag = "console",
    responses(
        (status = 200, description = "HTML page", content_type = "text/html"),
        (status = 303, description = "No session: to /login, returning here"),
        (status = 403, description = "Not an admin", content_type = "text/html")
    ))]
pub async fn console_keys(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let said = SaidQuery::read(query.as_deref());
    keys_page(&state, &admin, (StatusCode::OK, said)).await
}

/// Rotate now: a new key signs from now on; tokens of the old keys keep
/// working.
#[utoipa::path(post, path = "/console/keys/rotate", tag = "console",
    responses(
        (status = 303, description = "Rotated: back to the keys"),
        (status = 403, description = "CSRF token missing or invalid, or not an admin")
    ))]
pub async fn console_rotate_key(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
) -> Result<Response, ApiError> {
    admin.operator(&state).rotate_key().await?;
    Ok(ConsoleAdmin::done(&state, "/keys", "rotated"))
}

/// Revoke a key, its `kid` typed to confirm.
#[utoipa::path(post, path = "/console/keys/revoke", tag = "console",
    request_body(content = RevokeKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Revoked: back to the keys"),
        (status = 400, description = "The typed kid differs: the page again", content_type = "text/html"),
        (status = 403, description = "CSRF token missing or invalid, or not an admin"),
        (status = 404, description = "No such key: the page again", content_type = "text/html")
    ))]
pub async fn console_revoke_key(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form: RevokeKeyForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form.kid.is_empty() || form.confirm.trim() != form.kid {
        let said = Said::error("Type the key's kid exactly to confirm: nothing was revoked");
        return keys_page(&state, &admin, (StatusCode::BAD_REQUEST, said)).await;
    }
    if admin.operator(&state).revoke_key(&form.kid).await? {
        Ok(ConsoleAdmin::done(&state, "/keys", "key-revoked"))
    } else {
        let said = Said::error("No such key: it may have expired or been revoked already");
        keys_page(&state, &admin, (StatusCode::NOT_FOUND, said)).await
    }
}
