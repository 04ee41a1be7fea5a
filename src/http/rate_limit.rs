//! The rate-limit step of the middleware stack, and the HTTP form of a
//! decision: `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! on every response of a limited route (the IETF RateLimit header fields
//! draft), and 429 with `Retry-After` (RFC 9110 section 10.2.3) for a refusal.

use std::{sync::Arc, time::Duration};

use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::{
    client::ClientInfo,
    error::detail_response,
    identity::{Authentication, CurrentUser},
    request_id::RequestId,
};
use crate::{
    audit::{Action, Auditor, Outcome},
    ratelimit::{Cause, Decision, PolicyName, RateLimits, Refusal, Subject},
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

/// What the step decided.
pub enum Admission {
    /// The route is under no policy (the probes).
    Unlimited,
    /// Allowed; the budget's state goes into the response's headers.
    Allowed(Decision),
    /// Refused: the 429 to send.
    Refused(Response),
}

impl RateLimitStep {
    /// Spends the request's budget under its route's `policy` (`None`:
    /// unlimited). The budget is the authenticated user's, else the client
    /// IP's; logins are always per IP (the attempted name has its own
    /// policy, in the handlers).
    pub async fn admit(
        &self,
        policy: Option<PolicyName>,
        authentication: &Authentication,
        id: &RequestId,
        client: &ClientInfo,
    ) -> Admission {
        let Some(policy) = policy else {
            return Admission::Unlimited;
        };
        let user = if policy == PolicyName::Login {
            None
        } else {
            authentication.user()
        };
        let subject = user
            .as_ref()
            .map_or(Subject::ip(client.ip), |user| Subject::name(user.username()));
        match self.limits.check(policy, subject).await {
            Ok(decision) => Admission::Allowed(decision),
            Err(refusal) => {
                if refusal.audit {
                    self.audit.record(
                        Action::RateLimited,
                        Outcome::Denied,
                        user.as_ref().map(CurrentUser::username),
                        Some(policy.as_str()),
                        &super::origin::from(id, client),
                    );
                }
                Admission::Refused(refused(&refusal))
            }
        }
    }
}

/// Puts an allowed request's budget into its response, unless a handler
/// that refused under a narrower policy (the attempted user name) has put
/// its own.
pub fn stamp_allowed(headers: &mut HeaderMap, decision: &Decision) {
    if !headers.contains_key(RATELIMIT_LIMIT) {
        stamp(headers, decision);
    }
}

/// The 429 for a refusal: `{"detail":"Rate limit exceeded: 5 per 1 minute"}`;
/// the 503 when the shared budgets cannot be read and must not be guessed
/// (`rate_limit.redis_failure = "deny"`).
pub fn refused(refusal: &Refusal) -> Response {
    if refusal.cause == Cause::Unavailable {
        let mut response = detail_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "Rate limiting unavailable, retry shortly",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
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
