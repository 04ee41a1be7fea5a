//! Rate limits: per client IP, per attempted user name, behind proxies, and
//! in bounded memory.

use serde_json::Value;

use crate::helpers::{TestConfig, TestServer, client_from, post_token, wait_for_event};

fn header(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name]
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

#[tokio::test]
async fn the_sixth_login_in_a_period_is_refused_while_another_client_logs_in() {
    // Per hour rather than minute: the budget must not refill (one request
    // every 12 s) while five logins hash on a busy machine.
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__LOGIN", "5/hour")).await;
    server.create_user("alice", "correct horse battery", &["user"]);
    server.create_user("root", "correct horse battery", &["admin"]);
    let first = client_from("127.0.0.2");

    for attempt in 1..=5u64 {
        let response = post_token(&first, &server, "alice", "correct horse battery").await;
        assert_eq!(response.status(), 200, "login {attempt}");
        assert_eq!(header(&response, "ratelimit-limit"), 5);
        assert_eq!(header(&response, "ratelimit-remaining"), 5 - attempt);
        // Whole again after one 720 s interval per request spent.
        assert_eq!(header(&response, "ratelimit-reset"), 720 * attempt);
    }
    let refused = post_token(&first, &server, "alice", "correct horse battery").await;
    assert_eq!(refused.status(), 429);
    let retry_after = header(&refused, "retry-after");
    assert!((1..=720).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header(&refused, "ratelimit-limit"), 5);
    assert_eq!(header(&refused, "ratelimit-remaining"), 0);
    assert!(header(&refused, "ratelimit-reset") >= retry_after);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"detail": "Rate limit exceeded: 5 per 1 hour"})
    );

    // Another client is not affected, and the refusal was audited.
    let second = client_from("127.0.0.3");
    let response = post_token(&second, &server, "root", "correct horse battery").await;
    assert_eq!(response.status(), 200);
    let admin: Value = response.json().await.unwrap();
    let event = wait_for_event(
        &server,
        admin["access_token"].as_str().unwrap(),
        "rate_limited",
        |e| e["action"] == "rate_limited",
    )
    .await;
    assert_eq!(event["outcome"], "denied");
    assert_eq!(event["target"], "login");
    assert_eq!(event["client_ip"], "127.0.0.2");

    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rate_limit_refusals_total{policy=\"login\"} 1")),
        "{metrics}"
    );
}

#[tokio::test]
async fn guessing_one_users_password_from_many_addresses_is_stopped_per_user_name() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "3/hour"))
            .await;
    server.create_user("alice", "correct horse battery", &["user"]);
    server.create_user("bob", "correct horse battery", &["user"]);

    for n in 0..3 {
        let guesser = client_from(&format!("127.0.1.{}", 10 + n));
        let response = post_token(&guesser, &server, "alice", "wrong guess").await;
        assert_eq!(response.status(), 401, "guess {n}");
    }
    // A fresh address with the right password is still refused: the budget
    // belongs to the name, in any letter case.
    let fresh = client_from("127.0.1.20");
    let refused = post_token(&fresh, &server, "ALICE", "correct horse battery").await;
    assert_eq!(refused.status(), 429);
    assert!(header(&refused, "retry-after") >= 1);
    assert_eq!(header(&refused, "ratelimit-limit"), 3);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"], "Rate limit exceeded: 3 per 1 hour");

    // Other users are not affected.
    let response = post_token(&fresh, &server, "bob", "correct horse battery").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_gives_no_fresh_budget() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__DEFAULT", "3/minute")).await;
    let client = client_from("127.0.0.4");
    for n in 0..3 {
        let response = client
            .get(server.url("/"))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let response = client
        .get(server.url("/"))
        .header("x-forwarded-for", "203.0.113.99")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
}

/// A server with a budget of 2 a minute behind the proxy 127.0.0.5, and a
/// client that connects from that proxy.
async fn behind_a_trusted_proxy() -> (TestServer, reqwest::Client) {
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_RATE_LIMIT__DEFAULT", "2/minute")
            .env("RAMPART_PROXY__TRUSTED", "127.0.0.5"),
    )
    .await;
    (server, client_from("127.0.0.5"))
}

#[tokio::test]
async fn clients_forwarded_by_a_trusted_proxy_have_their_own_budgets() {
    let (server, proxy) = behind_a_trusted_proxy().await;
    let via_proxy = |client: &'static str| {
        proxy
            .get(server.url("/"))
            // A client-written entry on the left is never believed.
            .header("x-forwarded-for", format!("6.6.6.6, {client}"))
            .send()
    };
    assert_eq!(via_proxy("198.51.100.1").await.unwrap().status(), 200);
    assert_eq!(via_proxy("198.51.100.1").await.unwrap().status(), 200);
    assert_eq!(via_proxy("198.51.100.1").await.unwrap().status(), 429);
    assert_eq!(via_proxy("198.51.100.2").await.unwrap().status(), 200);
}

#[tokio::test]
async fn probes_are_never_limited_and_every_other_route_says_its_budget() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__DEFAULT", "1/minute")).await;
    for _ in 0..3 {
        for probe in ["/healthz", "/readyz"] {
            let response = server.get(probe).await;
            assert_eq!(response.status(), 200);
            assert!(response.headers().get("ratelimit-limit").is_none());
        }
    }
    let response = server.get("/no/such/route").await;
    assert_eq!(response.status(), 404);
    assert_eq!(header(&response, "ratelimit-limit"), 1);
    assert_eq!(server.get("/").await.status(), 429);
}

#[tokio::test]
async fn an_authenticated_client_spends_its_users_budget_not_its_addresses() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__DEFAULT", "2/minute")).await;
    server.create_user("alice", "correct horse battery", &["user"]);
    server.create_user("bob", "correct horse battery", &["user"]);
    let alice = server.login("alice", "correct horse battery").await;
    let bob = server.login("bob", "correct horse battery").await;
    for _ in 0..2 {
        assert_eq!(
            server.get_as("/users/me", &alice.access_token).await.status(),
            200
        );
    }
    assert_eq!(
        server.get_as("/users/me", &alice.access_token).await.status(),
        429
    );
    // Same address, another user: a budget of its own.
    assert_eq!(server.get_as("/users/me", &bob.access_token).await.status(), 200);
}

#[tokio::test]
async fn the_docs_have_their_own_budget() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__DOCS", "2/hour")).await;
    for path in ["/openapi.json", "/docs"] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "ratelimit-limit"), 2);
    }
    let refused = server.get("/openapi.json").await;
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"], "Rate limit exceeded: 2 per 1 hour");
    // Other routes spend the default budget.
    assert_eq!(server.get("/").await.status(), 200);
}

#[tokio::test]
async fn forwarded_entries_with_a_port_are_keyed_by_their_address() {
    let (server, proxy) = behind_a_trusted_proxy().await;
    let via_proxy = |forwarded: &str, request_id: &str| {
        proxy
            .get(server.url("/"))
            .header("x-forwarded-for", forwarded)
            .header("x-request-id", request_id)
            .send()
    };

    // One address from two source ports: one budget, the address's.
    let first = via_proxy("198.51.100.7:4711", "port-1").await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(server.access_log("port-1").await["client_ip"], "198.51.100.7");
    assert_eq!(
        via_proxy("198.51.100.7:4712", "port-2").await.unwrap().status(),
        200
    );
    assert_eq!(
        via_proxy("198.51.100.7:4713", "port-3").await.unwrap().status(),
        429
    );

    // Other clients behind the same proxy keep their own budgets.
    let v6 = via_proxy("[2001:db8::1]:443", "port-v6").await.unwrap();
    assert_eq!(v6.status(), 200);
    assert_eq!(server.access_log("port-v6").await["client_ip"], "2001:db8::1");
    assert_eq!(
        via_proxy("198.51.100.8:4711", "port-4").await.unwrap().status(),
        200
    );
}
