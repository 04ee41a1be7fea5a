//! A user's open credentials, for admins (SPEC section 9): their browser
//! sessions and refresh-token families, each revocable. A session ends at
//! once (its cookie stops working on the next request, and its sockets
//! close); a family can no longer be refreshed (access tokens already
//! issued from it live out their short lifetime, as after RFC 7009).
//!
//! Ids say their kind: `s-` and the hex SHA-256 of a session's cookie (the
//! cookie itself is never stored), `f-` and a family's id.

use axum::{extract::State, response::IntoResponse};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    audit::{Action, Outcome, Provenance},
    http::{
        error::{ApiError, ErrorBody},
        extract::{Json, Path},
        identity::{Admin, RequireRole},
    },
    names::Username,
    state::AppState,
    store::{CredentialKind, OpenCredential, now_ms},
};

const NOT_FOUND: &str = "Session not found";

/// One open credential.
#[derive(Serialize, ToSchema)]
pub struct CredentialView {
    /// What `POST /admin/sessions/{id}/revoke` takes.
    id: String,
    /// `session` (a browser's cookie) or `refresh_family` (a login at
    /// `/token` and every refresh token rotated from it).
    #[schema(example = "session")]
    kind: &'static str,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339: a session's last request, a family's last refresh.
    last_seen_at: String,
    /// Where it started (none for one from before this was kept).
    client_ip: Option<String>,
}

impl From<OpenCredential> for CredentialView {
    fn from(credential: OpenCredential) -> Self {
        let (id, kind) = match credential.kind {
            CredentialKind::Session(digest) => (format!("s-{}", hex(&digest)), "session"),
            CredentialKind::RefreshFamily(family) => (format!("f-{family}"), "refresh_family"),
        };
        Self {
            id,
            kind,
            created_at: crate::store::rfc3339(credential.created_at),
            last_seen_at: crate::store::rfc3339(credential.last_seen_at),
            client_ip: credential.client_ip,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

/// A user's open sessions and refresh families, newest first.
#[utoipa::path(get, path = "/admin/users/{username}/sessions", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<CredentialView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    _: RequireRole<Admin>,
    Path(username): Path<String>,
) -> Result<Json<Vec<CredentialView>>, ApiError> {
    let found = match Username::parse(&username) {
        Ok(name) => state.store.find_user(&name).await?,
        Err(_) => None,
    };
    let user = found.ok_or(ApiError::NotFound(super::admin::USER_NOT_FOUND))?;
    let open = state.sessions.open_credentials(user.id).await?;
    Ok(Json(open.into_iter().map(CredentialView::from).collect()))
}

/// End a session, or revoke a refresh family.
#[utoipa::path(post, path = "/admin/sessions/{id}/revoke", tag = "admin", security(("bearer" = [])),
    responses((status = 204, description = "Ended"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    RequireRole(admin, _): RequireRole<Admin>,
    provenance: Provenance,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let ended = if let Some(digest) = id.strip_prefix("s-").and_then(unhex) {
        if state.store.session_owner(&digest).await?.is_some() {
            state.sessions.end_digest(digest).await?;
            true
        } else {
            false
        }
    } else if let Some(family) = id
        .strip_prefix("f-")
        .filter(|family| family.len() <= 64 && family.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        state.store.revoke_family_by_id(family, now_ms()).await?
    } else {
        false
    };
    if !ended {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let kind = if id.starts_with("s-") {
        "session"
    } else {
        "refresh_family"
    };
    state.audit.record(
        Action::Revoke,
        Outcome::Success,
        Some(admin.username()),
        Some(kind),
        &provenance,
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_go_to_hex_and_back() {
        let digest: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 7).unwrap());
        assert_eq!(unhex(&hex(&digest)), Some(digest));
        assert_eq!(unhex("00"), None);
        assert_eq!(unhex(&"zz".repeat(32)), None);
    }
}
