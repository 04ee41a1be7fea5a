//! `GET /forward-auth`: the question of a proxy that stays in front (SPEC
//! section 6, "Gateway, continued"); the gateway answers it
//! ([`crate::gateway::forward_auth`]). Only peers in `proxy.trusted` may
//! ask: the original request's method and URI are in their headers, which
//! a client could otherwise write to get an assertion for a request it is
//! not making.

use axum::{
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use http::StatusCode;

use crate::{
    http::{context::RequestContext, detail::detail_response, rate_limit::RateLimitStep},
    state::AppState,
};

/// Whether the original request may pass, for the proxy in front.
#[utoipa::path(get, path = "/forward-auth", tag = "auth",
    params(
        ("X-Forwarded-Method" = Option<String>, Header, description = "The original method (Caddy, Traefik); nginx: X-Original-Method"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "The original path and query (Caddy, Traefik); nginx: X-Original-URI"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "The original host, when the proxy's own Host is not it")
    ),
    responses(
        (status = 200, description = "Allowed: `X-Rampart-User`, `X-Rampart-Roles` (an authenticated caller) and `X-Rampart-Assertion` to copy onto the forwarded request"),
        (status = 400, description = "No original request, or its path not in normal form", body = crate::http::error::ErrorBody),
        (status = 401, description = "Not authenticated: `X-Rampart-Login` names the sign-in page with the way back", body = crate::http::error::ErrorBody),
        (status = 403, description = "Not a trusted proxy; or the caller lacks a role, a second factor, or a CSRF token", body = crate::http::error::ErrorBody),
        (status = 404, description = "No gateway route matches the original request", body = crate::http::error::ErrorBody),
        (status = 429, description = "The route's rate limit", body = crate::http::error::ErrorBody)
    ))]
pub async fn forward_auth(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let Some(gateway) = state.gateway.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let trusted = RequestContext::of(&parts.extensions)
        .and_then(|context| context.connection.as_ref())
        .is_some_and(|connection| {
            let peer = crate::http::client::canonical(connection.peer.ip());
            state
                .settings
                .proxy
                .trusted
                .iter()
                .any(|net| net.0.contains(&peer))
        });
    if !trusted {
        return detail_response(StatusCode::FORBIDDEN, "Forward-auth answers trusted proxies only");
    }
    let limits = RateLimitStep {
        limits: state.limits.clone(),
        audit: state.audit.clone(),
    };
    gateway
        .forward_auth(&parts, &limits, state.settings.own_prefix())
        .await
}
