//! Security events are stored and listed newest first, with actor and outcome.

use serde_json::Value;

use crate::helpers::{TestConfig, TestServer, wait_for_event};

fn is(action: &'static str, actor: Option<&'static str>, outcome: &'static str) -> impl Fn(&Value) -> bool {
    move |e: &Value| e["action"] == action && e["outcome"] == outcome && actor.is_none_or(|a| e["actor"] == a)
}

/// A server with `alice` (a user) and `root` (an admin), and root's token
/// to read the audit log.
async fn audited_server() -> (TestServer, String) {
    let server = TestServer::start().await;
    server.create_user("alice", "Alice-s3cure-passphrase", &[]);
    server.create_user("root", "Root-s3cure-passphrase", &["admin", "user"]);
    let admin = server.login("root", "Root-s3cure-passphrase").await;
    (server, admin.access_token)
}

#[tokio::test]
async fn logins_refreshes_and_revocations_are_audited_and_no_password_is_logged() {
    let (server, token) = audited_server().await;
    let alice = server.login("alice", "Alice-s3cure-passphrase").await;
    let ok = wait_for_event(&server, &token, "login ok", is("login", Some("alice"), "success")).await;
    assert_eq!(ok["client_ip"], "127.0.0.1");
    assert!(ok["request_id"].is_string());
    assert!(ok["at"].is_i64());

    assert_eq!(server.token("alice", "wrong-password-1").await.status(), 401);
    wait_for_event(
        &server,
        &token,
        "login failed",
        is("login", Some("alice"), "failure"),
    )
    .await;

    assert_eq!(server.refresh(&alice.refresh_token).await.status(), 200);
    wait_for_event(
        &server,
        &token,
        "refresh",
        is("refresh", Some("alice"), "success"),
    )
    .await;
    assert_eq!(server.refresh(&alice.refresh_token).await.status(), 401);
    wait_for_event(
        &server,
        &token,
        "refresh reuse",
        is("refresh_reuse", None, "denied"),
    )
    .await;

    let revoke = server
        .client
        .post(server.url("/token/revoke"))
        .form(&[("token", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    wait_for_event(&server, &token, "revoke", is("revoke", None, "success")).await;

    // Each event is also a log line (written within a fraction of a
    // second), and no line carries a password.
    server
        .wait_for_log("the revocation's audit line", |line| {
            line["message"] == "audit" && line["action"] == "revoke"
        })
        .await;
    let logs = server.logs().join("\n");
    assert!(!logs.contains("Alice-s3cure-passphrase") && !logs.contains("wrong-password-1"));
}

#[tokio::test]
async fn denials_and_administration_are_audited_with_their_target() {
    let (server, token) = audited_server().await;
    let alice = server.login("alice", "Alice-s3cure-passphrase").await;
    assert_eq!(
        server.get_as("/admin/users", &alice.access_token).await.status(),
        403
    );
    let denied = wait_for_event(
        &server,
        &token,
        "access denied",
        is("access_denied", Some("alice"), "denied"),
    )
    .await;
    assert_eq!(denied["target"], "/admin/users");

    let response = server.set_roles(&token, "alice", &["user", "editor"]).await;
    assert_eq!(response.status(), 200);
    let changed = wait_for_event(
        &server,
        &token,
        "role changed",
        is("role_changed", Some("root"), "success"),
    )
    .await;
    assert_eq!(changed["target"], "alice");

    let response = server
        .client
        .post(server.url("/admin/users/alice/disable"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let disabled = wait_for_event(
        &server,
        &token,
        "user disabled",
        is("user_disabled", Some("root"), "success"),
    )
    .await;
    assert_eq!(disabled["target"], "alice");

    let response = server
        .client
        .post(server.url("/admin/keys/rotate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let kid = response.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = wait_for_event(
        &server,
        &token,
        "key rotated",
        is("key_rotated", Some("root"), "success"),
    )
    .await;
    assert_eq!(rotated["target"], kid.as_str());

    let output = server.cli(&["keys", "rotate"], "");
    assert_eq!(output.code, Some(0));
    wait_for_event(
        &server,
        &token,
        "key rotated by the command line",
        is("key_rotated", Some("cli"), "success"),
    )
    .await;
}

#[tokio::test]
async fn the_audit_log_lists_newest_first_within_its_limit() {
    let (server, token) = audited_server().await;
    wait_for_event(
        &server,
        &token,
        "root's login",
        is("login", Some("root"), "success"),
    )
    .await;
    // Newest first, and the limit holds.
    let events: Value = server
        .get_as("/admin/audit?limit=2", &token)
        .await
        .json()
        .await
        .unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0]["at"].as_i64() >= events[1]["at"].as_i64());
    assert_eq!(server.get_as("/admin/audit?limit=0", &token).await.status(), 422);
}

#[tokio::test]
async fn a_user_created_on_the_command_line_is_audited_like_one_created_by_the_api() {
    let server = TestServer::start().await;
    server.create_user("root", "Root-s3cure-passphrase", &["admin"]);
    let admin = server.login("root", "Root-s3cure-passphrase").await;
    let created = wait_for_event(
        &server,
        &admin.access_token,
        "user created on the command line",
        |e| e["action"] == "user_created" && e["target"] == "root",
    )
    .await;
    assert_eq!(created["actor"], "cli");
    assert_eq!(created["outcome"], "success");
}

#[tokio::test]
async fn audit_events_older_than_the_retention_are_purged_in_the_background() {
    use rampart::store::{AuditRecord, Store, now_ms};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let config = crate::helpers::TestConfig::default()
        .env("RAMPART_DATABASE_URL", &url)
        .env("RAMPART_SECRET_KEY", &crate::helpers::strong_secret());
    // The first server makes the database; events are written beside it.
    let first = TestServer::start_with(config.clone()).await;
    let store = Store::connect(&url.parse().unwrap()).await.unwrap();
    let event = |age_days: i64, action: &str| AuditRecord {
        at: now_ms() - age_days * 24 * 3600 * 1000,
        actor: Some("alice".into()),
        action: action.into(),
        target: None,
        client_ip: None,
        request_id: None,
        outcome: "success".into(),
    };
    store
        .insert_audit_events(&[event(40, "old_event"), event(10, "recent_event")])
        .await
        .unwrap();
    drop(first);
    // A server with a 30-day retention purges at start, then hourly.
    let _second = TestServer::start_with(config.env("RAMPART_AUDIT__RETENTION", "30d")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let filter = rampart::store::AuditFilter {
            limit: 100,
            ..Default::default()
        };
        let actions: Vec<String> = store
            .list_audit_events(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.record.action)
            .collect();
        if !actions.contains(&"old_event".to_owned()) {
            assert!(actions.contains(&"recent_event".to_owned()), "{actions:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never purged: {actions:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
}

/// `GET /healthz` `count` times, `concurrency` at a time, each with a long
/// request id (a long access line) starting with `prefix`.
async fn flood(server: &TestServer, prefix: &str, count: usize) {
    use futures_util::StreamExt;
    futures_util::stream::iter(0..count)
        .map(|n| {
            let id = format!("{prefix}-{n:08}-{}", "x".repeat(100));
            let request = server
                .client
                .get(server.url("/healthz"))
                .header("x-request-id", id);
            async move { request.send().await.unwrap().status() }
        })
        .buffer_unordered(32)
        .for_each(|status| async move { assert_eq!(status, 200) })
        .await;
}

#[tokio::test]
async fn audit_lines_are_never_dropped_from_a_stdout_that_does_not_keep_up() {
    // One worker thread: every access line goes to one buffer, so a flood of
    // known size fills it whatever the number of CPUs.
    let server = TestServer::start_with(TestConfig::default().env("TOKIO_WORKER_THREADS", "1")).await;
    server.create_user("alice", "Alice-s3cure-passphrase", &[]);
    server.create_user("root", "Root-s3cure-passphrase", &["admin", "user"]);
    let admin = server.login("root", "Root-s3cure-passphrase").await;

    // The log shipper stalls: the pipe fills, then the server's buffer.
    server.pause_stdout();
    const FLOOD: usize = 15_000;
    flood(&server, "before", FLOOD).await;
    for n in 0..3 {
        let wrong = format!("wrong-password-{n}");
        assert_eq!(server.token("alice", &wrong).await.status(), 401);
    }
    let response = server
        .set_roles(&admin.access_token, "alice", &["user", "editor"])
        .await;
    assert_eq!(response.status(), 200);
    flood(&server, "after", 2_000).await;
    server.resume_stdout();

    let notice = server
        .wait_for_log("a drop notice", |line| {
            line["dropped"].as_u64().is_some_and(|n| n > 0)
        })
        .await;
    assert_eq!(notice["level"], "warn", "{notice}");
    server
        .wait_for_log("the role change's audit line", |line| {
            line["message"] == "audit" && line["action"] == "role_changed" && line["subject"] == "alice"
        })
        .await;
    let logs = server.logs();
    let audit: Vec<Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "audit")
        .collect();
    let failed_logins = audit
        .iter()
        .filter(|line| line["action"] == "login" && line["outcome"] == "failure" && line["actor"] == "alice")
        .count();
    assert_eq!(failed_logins, 3, "every failed login's audit line: {audit:#?}");
    let flooded = logs.iter().filter(|line| line.contains("\"before-")).count();
    assert!(
        flooded < FLOOD,
        "no access line was dropped: the test proves nothing"
    );
    assert!(
        !logs.iter().any(|line| line.contains("wrong-password-")),
        "no password in the log"
    );

    let metrics = server.metrics().await;
    assert!(metrics.contains("# HELP log_lines_dropped_total "), "{metrics}");
    let dropped: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("log_lines_dropped_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("log_lines_dropped_total: {metrics}"));
    assert!(dropped > 0, "{metrics}");
}

/// Events of `actor` and `action` at `at` (unix ms), stored as the audit
/// writer stores them.
fn event_at(at: i64, actor: &str, action: &str, outcome: &str) -> rampart::store::AuditRecord {
    rampart::store::AuditRecord {
        at,
        actor: Some(actor.into()),
        action: action.into(),
        target: None,
        client_ip: Some("192.0.2.7".into()),
        request_id: None,
        outcome: outcome.into(),
    }
}

const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_action_outcome_and_time_and_pages_by_id() {
    let (server, token) = audited_server().await;
    let store = server.store().await;
    let base = now_ms() - 10 * HOUR;
    let events: Vec<_> = (0..6)
        .map(|i| {
            event_at(
                base + i * HOUR,
                "mallory",
                "login",
                if i % 2 == 0 { "failure" } else { "success" },
            )
        })
        .chain([event_at(base, "trent", "login", "failure")])
        .collect();
    store.insert_audit_events(&events).await.unwrap();
    store.close().await;

    let list = |query: String| {
        let server = &server;
        let token = token.clone();
        async move {
            let response = server.get_as(&format!("/admin/audit?{query}"), &token).await;
            assert_eq!(response.status(), 200, "{query}");
            response.json::<Vec<Value>>().await.unwrap()
        }
    };
    let failures = list("actor=mallory&action=login&outcome=failure".into()).await;
    assert_eq!(failures.len(), 3);
    assert!(
        failures
            .iter()
            .all(|e| e["actor"] == "mallory" && e["outcome"] == "failure")
    );
    // Newest first, by id.
    assert!(failures[0]["id"].as_i64() > failures[1]["id"].as_i64());
    assert_eq!(failures[0]["at"], base + 4 * HOUR);

    // A time window: since inclusive, until exclusive.
    let window = list(format!(
        "actor=mallory&since={}&until={}",
        rfc3339(base + HOUR),
        rfc3339(base + 3 * HOUR)
    ))
    .await;
    let times: Vec<i64> = window.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert_eq!(times, [base + 2 * HOUR, base + HOUR]);

    // Pages of two, each after the last id of the one before.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let page = list(format!("actor=mallory&limit=2{before}")).await;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|e| e["at"].as_i64().unwrap()));
        before = format!("&before={}", page.last().unwrap()["id"]);
    }
    let expected: Vec<i64> = (0..6).rev().map(|i| base + i * HOUR).collect();
    assert_eq!(seen, expected);

    for bad in [
        "since=yesterday",
        "before=0",
        "until=2026-13-01T00:00:00Z",
        "actor=",
    ] {
        let response = server.get_as(&format!("/admin/audit?{bad}"), &token).await;
        assert_eq!(response.status(), 422, "{bad}");
    }
}

#[tokio::test]
async fn hourly_stats_count_logins_and_refusals_with_a_rate_limited_login_apart() {
    let server = TestServer::start_with(
        TestConfig::default().env("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "2/minute"),
    )
    .await;
    server.create_user("root", "Root-s3cure-passphrase", &["admin", "user"]);
    let admin = server.login("root", "Root-s3cure-passphrase").await;
    let store = server.store().await;
    let now = now_ms();
    store
        .insert_audit_events(&[
            event_at(now - HOUR, "a", "login", "success"),
            event_at(now - HOUR, "a", "csrf_rejected", "denied"),
            event_at(now - 23 * HOUR, "a", "login", "failure"),
            // Outside the 24 hours.
            event_at(now - 25 * HOUR, "a", "login", "failure"),
        ])
        .await
        .unwrap();
    // Two wrong passwords, then a third the per-name limit refuses.
    for _ in 0..2 {
        assert_eq!(server.token("mallory", "wrong-password-1").await.status(), 401);
    }
    assert_eq!(server.token("mallory", "wrong-password-1").await.status(), 429);

    let stats = || async {
        let response = server.get_as("/admin/stats?hours=24", &admin.access_token).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let body = loop {
        let body = stats().await;
        let last = &body["buckets"][23];
        if last["rate_limited"] == 1 && last["logins_failed"] == 2 {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the audit writer never stored them: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 24);
    let hour_start = |ms: i64| rfc3339(ms / HOUR * HOUR).replace(".000Z", "Z");
    assert_eq!(buckets[23]["start"], hour_start(now));
    assert_eq!(buckets[0]["start"], hour_start(now - 23 * HOUR));
    // Root's own login is this hour's success.
    assert_eq!(buckets[23]["logins_succeeded"], 1);
    assert_eq!(buckets[22]["logins_succeeded"], 1);
    assert_eq!(buckets[22]["csrf_rejected"], 1);
    assert_eq!(buckets[0]["logins_failed"], 1);
    let total_failed: i64 = buckets.iter().map(|b| b["logins_failed"].as_i64().unwrap()).sum();
    assert_eq!(total_failed, 3, "the 25-hour-old failure is not counted");

    assert_eq!(
        server
            .get_as("/admin/stats?hours=0", &admin.access_token)
            .await
            .status(),
        422
    );
    let alice = server.get_as("/admin/stats", "not-a-token").await;
    assert_eq!(alice.status(), 401);
}

/// Each database's plan for the hourly counts: the covering index, never a
/// scan of the table.
#[tokio::test]
async fn the_hourly_counts_read_an_index_not_the_table() {
    let server = TestServer::start().await;
    let url = server.database_url();
    let query = rampart::store::STATS_QUERY;
    let plan: Vec<String> = if url.starts_with("postgres") {
        let mut connection: sqlx::PgConnection =
            sqlx::ConnectOptions::connect(&url.parse::<sqlx::postgres::PgConnectOptions>().unwrap())
                .await
                .unwrap();
        // A planner that sees an empty table may prefer a scan anyway:
        // ask it to take the index whenever one serves.
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut connection)
            .await
            .unwrap();
        let explain = format!(
            "EXPLAIN {}",
            query
                .replace("$1", "'login'")
                .replace("$2", "'rate_limited'")
                .replace("$3", "'csrf_rejected'")
                .replace("$4", "0")
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut connection)
            .await
            .unwrap()
    } else {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(server.database());
        let mut connection: sqlx::SqliteConnection = sqlx::ConnectOptions::connect(&options).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}")))
                .bind("login")
                .bind("rate_limited")
                .bind("csrf_rejected")
                .bind(0i64)
                .fetch_all(&mut connection)
                .await
                .unwrap();
        rows.into_iter().map(|(_, _, _, detail)| detail).collect()
    };
    let plan = plan.join("\n");
    assert!(plan.contains("audit_events_action_at"), "{plan}");
    assert!(
        !plan.contains("SCAN audit_events\n") && !plan.ends_with("SCAN audit_events"),
        "{plan}"
    );
    assert!(!plan.contains("Seq Scan"), "{plan}");
}
