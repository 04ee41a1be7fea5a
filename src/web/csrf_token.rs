//! `GET /csrftoken/`: a CSRF token for scripts that send unsafe requests
//! with the session cookie.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, header};
use serde::Serialize;
use utoipa::ToSchema;

use super::no_store;
use crate::{
    http::{client::ClientInfo, credentials::SessionCookie},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct CsrfTokenBody {
    csrf_token: String,
}

/// A CSRF token for the caller's session (or for signing in), and its
/// cookie: send it back as `X-CSRF-Token` with unsafe requests that the
/// session cookie authenticates.
#[utoipa::path(get, path = "/csrftoken/", tag = "pages",
    responses((status = 200, body = CsrfTokenBody, description = "Sets the CSRF cookie")))]
pub async fn csrf_token(
    State(state): State<AppState>,
    client: ClientInfo,
    session: Option<SessionCookie>,
    headers: HeaderMap,
) -> Response {
    let (csrf_token, cookies) = state
        .csrf
        .pre_login_token(session.as_ref(), &headers, client.https);
    let mut response = Json(CsrfTokenBody { csrf_token }).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    no_store(response)
}
