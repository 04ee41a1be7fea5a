//! How a rate limit shows in an answer (SPEC section 3, "Rate limits"): the
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers
//! of every answer of a limited route (IETF draft
//! httpapi-ratelimit-headers), and the 429 (or 503) of a refusal, with
//! `Retry-After`. Below the step that decides (`rate_limit`) and the errors
//! that carry a refusal (`error`), which both answer with these.

use std::time::Duration;

use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::detail::detail_response;
use crate::ratelimit::{Cause, Decision, Refusal};

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

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
