//! Many instances as one: two servers on one PostgreSQL database and one
//! Redis share rate-limit budgets; Redis going away never stops a server.

use serde_json::Value;

use crate::{
    helpers::{PASSWORD, TestConfig, TestServer, post_token, run_cli, strong_secret},
    storage::PgDatabase,
};

const REDIS: &str = "redis://127.0.0.1:6379/0";
/// A port where nothing listens: Redis "down".
const NO_REDIS: &str = "redis://127.0.0.1:1/0";

/// The configuration of one deployment: a database, Redis, one secret.
fn deployment(database: &str, secret: &str) -> TestConfig {
    TestConfig::default()
        .env("RAMPART_DATABASE_URL", database)
        .env("RAMPART_SECRET_KEY", secret)
        .env("RAMPART_RATE_LIMIT__BACKEND", "redis")
        .env("RAMPART_RATE_LIMIT__REDIS_URL", REDIS)
}

fn remaining(response: &reqwest::Response) -> u32 {
    response.headers()["ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn two_instances_spend_one_budget_and_accept_each_others_tokens() {
    let database = PgDatabase::create().await;
    let secret = strong_secret();
    let config = deployment(&database.url(), &secret)
        .env("RAMPART_RATE_LIMIT__DEFAULT", "6/minute")
        .env("RAMPART_RATE_LIMIT__LOGIN", "3/minute");
    let a = TestServer::start_with(config.clone()).await;
    let b = TestServer::start_with(config).await;
    a.create_user("alice", PASSWORD, &["user"]);

    // A token from one instance works on the other, and the user's budget
    // counts down across both.
    let token = a.login("alice", PASSWORD).await.access_token;
    let mut seen = Vec::new();
    for server in [&a, &b, &a, &b, &a, &b] {
        let response = server.get_as("/users/me", &token).await;
        assert_eq!(response.status(), 200);
        seen.push(remaining(&response));
    }
    assert_eq!(seen, [5, 4, 3, 2, 1, 0]);
    let refused = b.get_as("/users/me", &token).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // Refused here, remembered until its retry time: refused there too.
    assert_eq!(a.get_as("/users/me", &token).await.status(), 429);

    // The login budget of one client is one across both instances (the
    // successful login above spent one of its 3).
    let client = reqwest::Client::new();
    assert_eq!(
        post_token(&client, &b, "alice", "wrong password").await.status(),
        401
    );
    assert_eq!(
        post_token(&client, &a, "alice", "wrong password").await.status(),
        401
    );
    let refused = post_token(&client, &b, "alice", "wrong password").await;
    assert_eq!(refused.status(), 429);

    let ready: Value = a.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready, serde_json::json!({"status": "ok"}));
    drop((a, b));
    database.drop_now().await;
}

#[tokio::test]
async fn a_limit_above_a_million_a_second_is_counted_in_redis_too() {
    // A limit raised out of the way (as benchmarks do) is finer than
    // Redis's microsecond clock: it must still be counted there, not fail
    // over to local budgets.
    let database = PgDatabase::create().await;
    let config =
        deployment(&database.url(), &strong_secret()).env("RAMPART_RATE_LIMIT__DEFAULT", "1000000000/minute");
    let server = TestServer::start_with(config).await;
    for _ in 0..5 {
        let response = server.get("/").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-limit"], "1000000000");
    }
    let metrics = server.metrics().await;
    assert!(
        !metrics
            .lines()
            .any(|line| line.starts_with("rate_limit_backend_errors_total")),
        "{metrics}"
    );
    let ready: Value = server.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready, serde_json::json!({"status": "ok"}));
    drop(server);
    database.drop_now().await;
}

#[tokio::test]
async fn an_unreachable_redis_leaves_the_server_serving_with_local_limits() {
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_RATE_LIMIT__BACKEND", "redis")
            .env("RAMPART_RATE_LIMIT__REDIS_URL", NO_REDIS)
            .env("RAMPART_RATE_LIMIT__DEFAULT", "3/minute"),
    )
    .await;
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("Redis is unreachable at start")),
        "a warning, not a refusal to start"
    );
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status(), 200, "the instance serves");
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["redis"], "unreachable");

    // Budgets per instance meanwhile: the limit still holds.
    for expected in [2, 1, 0] {
        let response = server.get("/").await;
        assert_eq!(response.status(), 200);
        assert_eq!(remaining(&response), expected);
    }
    assert_eq!(server.get("/").await.status(), 429);
    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rate_limit_backend_errors_total ")),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "rate_limit_backend_degraded 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_redis_failure_deny_limited_routes_answer_503_while_redis_is_down() {
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_RATE_LIMIT__BACKEND", "redis")
            .env("RAMPART_RATE_LIMIT__REDIS_URL", NO_REDIS)
            .env("RAMPART_RATE_LIMIT__REDIS_FAILURE", "deny"),
    )
    .await;
    let refused = server.get("/").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"], "Rate limiting unavailable, retry shortly");
    // Probes are under no policy: they answer.
    assert_eq!(server.get("/healthz").await.status(), 200);
    assert_eq!(server.get("/readyz").await.status(), 200);
}

#[test]
fn config_check_knows_what_the_redis_backend_needs() {
    let redis = TestConfig::default().env("RAMPART_RATE_LIMIT__BACKEND", "redis");
    let output = run_cli(&redis, &["config", "check"], "");
    assert_eq!(output.code, Some(1), "{output:?}");
    assert!(
        output
            .stdout
            .contains("error: rate_limit.redis_url: the redis backend needs a redis_url"),
        "{}",
        output.stdout
    );

    // SQLite: one instance by construction.
    let local = redis.clone().env("RAMPART_RATE_LIMIT__REDIS_URL", REDIS);
    let output = run_cli(&local, &["config", "check"], "");
    assert_eq!(output.code, Some(0), "{output:?}");
    assert!(
        output
            .stdout
            .contains("warning: rate_limit.backend: with SQLite there is one instance"),
        "{}",
        output.stdout
    );

    // Plain redis:// to another host: an error in production.
    let remote = redis
        .env("RAMPART_RATE_LIMIT__REDIS_URL", "redis://10.0.0.5:6379/0")
        .env("RAMPART_ENV", "production");
    let output = run_cli(&remote, &["config", "check"], "");
    assert_eq!(output.code, Some(1), "{output:?}");
    assert!(
        output
            .stdout
            .contains("error: rate_limit.redis_url: plain redis:// to another host"),
        "{}",
        output.stdout
    );
    let tls = remote.env("RAMPART_RATE_LIMIT__REDIS_URL", "rediss://10.0.0.5:6379/0");
    let output = run_cli(&tls, &["config", "check"], "");
    assert!(
        !output.stdout.contains("rate_limit.redis_url"),
        "{}",
        output.stdout
    );
}

/// Two instances of one deployment on a fresh PostgreSQL database, with
/// users alice, bob (user) and root (admin).
async fn two_instances() -> (PgDatabase, TestServer, TestServer) {
    let database = PgDatabase::create().await;
    let config = TestConfig::default()
        .env("RAMPART_DATABASE_URL", &database.url())
        .env("RAMPART_SECRET_KEY", &strong_secret());
    let a = TestServer::start_with(config.clone()).await;
    let b = TestServer::start_with(config).await;
    a.create_user("alice", PASSWORD, &["user"]);
    a.create_user("bob", PASSWORD, &["user"]);
    a.create_user("root", PASSWORD, &["admin"]);
    (database, a, b)
}

/// Polls `server` with `token` until it answers `status`; how long that took.
async fn until_status(server: &TestServer, token: &str, status: u16) -> std::time::Duration {
    let started = std::time::Instant::now();
    while server.get_as("/users/me", token).await.status() != status {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "still not {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    started.elapsed()
}

fn announced(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("changes_announced_total "))
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn revocation_disable_and_role_change_on_one_instance_reach_the_other_pushed() {
    let (database, a, b) = two_instances().await;
    let root = a.login("root", PASSWORD).await.access_token;
    let before = announced(&b.metrics().await);

    // Revocation on A: B refuses the token within SPEC's 5 s.
    let alice = a.login("alice", PASSWORD).await.access_token;
    assert_eq!(b.get_as("/users/me", &alice).await.status(), 200);
    let revoked = a
        .client
        .post(a.url("/token/revoke"))
        .form(&[("token", alice.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let took = until_status(&b, &alice, 401).await;
    assert!(
        took < std::time::Duration::from_secs(5),
        "revocation took {took:?}"
    );

    // Disabling bob on A.
    let bob = a.login("bob", PASSWORD).await.access_token;
    assert_eq!(b.get_as("/users/me", &bob).await.status(), 200);
    let disabled = a
        .client
        .post(a.url("/admin/users/bob/disable"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    let took = until_status(&b, &bob, 401).await;
    assert!(took < std::time::Duration::from_secs(5), "disable took {took:?}");

    // A role change on A.
    let alice = a.login("alice", PASSWORD).await.access_token;
    assert_eq!(b.get_as("/users/me", &alice).await.status(), 200);
    let changed = a.set_roles(&root, "alice", &["user", "auditor"]).await;
    assert_eq!(changed.status(), 200);
    let took = until_status(&b, &alice, 401).await;
    assert!(
        took < std::time::Duration::from_secs(5),
        "role change took {took:?}"
    );
    // A token issued after the change works on B at once.
    let fresh = a.login("alice", PASSWORD).await.access_token;
    assert_eq!(b.get_as("/users/me", &fresh).await.status(), 200);

    // B heard of the changes from PostgreSQL, not only from its polling.
    assert!(announced(&b.metrics().await) >= before + 3);
    drop((a, b));
    database.drop_now().await;
}

#[tokio::test]
async fn a_key_rotated_on_one_instance_verifies_on_the_other_at_once() {
    let (database, a, b) = two_instances().await;
    let root = a.login("root", PASSWORD).await.access_token;
    let rotated = a
        .client
        .post(a.url("/admin/keys/rotate"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let fresh = a.login("alice", PASSWORD).await.access_token;
    assert_eq!(b.get_as("/users/me", &fresh).await.status(), 200);
    drop((a, b));
    database.drop_now().await;
}

#[tokio::test]
async fn logging_out_on_one_instance_closes_the_sessions_socket_on_the_other() {
    use crate::helpers::{Browser, close_code, open_ws};

    let (database, a, b) = two_instances().await;
    let mut browser = Browser::new(&b);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    let cookie = format!("rampart_session={}", browser.cookie("rampart_session"));
    let origin = format!("http://{}", a.addr);
    let mut socket = open_ws(&a, &[("cookie", &cookie), ("origin", &origin)])
        .await
        .expect("a session from B opens a socket on A");

    let logout = browser.log_out().await;
    assert_eq!(logout.status(), 303);
    let (code, after) = close_code(&mut socket).await;
    assert_eq!(code, 1008);
    assert!(
        after < std::time::Duration::from_secs(5),
        "closed after {after:?}"
    );
    drop((a, b));
    database.drop_now().await;
}

#[tokio::test]
async fn a_socket_on_one_instance_receives_items_written_through_the_other() {
    use crate::helpers::{next_event, open_ws_bearer};

    let (database, a, b) = two_instances().await;
    let alice = a.login("alice", PASSWORD).await.access_token;
    let bob = a.login("bob", PASSWORD).await.access_token;
    let mut socket = open_ws_bearer(&a, &alice).await;

    // The object rule holds across instances too: bob's item never comes.
    for (token, name) in [(&bob, "bob's, through B"), (&alice, "alice's, through B")] {
        let created = b
            .client
            .post(b.url("/items/"))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": name, "price": 1.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let event = next_event(&mut socket).await;
    assert_eq!(event["event"], "created");
    assert_eq!(event["item"]["name"], "alice's, through B");
    assert_eq!(event["item"]["owner"], "alice");

    // A write through A itself arrives once, not again from the log.
    let created = a
        .client
        .post(a.url("/items/"))
        .bearer_auth(&alice)
        .json(&serde_json::json!({"name": "through A", "price": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created = b
        .client
        .post(b.url("/items/"))
        .bearer_auth(&alice)
        .json(&serde_json::json!({"name": "through B again", "price": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(next_event(&mut socket).await["item"]["name"], "through A");
    assert_eq!(next_event(&mut socket).await["item"]["name"], "through B again");
    drop((a, b));
    database.drop_now().await;
}
