//! A user's open credentials, for admins (SPEC section 9): their browser
//! sessions and refresh-token families (`admin::credentials`), each
//! revocable. A session ends at once (its cookie stops working on the next
//! request, and its sockets close); a family can no longer be refreshed
//! (access tokens already issued from it live out their short lifetime, as
//! after RFC 7009).

use axum::{extract::State, response::IntoResponse};
use http::StatusCode;

use crate::{
    admin::{Operator, credentials::CredentialView},
    audit::Provenance,
    http::{
        error::{ApiError, ErrorBody},
        extract::{Json, Path},
        identity::{Admin, RequireRole},
    },
    names::Username,
    state::AppState,
};

const NOT_FOUND: &str = "Session not found";

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
    let operator = Operator::new(&state, &admin, &provenance);
    match operator.revoke_credential(&id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::NotFound(NOT_FOUND)),
    }
}
