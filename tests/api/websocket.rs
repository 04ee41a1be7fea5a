//! `GET /ws/items`: who may open a socket, what it carries, what it may
//! send, and that it lives no longer than the credential that opened it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Browser, PASSWORD, Socket, TestConfig, TestServer, cert_dev, close_code, next_event, open_ws,
    open_ws_bearer, raw_upgrade, send_text, wait_for_event,
};

/// SPEC: a revoked, disabled or logged-out socket closes within 5 s.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

async fn token(server: &TestServer, username: &str) -> String {
    server.login(username, PASSWORD).await.access_token
}

async fn create_item(server: &TestServer, token: &str, name: &str) -> Value {
    let response = server
        .client
        .post(server.url("/items/"))
        .bearer_auth(token)
        .json(&json!({"name": name, "price": 2.5, "description": "<b>ok</b><script>x</script>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn own_origin(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

/// A browser signed in as `username`, and the `Cookie` header its socket
/// would send.
async fn signed_in(server: &TestServer, username: &str) -> (Browser, String) {
    let mut browser = Browser::new(server);
    assert_eq!(browser.sign_in(username, PASSWORD).await.status(), 303);
    let cookie = format!("rampart_session={}", browser.cookie("rampart_session"));
    (browser, cookie)
}

#[tokio::test]
async fn a_bearer_socket_streams_created_updated_and_deleted_items_as_the_api_shows_them() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;

    let item = create_item(&server, &alice, "lamp").await;
    let created = next_event(&mut socket).await;
    assert_eq!(created["event"], "created");
    assert_eq!(created["item"], item, "the event carries the API's item");
    assert_eq!(created["item"]["description"], "<b>ok</b>");

    let id = item["id"].as_i64().unwrap();
    let updated = server
        .client
        .put(server.url(&format!("/items/{id}")))
        .bearer_auth(&alice)
        .json(&json!({"name": "lamp 2", "price": 3.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let event = next_event(&mut socket).await;
    assert_eq!(event["event"], "updated");
    assert_eq!(event["item"]["name"], "lamp 2");

    let deleted = server
        .client
        .delete(server.url(&format!("/items/{id}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let event = next_event(&mut socket).await;
    assert_eq!(event["event"], "deleted");
    assert_eq!(event["item"]["id"], id);
}

#[tokio::test]
async fn the_token_subprotocol_authenticates_and_only_the_app_protocol_is_echoed() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let offered = format!("rampart.v1, bearer.{alice}");

    let answer = raw_upgrade(&server, "/ws/items", &[("sec-websocket-protocol", &offered)]).await;
    assert_eq!(answer.status, 101);
    assert_eq!(answer.header("sec-websocket-protocol"), Some("rampart.v1"));

    // Offered alone, the token protocol authenticates but is never echoed.
    let alone = format!("bearer.{alice}");
    let answer = raw_upgrade(&server, "/ws/items", &[("sec-websocket-protocol", &alone)]).await;
    assert_eq!(answer.status, 101);
    assert_eq!(answer.header("sec-websocket-protocol"), None);

    // A client library that checks the selected protocol is satisfied, and
    // the socket is alice's.
    let mut socket = open_ws(&server, &[("sec-websocket-protocol", &offered)])
        .await
        .expect("upgrade");
    create_item(&server, &alice, "by protocol").await;
    assert_eq!(next_event(&mut socket).await["item"]["name"], "by protocol");

    // Two tokens, or a bad one, are refused.
    let two = format!("rampart.v1, bearer.{alice}, bearer.{alice}");
    let answer = raw_upgrade(&server, "/ws/items", &[("sec-websocket-protocol", &two)]).await;
    assert_eq!(answer.status, 401);
    let answer = raw_upgrade(
        &server,
        "/ws/items",
        &[("sec-websocket-protocol", "rampart.v1, bearer.x.y.z")],
    )
    .await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn without_credentials_or_with_a_token_in_the_query_the_upgrade_is_401_and_audited() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;

    assert_eq!(open_ws(&server, &[]).await.err(), Some(401));
    let answer = raw_upgrade(&server, &format!("/ws/items?access_token={alice}"), &[]).await;
    assert_eq!(answer.status, 401, "a token in the query string is never read");
    let answer = raw_upgrade(&server, &format!("/ws/items?token={alice}"), &[]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));

    let root = token(&server, "root").await;
    let event = wait_for_event(&server, &root, "websocket_refused", |e| {
        e["action"] == "websocket_refused" && e["target"] == "no_credentials"
    })
    .await;
    assert_eq!(event["outcome"], "denied");
}

#[tokio::test]
async fn a_foreign_origin_is_403_before_the_upgrade_whatever_the_credentials() {
    let server = TestServer::start_with(
        TestConfig::default().env("RAMPART_CORS__ALLOW_ORIGINS", r#"["https://app.example.com"]"#),
    )
    .await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = token(&server, "alice").await;
    let bearer = format!("Bearer {alice}");

    let foreign = [
        ("authorization", bearer.as_str()),
        ("origin", "https://evil.example"),
    ];
    assert_eq!(open_ws(&server, &foreign).await.err(), Some(403));
    let listed = [
        ("authorization", bearer.as_str()),
        ("origin", "https://app.example.com"),
    ];
    assert!(open_ws(&server, &listed).await.is_ok());
    let own = own_origin(&server);
    let own = [("authorization", bearer.as_str()), ("origin", own.as_str())];
    assert!(open_ws(&server, &own).await.is_ok());
    // Without a browser there may be no Origin: a token alone is enough.
    assert!(
        open_ws(&server, &[("authorization", bearer.as_str())])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_session_cookie_opens_a_socket_only_from_the_own_origin() {
    let server = TestServer::with_users().await;
    let (_browser, cookie) = signed_in(&server, "alice").await;
    let own = own_origin(&server);

    assert_eq!(
        open_ws(&server, &[("cookie", &cookie)]).await.err(),
        Some(403),
        "a cookie socket needs an Origin"
    );
    assert_eq!(
        open_ws(&server, &[("cookie", &cookie), ("origin", "http://evil.example")])
            .await
            .err(),
        Some(403)
    );
    let mut socket = open_ws(&server, &[("cookie", &cookie), ("origin", &own)])
        .await
        .expect("upgrade");
    let alice = token(&server, "alice").await;
    create_item(&server, &alice, "via cookie").await;
    assert_eq!(next_event(&mut socket).await["item"]["name"], "via cookie");
}

#[tokio::test]
async fn a_socket_carries_only_the_items_its_user_may_see_and_an_admins_carries_all() {
    let server = TestServer::with_users().await;
    let (alice, bob, root) = (
        token(&server, "alice").await,
        token(&server, "bob").await,
        token(&server, "root").await,
    );
    let mut alices = open_ws_bearer(&server, &alice).await;
    let mut admins = open_ws_bearer(&server, &root).await;

    create_item(&server, &bob, "bob's").await;
    create_item(&server, &alice, "alice's").await;

    // Events arrive in order: bob's would have come first.
    assert_eq!(next_event(&mut alices).await["item"]["name"], "alice's");
    assert_eq!(next_event(&mut admins).await["item"]["name"], "bob's");
    assert_eq!(next_event(&mut admins).await["item"]["name"], "alice's");
}

#[tokio::test]
async fn an_oversized_message_closes_the_socket_with_1009() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;
    // At the limit is fine; one byte over is not.
    assert!(send_text(&mut socket, "x".repeat(64 * 1024)).await);
    send_text(&mut socket, "x".repeat(64 * 1024 + 1)).await;
    assert_eq!(close_code(&mut socket).await.0, 1009);
}

#[tokio::test]
async fn a_flood_of_messages_closes_the_socket_with_1008() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;
    for _ in 0..40 {
        if !send_text(&mut socket, "hello".into()).await {
            break;
        }
    }
    assert_eq!(close_code(&mut socket).await.0, 1008);
}

#[tokio::test]
async fn revoking_the_token_closes_its_socket_within_5_s() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;
    let revoked = server
        .client
        .post(server.url("/token/revoke"))
        .form(&[("token", alice.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (code, after) = close_code(&mut socket).await;
    assert_eq!(code, 1008);
    assert!(after < CLOSE_WITHIN, "closed after {after:?}");
}

#[tokio::test]
async fn disabling_the_user_closes_bearer_and_session_sockets() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let root = token(&server, "root").await;
    let mut bearer = open_ws_bearer(&server, &alice).await;
    let (_browser, cookie) = signed_in(&server, "alice").await;
    let mut session = open_ws(&server, &[("cookie", &cookie), ("origin", &own_origin(&server))])
        .await
        .expect("upgrade");

    let disabled = server
        .client
        .post(server.url("/admin/users/alice/disable"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    for socket in [&mut bearer, &mut session] {
        let (code, after) = close_code(socket).await;
        assert_eq!(code, 1008);
        assert!(after < CLOSE_WITHIN, "closed after {after:?}");
    }
}

#[tokio::test]
async fn a_password_change_closes_the_users_sockets() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;
    let changed = server
        .client
        .post(server.url("/users/me/password"))
        .bearer_auth(&alice)
        .json(&json!({"current_password": PASSWORD, "new_password": "another good passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    assert_eq!(close_code(&mut socket).await.0, 1008);
}

#[tokio::test]
async fn logout_closes_the_sessions_socket_and_no_other() {
    let server = TestServer::with_users().await;
    let own = own_origin(&server);
    let (mut browser, cookie) = signed_in(&server, "alice").await;
    let (_other, other_cookie) = signed_in(&server, "alice").await;
    let mut socket = open_ws(&server, &[("cookie", &cookie), ("origin", &own)])
        .await
        .expect("upgrade");
    let mut other = open_ws(&server, &[("cookie", &other_cookie), ("origin", &own)])
        .await
        .expect("upgrade");

    let logout = browser.log_out().await;
    assert_eq!(logout.status(), 303);
    let (code, after) = close_code(&mut socket).await;
    assert_eq!(code, 1008);
    assert!(after < CLOSE_WITHIN, "closed after {after:?}");

    // The other session's socket is still open and serving.
    let alice = token(&server, "alice").await;
    create_item(&server, &alice, "still here").await;
    assert_eq!(next_event(&mut other).await["item"]["name"], "still here");
}

#[tokio::test]
async fn a_role_change_closes_bearer_sockets_and_narrows_session_sockets() {
    let server = TestServer::with_users().await;
    server.create_user("chief", PASSWORD, &["admin"]);
    let chief = token(&server, "chief").await;
    let root = token(&server, "root").await;
    let bob = token(&server, "bob").await;
    let mut bearer = open_ws_bearer(&server, &chief).await;
    let (_browser, cookie) = signed_in(&server, "chief").await;
    let mut session = open_ws(&server, &[("cookie", &cookie), ("origin", &own_origin(&server))])
        .await
        .expect("upgrade");

    create_item(&server, &bob, "seen by an admin").await;
    assert_eq!(next_event(&mut session).await["item"]["name"], "seen by an admin");

    let demoted = server.set_roles(&root, "chief", &["user"]).await;
    assert_eq!(demoted.status(), 200);
    // The session socket now sees only chief's own items.
    create_item(&server, &bob, "no longer seen").await;
    let chief = token(&server, "chief").await;
    create_item(&server, &chief, "chief's own").await;
    assert_eq!(next_event(&mut session).await["item"]["name"], "chief's own");
    // The bearer socket's token no longer verifies.
    assert_eq!(close_code(&mut bearer).await.0, 1008);
}

#[tokio::test]
async fn a_user_has_at_most_16_open_sockets() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let bearer = format!("Bearer {alice}");
    let mut open: Vec<Socket> = Vec::new();
    for _ in 0..16 {
        open.push(
            open_ws(&server, &[("authorization", &bearer)])
                .await
                .expect("upgrade"),
        );
    }
    assert_eq!(
        open_ws(&server, &[("authorization", &bearer)]).await.err(),
        Some(429)
    );
    // Another user is not affected.
    let bob = token(&server, "bob").await;
    assert!(
        open_ws(&server, &[("authorization", &format!("Bearer {bob}"))])
            .await
            .is_ok()
    );
    // A closed socket gives its place back.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match open_ws(&server, &[("authorization", &bearer)]).await {
            Ok(_) => break,
            Err(429) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("upgrade refused: {status}"),
        }
    }
}

#[tokio::test]
async fn upgrades_spend_the_rate_limit_budget() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__DEFAULT", "2/minute")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = token(&server, "alice").await;
    let bearer = format!("Bearer {alice}");
    let answer = raw_upgrade(&server, "/ws/items", &[("authorization", &bearer)]).await;
    assert_eq!(answer.status, 101);
    assert!(answer.header("ratelimit-remaining").is_some());
    raw_upgrade(&server, "/ws/items", &[("authorization", &bearer)]).await;
    let answer = raw_upgrade(&server, "/ws/items", &[("authorization", &bearer)]).await;
    assert_eq!(answer.status, 429);
}

#[tokio::test]
async fn pings_replace_the_idle_timeout_for_sockets() {
    let mut server =
        TestServer::start_with(TestConfig::default().env("RAMPART_LIMITS__IDLE_TIMEOUT", "1s")).await;
    // A new connection per request: a kept one, idle while the user is
    // created, could be closed by the 1 s time-out just as it is reused.
    server.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;
    // Three idle time-outs of silence: the socket stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    create_item(&server, &alice, "after silence").await;
    assert_eq!(next_event(&mut socket).await["item"]["name"], "after silence");
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;
    server.terminate();
    assert_eq!(close_code(&mut socket).await.0, 1001);
}

#[tokio::test]
async fn sockets_are_counted_in_metrics() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    let mut socket = open_ws_bearer(&server, &alice).await;
    create_item(&server, &alice, "counted").await;
    next_event(&mut socket).await;
    let metrics = server.metrics().await;
    assert!(metrics.lines().any(|l| l == "websockets_open 1"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"websocket_messages_total{direction="out"} 1"#),
        "{metrics}"
    );
    assert_eq!(open_ws(&server, &[]).await.err(), Some(401));
    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"websocket_refusals_total{reason="no_credentials"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_app_page_loads_its_live_script_from_self() {
    let server = TestServer::with_users().await;
    let (mut browser, _) = signed_in(&server, "alice").await;
    let page = browser.get("/app").await.text().await.unwrap();
    assert!(page.contains(r#"<script src="static/app.js" defer></script>"#));
    let script = server.get("/static/app.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(script.text().await.unwrap().contains("/ws/items"));
}

#[tokio::test]
async fn a_socket_closes_when_its_token_expires() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_AUTH__ACCESS_TOKEN_TTL", "2s")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let tokens = server.login("alice", PASSWORD).await;
    assert_eq!(tokens.expires_in, 2);
    let mut socket = open_ws_bearer(&server, &tokens.access_token).await;
    let (code, after) = close_code(&mut socket).await;
    assert_eq!(code, 1008);
    // `exp` has whole seconds: the close comes within the token's life
    // plus one, never later.
    assert!(after <= Duration::from_secs(3), "closed after {after:?}");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_not_buffered_for() {
    let server = TestServer::with_users().await;
    let alice = token(&server, "alice").await;
    // Never read from: the server's queue for it fills.
    let _stuck = open_ws_bearer(&server, &alice).await;
    let description = "<p>".to_owned() + &"lorem ipsum ".repeat(800) + "</p>";
    let metrics_line = r#"websocket_closes_total{reason="slow_consumer"} 1"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut created = 0;
    loop {
        // Kernel buffers first, then the queue: a few megabytes at most.
        for _ in 0..50 {
            let response = server
                .client
                .post(server.url("/items/"))
                .bearer_auth(&alice)
                .json(&json!({"name": "bulk", "price": 1.0, "description": description}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            created += 1;
        }
        if server.metrics().await.lines().any(|l| l == metrics_line) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still open after {created} events"
        );
    }
    // Its place is given back once the connection is dropped.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !server.metrics().await.lines().any(|l| l == "websockets_open 0") {
        assert!(std::time::Instant::now() < deadline, "the socket stayed open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sockets_work_over_tls_and_outlive_the_idle_timeout_there_too() {
    use std::sync::Arc;

    use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let certs = tempfile::tempdir().unwrap();
    cert_dev(certs.path(), &["localhost", "127.0.0.1"]);
    let server = TestServer::start_with(
        TestConfig::default()
            .tls(certs.path())
            .env("RAMPART_LIMITS__IDLE_TIMEOUT", "1s"),
    )
    .await;
    server.create_user("alice", PASSWORD, &["user"]);
    let pem = std::fs::read(certs.path().join("cert.pem")).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", server.addr.port());
    let token = crate::helpers::access_token_via(&https, &base, "alice", PASSWORD).await;
    let token = token.as_str();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(certs.path().join("cert.pem")).unwrap())
        .unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut request = format!("wss://localhost:{}/ws/items", server.addr.port())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("upgrade");

    // Three idle time-outs of silence: the socket stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let created = https
        .post(format!("{base}/items/"))
        .bearer_auth(token)
        .json(&json!({"name": "over tls", "price": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(next_event(&mut socket).await["item"]["name"], "over tls");
}
