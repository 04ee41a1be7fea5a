//! Single sign-on (SPEC section 8) against a real, certified OpenID
//! provider: panva's `oidc-provider`, started by the tests with its
//! development login form (`helpers::oidc`). A person signs in there and is
//! sent back to rampart, as a browser would be.

use std::net::TcpListener;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::helpers::{Browser, OpenIdProvider, TestConfig, TestServer, oidc, wait_for_event};

const SECRET: &str = "a-client-secret-of-the-provider-0123456789";

/// The provider's `platform-admins` group makes rampart admins.
const ADMINS_GROUP: &str = "role_claim = \"groups\"\nrole_map = { \"platform-admins\" = \"admin\" }";

/// A port nobody listens on now, for rampart to take: the provider must
/// know rampart's callback before rampart starts (it reads the provider's
/// discovery document at start).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn callback(port: u16, name: &str) -> String {
    format!("http://127.0.0.1:{port}/login/oidc/{name}/callback")
}

/// A provider with rampart's client (`rampart`, called back for `corp`),
/// and the rampart on `port` configured for it with `extra` settings.
async fn start(extra: &str, auth: &str) -> (OpenIdProvider, TestServer) {
    let port = free_port();
    let provider = OpenIdProvider::start(&json!([
        oidc::client("rampart", SECRET, &[callback(port, "corp")]),
        {
            "client_id": "api-client",
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    ]));
    let server = rampart_for(&provider, port, "rampart", extra, auth).await;
    (provider, server)
}

/// rampart on `port`, signing in at `provider` as its client `client_id`,
/// with `extra` provider settings and `auth` settings.
async fn rampart_for(
    provider: &OpenIdProvider,
    port: u16,
    client_id: &str,
    extra: &str,
    auth: &str,
) -> TestServer {
    let toml = format!(
        "[auth]\n{auth}\n[[oidc.providers]]\nname = \"corp\"\ndisplay_name = \"Corp SSO\"\nissuer = \"{}\"\nclient_id = \"{client_id}\"\n{extra}\n",
        provider.issuer
    );
    TestServer::start_with(
        TestConfig::default()
            .toml(&toml)
            .env("RAMPART_BIND", &format!("127.0.0.1:{port}"))
            .env("RAMPART_OIDC__CORP__CLIENT_SECRET", SECRET),
    )
    .await
}

/// Signs `login` in through the provider from `browser`, going to
/// `return_to`: rampart's answer to the callback.
async fn sign_in(
    provider: &OpenIdProvider,
    server: &TestServer,
    browser: &mut Browser,
    login: &str,
    return_to: &str,
) -> reqwest::Response {
    let begun = browser
        .get(&format!("/login/oidc/corp?return_to={return_to}"))
        .await;
    assert_eq!(begun.status(), 302);
    let authorize = begun.headers()["location"].to_str().unwrap().to_owned();
    let back = provider
        .sign_in(
            &provider.agent(),
            &authorize,
            login,
            &server.url("/login/oidc/corp/callback"),
        )
        .await;
    browser.get(back.trim_start_matches(&server.url(""))).await
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[tokio::test]
async fn a_person_signs_in_through_the_provider_with_the_roles_it_maps() {
    let (provider, server) = start(ADMINS_GROUP, "").await;
    provider.set_account(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.com", "email_verified": true, "groups": ["platform-admins"]}),
    );
    let mut browser = Browser::new(&server);

    let page = browser.get("/login").await.text().await.unwrap();
    assert!(
        page.replace("&#x2f;", "/")
            .contains(r#"class="sso" href="/login/oidc/corp""#),
        "{page}"
    );
    assert!(page.contains("Sign in with Corp SSO"));

    let begun = browser.get("/login/oidc/corp?return_to=/items/").await;
    assert_eq!(begun.status(), 302);
    let authorize = begun.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/auth?", provider.issuer)),
        "{authorize}"
    );
    assert_eq!(query(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(query(&authorize, "client_id").as_deref(), Some("rampart"));
    assert_eq!(
        query(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query(&authorize, "redirect_uri"),
        Some(server.url("/login/oidc/corp/callback"))
    );
    assert!(query(&authorize, "state").is_some() && query(&authorize, "nonce").is_some());
    assert!(
        query(&authorize, "scope")
            .unwrap()
            .split(' ')
            .any(|s| s == "openid")
    );
    let cookie = crate::helpers::set_cookie_line(&begun, "rampart_oidc");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Max-Age=600"),
        "{cookie}"
    );

    let back = provider
        .sign_in(
            &provider.agent(),
            &authorize,
            "alice",
            &server.url("/login/oidc/corp/callback"),
        )
        .await;
    let signed_in = browser.get(back.trim_start_matches(&server.url(""))).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/items/");
    assert!(browser.has_cookie("rampart_session"));
    assert!(!browser.has_cookie("rampart_oidc"));
    let me: Value = browser.get("/users/me").await.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["roles"], json!(["admin", "user"]));
    assert_eq!(browser.get("/admin/users").await.status(), 200);

    // The group is gone at the provider: the next sign-in takes the role
    // (another admin exists: the last one's role would stay).
    server.create_user("root", "correct horse battery staple", &["admin"]);
    provider.set_account("alice", json!({"preferred_username": "alice", "groups": []}));
    let mut again = Browser::new(&server);
    let answer = sign_in(&provider, &server, &mut again, "alice", "/app").await;
    assert_eq!(answer.status(), 303);
    let me: Value = again.get("/users/me").await.json().await.unwrap();
    assert_eq!(me["username"], "alice", "the same account, by (iss, sub)");
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(again.get("/admin/users").await.status(), 403);

    // An account made by single sign-on has no password.
    let guessed = server.token("alice", "correct horse battery staple").await;
    assert_eq!(guessed.status(), 401);

    let root = server.login("root", "correct horse battery staple").await;
    wait_for_event(&server, &root.access_token, "sso_login", |event| {
        event["action"] == "sso_login"
            && event["outcome"] == "success"
            && event["actor"] == "alice"
            && event["target"] == "corp"
    })
    .await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"sso_logins_total{provider="corp",outcome="success"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_wrong_state_an_error_or_a_replayed_code_signs_nobody_in() {
    let (provider, server) = start("", "").await;
    provider.set_account("alice", json!({"preferred_username": "alice"}));
    let mut browser = Browser::new(&server);
    let begun = browser.get("/login/oidc/corp").await;
    let authorize = begun.headers()["location"].to_str().unwrap().to_owned();
    let back = provider
        .sign_in(
            &provider.agent(),
            &authorize,
            "alice",
            &server.url("/login/oidc/corp/callback"),
        )
        .await;
    let code = query(&back, "code").unwrap();
    let state = query(&back, "state").unwrap();

    // Another state than the cookie's: 400, an HTML page.
    let forged = browser
        .get(&format!("/login/oidc/corp/callback?code={code}&state=not-it"))
        .await;
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("Sign-in failed"));
    // No cookie at all (another browser): 400.
    let mut stranger = Browser::new(&server);
    let stolen = stranger
        .get(&format!("/login/oidc/corp/callback?code={code}&state={state}"))
        .await;
    assert_eq!(stolen.status(), 400);
    assert!(!stranger.has_cookie("rampart_session"));

    // The provider said no: 401.
    let mut refused = Browser::new(&server);
    let begun = refused.get("/login/oidc/corp").await;
    let refused_state = query(begun.headers()["location"].to_str().unwrap(), "state").unwrap();
    let error = refused
        .get(&format!(
            "/login/oidc/corp/callback?error=access_denied&state={refused_state}"
        ))
        .await;
    assert_eq!(error.status(), 401);

    // The code, used once, then brought to a new sign-in: the exchange
    // fails, 401.
    let used = browser.get(back.trim_start_matches(&server.url(""))).await;
    assert_eq!(used.status(), 303);
    let mut replay = Browser::new(&server);
    let begun = replay.get("/login/oidc/corp").await;
    let new_state = query(begun.headers()["location"].to_str().unwrap(), "state").unwrap();
    let replayed = replay
        .get(&format!(
            "/login/oidc/corp/callback?code={code}&state={new_state}"
        ))
        .await;
    assert_eq!(replayed.status(), 401);
    assert!(!replay.has_cookie("rampart_session"));

    // Unknown providers are 404; a return path off this server is ignored.
    assert_eq!(browser.get("/login/oidc/nobody").await.status(), 404);
    let mut elsewhere = Browser::new(&server);
    let answer = sign_in(&provider, &server, &mut elsewhere, "alice", "//evil.example/").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/app");
}

#[tokio::test]
async fn email_domains_and_name_collisions() {
    let (provider, server) = start("allowed_email_domains = [\"example.com\"]", "").await;
    provider.set_account(
        "bob",
        json!({"preferred_username": "bob", "email": "bob@other.example", "email_verified": true}),
    );
    provider.set_account(
        "carol",
        json!({"preferred_username": "carol", "email": "carol@example.com", "email_verified": false}),
    );
    provider.set_account(
        "dave",
        json!({"preferred_username": "dave", "email": "dave@example.com", "email_verified": true}),
    );
    for login in ["bob", "carol"] {
        let mut browser = Browser::new(&server);
        let answer = sign_in(&provider, &server, &mut browser, login, "/app").await;
        assert_eq!(answer.status(), 403, "{login}");
        assert!(answer.text().await.unwrap().contains("Not allowed"));
        assert!(!browser.has_cookie("rampart_session"));
    }
    // A local `dave` exists: the provider's dave is another person, never
    // linked by name or email.
    server.create_user("dave", "correct horse battery staple", &["user"]);
    let mut browser = Browser::new(&server);
    let answer = sign_in(&provider, &server, &mut browser, "dave", "/app").await;
    assert_eq!(answer.status(), 303);
    let me: Value = browser.get("/users/me").await.json().await.unwrap();
    assert_eq!(me["username"], "dave-2");
    assert_eq!(
        server
            .token("dave", "correct horse battery staple")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn with_password_login_off_the_providers_are_the_only_way_in() {
    let (provider, server) = start("", "password_login = false").await;
    server.create_user("erin", "correct horse battery staple", &["user"]);
    let token = server.token("erin", "correct horse battery staple").await;
    assert_eq!(token.status(), 400);
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");

    let mut browser = Browser::new(&server);
    let page = browser.get("/login").await.text().await.unwrap();
    assert!(!page.contains(r#"name="password""#), "{page}");
    assert!(page.contains(r#"class="sso""#));
    let csrf = crate::helpers::hidden_token(&page);
    let posted = browser
        .post_login("erin", "correct horse battery staple", &csrf)
        .await;
    assert_eq!(posted.status(), 403);

    provider.set_account("erin", json!({"preferred_username": "erin-sso"}));
    let answer = sign_in(&provider, &server, &mut browser, "erin", "/app").await;
    assert_eq!(answer.status(), 303);
}

/// An access token of the provider's for `login`, for `resource` (its
/// audience), got as a client of the provider's would.
async fn provider_access_token(provider: &OpenIdProvider, login: &str, resource: Option<&str>) -> String {
    let (verifier, challenge) = oidc::pkce();
    let mut authorize = url::Url::parse(&format!("{}/auth", provider.issuer)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", "api-client")
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", "http://127.0.0.1:9/cb")
        .append_pair("scope", "openid email profile")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(resource) = resource {
        authorize.query_pairs_mut().append_pair("resource", resource);
    }
    let agent = provider.agent();
    let back = provider
        .sign_in(&agent, authorize.as_str(), login, "http://127.0.0.1:9/cb")
        .await;
    let code = query(&back, "code").unwrap();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("client_id", "api-client"),
        ("code_verifier", verifier.as_str()),
    ];
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    let tokens: Value = agent
        .post(format!("{}/token", provider.issuer))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {tokens}"))
        .to_owned()
}

#[tokio::test]
async fn the_providers_access_tokens_are_bearer_tokens_for_the_right_audience() {
    let (provider, server) = start(
        &format!("accept_bearer = true\nbearer_audience = \"https://api.rampart.test\"\n{ADMINS_GROUP}"),
        "",
    )
    .await;
    provider.set_account(
        "frank",
        json!({"preferred_username": "frank", "groups": ["platform-admins"]}),
    );
    let token = provider_access_token(&provider, "frank", None).await;
    let me = server.get_as("/users/me", &token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "frank");
    // The roles its claims map to.
    assert_eq!(server.get_as("/admin/users", &token).await.status(), 200);
    // Again: the account is known now (no database read to authenticate).
    assert_eq!(server.get_as("/users/me", &token).await.status(), 200);

    let other = provider_access_token(&provider, "frank", Some("https://other.test")).await;
    assert_eq!(
        server.get_as("/users/me", &other).await.status(),
        401,
        "another audience"
    );

    // Forged from the real one: `alg: none`, and HMAC keyed with a
    // guessable secret.
    let mut parts = token.split('.');
    let (_, payload) = (parts.next().unwrap(), parts.next().unwrap());
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#)
    );
    assert_eq!(server.get_as("/users/me", &none).await.status(), 401);
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(server.get_as("/users/me", &hmac).await.status(), 401);
}

#[tokio::test]
async fn an_id_token_signed_with_the_client_secret_is_refused() {
    // The provider signs this client's ID tokens with HMAC keyed by the
    // client secret (it advertises HS256): anyone holding the secret could
    // forge them, so rampart refuses them (RFC 8725 section 3.1), whatever
    // the provider says it supports.
    let port = free_port();
    let mut client = oidc::client("rampart-hs", SECRET, &[callback(port, "corp")]);
    client["id_token_signed_response_alg"] = json!("HS256");
    let provider = OpenIdProvider::start(&json!([client]));
    provider.set_account("alice", json!({"preferred_username": "alice"}));
    let server = rampart_for(&provider, port, "rampart-hs", "", "").await;
    let mut browser = Browser::new(&server);
    let answer = sign_in(&provider, &server, &mut browser, "alice", "/app").await;
    assert_eq!(answer.status(), 401);
    assert!(!browser.has_cookie("rampart_session"));
}

#[tokio::test]
async fn a_code_issued_for_another_nonce_is_refused() {
    // The provider is asked for a code with another nonce than the one the
    // sign-in's cookie holds (a code injected from another flow): the
    // state matches, the exchange succeeds, and the ID token's nonce does
    // not: 401.
    let (provider, server) = start("", "").await;
    provider.set_account("alice", json!({"preferred_username": "alice"}));
    let mut browser = Browser::new(&server);
    let begun = browser.get("/login/oidc/corp").await;
    let authorize = begun.headers()["location"].to_str().unwrap().to_owned();
    let mut tampered = url::Url::parse(&authorize).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                "another-nonce".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let back = provider
        .sign_in(
            &provider.agent(),
            tampered.as_str(),
            "alice",
            &server.url("/login/oidc/corp/callback"),
        )
        .await;
    let answer = browser.get(back.trim_start_matches(&server.url(""))).await;
    assert_eq!(answer.status(), 401);
    assert!(!browser.has_cookie("rampart_session"));
}

#[tokio::test]
async fn under_a_factor_policy_the_providers_factors_count() {
    // `auth.mfa = "admins"`: a provider's admin is no enrolment-only
    // credential (its factors are the provider's; it has no password to
    // enrol one with here), but `/admin/*` needs the provider to say `mfa`.
    let (provider, server) = start(ADMINS_GROUP, "mfa = \"admins\"").await;
    provider.set_account(
        "alice",
        json!({"preferred_username": "alice", "groups": ["platform-admins"]}),
    );
    provider.set_account(
        "bob",
        json!({"preferred_username": "bob", "groups": ["platform-admins"], "amr": ["pwd", "otp", "mfa"]}),
    );
    let mut alice = Browser::new(&server);
    assert_eq!(
        sign_in(&provider, &server, &mut alice, "alice", "/app")
            .await
            .status(),
        303
    );
    assert_eq!(alice.get("/items/").await.status(), 200);
    let admin = alice.get("/admin/users").await;
    assert_eq!(admin.status(), 403);
    assert_eq!(
        admin.json::<Value>().await.unwrap()["detail"],
        "Second factor required"
    );

    let mut bob = Browser::new(&server);
    assert_eq!(
        sign_in(&provider, &server, &mut bob, "bob", "/app")
            .await
            .status(),
        303
    );
    assert_eq!(
        bob.get("/admin/users").await.status(),
        200,
        "the provider said mfa"
    );
}
