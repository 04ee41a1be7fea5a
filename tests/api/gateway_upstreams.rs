//! The gateway, continued (SPEC section 6): two real FastAPI apps behind
//! one rampart, routed by path and host, each sent assertions addressed to
//! it; routes that need a second factor; one OpenAPI document for all; and
//! SIGHUP, which swaps routes, upstreams and rate limits whole.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    helpers::{App, PATIENCE, TestConfig, TestServer, Upstream, claims_of, free_port, header_values},
    second_factors::{PASSWORD, codes, enroll, mfa_grant, mfa_token},
};

/// The example app (which verifies every assertion with PyJWT against
/// rampart's JWKS, for its own origin as the audience) on a port of its
/// own, for rampart on `rampart_port`.
fn example_app(rampart_port: u16) -> Upstream {
    let port = free_port();
    Upstream::start_on(
        App::Example {
            jwks_url: &format!("http://127.0.0.1:{rampart_port}/.well-known/jwks.json"),
            audience: &format!("http://127.0.0.1:{port}"),
        },
        port,
    )
}

/// A client that reaches `server` when it asks for `localhost`, so the
/// request's host is `localhost` rather than the address.
fn via_localhost(server: &TestServer) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve("localhost", server.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The recording app as `default` and the example app as `items`, behind
/// rampart; `gateway` and `items` add keys to `[gateway]` and to the items
/// upstream's table.
async fn two_apps(gateway: &str, items_keys: &str) -> (Upstream, Upstream, TestServer) {
    let rampart_port = free_port();
    let reports = Upstream::start(App::Recording { root_security: false });
    let items = example_app(rampart_port);
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_BIND", &format!("127.0.0.1:{rampart_port}"))
            .toml(&format!(
                "[gateway]\nupstream = \"{}\"\nopenapi = \"/openapi.json\"\n{gateway}\
                 [[gateway.upstreams]]\nname = \"items\"\nurl = \"{}\"\nopenapi = \"/openapi.json\"\n{items_keys}",
                reports.origin(),
                items.origin()
            )),
    )
    .await;
    (reports, items, server)
}

#[tokio::test]
async fn two_apps_behind_one_door_get_their_routes_their_hosts_and_their_own_audience() {
    let (reports, _items, server) = two_apps("", "hosts = [\"localhost\"]\n").await;
    server.create_user("alice", PASSWORD, &["user"]);
    let token = server.access_token_at("", "alice", PASSWORD).await;

    // The default upstream's routes, for any host.
    let answer = server.get_as("/reports", &token).await;
    assert_eq!(answer.status(), 200);
    let record = reports.wait_for("/reports").await;
    let assertion = &header_values(&record, "x-rampart-assertion")[0];
    assert_eq!(claims_of(assertion)["aud"], reports.origin());

    // The items app answers for `localhost` only.
    let at_address = server.get_as("/items/", &token).await;
    assert_eq!(at_address.status(), 404, "no route for this host");
    let local = via_localhost(&server);
    let base = format!("http://localhost:{}", server.addr.port());
    let created = local
        .post(format!("{base}/items/"))
        .bearer_auth(&token)
        .json(&json!({"name": "pen"}))
        .send()
        .await
        .unwrap();
    // The app checked the assertion itself: signed by rampart, for its
    // own origin (an assertion for the reports app would be refused).
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let whoami: Value = local
        .get(format!("{base}/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["username"], "alice");
    // Never to the other app.
    assert!(
        !reports
            .paths()
            .await
            .iter()
            .any(|path| path.starts_with("/items"))
    );
    // A host the items app does not serve, on a path only it has: 404.
    let other = local
        .get(format!("{base}/whoami"))
        .header("host", "elsewhere.example")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    let metrics = server.metrics().await;
    for line in [
        r#"gateway_upstream_requests_total{upstream="default",status="200"} 1"#,
        r#"gateway_upstream_requests_total{upstream="items",status="201"} 1"#,
        r#"gateway_upstream_requests_total{upstream="items",status="200"} 1"#,
        r#"gateway_upstream_duration_seconds_count{upstream="items"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn upstream_names_are_checked_and_forward_auth_alone_needs_a_trusted_proxy() {
    for (toml, said) in [
        (
            "[gateway]\nupstream = \"http://127.0.0.1:9\"\n[[gateway.routes]]\npath = \"/a\"\naccess = \"public\"\nupstream = \"billing\"\n",
            "no upstream is named `billing`",
        ),
        (
            "[gateway]\nupstream = \"http://127.0.0.1:9\"\n[[gateway.upstreams]]\nname = \"default\"\nurl = \"http://127.0.0.1:10\"\n",
            "the name `default` is given twice",
        ),
        (
            "[gateway]\n[[gateway.upstreams]]\nname = \"Billing\"\nurl = \"http://127.0.0.1:10\"\n",
            "is not an upstream name",
        ),
    ] {
        let output = crate::helpers::run_cli(&TestConfig::default().toml(toml), &["config", "check"], "");
        assert_ne!(output.code, Some(0), "{toml}");
        assert!(
            output.stdout.contains(said) || output.stderr.contains(said),
            "{said}: {output:?}"
        );
    }
    // Forward-auth only, with no proxy allowed to ask: a warning.
    let lonely = "[gateway]\n[[gateway.routes]]\npath = \"/a\"\naccess = \"public\"\n";
    let output = crate::helpers::run_cli(&TestConfig::default().toml(lonely), &["config", "check"], "");
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(
        all.contains("proxy.trusted") && all.contains("none is listed"),
        "{all}"
    );
}

#[tokio::test]
async fn a_route_with_mfa_needs_a_credential_that_shows_a_second_factor() {
    let reports = Upstream::start(App::Recording { root_security: false });
    let server = TestServer::start_with(TestConfig::default().toml(&format!(
        "[gateway]\nupstream = \"{}\"\n\
         [[gateway.routes]]\npath = \"/reports\"\naccess = \"authenticated\"\nmfa = true\n\
         [[gateway.routes]]\npath = \"/public/hello\"\naccess = \"public\"\n",
        reports.origin()
    )))
    .await;
    server.create_user("alice", PASSWORD, &["user"]);
    let password_only = server.access_token_at("", "alice", PASSWORD).await;

    assert_eq!(server.get("/reports").await.status(), 401);
    let refused = server.get_as("/reports", &password_only).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Second factor required"})
    );
    assert_eq!(server.get_as("/public/hello", &password_only).await.status(), 200);
    assert!(!reports.paths().await.contains(&"/reports".to_owned()));

    let (secret, _) = enroll(&server, &password_only).await;
    let pending = mfa_token(&server, "alice").await;
    let (_, next) = codes(&secret);
    let granted = mfa_grant(&server, &pending, &next).await;
    assert_eq!(granted.status(), 200);
    let full = granted.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.get_as("/reports", &full).await.status(), 200);
    let record = reports.wait_for("/reports").await;
    let claims = claims_of(&header_values(&record, "x-rampart-assertion")[0]);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn one_document_holds_rampart_and_each_upstream_under_rampart_scheme() {
    let (_reports, _items, server) = two_apps("own_prefix = \"/auth\"\n", "").await;
    let document: Value = server.get("/auth/openapi.json").await.json().await.unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(
        paths.contains_key("/auth/token"),
        "rampart's own, under the prefix"
    );
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["flows"]["password"]["tokenUrl"],
        "/auth/token"
    );
    assert_eq!(paths["/reports"]["get"]["security"], json!([{"bearer": []}]));
    assert_eq!(
        paths["/staff/stats"]["get"]["security"],
        json!([{"bearer": ["admin"]}])
    );
    assert_eq!(paths["/public/hello"]["get"]["security"], json!([]));
    assert_eq!(paths["/items/"]["post"]["security"], json!([{"bearer": []}]));
    // Each keeps its schemas: the items app's body is described.
    let body = &paths["/items/"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    let name = body.as_str().unwrap().rsplit('/').next().unwrap();
    assert!(document["components"]["schemas"][name]["properties"]["name"].is_object());
    // Nothing of the upstreams' own security schemes is left.
    let schemes = document["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes.keys().collect::<Vec<_>>(), ["bearer"]);
}

/// Writes the server's configuration file and sends SIGHUP.
fn reload(server: &TestServer, toml: &str) {
    std::fs::write(server.dir.path().join("rampart.toml"), toml).unwrap();
    server.hang_up();
}

/// Polls `probe` until it holds.
async fn eventually<F: Future<Output = bool>>(what: &str, mut probe: impl FnMut() -> F) {
    let deadline = Instant::now() + PATIENCE;
    while !probe().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sighup_swaps_routes_upstreams_and_rate_limits_and_a_bad_file_changes_nothing() {
    let first = Upstream::start(App::Recording { root_security: false });
    let second = Upstream::start(App::Recording { root_security: false });
    let table = |upstream: &Upstream, access: &str, rate: &str| {
        format!(
            "[rate_limit]\ndefault = \"{rate}\"\n[gateway]\nupstream = \"{}\"\n\
             [[gateway.routes]]\npath = \"/public/hello\"\naccess = \"{access}\"\n",
            upstream.origin()
        )
    };
    // The harness sets `rate_limit.default` in the environment, which
    // outranks the file: the test's server leaves it to the file.
    let server = TestServer::start_with(
        TestConfig::default()
            .without("RAMPART_RATE_LIMIT__DEFAULT")
            .toml(&table(&first, "public", "1000/minute")),
    )
    .await;
    let hello = server.get("/public/hello").await;
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.headers()["ratelimit-limit"], "1000");
    assert_eq!(server.get("/reports").await.status(), 404);

    // A new upstream, a new route and a new rate.
    let new = format!(
        "{}[[gateway.routes]]\npath = \"/reports\"\naccess = \"public\"\n",
        table(&second, "public", "900/minute")
    );
    reload(&server, &new);
    eventually("the new table", || async {
        server.get("/reports").await.status() == 200
    })
    .await;
    let hello = server.get("/public/hello").await;
    assert_eq!(hello.headers()["ratelimit-limit"], "900");
    second.wait_for("/reports").await;
    assert!(!first.paths().await.contains(&"/reports".to_owned()));

    // A file that does not load: one error line, and the table stays.
    reload(&server, "[gateway\nupstream = ");
    server
        .wait_for_log("the reload's error", |line| {
            line["level"] == "error"
                && line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("configuration reload failed"))
        })
        .await;
    assert_eq!(server.get("/reports").await.status(), 200);
    // An upstream whose document cannot be read: the same.
    reload(
        &server,
        &format!(
            "[gateway]\nupstream = \"{}\"\nopenapi = \"/no-such-document\"\n",
            first.origin()
        ),
    );
    let errors = || {
        server
            .logs()
            .iter()
            .filter(|line| line.contains("configuration reload failed"))
            .count()
    };
    eventually("a second error line", || async { errors() == 2 }).await;
    assert_eq!(server.get("/reports").await.status(), 200);
    assert_eq!(
        server.get("/public/hello").await.headers()["ratelimit-limit"],
        "900"
    );
}

#[tokio::test]
async fn a_request_during_reloads_sees_one_table_never_a_mix() {
    // Table A: the route is public, to `open`. Table B: the same route
    // needs a caller, to `guarded`. A request that took B's upstream with
    // A's rule would reach `guarded` without an identity.
    let open = Upstream::start(App::Recording { root_security: false });
    let guarded = Upstream::start(App::Recording { root_security: false });
    let table = |upstream: &Upstream, access: &str| {
        format!(
            "[rate_limit]\ndefault = \"100000/minute\"\n[gateway]\nupstream = \"{}\"\n\
             [[gateway.routes]]\npath = \"/public/hello\"\naccess = \"{access}\"\n",
            upstream.origin()
        )
    };
    let server = TestServer::start_with(TestConfig::default().toml(&table(&open, "public"))).await;
    let url = server.url("/public/hello");
    // Four clients at once, while the table flips a hundred times.
    let loads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut statuses = Vec::new();
                for _ in 0..500 {
                    statuses.push(client.get(&url).send().await.unwrap().status().as_u16());
                }
                statuses
            })
        })
        .collect();
    for round in 0..100 {
        let (upstream, access) = if round % 2 == 0 {
            (&guarded, "authenticated")
        } else {
            (&open, "public")
        };
        reload(&server, &table(upstream, access));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut statuses = Vec::new();
    for load in loads {
        statuses.extend(load.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
    assert!(
        statuses.contains(&401) && statuses.contains(&200),
        "both tables were seen"
    );
    for record in guarded.records().await {
        assert!(
            !header_values(&record, "x-rampart-user").is_empty(),
            "an anonymous request reached the guarded upstream: {record}"
        );
    }
}
