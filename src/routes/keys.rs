//! `GET /.well-known/jwks.json` and `POST /admin/keys/rotate`.

use axum::{extract::State, response::IntoResponse};
use http::{HeaderValue, header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    admin::Operator,
    audit::Provenance,
    http::{
        error::ApiError,
        extract::Json,
        identity::{Admin, RequireRole},
    },
    state::AppState,
};

/// The public keys of every key that may still verify a live token
/// (RFC 7517); `{"keys":[]}` with HS256, whose key is secret.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JWK set", content_type = "application/json")))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            // Verifiers refetch on an unknown kid; a short cache keeps
            // rotations visible.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            ),
        ],
        state.keys.jwks(),
    )
}

#[derive(Serialize, ToSchema)]
pub struct Rotated {
    kid: String,
}

/// Rotate the signing key now. Tokens signed by the old key keep working.
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Rotated), (status = 401), (status = 403)))]
pub async fn rotate(
    State(state): State<AppState>,
    RequireRole(admin, _): RequireRole<Admin>,
    provenance: Provenance,
) -> Result<Json<Rotated>, ApiError> {
    let kid = Operator::new(&state, &admin, &provenance).rotate_key().await?;
    Ok(Json(Rotated { kid }))
}
