//! Forward-auth (SPEC section 6, "Gateway, continued"): the questions a
//! proxy in front asks, asked here as nginx and Caddy ask them; and the
//! return paths of the sign-in that a refusal's `X-Rampart-Login` leads to.
//! The proxies themselves answer in `forward_auth_proxies`.

use serde_json::{Value, json};

use crate::{
    helpers::{Browser, PASSWORD, TestConfig, TestServer, claims_of, hidden_token},
    second_factors,
};

/// rampart for forward-auth only (no upstream), behind a proxy on
/// 127.0.0.1, with its own routes under `/auth`.
const FORWARD_AUTH_ONLY: &str = r#"
[proxy]
trusted = ["127.0.0.1"]
[gateway]
own_prefix = "/auth"
[[gateway.routes]]
path = "/public/{*rest}"
access = "public"
[[gateway.routes]]
path = "/reports"
access = "authenticated"
[[gateway.routes]]
path = "/notes/"
methods = ["GET", "POST"]
access = "authenticated"
rate_limit = "3/minute"
[[gateway.routes]]
path = "/staff/stats"
access = ["admin"]
[[gateway.routes]]
path = "/vault"
access = "authenticated"
mfa = true
"#;

/// Asks `server` about `method uri` as Caddy does, with the caller's
/// `headers`.
async fn ask(server: &TestServer, method: &str, uri: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    ask_at(server, "/auth", method, uri, headers).await
}

/// [`ask`], of a server whose own routes are under `prefix`.
async fn ask_at(
    server: &TestServer,
    prefix: &str,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = server
        .client
        .get(server.url(&format!("{prefix}/forward-auth")))
        .header("x-forwarded-method", method)
        .header("x-forwarded-uri", uri)
        .header("x-forwarded-host", "app.example")
        .header("x-forwarded-proto", "http");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn forward_auth_decides_as_the_route_table_would() {
    let server = TestServer::start_with(TestConfig::default().toml(FORWARD_AUTH_ONLY)).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.access_token_at("/auth", "alice", PASSWORD).await;
    let bearer = format!("Bearer {alice}");

    // Anonymous on a public route: allowed, no identity, an assertion for
    // the original request.
    let public = ask(&server, "GET", "/public/a?b=1", &[]).await;
    assert_eq!(public.status(), 200);
    assert!(public.headers().get("x-rampart-user").is_none());
    assert!(public.headers().get("x-rampart-roles").is_none());
    let claims = claims_of(public.headers()["x-rampart-assertion"].to_str().unwrap());
    assert_eq!(claims["aud"], "forward-auth");
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "/public/a?b=1");
    assert!(claims.get("sub").is_none());

    // A caller's route without a caller: 401 and the way to sign in.
    let anonymous = ask(&server, "GET", "/reports?x=1", &[]).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["x-rampart-login"],
        "/auth/login?return_to=%2Freports%3Fx%3D1"
    );
    assert_eq!(
        anonymous.json::<Value>().await.unwrap(),
        json!({"detail": "Not authenticated"})
    );
    let garbage = ask(&server, "GET", "/public/a", &[("authorization", "Bearer nope")]).await;
    assert_eq!(
        garbage.status(),
        401,
        "an invalid bearer token, even on a public route"
    );

    // With a bearer token: the identity, for the proxy to pass on.
    let allowed = ask(&server, "GET", "/reports", &[("authorization", &bearer)]).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-rampart-user"], "alice");
    assert_eq!(allowed.headers()["x-rampart-roles"], "user");
    let claims = claims_of(allowed.headers()["x-rampart-assertion"].to_str().unwrap());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["htu"], "/reports");

    // Roles, a second factor, unknown routes and paths not in normal form.
    let forbidden = ask(&server, "GET", "/staff/stats", &[("authorization", &bearer)]).await;
    assert_eq!(forbidden.status(), 403);
    let vault = ask(&server, "GET", "/vault", &[("authorization", &bearer)]).await;
    assert_eq!(vault.status(), 403);
    assert_eq!(
        vault.json::<Value>().await.unwrap(),
        json!({"detail": "Second factor required"})
    );
    assert_eq!(ask(&server, "GET", "/nowhere", &[]).await.status(), 404);
    assert_eq!(
        ask(&server, "DELETE", "/notes/", &[("authorization", &bearer)])
            .await
            .status(),
        404
    );
    let dotted = ask(&server, "GET", "/public/../staff/stats", &[]).await;
    assert_eq!(dotted.status(), 400);
    assert_eq!(
        dotted.json::<Value>().await.unwrap(),
        json!({"detail": "Path not in normal form"})
    );
    let unasked = server
        .client
        .get(server.url("/auth/forward-auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(unasked.status(), 400);

    // The route's own rate limit, on the caller's budget.
    for _ in 0..3 {
        assert_eq!(
            ask(&server, "GET", "/notes/", &[("authorization", &bearer)])
                .await
                .status(),
            200
        );
    }
    let limited = ask(&server, "GET", "/notes/", &[("authorization", &bearer)]).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));

    // With no upstream, nothing is forwarded: the routes are the proxy's.
    assert_eq!(server.get_as("/reports", &alice).await.status(), 404);
}

#[tokio::test]
async fn forward_auth_checks_csrf_for_a_browsers_unsafe_request() {
    let server = TestServer::start_with(TestConfig::default().toml(FORWARD_AUTH_ONLY)).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut browser = Browser::with(server.url("/auth"), server.client.clone());
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    let csrf = browser.csrf_token().await;
    let cookies = format!(
        "rampart_session={}; rampart_csrf={}",
        browser.cookie("rampart_session"),
        browser.cookie("rampart_csrf")
    );
    let without = ask(&server, "POST", "/reports", &[("cookie", &cookies)]).await;
    assert_eq!(without.status(), 403);
    assert_eq!(
        without.json::<Value>().await.unwrap(),
        json!({"detail": "CSRF token missing or invalid"})
    );
    let cross_site = ask(
        &server,
        "POST",
        "/reports",
        &[
            ("cookie", &cookies),
            ("x-csrf-token", &csrf),
            ("origin", "http://evil.example"),
        ],
    )
    .await;
    assert_eq!(cross_site.status(), 403);
    let with = ask(
        &server,
        "POST",
        "/reports",
        &[
            ("cookie", &cookies),
            ("x-csrf-token", &csrf),
            ("origin", "http://app.example"),
        ],
    )
    .await;
    assert_eq!(with.status(), 200);
    assert_eq!(with.headers()["x-rampart-user"], "alice");
    // A safe method needs no token.
    assert_eq!(
        ask(&server, "GET", "/reports", &[("cookie", &cookies)])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn forward_auth_answers_trusted_proxies_only() {
    let untrusted = FORWARD_AUTH_ONLY.replace(r#"trusted = ["127.0.0.1"]"#, r#"trusted = ["10.0.0.0/8"]"#);
    let server = TestServer::start_with(TestConfig::default().toml(&untrusted)).await;
    let refused = ask(&server, "GET", "/public/a", &[]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("x-rampart-assertion").is_none());
}

#[tokio::test]
async fn a_sign_in_returns_to_its_path_and_only_to_a_path_of_this_server() {
    let server = TestServer::start_with(TestConfig::default().toml(FORWARD_AUTH_ONLY)).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let sign_in = |return_to: &'static str| {
        let base = server.url("/auth");
        let client = server.client.clone();
        async move {
            let mut browser = Browser::with(base, client);
            let page = browser
                .get(&format!("/login?return_to={return_to}"))
                .await
                .text()
                .await
                .unwrap();
            let token = hidden_token(&page);
            let back = page.split(r#"name="return_to" value=""#).nth(1).map(|rest| {
                let value = rest.split('"').next().unwrap();
                value.replace("&#x2f;", "/").replace("&amp;", "&")
            });
            let form = match &back {
                Some(back) => vec![
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("csrf_token", token.as_str()),
                    ("return_to", back.as_str()),
                ],
                None => vec![
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("csrf_token", token.as_str()),
                ],
            };
            let done = browser.post_form("/login", &form).await;
            assert_eq!(done.status(), 303);
            done.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(sign_in("%2Freports%3Fx%3D1%26y%3D2").await, "/reports?x=1&y=2");
    // Another host, however written: the default (with a gateway, `/`).
    for elsewhere in [
        "%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "reports",
    ] {
        assert_eq!(sign_in(elsewhere).await, "/", "{elsewhere}");
    }
}

#[tokio::test]
async fn the_second_step_keeps_the_return_path() {
    // Own routes at the root here, where the enrolment helper calls them.
    let toml = FORWARD_AUTH_ONLY.replace("own_prefix = \"/auth\"\n", "");
    let server = TestServer::start_with(TestConfig::default().toml(&toml)).await;
    server.create_user("alice", second_factors::PASSWORD, &["user"]);
    let password_only = server
        .access_token_at("", "alice", second_factors::PASSWORD)
        .await;
    let (secret, _) = second_factors::enroll(&server, &password_only).await;

    let mut browser = Browser::new(&server);
    let page = browser
        .get("/login?return_to=%2Fvault")
        .await
        .text()
        .await
        .unwrap();
    let first = browser
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", second_factors::PASSWORD),
                ("csrf_token", &hidden_token(&page)),
                ("return_to", "/vault"),
            ],
        )
        .await;
    assert_eq!(first.status(), 200);
    let step = first.text().await.unwrap();
    assert!(step.contains(r#"name="return_to" value="&#x2f;vault""#), "{step}");
    let (_, next) = second_factors::codes(&secret);
    let done = browser
        .post_form(
            "/login/mfa",
            &[
                ("code", &next),
                ("csrf_token", &hidden_token(&step)),
                ("return_to", "/vault"),
            ],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/vault");
    // The session it started passes the `mfa` route.
    let cookies = format!("rampart_session={}", browser.cookie("rampart_session"));
    let vault = ask_at(&server, "", "GET", "/vault", &[("cookie", &cookies)]).await;
    assert_eq!(vault.status(), 200);
}
