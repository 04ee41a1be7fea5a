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
