//! The rate-limit step of the middleware stack, and the HTTP form of a
//! decision: `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! on every response of a limited route (the IETF RateLimit header fields
//! draft), and 429 with `Retry-After` (RFC 9110 section 10.2.3) for a refusal.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::{client::ClientInfo, error::detail_response};
use crate::{
    audit::{Action, Auditor, Origin, Outcome},
    auth::{Authentication, extract::CurrentUser},
    ratelimit::{Decision, PolicyName, RateLimits, Refusal, Subject, policy_for},
};

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// What the step needs, built once.
#[derive(Clone)]
pub struct RateLimitStep {
    pub limits: Arc<RateLimits>,
    pub audit: Auditor,
}

/// Spends the request's budget under its route's policy, or answers 429.
/// The budget is the authenticated user's, else the client IP's; logins
/// are always per IP (the attempted name has its own policy).
pub async fn layer(State(step): State<RateLimitStep>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let Some(policy) = policy_for(request.method(), route) else {
        return next.run(request).await;
    };
    let ip = request
        .extensions()
        .get::<ClientInfo>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.ip);
    let user = match request.extensions().get::<Authentication>() {
        Some(authentication) if policy != PolicyName::Login => authentication.user(),
        _ => None,
    };
    let subject = user
        .as_ref()
        .map_or(Subject::ip(ip), |user| Subject::name(user.username()));
    match step.limits.check(policy, subject).await {
        Ok(decision) => {
            let mut response = next.run(request).await;
            // A handler that refused under a narrower policy (the attempted
            // user name) has set its own.
            if !response.headers().contains_key(RATELIMIT_LIMIT) {
                stamp(response.headers_mut(), &decision);
            }
            response
        }
        Err(refusal) => {
            if refusal.audit {
                let (parts, _) = request.into_parts();
                step.audit.record(
                    Action::RateLimited,
                    Outcome::Denied,
                    user.as_ref().map(CurrentUser::username),
                    Some(policy.as_str()),
                    &Origin::of(&parts),
                );
            }
            refused(&refusal)
        }
    }
}

/// The 429 for a refusal: `{"detail":"Rate limit exceeded: 5 per 1 minute"}`.
pub fn refused(refusal: &Refusal) -> Response {
    let rate = refusal.rate;
    let detail = format!("Rate limit exceeded: {} per 1 {}", rate.count, rate.period.name());
    let mut response = detail_response(StatusCode::TOO_MANY_REQUESTS, &detail);
    let headers = response.headers_mut();
    stamp(headers, &refusal.decision);
    let retry_after = refusal.decision.retry_after.unwrap_or_default();
    headers.insert(header::RETRY_AFTER, seconds(retry_after).max(1).into());
    response
}

fn stamp(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(seconds(decision.reset)));
}

/// Whole seconds, rounded up: a client that waits this long is not early.
fn seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}
