//! What every response carries, what every request logs, and metrics.

use crate::helpers::{TestConfig, TestServer, raw_exchange};

#[tokio::test]
async fn a_valid_request_id_is_echoed_and_an_invalid_one_replaced() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "abc-123_x.y")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123_x.y");

    for bad in ["has space", "<script>", &"x".repeat(129)] {
        let response = server
            .client
            .get(server.url("/healthz"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(
            !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
    }

    let a = server.get("/healthz").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let b = server.get("/healthz").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(a, b, "each request gets its own id");
}

fn assert_common_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
    assert!(headers.get("x-request-id").is_some());
    assert!(headers.get("server").is_none(), "no Server header");
}

#[tokio::test]
async fn json_and_html_responses_carry_their_security_headers() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/nope", "/__test/panic"] {
        let response = server.get(path).await;
        assert_common_headers(&response);
        assert_eq!(
            response.headers()["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert!(
            response.headers().get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    const HTML_CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
    let response = server.get("/login").await;
    assert_common_headers(&response);
    assert_eq!(response.headers()["content-security-policy"], HTML_CSP);
    // `/docs` alone extends it, with exactly what Swagger UI needs: its
    // `data:` icons and the hash of its one inline style (SPEC section 3).
    let response = server.get("/docs").await;
    assert_common_headers(&response);
    let docs = response.headers()["content-security-policy"].to_str().unwrap();
    let extension = ["img-src 'self' data:", "style-src 'self' 'sha256-"];
    let kept: Vec<&str> = docs
        .split("; ")
        .filter(|directive| !extension.iter().any(|e| directive.starts_with(e)))
        .collect();
    assert_eq!(kept.join("; "), HTML_CSP, "{docs}");
    assert!(docs.contains("img-src 'self' data:"), "{docs}");
    assert_eq!(docs.matches("'sha256-").count(), 1, "{docs}");
    assert!(!docs.contains("unsafe"), "{docs}");
}

/// The head of a raw HTTP/1.1 answer, its `content-length` values, and
/// its body.
fn framing(answer: &str) -> (Vec<u64>, &str) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let lengths = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse().unwrap())
        .collect();
    (lengths, body)
}

#[tokio::test]
async fn every_answer_states_its_length_once_and_head_the_get_s() {
    let server = TestServer::start().await;
    let ask = |method: &str, path: &str| {
        format!("{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
    };
    for path in ["/healthz", "/nope", "/login"] {
        let get = raw_exchange(server.addr, ask("GET", path).as_bytes()).await;
        let (lengths, body) = framing(&get);
        assert_eq!(lengths, [body.len() as u64], "{path}: {get}");
        assert!(!body.is_empty(), "{path}");
        let head = raw_exchange(server.addr, ask("HEAD", path).as_bytes()).await;
        let (head_lengths, head_body) = framing(&head);
        assert_eq!(head_lengths, lengths, "{path}: {head}");
        assert_eq!(head_body, "", "{path}");
    }
}

#[tokio::test]
async fn hsts_is_sent_only_when_a_trusted_proxy_says_https() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_PROXY__TRUSTED", "127.0.0.1")).await;
    let response = server
        .client
        .get(server.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let response = server.get("/healthz").await;
    assert!(response.headers().get("strict-transport-security").is_none());

    // From an untrusted peer the same header proves nothing.
    let untrusted = TestServer::start().await;
    let response = untrusted
        .client
        .get(untrusted.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn one_json_log_line_per_request_with_the_spec_fields() {
    let server = TestServer::start().await;
    let response = server.get("/healthz?debug=querysecret").await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = server.access_log(&request_id).await;
    for field in [
        "time",
        "request_id",
        "method",
        "route",
        "status",
        "latency_ms",
        "client_ip",
    ] {
        assert!(line.get(field).is_some(), "{field} missing from {line}");
    }
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["status"], 200);
    assert_eq!(line["client_ip"], "127.0.0.1");
    let lines = server.logs();
    let for_request = lines.iter().filter(|l| l.contains(&request_id)).count();
    assert_eq!(for_request, 1, "exactly one line for the request");
    assert!(
        !lines.iter().any(|l| l.contains("querysecret")),
        "query strings are not logged"
    );
    for line in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "every stdout line is JSON: {line}"
        );
    }
}

/// The stack finds a request's route before the router runs, from the
/// router's own templates: every route the router holds is logged (and
/// limited, and counted) under its own template, whatever the answer.
#[tokio::test]
async fn every_route_is_logged_under_its_own_template() {
    let server = TestServer::start().await;
    let document: serde_json::Value = server.get("/openapi.json").await.json().await.unwrap();
    let mut templates: Vec<String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    assert!(templates.len() > 10, "{templates:?}");
    // Routes outside the document.
    for other in [
        "/openapi.json",
        "/docs",
        "/docs/{file}",
        "/static/app.css",
        "/static/app.js",
    ] {
        templates.push(other.to_owned());
    }
    for template in &templates {
        // Any method will do: a path the router holds is its route even
        // when the method is not (405).
        let path = template
            .split('/')
            .map(|segment| if segment.starts_with('{') { "1" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        let response = server.get(&path).await;
        let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let line = server.access_log(&request_id).await;
        assert_eq!(line["route"], template.as_str(), "GET {path}: {line}");
    }
    // A path no route holds has no template.
    let response = server.get("/no/such/route").await;
    assert_eq!(response.status(), 404);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = server.access_log(&request_id).await;
    assert!(line.get("route").is_none(), "{line}");
}

#[tokio::test]
async fn secrets_tokens_and_cookies_never_reach_the_logs() {
    let server = TestServer::start().await;
    let bearer = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA";
    let cookie = "session=s3ss10n-c00k1e-v4lue";
    let response = server
        .client
        .post(server.url("/__test/echo/1?access_token=query-token-value"))
        .header("authorization", format!("Bearer {bearer}"))
        .header("cookie", cookie)
        .json(&serde_json::json!({"name": "password=hunter2", "price": 1}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    server.access_log(&request_id).await;
    let _ = server.get("/__test/panic").await;
    server
        .wait_for_log("the panic", |v| v["message"] == "request failed")
        .await;

    let logs = server.logs().join("\n");
    for secret in [
        &server.secret,
        bearer,
        "s3ss10n-c00k1e-v4lue",
        "query-token-value",
        "hunter2",
    ] {
        assert!(!logs.contains(secret), "the logs contain {secret}");
    }
    assert!(!server.stderr().contains(&server.secret));
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_listener_only() {
    let server = TestServer::start().await;
    server.get("/healthz").await;
    server.get("/nope").await;
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 404, "never on the public listener");

    let text = server.metrics().await;
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"route="/healthz""#)
            && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched""#),
        "unmatched paths share one label: {text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket{"), "{text}");
    assert!(!text.contains("/nope"), "raw paths never become labels");
}

/// `promtool`, from `PATH` or where `scripts/install-promtool` puts it.
fn promtool() -> Option<std::path::PathBuf> {
    let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin");
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([installed])
        .map(|dir| dir.join("promtool"))
        .find(|candidate| candidate.is_file())
}

#[tokio::test]
async fn metrics_pass_promtool_with_help_type_and_the_process_families() {
    let server = TestServer::with_users().await;
    // Traffic, so that the families exist: requests, a login (a password
    // verification), a bad token (an auth failure).
    server.get("/healthz").await;
    server.get("/nope").await;
    server.login("alice", crate::helpers::PASSWORD).await;
    assert_eq!(server.get_as("/users/me", "not-a-token").await.status(), 401);
    let text = server.metrics().await;

    // Every family has a `# HELP` and a `# TYPE` line, and every sample
    // belongs to a family so announced.
    let declared = |kind: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(kind))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (helped, typed) = (declared("# HELP "), declared("# TYPE "));
    assert_eq!(helped, typed, "{text}");
    for family in [
        "http_requests_total",
        "http_request_duration_seconds",
        "password_verifications_total",
        "auth_failures_total",
        "rampart_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(typed.contains(family), "{family} is missing: {text}");
    }
    for sample in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let name = sample.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "{sample} has no # TYPE: {text}");
    }

    // The build and the process.
    let build = format!(
        r#"rampart_build_info{{version="{}"}} 1"#,
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.lines().any(|l| l == build), "{build}: {text}");
    let value = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("process_cpu_seconds_total") > 0.0, "{text}");
    assert!(value("process_resident_memory_bytes") > 1e6, "{text}");
    assert!(value("process_open_fds") >= 3.0, "{text}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(
        started <= now + 5.0 && started > now - 600.0,
        "{started} against {now}"
    );

    // And the tool Prometheus itself ships accepts the text.
    match promtool() {
        Some(promtool) => {
            let mut check = std::process::Command::new(&promtool)
                .args(["check", "metrics"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write as _;
            check.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let output = check.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "promtool check metrics: {}{}\n{text}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // CI installs it (scripts/test): there, a missing promtool fails.
        None if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("promtool is not installed: scripts/install-promtool installs it")
        }
        None => eprintln!("promtool not found: `promtool check metrics` not run"),
    }
}
