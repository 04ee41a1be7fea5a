//! `rampart scan` (SPEC section 10): any API, probed from outside and
//! checked against the practices rampart enforces. The scan is bounded
//! (`client::Prober`: a request budget, 20 a second, no unsafe method but
//! the login's without `--allow-writes`) and runs its checks in an order
//! that spends the budget on what matters first: what any answer shows
//! (`surface`), the login and the token (`jwt`), and last the rate-limit
//! probes (`limits`), which need the most requests. The checks, their
//! rules and fixes are `catalog`; the output formats `report`.

mod catalog;
mod client;
mod jwt;
mod limits;
mod openapi;
mod report;
mod surface;

pub use catalog::{Finding, Severity};
pub use report::{Format, Report};

use http::{HeaderName, StatusCode, Uri, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use client::{Exchange, Probe, Prober};
use limits::Probed;

/// `--login PATH --username U`, with the password read from stdin.
pub struct Login {
    pub path: String,
    pub username: String,
    pub password: SecretString,
}

pub struct Options {
    pub target: String,
    /// A URL or a file.
    pub openapi: Option<String>,
    pub token: Option<SecretString>,
    pub login: Option<Login>,
    pub max_requests: u32,
    pub allow_writes: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Usage(String),
    #[error("the target cannot be reached: {0}")]
    Unreachable(String),
    #[error("the login failed: {0}")]
    Login(String),
}

/// Where bearer-protected GETs are looked for when the document names none.
const ME_PATHS: &[&str] = &[
    "/users/me",
    "/me",
    "/api/me",
    "/user",
    "/api/users/me",
    "/profile",
];
/// At most this many documented GETs get malformed parameters.
const VERBOSE_PROBES: usize = 12;
/// The most of an OpenAPI document the scan reads.
const DOCUMENT_KEPT: usize = 16 * 1024 * 1024;
/// Documentation pages frameworks publish by default.
const DOCS_PATHS: &[&str] = &[
    "/docs",
    "/redoc",
    "/openapi.json",
    "/swagger-ui/",
    "/swagger.json",
];

/// A probe's answer, or `None` when the budget is spent, the target failed
/// to answer it, or it was a write the scan may not make: the check
/// concludes nothing.
async fn ask(prober: &mut Prober, probe: Probe) -> Option<Exchange> {
    prober.send(probe).await.ok()
}

fn bearer(token: &str) -> (HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {token}"))
}

/// Runs the scan; `progress` hears of each request (sent, budget).
pub async fn run(options: Options, progress: Box<dyn FnMut(u32, u32) + Send>) -> Result<Report, ScanError> {
    let base: Uri = options
        .target
        .parse()
        .ok()
        .filter(|uri: &Uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some())
        .ok_or_else(|| ScanError::Usage(format!("{} is no http:// or https:// URL", options.target)))?;
    let https = base.scheme_str() == Some("https");
    let root = base.path().to_owned();
    let login_path = options.login.as_ref().map(|login| login.path.clone());
    let mut prober = Prober::new(
        base.clone(),
        options.max_requests,
        options.allow_writes,
        login_path,
        progress,
    )
    .map_err(|err| ScanError::Unreachable(err.to_string()))?;
    let mut findings = Vec::new();
    let mut skipped = Vec::new();

    // What any answer shows.
    let first = prober
        .send(Probe::get(root.clone()))
        .await
        .map_err(|err| ScanError::Unreachable(err.to_string()))?;
    findings.extend(surface::headers(&first, https));
    let document = match &options.openapi {
        Some(source) => Some(document(&mut prober, source).await?),
        None => None,
    };
    let operations = document.as_ref().map(openapi::operations).unwrap_or_default();
    for origin in [surface::PROBE_ORIGIN, "null"] {
        let probe = Probe::get(root.clone()).header(header::ORIGIN, origin);
        if let Some(answer) = ask(&mut prober, probe).await {
            findings.extend(surface::cors(&answer, origin));
        }
    }
    let mut published = Vec::new();
    for path in DOCS_PATHS {
        if let Some(answer) = ask(&mut prober, Probe::get(*path)).await
            && answer.status == StatusCode::OK
        {
            published.push(path.to_string());
        }
    }
    if !published.is_empty() {
        let evidence = format!(
            "GET {} -> 200 to a caller with no credential",
            published.join(", GET ")
        );
        findings.push(Finding::new("docs-exposed", Severity::Info, evidence));
    }

    // The login and the token.
    let token = match (&options.login, &options.token) {
        (Some(login), _) => Some(log_in(&mut prober, login, https, &base, &mut findings).await?),
        (None, Some(token)) => Some(token.clone()),
        (None, None) => None,
    };
    verbose_errors(
        &mut prober,
        options.login.as_ref(),
        &root,
        &operations,
        &mut findings,
    )
    .await;
    match token {
        Some(token) => {
            tokens(
                &mut prober,
                token.expose_secret(),
                &operations,
                &mut findings,
                &mut skipped,
            )
            .await
        }
        None => skipped.push("jwt-*: no token (give --token, or --login and --username)".to_owned()),
    }

    // The rate-limit probes, last: they need the most requests.
    let mut probes = Vec::new();
    match &options.login {
        Some(login) => probes.push(limits::login(&mut prober, &login.path).await),
        None => skipped.push("no-login-rate-limit: no login path (give --login)".to_owned()),
    }
    // The root, not a documented route: health probes are rightly left
    // unlimited, and a limit that holds for a path no route has holds for
    // every path.
    probes.push(limits::gets(&mut prober, &root).await);
    for probed in probes {
        match probed {
            Probed::Finding(finding) => findings.push(finding),
            Probed::Limited => {}
            Probed::Skipped(reason) => skipped.push(reason),
        }
    }
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    skipped.extend(
        prober
            .failures()
            .iter()
            .map(|failure| format!("no answer: {failure}")),
    );
    Ok(Report {
        target: options.target,
        findings,
        requests: prober.sent(),
        skipped,
    })
}

/// The OpenAPI document: a file if one is there, else a URL or a path on
/// the target (fetched through the prober: it counts).
async fn document(prober: &mut Prober, source: &str) -> Result<Value, ScanError> {
    let remote = source.starts_with("http://") || source.starts_with("https://");
    let text = if remote || (source.starts_with('/') && !std::path::Path::new(source).is_file()) {
        let answer = prober
            .send(Probe::get(source).keeping(DOCUMENT_KEPT))
            .await
            .map_err(|err| ScanError::Unreachable(format!("the OpenAPI document: {err}")))?;
        if !answer.status.is_success() {
            return Err(ScanError::Usage(format!(
                "the OpenAPI document: {}",
                answer.line()
            )));
        }
        answer.body
    } else {
        std::fs::read_to_string(source)
            .map_err(|err| ScanError::Usage(format!("the OpenAPI document {source}: {err}")))?
    };
    serde_json::from_str(&text)
        .map_err(|err| ScanError::Usage(format!("the OpenAPI document is no JSON: {err}")))
}

/// Signs in as OAuth2's password grant does (a form: `grant_type`,
/// `username`, `password`) and checks how: plain HTTP, cookie flags.
async fn log_in(
    prober: &mut Prober,
    login: &Login,
    https: bool,
    base: &Uri,
    findings: &mut Vec<Finding>,
) -> Result<SecretString, ScanError> {
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "password")
        .append_pair("username", &login.username)
        .append_pair("password", login.password.expose_secret())
        .finish();
    let answer = prober
        .send(Probe::post(
            login.path.clone(),
            "application/x-www-form-urlencoded",
            form,
        ))
        .await
        .map_err(|err| ScanError::Login(err.to_string()))?;
    if !answer.status.is_success() {
        return Err(ScanError::Login(answer.line()));
    }
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| ScanError::Login(format!("{}: no access_token in the answer", answer.line())))?;
    if crosses_the_network_in_clear(base) {
        let evidence = format!(
            "{} over http://: the password and the token cross the network in clear",
            answer.line()
        );
        findings.push(Finding::new("token-over-plain-http", Severity::Medium, evidence));
    }
    findings.extend(surface::cookies(&answer, https));
    Ok(SecretString::from(token.to_owned()))
}

/// Whether a login at `base` goes over plain HTTP to a host that is not
/// this machine (loopback is where plain HTTP is fine: a proxy in front,
/// or development).
fn crosses_the_network_in_clear(base: &Uri) -> bool {
    let loopback = base.host().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    base.scheme_str() == Some("http") && !loopback
}

/// Malformed input where the scan may send it: the login's body, and the
/// parameters of the document's GETs (else the root's query). Stops at the
/// first answer that shows internals.
async fn verbose_errors(
    prober: &mut Prober,
    login: Option<&Login>,
    root: &str,
    operations: &[openapi::Operation],
    findings: &mut Vec<Finding>,
) {
    let mut probes = Vec::new();
    if let Some(login) = login {
        probes.push((
            Probe::post(login.path.clone(), "application/json", "{\"username\":"),
            "a truncated JSON body",
        ));
        probes.push((
            Probe::post(
                login.path.clone(),
                "application/x-www-form-urlencoded",
                "rampart_scan=1",
            ),
            "a form without its fields",
        ));
    }
    let odd = "'\"\\<%";
    // Public operations first: a protected one answers 401 before it reads
    // a parameter.
    let mut with_params: Vec<_> = operations.iter().filter(|op| !op.params.is_empty()).collect();
    with_params.sort_by_key(|op| op.secured);
    with_params.truncate(VERBOSE_PROBES);
    for op in &with_params {
        let path = op.fill(|_| odd.to_owned());
        let query: String = op
            .params
            .iter()
            .filter(|p| p.location == "query")
            .map(|p| format!("{}={}", p.name, "%27%22%5C%3C%25"))
            .collect::<Vec<_>>()
            .join("&");
        let path = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        probes.push((Probe::get(path), "quotes and a backslash in each parameter"));
    }
    if with_params.is_empty() {
        probes.push((
            Probe::get(format!("{root}?id=%27%22%5C")),
            "quotes and a backslash in a parameter",
        ));
    }
    for (probe, sent) in probes {
        if let Some(answer) = ask(prober, probe).await
            && let Some(finding) = surface::verbose_error(&answer, sent)
        {
            findings.push(finding);
            return;
        }
    }
}

/// The token's checks: offline, then against a GET that needs it.
async fn tokens(
    prober: &mut Prober,
    raw: &str,
    operations: &[openapi::Operation],
    findings: &mut Vec<Finding>,
    skipped: &mut Vec<String>,
) {
    let Some(token) = jwt::Token::parse(raw) else {
        skipped.push("jwt-*: the token is no JWT".to_owned());
        return;
    };
    findings.extend(token.no_expiry());
    let secret = token.crack();
    if let Some(secret) = secret {
        findings.push(token.weak_secret(secret));
    }
    let Some(path) = protected_path(prober, raw, operations).await else {
        skipped.push(
            "jwt-* against the API: no GET found that answers 2xx with the token and 401 or 403 without"
                .to_owned(),
        );
        return;
    };
    let mut copies = vec![
        (
            "jwt-alg-none-accepted",
            token.with_alg_none(),
            "a copy of the token whose header says alg: none, with no signature",
        ),
        (
            "jwt-signature-not-checked",
            token.with_changed_payload(),
            "a copy of the token with a claim added under the old signature",
        ),
    ];
    match secret.and_then(|secret| token.expired_copy(secret)) {
        Some(expired) => copies.push((
            "jwt-expired-accepted",
            expired,
            "a copy of the token expired an hour ago, signed with the found secret",
        )),
        None => skipped.push(
            "jwt-expired-accepted: no way to sign an expired copy (the secret was not found)".to_owned(),
        ),
    }
    for (id, copy, what) in copies {
        let (name, value) = bearer(&copy);
        if let Some(answer) = ask(prober, Probe::get(path.clone()).header(name, value)).await
            && answer.status.is_success()
        {
            findings.push(Finding::new(
                id,
                Severity::High,
                format!("{} with {what}", answer.line()),
            ));
        }
    }
}

/// A GET that answers 2xx with the token and 401 or 403 without: the
/// document's bearer-protected GETs without path parameters, else the
/// usual "me" paths.
async fn protected_path(
    prober: &mut Prober,
    token: &str,
    operations: &[openapi::Operation],
) -> Option<String> {
    let documented: Vec<String> = operations
        .iter()
        .filter(|op| op.secured && !op.has_path_params())
        .map(|op| op.path.clone())
        .collect();
    let candidates = if documented.is_empty() {
        ME_PATHS.iter().map(|path| path.to_string()).collect()
    } else {
        documented
    };
    for path in candidates.into_iter().take(4) {
        let (name, value) = bearer(token);
        let with = ask(prober, Probe::get(path.clone()).header(name, value)).await?;
        if !with.status.is_success() {
            continue;
        }
        let without = ask(prober, Probe::get(path.clone())).await?;
        if matches!(without.status.as_u16(), 401 | 403) {
            return Some(path);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_found_off_this_machine_only() {
        let clear = |url: &str| crosses_the_network_in_clear(&url.parse().unwrap());
        assert!(clear("http://api.example.com/"));
        assert!(clear("http://192.0.2.10:8000"));
        assert!(!clear("http://127.0.0.1:8000"));
        assert!(!clear("http://[::1]:8000"));
        assert!(!clear("http://LOCALHOST:8000"));
        assert!(!clear("https://api.example.com/"));
    }
}
