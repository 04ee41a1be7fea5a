//! Browser sessions and CSRF: the login form, the session cookie, the two
//! CSRF layers, logout, and what ends a session.

use serde_json::{Value, json};

use crate::helpers::{
    Browser, PASSWORD, TestServer, hidden_token, item_names, run_cli, set_cookie_line, wait_for_event,
};

#[tokio::test]
async fn a_person_signs_in_through_the_form_and_the_cookie_authenticates_the_api() {
    let server = TestServer::with_users().await;
    let mut browser = Browser::new(&server);

    let page = browser.get("/login").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    let csrf = set_cookie_line(&page, "rampart_csrf");
    assert!(
        csrf.contains("HttpOnly") && csrf.contains("SameSite=Lax") && csrf.contains("Path=/"),
        "{csrf}"
    );
    assert!(!csrf.contains("Secure"), "{csrf}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<label for="username">"#) && html.contains(r#"<label for="password">"#));
    assert_eq!(hidden_token(&html), browser.cookie("rampart_csrf"));
    // A second tab gets the token the browser already holds: the first
    // tab's form still works.
    let again = browser.get("/login").await.text().await.unwrap();
    assert_eq!(hidden_token(&again), hidden_token(&html));

    let signed_in = browser.post_login("alice", PASSWORD, &hidden_token(&html)).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/app");
    let session = set_cookie_line(&signed_in, "rampart_session");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Secure") && !session.contains("Max-Age") && !session.contains("Expires"));
    assert!(
        set_cookie_line(&signed_in, "rampart_csrf").contains("Max-Age=0"),
        "the CSRF cookie is cleared"
    );
    assert_eq!(browser.cookie("rampart_session").len(), 43, "256 random bits");

    let app = browser.get("/app").await;
    assert_eq!(app.status(), 200);
    assert!(app.text().await.unwrap().contains("alice"));
    let me: Value = browser.get("/users/me").await.json().await.unwrap();
    assert_eq!(me["username"], "alice");

    // Logins are audited as for tokens.
    let root = server.login("root", PASSWORD).await;
    wait_for_event(&server, &root.access_token, "login", |e| {
        e["action"] == "login" && e["actor"] == "alice" && e["outcome"] == "success"
    })
    .await;
}

#[tokio::test]
async fn the_login_form_needs_its_csrf_token_and_right_credentials() {
    let server = TestServer::with_users().await;
    let mut browser = Browser::new(&server);
    let token = hidden_token(&browser.get("/login").await.text().await.unwrap());

    for form in [
        // Nothing at all: the token is judged first (403, not 422).
        vec![],
        vec![("username", "alice"), ("password", PASSWORD)],
        vec![
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf_token", "forged.token"),
        ],
    ] {
        let refused = browser.post_form("/login", &form).await;
        assert_eq!(refused.status(), 403);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body, json!({"detail": "CSRF token missing or invalid"}));
        assert!(!browser.has_cookie("rampart_session"));
    }

    let wrong = browser.post_login("alice", "wrong password", &token).await;
    assert_eq!(wrong.status(), 401);
    assert!(!browser.has_cookie("rampart_session"));
    let html = wrong.text().await.unwrap();
    assert!(html.contains("Incorrect username or password"));
    assert!(html.contains(r#"value="alice""#), "the name is kept");
    // The form shown again carries a working token.
    let again = browser.post_login("alice", PASSWORD, &hidden_token(&html)).await;
    assert_eq!(again.status(), 303);
}

#[tokio::test]
async fn cookie_requests_without_this_sessions_token_are_refused_and_audited() {
    let server = TestServer::with_users().await;
    let mut alice = Browser::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD).await.status(), 303);
    // Missing or wrong token.
    let none = alice.create_item("none", &[]).await;
    assert_eq!(none.status(), 403);
    assert!(
        none.headers().contains_key("ratelimit-remaining"),
        "a refusal still spends the budget"
    );
    assert_eq!(
        alice
            .create_item("wrong", &[("x-csrf-token", "a.b")])
            .await
            .status(),
        403
    );
    // A token and cookie pair from another session.
    let mut bob = Browser::new(&server);
    bob.sign_in("bob", PASSWORD).await;
    let bobs_token = bob.csrf_token().await;
    let mut mixed = Browser::new(&server);
    mixed.set_cookie("rampart_session", &alice.cookie("rampart_session"));
    mixed.set_cookie("rampart_csrf", &bob.cookie("rampart_csrf"));
    assert_eq!(
        mixed
            .create_item("mixed", &[("x-csrf-token", &bobs_token)])
            .await
            .status(),
        403
    );
    let root = server.login("root", PASSWORD).await;
    let event = wait_for_event(&server, &root.access_token, "csrf_rejected", |e| {
        e["action"] == "csrf_rejected"
    })
    .await;
    assert_eq!(event["outcome"], "denied");
    assert_eq!(event["actor"], "alice");
    assert_eq!(event["target"], "/items/");
}

#[tokio::test]
async fn cross_site_cookie_requests_are_refused_even_with_the_token() {
    let server = TestServer::with_users().await;
    let mut alice = Browser::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD).await.status(), 303);
    let token = alice.csrf_token().await;
    // Cross-site by fetch metadata, or by a foreign Origin, even with the token.
    assert_eq!(
        alice
            .create_item(
                "cross",
                &[("x-csrf-token", &token), ("sec-fetch-site", "cross-site")]
            )
            .await
            .status(),
        403
    );
    let foreign = alice
        .create_item(
            "foreign",
            &[("x-csrf-token", &token), ("origin", "https://evil.example.net")],
        )
        .await;
    assert_eq!(foreign.status(), 403);
    assert_eq!(
        foreign.json::<Value>().await.unwrap()["detail"],
        "Cross-site request refused"
    );
}

#[tokio::test]
async fn same_site_cookie_requests_with_the_token_and_bearer_requests_pass() {
    let server = TestServer::with_users().await;
    let mut alice = Browser::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD).await.status(), 303);
    let token = alice.csrf_token().await;
    let own_origin = format!("http://{}", server.addr);
    // The right token, same origin: created.
    let created = alice
        .create_item(
            "ok",
            &[
                ("x-csrf-token", &token),
                ("origin", &own_origin),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["owner"], "alice");
    // Safe methods need nothing.
    assert_eq!(alice.get("/items/").await.status(), 200);
    // A bearer token needs no CSRF token.
    let bearer = server.login("alice", PASSWORD).await;
    let response = server
        .client
        .post(server.url("/items/"))
        .bearer_auth(&bearer.access_token)
        .header("origin", "https://evil.example.net")
        .json(&json!({"name": "bearer", "price": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let mut names = item_names(&server, &server.login("root", PASSWORD).await.access_token).await;
    names.sort();
    assert_eq!(names, ["bearer", "ok"]);
}

#[tokio::test]
async fn the_app_page_adds_items_by_form_and_logout_ends_the_session() {
    let server = TestServer::with_users().await;
    let mut alice = Browser::new(&server);
    alice.sign_in("alice", PASSWORD).await;
    let page = alice.get("/app").await.text().await.unwrap();
    let token = hidden_token(&page);

    let added = alice
        .post_form(
            "/app/items",
            &[
                ("name", "Lamp"),
                ("description", "<b>bright</b><script>alert(1)</script>"),
                ("price", "12.5"),
                ("tax", ""),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(added.status(), 303);
    assert_eq!(added.headers()["location"], "/app");
    let page = alice.get("/app").await.text().await.unwrap();
    assert!(page.contains("<b>bright</b>"));
    assert!(!page.contains("alert(1)"));

    let invalid = alice
        .post_form(
            "/app/items",
            &[
                ("name", ""),
                ("price", "free"),
                ("csrf_token", &hidden_token(&page)),
            ],
        )
        .await;
    assert_eq!(invalid.status(), 422);
    let html = invalid.text().await.unwrap();
    assert!(html.contains("price: Input should be a valid number"), "{html}");
    // Without the token the form posts nothing.
    let refused = alice
        .post_form("/app/items", &[("name", "Sneaky"), ("price", "1")])
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        item_names(&server, &server.login("root", PASSWORD).await.access_token).await,
        ["Lamp"]
    );

    let session = alice.cookie("rampart_session");
    let logout = alice
        .post_form("/logout", &[("csrf_token", &hidden_token(&html))])
        .await;
    assert_eq!(logout.status(), 303);
    assert_eq!(logout.headers()["location"], "/login");
    assert!(set_cookie_line(&logout, "rampart_session").contains("Max-Age=0"));
    // The old cookie opens nothing.
    let mut replay = Browser::new(&server);
    replay.set_cookie("rampart_session", &session);
    assert_eq!(replay.get("/users/me").await.status(), 401);
    let app = replay.get("/app").await;
    assert_eq!(app.status(), 303);
    assert_eq!(app.headers()["location"], "/login");
}

#[tokio::test]
async fn a_new_login_gets_a_new_session_and_the_old_one_ends() {
    let server = TestServer::with_users().await;
    let mut browser = Browser::new(&server);
    browser.sign_in("alice", PASSWORD).await;
    let first = browser.cookie("rampart_session");
    browser.sign_in("alice", PASSWORD).await;
    let second = browser.cookie("rampart_session");
    assert_ne!(first, second);
    let mut old = Browser::new(&server);
    old.set_cookie("rampart_session", &first);
    assert_eq!(old.get("/users/me").await.status(), 401);
    assert_eq!(browser.get("/users/me").await.status(), 200);
}

#[tokio::test]
async fn a_password_change_or_disabling_the_user_ends_their_sessions() {
    let server = TestServer::with_users().await;
    let mut alice = Browser::new(&server);
    alice.sign_in("alice", PASSWORD).await;
    let mut bob = Browser::new(&server);
    bob.sign_in("bob", PASSWORD).await;
    assert_eq!(alice.get("/users/me").await.status(), 200);

    let bearer = server.login("alice", PASSWORD).await;
    let response = server
        .client
        .post(server.url("/users/me/password"))
        .bearer_auth(&bearer.access_token)
        .json(&json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(alice.get("/users/me").await.status(), 401);

    assert_eq!(bob.get("/users/me").await.status(), 200);
    let root = server.login("root", PASSWORD).await;
    let disabled = server
        .client
        .post(server.url("/admin/users/bob/disable"))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(bob.get("/users/me").await.status(), 401);
}

#[tokio::test]
async fn over_https_the_cookies_are_secure_and_host_prefixed() {
    let certs = tempfile::tempdir().unwrap();
    let out = certs.path().to_str().unwrap();
    let made = run_cli(
        &Default::default(),
        &["cert", "dev", "--host", "localhost", "--out", out],
        "",
    );
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let server =
        TestServer::start_with(crate::helpers::TestConfig::default().tls(std::path::Path::new(out))).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let pem = std::fs::read(certs.path().join("cert.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut browser = Browser::with(format!("https://localhost:{}", server.addr.port()), client);

    let page = browser.get("/login").await;
    let csrf = set_cookie_line(&page, "__Host-rampart_csrf");
    assert!(
        csrf.contains("; Secure") && csrf.contains("Path=/") && !csrf.contains("Domain"),
        "{csrf}"
    );
    let html = page.text().await.unwrap();
    let signed_in = browser.post_login("alice", PASSWORD, &hidden_token(&html)).await;
    assert_eq!(signed_in.status(), 303);
    let session = set_cookie_line(&signed_in, "__Host-rampart_session");
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert_eq!(browser.get("/users/me").await.status(), 200);
}

#[tokio::test]
async fn sessions_and_csrf_work_the_same_on_postgres() {
    let db = crate::storage::PgDatabase::create().await;
    let server =
        TestServer::start_with(crate::helpers::TestConfig::default().env("RAMPART_DATABASE_URL", &db.url()))
            .await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut alice = Browser::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD).await.status(), 303);
    assert_eq!(alice.get("/users/me").await.status(), 200);
    let token = alice.csrf_token().await;
    assert_eq!(alice.create_item("no token", &[]).await.status(), 403);
    assert_eq!(
        alice
            .create_item("pg", &[("x-csrf-token", &token)])
            .await
            .status(),
        201
    );
    let session = alice.cookie("rampart_session");
    let page = alice.get("/app").await.text().await.unwrap();
    assert!(page.contains("pg"));
    let logout = alice
        .post_form("/logout", &[("csrf_token", &hidden_token(&page))])
        .await;
    assert_eq!(logout.status(), 303);
    let mut replay = Browser::new(&server);
    replay.set_cookie("rampart_session", &session);
    assert_eq!(replay.get("/users/me").await.status(), 401);
    drop(server);
    db.drop_now().await;
}
