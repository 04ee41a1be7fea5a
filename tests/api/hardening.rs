//! What credentials end, throttles without lockouts, slow clients, private
//! answers, HTTP/2 origins, bounded audit fields, pre-session CSRF tokens
//! and the cost of a cookie: one test per rule of the hardening review.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::helpers::{
    Browser, TestConfig, TestServer, Tokens, client_from, hidden_token, post_token, set_cookie_line,
    wait_for_event,
};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "another fine passphrase";

/// Generous room for logins, so that only the rule under test refuses.
fn roomy() -> TestConfig {
    TestConfig::default()
        .env("RAMPART_RATE_LIMIT__LOGIN", "1000/minute")
        .env("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "1000/hour")
}

/// The status of `POST /token` from `client`.
async fn token_status(client: &reqwest::Client, server: &TestServer, username: &str, password: &str) -> u16 {
    post_token(client, server, username, password)
        .await
        .status()
        .as_u16()
}

/// A response's `Cache-Control`, if any.
fn cache_control(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap())
}

async fn change_password(server: &TestServer, token: &str, current: &str, new: &str) -> reqwest::Response {
    server
        .client
        .post(server.url("/users/me/password"))
        .bearer_auth(token)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

async fn admin_post(server: &TestServer, token: &str, path: &str) -> u16 {
    server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A server started with `config`, and a browser where `alice` signed in.
async fn alice_in_a_browser(config: TestConfig) -> (TestServer, Browser) {
    let server = TestServer::start_with(config).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    (server, browser)
}

async fn tokens_of(response: reqwest::Response) -> Tokens {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

// 1. Refresh tokens die with their credential.

#[tokio::test]
async fn a_password_change_ends_every_refresh_family_of_the_user() {
    let server = TestServer::start_with(roomy()).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let phone = server.login("alice", PASSWORD).await;
    let laptop = server.login("alice", PASSWORD).await;
    let rotated = tokens_of(server.refresh(&laptop.refresh_token).await).await;

    let changed = change_password(&server, &phone.access_token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), 204);

    assert_eq!(server.refresh(&phone.refresh_token).await.status(), 401);
    assert_eq!(server.refresh(&rotated.refresh_token).await.status(), 401);
    // The new password starts a family that works.
    let fresh = server.login("alice", NEW_PASSWORD).await;
    assert_eq!(server.refresh(&fresh.refresh_token).await.status(), 200);
}

#[tokio::test]
async fn disabling_ends_refresh_families_and_enabling_revives_none() {
    let server = TestServer::start_with(roomy()).await;
    server.create_user("root", PASSWORD, &["admin"]);
    server.create_user("bob", PASSWORD, &["user"]);
    let bob = server.login("bob", PASSWORD).await;
    let root = server.login("root", PASSWORD).await;

    assert_eq!(
        admin_post(&server, &root.access_token, "/admin/users/bob/disable").await,
        200
    );
    assert_eq!(
        admin_post(&server, &root.access_token, "/admin/users/bob/enable").await,
        200
    );

    assert_eq!(server.refresh(&bob.refresh_token).await.status(), 401);
    let again = server.login("bob", PASSWORD).await;
    assert_eq!(server.refresh(&again.refresh_token).await.status(), 200);
}

#[tokio::test]
async fn a_family_ends_at_its_logins_ttl_however_often_it_rotates() {
    let server = TestServer::start_with(roomy().env("RAMPART_AUTH__REFRESH_TOKEN_TTL", "4s")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut current = server.login("alice", PASSWORD).await.refresh_token;
    // Each rotation would renew a sliding expiry: the chain would never end.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = server.refresh(&current).await;
        if response.status() == 401 {
            break;
        }
        current = tokens_of(response).await.refresh_token;
        assert!(Instant::now() < deadline, "the family outlived its login's TTL");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_raced_reuse_ends_the_family_including_the_winners_new_pair() {
    let server = TestServer::start_with(roomy()).await;
    server.create_user("alice", PASSWORD, &["user"]);
    for round in 0..15 {
        let first = server.login("alice", PASSWORD).await;
        let (a, b) = tokio::join!(
            server.refresh(&first.refresh_token),
            server.refresh(&first.refresh_token)
        );
        let mut winners = Vec::new();
        for response in [a, b] {
            if response.status() == 200 {
                winners.push(response.json::<Tokens>().await.unwrap());
            } else {
                assert_eq!(response.status(), 401, "round {round}");
            }
        }
        assert!(winners.len() <= 1, "round {round}: one use at most rotates");
        for winner in winners {
            assert_eq!(
                server.refresh(&winner.refresh_token).await.status(),
                401,
                "round {round}: the winner's new refresh token died with its family"
            );
        }
    }
}

// 2. A token minted after a change another process made works at once.

#[tokio::test]
async fn a_token_minted_after_a_change_by_another_process_works_at_once() {
    let server = TestServer::start_with(roomy()).await;
    server.create_user("alice", PASSWORD, &["user"]);
    for round in 0..5 {
        // The command line changes the user in the database, behind the
        // server's back; the server hears of it only at its next refresh.
        let roles: &[&str] = if round % 2 == 0 {
            &["user", "editor"]
        } else {
            &["user"]
        };
        let mut args = vec!["user", "set-roles", "--username", "alice"];
        for role in roles {
            args.extend(["--role", role]);
        }
        let out = server.cli(&args, "");
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let fresh = server.login("alice", PASSWORD).await;
        let me = server.get_as("/users/me", &fresh.access_token).await;
        assert_eq!(me.status(), 200, "round {round}: a token issued after the change");
    }
}

// 3. Throttles that stop guessing without locking owners out.

#[tokio::test]
async fn guessing_from_elsewhere_leaves_the_owners_known_address_its_own_budget() {
    let server =
        TestServer::start_with(roomy().env("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "3/hour")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let home = client_from("127.0.3.1");
    assert_eq!(token_status(&home, &server, "alice", PASSWORD).await, 200);

    for n in 0..3 {
        let guesser = client_from(&format!("127.0.3.{}", 10 + n));
        assert_eq!(token_status(&guesser, &server, "alice", "wrong guess").await, 401);
    }
    let stranger = client_from("127.0.3.20");
    assert_eq!(token_status(&stranger, &server, "alice", PASSWORD).await, 429);
    // The owner, from where they signed in before, still signs in.
    assert_eq!(token_status(&home, &server, "alice", PASSWORD).await, 200);
    // A known client's own budget is a budget too: guessing from there is
    // stopped as well.
    for _ in 0..3 {
        assert_eq!(token_status(&home, &server, "alice", "wrong guess").await, 401);
    }
    assert_eq!(token_status(&home, &server, "alice", PASSWORD).await, 429);
}

#[tokio::test]
async fn a_browser_with_the_users_device_cookie_signs_in_while_the_name_is_under_attack() {
    let server =
        TestServer::start_with(roomy().env("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "3/hour")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut browser = Browser::with(server.url(""), client_from("127.0.4.1"));
    let signed_in = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    let device = set_cookie_line(&signed_in, "rampart_device");
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Lax") && device.contains("Path=/"),
        "{device}"
    );
    assert!(device.contains("Max-Age=2592000"), "30 days: {device}");
    // Kept at logout.
    let logout = browser.log_out().await;
    assert_eq!(logout.status(), 303);
    let device_cookie = browser.cookie("rampart_device");

    for n in 0..3 {
        let guesser = client_from(&format!("127.0.4.{}", 10 + n));
        assert_eq!(token_status(&guesser, &server, "alice", "wrong guess").await, 401);
    }
    // The same browser, now on another network: its device cookie keeps it
    // known.
    let mut moved = Browser::with(server.url(""), client_from("127.0.4.30"));
    moved.set_cookie("rampart_device", &device_cookie);
    assert_eq!(moved.sign_in("alice", PASSWORD).await.status(), 303);
    // Without it, that network is a stranger.
    let mut stranger = Browser::with(server.url(""), client_from("127.0.4.31"));
    assert_eq!(stranger.sign_in("alice", PASSWORD).await.status(), 429);
    // A device cookie names its user: it gives no budget for another name.
    server.create_user("carol", PASSWORD, &["user"]);
    for n in 0..3 {
        let guesser = client_from(&format!("127.0.4.{}", 40 + n));
        assert_eq!(token_status(&guesser, &server, "carol", "wrong guess").await, 401);
    }
    assert_eq!(moved.sign_in("carol", PASSWORD).await.status(), 429);
}

// 4. No password oracle.

#[tokio::test]
async fn a_wrong_current_password_spends_the_names_login_budget() {
    let server =
        TestServer::start_with(roomy().env("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "3/hour")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await;
    for n in 0..3 {
        let wrong = change_password(&server, &alice.access_token, &format!("guess {n}"), NEW_PASSWORD).await;
        assert_eq!(wrong.status(), 400);
        let body: Value = wrong.json().await.unwrap();
        assert_eq!(body, json!({"detail": "Incorrect password"}));
    }
    let refused = change_password(&server, &alice.access_token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"], "Rate limit exceeded: 3 per 1 hour");
}

#[tokio::test]
async fn a_wrong_current_password_spends_the_addresss_login_budget() {
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_RATE_LIMIT__LOGIN", "3/minute")
            .env("RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME", "1000/hour"),
    )
    .await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await;
    for _ in 0..2 {
        let wrong = change_password(&server, &alice.access_token, "a guess", NEW_PASSWORD).await;
        assert_eq!(wrong.status(), 400);
    }
    let refused = change_password(&server, &alice.access_token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"], "Rate limit exceeded: 3 per 1 minute");
}

// 5. Slow clients cannot hold the pool.

/// Whether the server closed `stream` (EOF or a reset) while we trickle
/// `bytes`, one every `every`.
fn closed_while_trickling(stream: &mut TcpStream, bytes: &[u8], every: Duration) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    for byte in bytes {
        if stream.write_all(&[*byte]).is_err() {
            return true;
        }
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Err(err)
                if err.kind() != std::io::ErrorKind::WouldBlock
                    && err.kind() != std::io::ErrorKind::TimedOut =>
            {
                return true;
            }
            _ => {}
        }
        std::thread::sleep(every);
    }
    false
}

#[tokio::test]
async fn a_trickled_http2_preface_is_cut_off_after_the_idle_timeout() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_LIMITS__IDLE_TIMEOUT", "2s")).await;
    let addr = server.addr;
    // 24 bytes at one every 600 ms: 14 s, well past the 2 s allowed for a
    // first request, though no gap is long enough to look idle.
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        closed_while_trickling(
            &mut stream,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            Duration::from_millis(600),
        )
    })
    .await
    .unwrap();
    assert!(closed, "the connection outlived its first-request deadline");
}

#[tokio::test]
async fn trickled_headers_of_a_later_request_are_cut_off_after_the_header_deadline() {
    // The idle time-out is the default 60 s, and each byte restarts it; the
    // first request has arrived, so its deadline is over. Only the 10 s a
    // request's headers may take can end this connection.
    let server = TestServer::start().await;
    let addr = server.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"}") {
            let mut buf = [0u8; 1024];
            let read = stream.read(&mut buf).unwrap();
            assert!(read > 0, "closed before the first answer");
            answer.extend_from_slice(&buf[..read]);
        }
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        // 60 bytes at one every 600 ms: 36 s, though no gap looks idle.
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: {}\r\n\r\n",
            "a".repeat(20)
        );
        assert!(head.len() >= 60, "{}", head.len());
        closed_while_trickling(&mut stream, head.as_bytes(), Duration::from_millis(600))
    })
    .await
    .unwrap();
    assert!(closed, "a request's headers took longer than the header deadline");
}

#[tokio::test]
async fn a_slow_csrf_form_body_is_answered_within_the_request_timeout() {
    let (server, browser) =
        alice_in_a_browser(TestConfig::default().env("RAMPART_LIMITS__REQUEST_TIMEOUT", "2s")).await;
    let cookie = format!("rampart_session={}", browser.cookie("rampart_session"));
    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST /items/ HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        // One body byte every 500 ms for up to 30 s: the CSRF step reads the
        // form; only its time-out can answer before the body is complete.
        while started.elapsed() < Duration::from_secs(30) {
            let mut buf = [0u8; 1024];
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Err(_) => {}
            }
            if stream.write_all(b"a").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
}

// 6. No caching of private answers.

#[tokio::test]
async fn private_answers_are_never_stored_by_a_cache() {
    let server = TestServer::start().await;
    server.create_user("root", PASSWORD, &["admin"]);
    let root = server.login("root", PASSWORD).await;
    for path in [
        "/users/me",
        "/items/",
        "/admin/users",
        "/admin/audit?limit=1",
        "/protected",
    ] {
        let response = server.get_as(path, &root.access_token).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(cache_control(&response), Some("no-store"), "{path}");
    }
    let mut browser = Browser::new(&server);
    browser.sign_in("root", PASSWORD).await;
    let me = browser.get("/users/me").await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    // The account routes, whoever asks, errors included.
    for path in [
        "/token",
        "/users/me",
        "/admin/users",
        "/admin/nowhere",
        "/users/x/y",
    ] {
        let response = server.get(path).await;
        assert_eq!(cache_control(&response), Some("no-store"), "{path}");
    }
    let failed = server.token("root", "wrong password").await;
    assert_eq!(failed.status(), 401);
    assert_eq!(failed.headers()["cache-control"], "no-store");
    // Public answers to anonymous callers may be cached.
    assert!(!server.get("/").await.headers().contains_key("cache-control"));
}

// 8. HTTP/2 same-origin requests.

#[tokio::test]
async fn a_same_origin_unsafe_request_over_http2_passes_the_origin_check() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut browser = Browser::with(server.url(""), h2);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    let token = browser.csrf_token().await;
    let own = server.url("");
    let own = own.trim_end_matches('/');
    let created = browser
        .create_item("over h2", &[("origin", own), ("x-csrf-token", &token)])
        .await;
    assert_eq!(created.version(), reqwest::Version::HTTP_2);
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    // A foreign origin is still refused over HTTP/2.
    let foreign = browser
        .create_item(
            "forged",
            &[("origin", "http://evil.example"), ("x-csrf-token", &token)],
        )
        .await;
    assert_eq!(foreign.status(), 403);
}

// 9. Logs and audit hold no raw client input.

#[tokio::test]
async fn an_invalid_attempted_name_is_recorded_as_invalid_and_nothing_long_is_kept() {
    let server = TestServer::start_with(roomy()).await;
    server.create_user("root", PASSWORD, &["admin"]);
    let typed_password = "Zq8#mT2!vL9p-alice";
    let junk = format!("{}\n{{\"forged\":\"line\"}}", "X".repeat(300_000));
    for name in [typed_password, junk.as_str()] {
        assert_eq!(server.token(name, "whatever it is").await.status(), 401);
    }
    let root = server.login("root", PASSWORD).await;
    let events: Value = server
        .get_as("/admin/audit?limit=100", &root.access_token)
        .await
        .json()
        .await
        .unwrap();
    let failures: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login" && e["outcome"] == "failure")
        .collect();
    assert_eq!(failures.len(), 2, "{events:#}");
    for failure in failures {
        assert_eq!(failure["actor"], "<invalid>");
    }
    wait_for_event(&server, &root.access_token, "a login", |e| e["action"] == "login").await;
    let logs = server.logs();
    assert!(!logs.iter().any(|line| line.contains(typed_password)));
    assert!(logs.iter().all(|line| line.len() < 4096), "a long log line");
}

// 16. Pre-login CSRF tokens are bound to a pre-session nonce.

#[tokio::test]
async fn a_login_form_token_works_only_with_its_own_pre_session() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut attacker = Browser::new(&server);
    let page = attacker.get("/login").await;
    let presession = set_cookie_line(&page, "rampart_presession");
    assert!(
        presession.contains("HttpOnly")
            && presession.contains("SameSite=Lax")
            && presession.contains("Path=/"),
        "{presession}"
    );
    let token = hidden_token(&page.text().await.unwrap());
    let csrf_cookie = attacker.cookie("rampart_csrf");

    // The victim's browser holds its own pre-session; the attacker's token
    // and CSRF cookie, planted there, do not verify.
    let mut victim = Browser::new(&server);
    victim.get("/login").await;
    victim.set_cookie("rampart_csrf", &csrf_cookie);
    assert_eq!(victim.post_login("alice", PASSWORD, &token).await.status(), 403);
    // Nor with no pre-session at all.
    let mut bare = Browser::new(&server);
    bare.set_cookie("rampart_csrf", &csrf_cookie);
    assert_eq!(bare.post_login("alice", PASSWORD, &token).await.status(), 403);

    // In its own browser it works, and the nonce is replaced at login.
    let signed_in = attacker.post_login("alice", PASSWORD, &token).await;
    assert_eq!(signed_in.status(), 303);
    assert!(set_cookie_line(&signed_in, "rampart_presession").contains("Max-Age=0"));
}

// 17. A cookie request costs one query.

#[tokio::test]
async fn a_cookie_authenticated_request_costs_one_query() {
    let (server, mut browser) =
        alice_in_a_browser(TestConfig::default().env("RUST_LOG", "info,sqlx::query=debug")).await;
    // `/protected` reads nothing of its own: what it costs is the cookie.
    // Each request is awaited in the access log, so its queries are logged
    // before the next count.
    let mut protected = async |id: &str| {
        let response = browser
            .send(reqwest::Method::GET, "/protected", &[("x-request-id", id)], None)
            .await;
        assert_eq!(response.status(), 200);
        server.access_log(id).await;
    };
    protected("warm-up").await;
    let before = server.logs().len();
    const REQUESTS: usize = 5;
    for n in 0..REQUESTS {
        protected(&format!("counted-{n}")).await;
    }
    let queries: Vec<String> = server.logs()[before..]
        .iter()
        .filter(|line| line.contains("sqlx::query"))
        // Background work runs on its own clock and is not the requests'
        // cost: the invalidation refresh (the change log, a full reload), the
        // key ring, leases, and the audit writer, whose batch from the login
        // may commit while the counted requests run. A transaction's bare
        // BEGIN/COMMIT is left out; its statements would still be counted.
        .filter(|line| !BACKGROUND.iter().any(|table| line.contains(table)))
        .filter(|line| !line.contains(r#""summary":"BEGIN""#))
        .filter(|line| !line.contains(r#""summary":"COMMIT""#))
        // Nor is the setup of a connection the pool opens meanwhile (once
        // per connection, for whoever asks first: SQLite's pragmas).
        .filter(|line| !line.contains(r#""summary":"PRAGMA "#))
        .cloned()
        .collect();
    assert_eq!(queries.len(), REQUESTS, "{queries:#?}");
}

/// Tables only background tasks read or write while requests run.
const BACKGROUND: [&str; 7] = [
    "FROM changes",
    "updated_at",
    "revoked_access_tokens",
    "signing_keys",
    "leases",
    "audit_events",
    "item_events",
];
