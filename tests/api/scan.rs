//! `rampart scan` (SPEC section 10), run as a user runs it: against a
//! FastAPI app written the naive way (`tests/scan/weak_app.py`), which it
//! must catch on each mistake with its evidence; against rampart itself,
//! which it must find nothing wrong with at or above `medium`; within its
//! request budget, counted by the target; its SARIF checked by Microsoft's
//! SARIF Multitool.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::{
    App, CliOutput, PASSWORD, TestConfig, TestServer, Upstream, free_port, run_cli, wait_for_event,
};

/// The weak app's one user.
const WEAK_PASSWORD: &str = "wonderland";

/// `rampart scan ARGS`, with `stdin`, off the test's runtime (a scan takes
/// seconds: 20 requests a second).
async fn scan(args: &[&str], stdin: &str) -> CliOutput {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&TestConfig::default(), &[&["scan"], &args[..]].concat(), &stdin)
    })
    .await
    .unwrap()
}

/// `rampart scan TARGET --login /token --username alice ARGS`, signing in
/// with `password`.
async fn scan_as_alice(target: &str, password: &str, args: &[&str]) -> CliOutput {
    let login = [target, "--login", "/token", "--username", "alice"];
    scan(&[&login[..], args].concat(), &format!("{password}\n")).await
}

/// How many requests the weak app has received.
async fn received(app: &Upstream) -> u64 {
    let url = format!("{}/__requests", app.origin());
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["received"].as_u64().unwrap()
}

fn report(output: &CliOutput) -> Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|err| panic!("{err}: {output:?}"))
}

fn finding<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_naive_fastapi_app_is_caught_on_each_mistake_with_its_evidence() {
    let app = Upstream::start(App::Weak {
        tokens_unchecked: false,
    });
    let target = app.origin();
    let output = scan_as_alice(
        &target,
        WEAK_PASSWORD,
        &["--openapi", "/openapi.json", "--format", "json"],
    )
    .await;
    assert_eq!(output.code, Some(1), "findings at or above medium: {output:?}");
    let report = report(&output);
    let found = |id: &str| finding(&report, id).unwrap_or_else(|| panic!("no {id} in {:?}", ids(&report)));
    let evidence = |id: &str| found(id)["evidence"].as_str().unwrap().to_owned();

    let cors = found("cors-reflects-origin");
    assert_eq!(cors["severity"], "high", "with credentials");
    assert!(evidence("cors-reflects-origin").contains("Access-Control-Allow-Credentials: true"));
    assert!(evidence("cors-null-origin").contains("Access-Control-Allow-Origin: null"));
    assert_eq!(found("jwt-weak-secret")["severity"], "high");
    let secret = evidence("jwt-weak-secret");
    assert!(
        secret.contains("09d...") && !secret.contains("09d25e"),
        "{secret}"
    );
    assert!(evidence("jwt-alg-none-accepted").starts_with("GET /users/me -> 200"));
    assert!(evidence("no-login-rate-limit").contains("30 x POST /token"));
    assert!(evidence("no-rate-limit").contains("100 x GET /"));
    assert!(
        evidence("verbose-errors").contains("Traceback"),
        "{}",
        evidence("verbose-errors")
    );
    let cookie = evidence("session-cookie-flags");
    assert!(
        cookie.contains("session=(value masked) without HttpOnly, SameSite"),
        "{cookie}"
    );
    assert!(evidence("missing-security-headers").contains("no Content-Security-Policy"));
    assert!(evidence("docs-exposed").contains("/docs"));
    assert_eq!(found("docs-exposed")["severity"], "info");
    // What the app does right is not reported: it checks signatures and
    // `exp`, its tokens expire, and it is on loopback over plain HTTP.
    for absent in [
        "jwt-signature-not-checked",
        "jwt-expired-accepted",
        "jwt-no-expiry",
        "token-over-plain-http",
        "missing-hsts",
    ] {
        assert!(finding(&report, absent).is_none(), "{absent}: {:?}", ids(&report));
    }
    // Secrets never show: not the password, not the token, not the key.
    let token_prefix = "eyJ";
    assert!(!output.stdout.contains(WEAK_PASSWORD) && !output.stdout.contains(token_prefix));
    // The target counted every request the report says it made, within the
    // default budget.
    let requests = report["requests"].as_u64().unwrap();
    assert_eq!(received(&app).await, requests);
    assert!(requests <= 300, "{requests}");
}

#[tokio::test]
async fn tokens_read_without_a_check_are_caught_three_ways() {
    let app = Upstream::start(App::Weak {
        tokens_unchecked: true,
    });
    let output = scan_as_alice(
        &app.origin(),
        WEAK_PASSWORD,
        &["--format", "json", "--max-requests", "40"],
    )
    .await;
    let report = report(&output);
    let evidence = |id: &str| {
        let finding = finding(&report, id).unwrap_or_else(|| panic!("no {id} in {:?}", ids(&report)));
        finding["evidence"].as_str().unwrap().to_owned()
    };
    assert!(evidence("jwt-signature-not-checked").contains("a claim added under the old signature"));
    assert!(evidence("jwt-expired-accepted").contains("expired an hour ago"));
    assert!(evidence("jwt-no-expiry").contains("no `exp`"));
    assert_eq!(finding(&report, "jwt-no-expiry").unwrap()["severity"], "medium");
}

#[tokio::test]
async fn the_budget_holds_whatever_the_checks_would_need() {
    let app = Upstream::start(App::Weak {
        tokens_unchecked: false,
    });
    let output = scan_as_alice(
        &app.origin(),
        WEAK_PASSWORD,
        &["--format", "json", "--max-requests", "25"],
    )
    .await;
    let report = report(&output);
    assert_eq!(report["requests"].as_u64(), Some(received(&app).await));
    assert!(received(&app).await <= 25);
    // The rate-limit probes did not fit: not run, not reported.
    assert!(finding(&report, "no-rate-limit").is_none() && finding(&report, "no-login-rate-limit").is_none());
    assert!(finding(&report, "jwt-weak-secret").is_some(), "found offline");

    let text = scan(&[&app.origin(), "--max-requests", "10"], "").await;
    assert!(text.stdout.contains("Not checked:"), "{text:?}");
    assert!(
        text.stdout
            .contains("no-rate-limit: 100 requests need more of the budget than is left")
    );
    assert!(received(&app).await <= 35);
}

#[tokio::test]
async fn rampart_itself_has_nothing_at_or_above_medium() {
    // rampart as it ships: the harness's raised limits left out.
    let config = TestConfig::default()
        .without("RAMPART_RATE_LIMIT__DEFAULT")
        .without("RAMPART_RATE_LIMIT__LOGIN")
        .without("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME")
        .without("RAMPART_RATE_LIMIT__DOCS");
    let server = TestServer::start_with(config).await;
    server.create_user("alice", PASSWORD, &["user"]);
    server.create_user("root", PASSWORD, &["admin"]);
    // Before the scan: its login probe spends this address's login budget.
    let root = server.login("root", PASSWORD).await;
    let output = scan_as_alice(
        &server.url(""),
        PASSWORD,
        &["--openapi", "/openapi.json", "--format", "json"],
    )
    .await;
    let report = report(&output);
    assert_eq!(output.code, Some(0), "{report:#}");
    for finding in report["findings"].as_array().unwrap() {
        assert!(
            matches!(finding["severity"].as_str(), Some("low" | "info")),
            "{finding:#}"
        );
    }
    assert!(
        finding(&report, "docs-exposed").is_some(),
        "rampart publishes /docs by default"
    );
    // The checks ran: the scan signed in, and its wrong logins met the
    // login limit.
    wait_for_event(&server, &root.access_token, "the scan's login", |e| {
        e["action"] == "login" && e["actor"] == "alice" && e["outcome"] == "success"
    })
    .await;
    wait_for_event(&server, &root.access_token, "the login limit", |e| {
        e["action"] == "rate_limited"
    })
    .await;
}

/// Microsoft's SARIF Multitool (`npm ci` in tests/scan).
fn multitool() -> PathBuf {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scan/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    assert!(tool.exists(), "{}: run `npm ci` in tests/scan", tool.display());
    // npm keeps no mode but a `bin`'s: the tool is made executable here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    tool
}

/// The errors the Multitool's `validate` finds in `sarif` (schema and
/// rules), as `ruleId: message` lines.
fn validate(sarif: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scan.sarif");
    let output = dir.path().join("validation.sarif");
    std::fs::write(&input, sarif).unwrap();
    let status = std::process::Command::new(multitool())
        .arg("validate")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success() || output.exists(),
        "the Multitool failed: {status}"
    );
    let validation: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    validation["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|result| result["level"] == "error")
        .map(|result| format!("{}: {}", result["ruleId"], result["message"]))
        .collect()
}

#[tokio::test]
async fn the_sarif_passes_the_sarif_multitools_validation() {
    let app = Upstream::start(App::Weak {
        tokens_unchecked: false,
    });
    let output = scan_as_alice(
        &app.origin(),
        WEAK_PASSWORD,
        &["--format", "sarif", "--max-requests", "40"],
    )
    .await;
    assert_eq!(output.code, Some(1));
    let sarif: Value = serde_json::from_str(&output.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let weak = results.iter().find(|r| r["ruleId"] == "jwt-weak-secret").unwrap();
    assert_eq!(weak["level"], "error", "high is error");
    let errors = tokio::task::spawn_blocking(move || validate(&output.stdout))
        .await
        .unwrap();
    assert_eq!(errors, Vec::<String>::new());
    // The validator does fail what is not SARIF 2.1.0.
    let broken = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{}},"results":[{"level":"severe"}]}]}"#;
    let errors = tokio::task::spawn_blocking(move || validate(broken))
        .await
        .unwrap();
    assert!(!errors.is_empty());
}

#[tokio::test]
async fn an_unreachable_target_a_failed_login_and_bad_usage_exit_2() {
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let unreachable = scan(&[&nobody], "").await;
    assert_eq!(unreachable.code, Some(2), "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("cannot be reached"),
        "{}",
        unreachable.stderr
    );

    let app = Upstream::start(App::Weak {
        tokens_unchecked: false,
    });
    let wrong = scan_as_alice(&app.origin(), "not-the-password", &[]).await;
    assert_eq!(wrong.code, Some(2), "{wrong:?}");
    assert!(
        wrong.stderr.contains("the login failed: POST /token -> 401"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("not-the-password"));

    for args in [
        &["ftp://example.com"][..],
        &[&app.origin(), "--login", "/token"][..],
        &[&app.origin(), "--format", "xml"][..],
    ] {
        let usage = scan(args, "").await;
        assert_eq!(usage.code, Some(2), "{args:?}: {usage:?}");
    }
}
