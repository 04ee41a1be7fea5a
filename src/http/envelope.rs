//! The envelope every request passes through first: the cross-cutting steps
//! that must see every request and every response, in this order.
//!
//! They run in one middleware function rather than one layer each, because
//! each `from_fn` layer boxes the rest of the stack per request; in this
//! order they cost one box.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::StatusCode;

use axum::extract::MatchedPath;

use crate::{
    audit::{Action, Auditor, Origin, Outcome},
    auth::{
        self, Authentication, csrf::Binding, extract::CurrentUser, session::Sessions, tokens::TokenService,
    },
    web::cookies,
};

use super::{
    access_log::AccessLog,
    client::TrustedProxies,
    cors::Cors,
    csrf::{self, CsrfGuard},
    error, request_id,
    security_headers::{self, Hsts},
};

/// What the envelope needs, built once from the settings.
#[derive(Clone)]
pub struct Envelope {
    pub proxies: Arc<TrustedProxies>,
    pub hsts: Hsts,
    pub cors: Cors,
    pub tokens: Arc<TokenService>,
    pub sessions: Sessions,
    pub csrf: CsrfGuard,
    pub audit: Auditor,
}

/// The answer to a preflight from an origin not in `cors.allow_origins`.
const CORS_REFUSED: &str = "Origin not allowed";

pub async fn layer(State(envelope): State<Envelope>, mut request: Request, next: Next) -> Response {
    // 1. The request id: every later step, log line and error body names it.
    let id = request_id::assign(&mut request);
    // 2. The client IP and transport, resolved once (trusted proxies only).
    let client = envelope.proxies.identify(&mut request);
    // 3. The access log starts its clock.
    let log = AccessLog::start(&request);
    // 4. OPTIONS is for CORS preflights from allowed origins only; they
    //    carry no credentials, and the CORS layer answers them.
    let screened = envelope.cors.screen(&request);
    let (response, user) = if let Some(status) = screened {
        let response = match status {
            StatusCode::FORBIDDEN => error::detail_response(status, CORS_REFUSED),
            _ => status.into_response(),
        };
        (response, None)
    } else if request.method() == http::Method::OPTIONS {
        (next.run(request).await, None)
    } else {
        // 5. The credentials, verified once; extractors read the outcome.
        let session_cookie = cookies::names(client.https).session;
        let authentication = auth::authenticate(
            &envelope.tokens,
            &envelope.sessions,
            request.headers(),
            session_cookie,
        )
        .await;
        let user = authentication.user();
        // 6. A request the session cookie authenticates passes the CSRF
        //    rules (bearer tokens are exempt).
        let checked = match &authentication {
            Authentication::Session(session) => {
                let binding = Binding::of(Some(&session.id));
                let (checked, result) = envelope.csrf.check(request, binding, client.https).await;
                request = checked;
                result
            }
            _ => Ok(()),
        };
        match checked {
            Ok(()) => {
                request.extensions_mut().insert(authentication);
                (next.run(request).await, user)
            }
            Err(failure) => {
                let (parts, _) = request.into_parts();
                envelope.audit.record(
                    Action::CsrfRejected,
                    Outcome::Denied,
                    user.as_ref().map(CurrentUser::username),
                    parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str),
                    &Origin::of(&parts),
                );
                (csrf::refused(failure), user)
            }
        }
    };

    // 7. Bare error statuses from below get the spec's body.
    let mut response = error::fill_body(response, &id);
    // 8. Security headers and the request id, on every response.
    security_headers::apply(&mut response, client.https, &envelope.hsts);
    request_id::stamp(&mut response, &id);
    // 9. One log line and one metrics sample, for the final response.
    log.finish(&response, &id, &client, user.as_ref().map(CurrentUser::username));
    response
}
