//! The rate-limit probes (SPEC section 10): 30 wrong logins, then 100 GETs
//! of one safe path. Each stops at the first refusal (a 429) or, for the
//! GETs, at the first answer that states a limit in `RateLimit-*` or
//! `X-RateLimit-*` headers; neither runs unless the budget holds all of
//! its requests, so a scan never exceeds `--max-requests` to finish one.

use http::header;

use super::{
    catalog::{Finding, Severity},
    client::{Probe, Prober},
};

pub const LOGIN_ATTEMPTS: u32 = 30;
pub const GETS: u32 = 100;

/// What a probe concluded.
pub enum Probed {
    Finding(Finding),
    /// Refused (or a limit stated) after this many requests.
    Limited,
    /// The budget could not hold the probe, or the target stopped
    /// answering: nothing concluded.
    Skipped(String),
}

/// 30 logins with a name no account has and a wrong password.
pub async fn login(prober: &mut Prober, path: &str) -> Probed {
    if prober.remaining() < LOGIN_ATTEMPTS {
        return Probed::Skipped(format!(
            "no-login-rate-limit: {LOGIN_ATTEMPTS} logins need more of the budget than is left ({})",
            prober.remaining()
        ));
    }
    // A name no account has: a real user's per-name budget is untouched.
    let username = format!("rampart-scan-{:08x}", rand::random::<u32>());
    let body = format!(
        "grant_type=password&username={username}&password=wrong-{:08x}",
        rand::random::<u32>()
    );
    let mut last = None;
    for _ in 0..LOGIN_ATTEMPTS {
        let probe = Probe::post(path, "application/x-www-form-urlencoded", body.clone());
        match prober.send(probe).await {
            Ok(answer) if answer.status == http::StatusCode::TOO_MANY_REQUESTS => return Probed::Limited,
            Ok(answer) => last = Some(answer.status.as_u16()),
            Err(err) => return Probed::Skipped(format!("no-login-rate-limit: {err}")),
        }
    }
    let evidence = format!(
        "{LOGIN_ATTEMPTS} x POST {path} with a wrong password, as fast as 20 a second: none refused (the last answered {})",
        last.unwrap_or(0)
    );
    Probed::Finding(Finding::new("no-login-rate-limit", Severity::High, evidence))
}

/// Whether an answer states a rate limit in its headers (RFC 9331's
/// drafts' `RateLimit-*`, or the older `X-RateLimit-*`).
fn states_a_limit(headers: &http::HeaderMap) -> bool {
    headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("ratelimit") || name.starts_with("x-ratelimit")
    }) || headers.contains_key(header::RETRY_AFTER)
}

/// 100 GETs of `path`.
pub async fn gets(prober: &mut Prober, path: &str) -> Probed {
    if prober.remaining() < GETS {
        return Probed::Skipped(format!(
            "no-rate-limit: {GETS} requests need more of the budget than is left ({})",
            prober.remaining()
        ));
    }
    for _ in 0..GETS {
        match prober.send(Probe::get(path)).await {
            Ok(answer)
                if answer.status == http::StatusCode::TOO_MANY_REQUESTS
                    || states_a_limit(&answer.headers) =>
            {
                return Probed::Limited;
            }
            Ok(_) => {}
            Err(err) => return Probed::Skipped(format!("no-rate-limit: {err}")),
        }
    }
    let evidence =
        format!("{GETS} x GET {path}, 20 a second: none refused, and no RateLimit-* or X-RateLimit-* header");
    Probed::Finding(Finding::new("no-rate-limit", Severity::Medium, evidence))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn limits_are_seen_in_either_header_family() {
        let mut headers = HeaderMap::new();
        assert!(!states_a_limit(&headers));
        headers.insert("ratelimit-remaining", HeaderValue::from_static("119"));
        assert!(states_a_limit(&headers));
        let mut older = HeaderMap::new();
        older.insert("x-ratelimit-limit", HeaderValue::from_static("60"));
        assert!(states_a_limit(&older));
    }
}
