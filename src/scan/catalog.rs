//! What the scan checks (SPEC section 10), in one table: each check's id,
//! title, the rule it holds the API to, and the fix (and how rampart does
//! it). A finding names its check by id and adds its severity and
//! evidence.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// One check.
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub rule: &'static str,
    pub fix: &'static str,
}

pub const CHECKS: &[Check] = &[
    Check {
        id: "cors-reflects-origin",
        title: "CORS allows any origin",
        rule: "OWASP API8:2023 Security Misconfiguration; OWASP HTML5 Security Cheat Sheet (CORS)",
        fix: "Answer Access-Control-Allow-Origin only for an exact list of origins, never by echoing the request's. rampart: `cors.allow_origins`, compared exactly; `*` is refused with credentials.",
    },
    Check {
        id: "cors-null-origin",
        title: "CORS allows the `null` origin",
        rule: "OWASP API8:2023 Security Misconfiguration; OWASP HTML5 Security Cheat Sheet (CORS)",
        fix: "Never allow `Origin: null`: sandboxed frames and local files send it. rampart never allows it.",
    },
    Check {
        id: "missing-security-headers",
        title: "Security headers missing",
        rule: "OWASP ASVS 5.0 V3.4; OWASP HTTP Headers Cheat Sheet",
        fix: "Send X-Content-Type-Options: nosniff, X-Frame-Options: DENY (or CSP frame-ancestors), a Content-Security-Policy and Referrer-Policy on every answer. rampart sends them on every answer, errors included.",
    },
    Check {
        id: "missing-hsts",
        title: "HTTPS without Strict-Transport-Security",
        rule: "OWASP ASVS 5.0 V12.1; RFC 6797",
        fix: "Send Strict-Transport-Security: max-age=31536000; includeSubDomains over HTTPS. rampart sends it on every HTTPS answer (`tls.hsts_max_age`).",
    },
    Check {
        id: "server-version-disclosed",
        title: "Server software and version disclosed",
        rule: "OWASP ASVS 5.0 V13.4; OWASP API8:2023 Security Misconfiguration",
        fix: "Drop the version from Server and X-Powered-By. rampart sends neither.",
    },
    Check {
        id: "verbose-errors",
        title: "Errors show internals",
        rule: "OWASP ASVS 5.0 V16.5; OWASP API8:2023 Security Misconfiguration; OWASP Error Handling Cheat Sheet",
        fix: "Answer a malformed request with a short error (FastAPI's 422 for input) and log the details on the server only; never run with debug on. rampart answers every failure with `{\"detail\"}` and a request id.",
    },
    Check {
        id: "no-login-rate-limit",
        title: "The login is not rate limited",
        rule: "OWASP API4:2023 Unrestricted Resource Consumption; OWASP ASVS 5.0 V6.3; OWASP Authentication Cheat Sheet",
        fix: "Limit login attempts per client and per attempted user name, answering 429 with Retry-After. rampart: `rate_limit.login` (5/minute per IP) and `rate_limit.login_per_username`.",
    },
    Check {
        id: "no-rate-limit",
        title: "No rate limit",
        rule: "OWASP API4:2023 Unrestricted Resource Consumption",
        fix: "Limit every client's requests and say so in RateLimit headers; answer 429 past the limit. rampart: `rate_limit.default` (120/minute per user or IP), with RateLimit-* headers.",
    },
    Check {
        id: "jwt-alg-none-accepted",
        title: "A token with `alg: none` is accepted",
        rule: "RFC 8725 section 3.1 and 3.2; OWASP JSON Web Token Cheat Sheet",
        fix: "Verify every token with the one algorithm the server signs with, never the token's own header. rampart accepts only its configured algorithm.",
    },
    Check {
        id: "jwt-signature-not-checked",
        title: "A token's signature is not checked",
        rule: "RFC 7519 section 7.2; RFC 8725 section 3.1",
        fix: "Verify the signature of every token before reading its claims. rampart verifies each token's signature, then its claims.",
    },
    Check {
        id: "jwt-weak-secret",
        title: "The token signing secret is a well-known one",
        rule: "RFC 8725 section 3.5; OWASP ASVS 5.0 V13.3; OWASP JSON Web Token Cheat Sheet",
        fix: "Sign with a random key of at least 256 bits kept out of the code, or with an asymmetric key. rampart signs with EdDSA by default, keys generated and stored encrypted, and refuses a weak secret.",
    },
    Check {
        id: "jwt-expired-accepted",
        title: "An expired token is accepted",
        rule: "RFC 7519 section 4.1.4; RFC 8725 section 3.10",
        fix: "Check `exp` on every token (with a small leeway). rampart refuses an expired token with 401.",
    },
    Check {
        id: "jwt-no-expiry",
        title: "The token never expires",
        rule: "RFC 8725 section 3.10; OWASP JSON Web Token Cheat Sheet",
        fix: "Give access tokens a short `exp` and renew them with refresh tokens. rampart's access tokens live `auth.access_token_ttl` (15 minutes).",
    },
    Check {
        id: "token-over-plain-http",
        title: "The login is served over plain HTTP",
        rule: "OWASP ASVS 5.0 V12.2; RFC 6749 section 3.2",
        fix: "Serve the login (and everything) over HTTPS and redirect HTTP to it. rampart serves TLS with rustls and redirects pages from plain HTTP (`tls.redirect_http_from`).",
    },
    Check {
        id: "session-cookie-flags",
        title: "A cookie set at login lacks its protections",
        rule: "OWASP Session Management Cheat Sheet; OWASP ASVS 5.0 V3.3",
        fix: "Set session cookies with HttpOnly, SameSite (Lax or Strict) and, over HTTPS, Secure. rampart's cookies carry all three (with the __Host- prefix over HTTPS).",
    },
    Check {
        id: "docs-exposed",
        title: "API documentation is public",
        rule: "OWASP API9:2023 Improper Inventory Management",
        fix: "Publish the documentation on purpose, or turn it off in production. rampart: `docs = false`.",
    },
];

/// The check `id`.
///
/// # Panics
/// On an id not in [`CHECKS`]: a check names its own id, fixed in the code.
pub fn check(id: &str) -> &'static Check {
    CHECKS
        .iter()
        .find(|check| check.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

/// One finding.
#[derive(Debug, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    /// The request and what came back, secrets masked.
    pub evidence: String,
    pub rule: &'static str,
    pub fix: &'static str,
}

impl Finding {
    pub fn new(id: &'static str, severity: Severity, evidence: impl Into<String>) -> Self {
        let check = check(id);
        Self {
            id: check.id,
            severity,
            title: check.title,
            evidence: evidence.into(),
            rule: check.rule,
            fix: check.fix,
        }
    }
}

/// A credential, as evidence shows it: its first characters.
pub fn masked(secret: &str, shown: usize) -> String {
    let start: String = secret.chars().take(shown).collect();
    format!("{start}... ({} characters, masked)", secret.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_complete_and_named_once() {
        let mut ids: Vec<_> = CHECKS.iter().map(|check| check.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
        assert_eq!(CHECKS.len(), 16, "the checks of SPEC section 10");
        for check in CHECKS {
            assert!(!check.title.is_empty() && !check.rule.is_empty() && check.fix.contains("rampart"));
        }
    }

    #[test]
    fn secrets_show_their_first_characters_only() {
        assert_eq!(masked("09d25e094faa", 3), "09d... (12 characters, masked)");
        assert!(!masked("wonderland", 3).contains("wonder"));
    }
}
