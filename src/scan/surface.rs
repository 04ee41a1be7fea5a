//! The checks of what any answer shows: security headers, CORS, error
//! bodies, cookies set at login, documentation, a login over plain HTTP.
//! Each reads exchanges the scan has made; the pure parts are functions of
//! an answer, tested below.

use http::{HeaderName, header};

use super::{
    catalog::{Finding, Severity},
    client::Exchange,
};

/// An origin no API allows on purpose.
pub const PROBE_ORIGIN: &str = "https://rampart-scan.invalid";

/// `missing-security-headers`, `missing-hsts` and `server-version-disclosed`
/// of one answer.
pub fn headers(exchange: &Exchange, https: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let has = |name: &HeaderName| exchange.headers.contains_key(name);
    let csp = exchange.header(&header::CONTENT_SECURITY_POLICY).unwrap_or("");
    let mut missing = Vec::new();
    if !exchange
        .header(&header::X_CONTENT_TYPE_OPTIONS)
        .is_some_and(|v| v.eq_ignore_ascii_case("nosniff"))
    {
        missing.push("X-Content-Type-Options: nosniff");
    }
    if !has(&header::X_FRAME_OPTIONS) && !csp.contains("frame-ancestors") {
        missing.push("X-Frame-Options (or CSP frame-ancestors)");
    }
    if csp.is_empty() {
        missing.push("Content-Security-Policy");
    }
    if !has(&header::REFERRER_POLICY) {
        missing.push("Referrer-Policy");
    }
    if !missing.is_empty() {
        let evidence = format!("{}: no {}", exchange.line(), missing.join(", no "));
        findings.push(Finding::new("missing-security-headers", Severity::Low, evidence));
    }
    if https && !has(&header::STRICT_TRANSPORT_SECURITY) {
        let evidence = format!("{}: no Strict-Transport-Security over HTTPS", exchange.line());
        findings.push(Finding::new("missing-hsts", Severity::Medium, evidence));
    }
    let x_powered_by = HeaderName::from_static("x-powered-by");
    for name in [&header::SERVER, &x_powered_by] {
        if let Some(value) = exchange.header(name).filter(|value| names_a_version(value)) {
            let evidence = format!("{}: {name}: {value}", exchange.line());
            findings.push(Finding::new("server-version-disclosed", Severity::Low, evidence));
        }
    }
    findings
}

/// Whether a `Server` value names a version: a digit after `/` or a space
/// (`nginx/1.25.3`, `Apache 2.4`, `PHP/8.2`).
fn names_a_version(value: &str) -> bool {
    value
        .as_bytes()
        .windows(2)
        .any(|pair| matches!(pair[0], b'/' | b' ') && pair[1].is_ascii_digit())
}

/// `cors-reflects-origin` or `cors-null-origin`, from the answer to a
/// request sent with `Origin: origin`.
pub fn cors(exchange: &Exchange, origin: &str) -> Option<Finding> {
    let allowed = exchange.header(&header::ACCESS_CONTROL_ALLOW_ORIGIN)?;
    let credentials = exchange
        .header(&header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let evidence = format!(
        "{} with Origin: {origin}: Access-Control-Allow-Origin: {allowed}{}",
        exchange.line(),
        if credentials {
            ", Access-Control-Allow-Credentials: true"
        } else {
            ""
        }
    );
    if origin == "null" {
        return (allowed == "null").then(|| Finding::new("cors-null-origin", Severity::Medium, evidence));
    }
    // `*` without credentials is a public API's choice; with credentials
    // browsers refuse it.
    if allowed != origin {
        return None;
    }
    let severity = if credentials {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(Finding::new("cors-reflects-origin", severity, evidence))
}

/// What shows an error's internals: a stack trace, an exception's name,
/// SQL text.
const INTERNALS: &[&str] = &[
    "Traceback (most recent call last)",
    "File \"/",
    "Exception in ASGI application",
    "KeyError",
    "ValueError:",
    "TypeError:",
    "AttributeError:",
    "OperationalError",
    "IntegrityError",
    "ProgrammingError",
    "sqlite3.",
    "psycopg",
    "SQLSTATE",
    "syntax error at or near",
    "SQL syntax",
    "unrecognized token",
    "at java.",
    "at org.",
    "Exception:",
    "NullReferenceException",
    "System.Web",
    "panicked at",
    "goroutine ",
    "node_modules/",
    "    at ",
];

/// `verbose-errors`, if the answer to a malformed request shows internals.
pub fn verbose_error(exchange: &Exchange, sent: &str) -> Option<Finding> {
    let marker = INTERNALS.iter().find(|marker| exchange.body.contains(**marker))?;
    let at = exchange.body.find(marker).unwrap_or(0);
    let start = exchange.body[..at]
        .char_indices()
        .rev()
        .nth(40)
        .map_or(0, |(i, _)| i);
    let excerpt: String = exchange.body[start..].chars().take(160).collect();
    let excerpt = excerpt.replace(['\n', '\r'], " ");
    let evidence = format!(
        "{} ({sent}): the body shows {marker:?}: \"{excerpt}\"",
        exchange.line()
    );
    Some(Finding::new("verbose-errors", Severity::Medium, evidence))
}

/// `session-cookie-flags`, for each cookie the login set without its
/// protections.
pub fn cookies(exchange: &Exchange, https: bool) -> Vec<Finding> {
    exchange
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| {
            let name = cookie.split('=').next().unwrap_or("").trim();
            let attributes: Vec<String> = cookie
                .split(';')
                .skip(1)
                .map(|a| a.trim().split('=').next().unwrap_or("").to_ascii_lowercase())
                .collect();
            let has = |flag: &str| attributes.iter().any(|a| a == flag);
            let mut missing = Vec::new();
            if !has("httponly") {
                missing.push("HttpOnly");
            }
            if !has("samesite") {
                missing.push("SameSite");
            }
            if https && !has("secure") {
                missing.push("Secure");
            }
            (!missing.is_empty()).then(|| {
                let evidence = format!(
                    "{}: Set-Cookie: {name}=(value masked) without {}",
                    exchange.line(),
                    missing.join(", ")
                );
                Finding::new("session-cookie-flags", Severity::Medium, evidence)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method, StatusCode};

    use super::*;

    fn answer(headers: &[(&'static str, &'static str)], body: &str) -> Exchange {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        Exchange {
            method: Method::GET,
            path: "/".to_owned(),
            status: StatusCode::OK,
            headers: map,
            body: body.to_owned(),
        }
    }

    #[test]
    fn headers_missing_are_named_and_versions_seen() {
        let bare = headers(&answer(&[("server", "nginx/1.25.3")], ""), true);
        let ids: Vec<_> = bare.iter().map(|f| f.id).collect();
        assert_eq!(
            ids,
            [
                "missing-security-headers",
                "missing-hsts",
                "server-version-disclosed"
            ]
        );
        assert!(bare[0].evidence.contains("no Referrer-Policy"));
        let full = answer(
            &[
                ("x-content-type-options", "nosniff"),
                (
                    "content-security-policy",
                    "default-src 'none'; frame-ancestors 'none'",
                ),
                ("referrer-policy", "no-referrer"),
                ("strict-transport-security", "max-age=1"),
                ("server", "uvicorn"),
            ],
            "",
        );
        assert!(headers(&full, true).is_empty());
        assert!(names_a_version("Apache 2.4") && !names_a_version("cloudflare"));
    }

    #[test]
    fn cors_reflection_with_credentials_is_high() {
        let reflected = answer(
            &[
                ("access-control-allow-origin", PROBE_ORIGIN),
                ("access-control-allow-credentials", "true"),
            ],
            "",
        );
        assert_eq!(cors(&reflected, PROBE_ORIGIN).unwrap().severity, Severity::High);
        let without = answer(&[("access-control-allow-origin", PROBE_ORIGIN)], "");
        assert_eq!(cors(&without, PROBE_ORIGIN).unwrap().severity, Severity::Medium);
        let star = answer(&[("access-control-allow-origin", "*")], "");
        assert!(cors(&star, PROBE_ORIGIN).is_none());
        let null = answer(&[("access-control-allow-origin", "null")], "");
        assert_eq!(cors(&null, "null").unwrap().id, "cors-null-origin");
        assert!(cors(&answer(&[], ""), PROBE_ORIGIN).is_none());
    }

    #[test]
    fn tracebacks_are_verbose_and_short_errors_are_not() {
        let trace = answer(
            &[],
            "Traceback (most recent call last):\n  File \"/app/main.py\", line 3\nKeyError: 'username'",
        );
        let finding = verbose_error(&trace, "a form without its fields").unwrap();
        assert!(finding.evidence.contains("Traceback"));
        assert!(verbose_error(&answer(&[], r#"{"detail":"Not Found"}"#), "x").is_none());
    }

    #[test]
    fn cookies_without_their_flags_are_found() {
        let login = answer(
            &[
                ("set-cookie", "session=abc; Path=/"),
                ("set-cookie", "other=x; HttpOnly; SameSite=Lax; Path=/"),
            ],
            "",
        );
        let found = cookies(&login, false);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .evidence
                .contains("session=(value masked) without HttpOnly, SameSite")
        );
        assert!(!found[0].evidence.contains("abc"));
        assert_eq!(cookies(&login, true).len(), 2, "over HTTPS both lack Secure");
    }
}
