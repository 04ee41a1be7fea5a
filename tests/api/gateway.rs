//! Gateway mode (SPEC section 6): a real FastAPI app under uvicorn behind a
//! real rampart. The app records every request it receives, so each test
//! can say what reached it, and what never did.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::helpers::{
    App, Browser, PASSWORD, PATIENCE, TestConfig, TestServer, Upstream, close_code, header_values,
    next_event, open_ws_at, run_cli, send_text,
};

/// rampart in front of `upstream`, reading its OpenAPI document, with
/// `routes` (TOML `[[gateway.routes]]` tables) checked first; users
/// `alice` (role `user`) and `root` (`user` and `admin`).
async fn gateway(upstream: &Upstream, extra: &str) -> TestServer {
    let toml = format!(
        "[gateway]\nupstream = \"{}\"\nopenapi = \"/openapi.json\"\n{extra}",
        upstream.origin()
    );
    let server = TestServer::start_with(TestConfig::default().toml(&toml)).await;
    server.create_user("alice", PASSWORD, &["user"]);
    server.create_user("root", PASSWORD, &["user", "admin"]);
    server
}

/// The recording upstream (its document's security at the root or not),
/// and rampart in front of it ([`gateway`]).
pub(crate) async fn behind(root_security: bool, extra: &str) -> (Upstream, TestServer) {
    let upstream = Upstream::start(App::Recording { root_security });
    let server = gateway(&upstream, extra).await;
    (upstream, server)
}

pub(crate) async fn token(server: &TestServer, username: &str) -> String {
    server.login(username, PASSWORD).await.access_token
}

/// A request written by hand, so that its target reaches the server
/// exactly as written (an HTTP client would resolve `..`): the status.
pub(crate) async fn raw_status(server: &TestServer, target: &str) -> u16 {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn only_what_a_route_admits_reaches_the_upstream() {
    let (upstream, server) = behind(false, "").await;
    let alice = token(&server, "alice").await;
    let root = token(&server, "root").await;

    // Refused by rampart: no route, no caller, no role.
    assert_eq!(server.get("/undocumented").await.status(), 404);
    assert_eq!(
        server.get("/_upstream/records").await.status(),
        404,
        "left out of the document"
    );
    let delete = server
        .client
        .delete(server.url("/public/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404, "a method the document does not name");
    let anonymous = server.get("/reports").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        anonymous.json::<Value>().await.unwrap(),
        json!({"detail": "Not authenticated"})
    );
    let forbidden = server.get_as("/staff/stats", &alice).await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(
        forbidden.json::<Value>().await.unwrap(),
        json!({"detail": "Not enough permissions"})
    );
    let forged = server.get_as("/public/hello", "not-a-token").await;
    assert_eq!(
        forged.status(),
        401,
        "a bad bearer token is 401 even on a public route"
    );
    // rampart's own demo resource is off: the upstream owns the resources.
    assert_eq!(server.get_as("/items/", &alice).await.status(), 404);

    // Admitted: forwarded.
    assert_eq!(
        server.get("/public/hello").await.json::<Value>().await.unwrap(),
        json!({"hello": "world"})
    );
    assert_eq!(
        server
            .get_as("/reports/7", &alice)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"id": 7})
    );
    assert_eq!(server.get_as("/staff/stats", &root).await.status(), 200);

    assert_eq!(
        upstream.paths().await,
        ["/public/hello", "/reports/7", "/staff/stats"],
        "nothing refused reached the upstream"
    );
    let denied = crate::helpers::wait_for_event(&server, &root, "a refused role", |e| {
        e["action"] == "access_denied"
    })
    .await;
    assert_eq!(denied["actor"], "alice");
    assert_eq!(denied["target"], "/staff/stats");
}

#[tokio::test]
async fn paths_that_are_not_normal_are_refused_and_never_forwarded() {
    let (upstream, server) = behind(
        false,
        "[[gateway.routes]]\npath = \"/public/{*rest}\"\naccess = \"public\"\n",
    )
    .await;
    for target in [
        "/public/../staff/stats",
        "/public/./hello",
        "/public/%2e%2e/staff/stats",
        "/public/.%2E/staff/stats",
        "/%70ublic/hello",
        "/public//hello",
        "/public/a%2Fb",
        "/public/a%5Cb",
        "/public/a%zz",
    ] {
        assert_eq!(raw_status(&server, target).await, 400, "{target}");
    }
    // What is normal passes, query and all, byte for byte.
    assert_eq!(raw_status(&server, "/public/hello?next=/../x").await, 200);
    assert_eq!(
        raw_status(&server, "/public/a%20b").await,
        404,
        "the upstream's own 404"
    );
    let records = upstream.records().await;
    let forwarded: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["raw_path"].as_str().unwrap(), r["query"].as_str().unwrap()))
        .collect();
    assert_eq!(
        forwarded,
        [("/public/hello", "next=/../x"), ("/public/a%20b", "")]
    );
}

#[tokio::test]
async fn identity_headers_in_every_spelling_never_arrive() {
    let (upstream, server) = behind(false, "").await;
    let alice = token(&server, "alice").await;
    let spoofed = [
        ("X-Rampart-User", "root"),
        ("X_Rampart_User", "root"),
        ("x-rampart-roles", "admin"),
        ("X_RAMPART_ROLES", "admin"),
        ("X-Rampart-Assertion", "forged"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X_Forwarded_For", "203.0.113.9"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-User", "root"),
        ("Forwarded", "for=203.0.113.9;proto=https"),
        ("X-Real-IP", "203.0.113.9"),
        ("X_Real_IP", "203.0.113.9"),
        ("X-Auth-Request-User", "root"),
        ("X_Auth_Request_Email", "root@example.com"),
        ("Cookie", "rampart_session=stolen; rampart_device=d; theme=dark"),
        ("X-CSRF-Token", "t"),
        ("X-Custom", "kept"),
    ];
    let mut request = server
        .client
        .get(server.url("/private/echo?a=1"))
        .bearer_auth(&alice);
    for (name, value) in spoofed {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    let record = upstream.wait_for("/private/echo").await;
    let names: Vec<String> = record["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap().to_owned())
        .collect();
    for name in &names {
        assert!(!name.contains('_'), "{name} arrived");
        assert!(
            !["forwarded", "x-real-ip", "authorization", "x-csrf-token"].contains(&name.as_str())
                && !name.starts_with("x-auth-request-"),
            "{name} arrived"
        );
    }
    assert_eq!(header_values(&record, "x-rampart-user"), ["alice"]);
    assert_eq!(header_values(&record, "x-rampart-roles"), ["user"]);
    assert_eq!(header_values(&record, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(header_values(&record, "x-forwarded-proto"), ["http"]);
    assert_eq!(
        header_values(&record, "x-forwarded-host"),
        [server.addr.to_string()]
    );
    // The upstream is named by its own authority, once.
    assert_eq!(
        header_values(&record, "host"),
        [upstream.origin().trim_start_matches("http://")]
    );
    assert!(header_values(&record, "x-forwarded-user").is_empty());
    assert_eq!(header_values(&record, "cookie"), ["theme=dark"]);
    assert_eq!(header_values(&record, "x-custom"), ["kept"]);
    assert_eq!(header_values(&record, "x-rampart-assertion").len(), 1);
    assert_ne!(header_values(&record, "x-rampart-assertion"), ["forged"]);

    // An anonymous caller's claims are dropped just the same.
    upstream_clear(&upstream).await;
    let anonymous = server
        .client
        .get(server.url("/echo"))
        .header("X-Rampart-User", "root")
        .header("x_rampart_roles", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
    let record = upstream.wait_for("/echo").await;
    assert!(header_values(&record, "x-rampart-user").is_empty());
    assert!(header_values(&record, "x-rampart-roles").is_empty());
}

async fn upstream_clear(upstream: &Upstream) {
    reqwest::Client::new()
        .delete(format!("{}/_upstream/records", upstream.origin()))
        .send()
        .await
        .unwrap();
}

/// The assertion's header and claims, verified against rampart's JWKS.
async fn verify_assertion(server: &TestServer, assertion: &str, audience: &str) -> (Value, Value) {
    let jwks: Value = server.get("/.well-known/jwks.json").await.json().await.unwrap();
    let header = jsonwebtoken::decode_header(assertion).unwrap();
    let kid = header.kid.clone().expect("a kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is in the JWKS");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["rampart"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .expect("the assertion verifies")
        .claims;
    (serde_json::to_value(&header).unwrap(), claims)
}

#[tokio::test]
async fn the_assertion_is_signed_and_bound_to_the_request() {
    let (upstream, server) = behind(false, "").await;
    let alice = token(&server, "alice").await;
    let response = server
        .client
        .put(server.url("/private/echo?b=2&a=%2F"))
        .bearer_auth(&alice)
        .body("twelve bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["body_bytes"], 12, "the body arrived whole");
    let assertion = header_values(&upstream.wait_for("/private/echo").await, "x-rampart-assertion").remove(0);
    let (header, claims) = verify_assertion(&server, &assertion, &upstream.origin()).await;
    assert_eq!(header["typ"], "rampart-assertion+jwt");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(claims["htm"], "PUT");
    assert_eq!(claims["htu"], "/private/echo?b=2&a=%2F");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);

    // Anonymous callers get one too, naming nobody.
    upstream_clear(&upstream).await;
    assert_eq!(server.get("/echo").await.status(), 200);
    let assertion = header_values(&upstream.wait_for("/echo").await, "x-rampart-assertion").remove(0);
    let (_, claims) = verify_assertion(&server, &assertion, &upstream.origin()).await;
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "/echo");
    assert!(
        claims.get("sub").is_none() && claims.get("roles").is_none(),
        "{claims}"
    );
}

#[tokio::test]
async fn the_upstream_cannot_speak_for_rampart() {
    let (_upstream, server) = behind(false, "").await;
    let alice = token(&server, "alice").await;
    let leaky = server.get("/leaky").await;
    assert_eq!(leaky.status(), 200);
    let headers = leaky.headers();
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["app_pref=dark; Path=/"], "no rampart cookie planted");
    for gone in [
        "server",
        "x-powered-by",
        "access-control-allow-origin",
        "access-control-allow-credentials",
    ] {
        assert!(!headers.contains_key(gone), "{gone}");
    }
    // rampart's own headers, where the upstream sent none; its own stand.
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(
        headers["cache-control"], "public, max-age=600",
        "an anonymous answer keeps its own"
    );

    // An authenticated caller's answer is never stored by a shared cache,
    // unless the upstream already keeps it private.
    assert_eq!(
        server.get_as("/leaky", &alice).await.headers()["cache-control"],
        "no-store"
    );
    assert_eq!(
        server.get_as("/cache/private", &alice).await.headers()["cache-control"],
        "private, max-age=60"
    );
}

#[tokio::test]
async fn a_browser_session_passes_only_with_its_csrf_token() {
    let (upstream, server) = behind(false, "").await;
    let mut browser = Browser::new(&server);
    let signed_in = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/", "a browser login lands on /");

    let refused = browser.send(Method::POST, "/private/echo", &[], None).await;
    assert_eq!(refused.status(), 403);
    let cross_site = browser
        .send(
            Method::DELETE,
            "/private/echo",
            &[
                ("Origin", "https://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            None,
        )
        .await;
    assert_eq!(cross_site.status(), 403);
    assert!(
        upstream.records().await.is_empty(),
        "refused writes never reach the upstream"
    );

    let token = browser.csrf_token().await;
    let read = browser.send(Method::GET, "/private/echo", &[], None).await;
    assert_eq!(read.status(), 200, "reads need no token");
    let write = browser
        .send(Method::POST, "/private/echo", &[("X-CSRF-Token", &token)], None)
        .await;
    assert_eq!(write.status(), 200);
    assert_eq!(write.headers()["cache-control"], "no-store");
    let records = upstream.records().await;
    assert_eq!(records.len(), 2);
    let write = &records[1];
    assert_eq!(write["method"], "POST");
    assert_eq!(header_values(write, "x-rampart-user"), ["alice"]);
    assert!(header_values(write, "x-csrf-token").is_empty());
    assert!(
        header_values(write, "cookie").is_empty(),
        "rampart's cookies stay with rampart"
    );
}

#[tokio::test]
async fn a_route_spends_its_own_budget() {
    let (upstream, server) = behind(false, "[[gateway.routes]]\npath = \"/public/hello\"\nmethods = [\"GET\"]\naccess = \"public\"\nrate_limit = \"2/minute\"\n").await;
    for _ in 0..2 {
        let allowed = server.get("/public/hello").await;
        assert_eq!(allowed.status(), 200);
        assert_eq!(allowed.headers()["ratelimit-limit"], "2");
    }
    let refused = server.get("/public/hello").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Rate limit exceeded: 2 per 1 minute"})
    );
    assert_eq!(
        server.get("/echo").await.status(),
        200,
        "other routes keep the default"
    );
    assert_eq!(
        upstream.paths().await,
        ["/public/hello", "/public/hello", "/echo"]
    );

    // The access log and metrics name the route by its template.
    let line = server
        .wait_for_log("the refusal's access line", |l| {
            l["route"] == "/public/hello" && l["status"] == 429
        })
        .await;
    assert_eq!(line["method"], "GET");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"route="/public/hello",status="429""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn routes_follow_the_documents_root_security() {
    let (_upstream, server) = behind(true, "").await;
    let alice = token(&server, "alice").await;
    assert_eq!(
        server.get("/public/hello").await.status(),
        200,
        "its own empty list"
    );
    for path in ["/echo", "/reports", "/leaky"] {
        assert_eq!(
            server.get(path).await.status(),
            401,
            "{path}: the root's security"
        );
        assert_eq!(server.get_as(path, &alice).await.status(), 200, "{path}");
    }
    assert_eq!(
        server.get_as("/staff/stats", &alice).await.status(),
        403,
        "its own scopes"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_502_and_a_slow_one_504() {
    let upstream = Upstream::start(App::Recording { root_security: false });
    let server = TestServer::start_with(TestConfig::default().toml(&format!(
        "[gateway]\nupstream = \"{}\"\ntimeout = \"1s\"\n[[gateway.routes]]\npath = \"/{{*rest}}\"\naccess = \"public\"\n",
        upstream.origin()
    )))
    .await;
    let slow = server.get("/slow?seconds=10").await;
    assert_eq!(slow.status(), 504);
    assert_eq!(
        slow.json::<Value>().await.unwrap(),
        json!({"detail": "Gateway Timeout"})
    );
    let port = upstream.addr.port();
    drop(upstream);
    let down = server.get("/public/hello").await;
    assert_eq!(down.status(), 502);
    let body = down.text().await.unwrap();
    assert_eq!(body, r#"{"detail":"Bad Gateway"}"#);
    assert!(!body.contains(&port.to_string()));
}

#[tokio::test]
async fn large_answers_stream_through_without_being_held() {
    let (_upstream, server) = behind(false, "").await;
    let peak_before = peak_rss_kib(server.pid());
    let mut response = server.get("/big?mb=64").await;
    assert_eq!(response.status(), 200);
    let mut received = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len();
        // A slow reader: the server must wait for it, not buffer ahead.
        if received % (8 << 20) < chunk.len() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(received, 64 << 20);
    let grown = peak_rss_kib(server.pid()) - peak_before;
    assert!(
        grown < 16 << 10,
        "the peak RSS grew by {grown} KiB for a 64 MiB answer"
    );
}

/// The process's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(pid: i32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn preflights_are_answered_by_rampart() {
    let (upstream, server) = behind(false, "[cors]\nallow_origins = [\"https://app.example\"]\n").await;
    let preflight = server
        .client
        .request(Method::OPTIONS, server.url("/reports"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let read = server
        .client
        .get(server.url("/public/hello"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        upstream.paths().await,
        ["/public/hello"],
        "the preflight was not forwarded"
    );
}

#[tokio::test]
async fn the_configuration_is_checked() {
    let gateway = "[gateway]\nupstream = \"http://127.0.0.1:9\"\n";
    let route = |rest: &str| format!("{gateway}[[gateway.routes]]\npath = \"/a\"\n{rest}");
    // (file, environment, exit status, what `config check` says)
    let cases = [
        (
            format!("{gateway}[auth]\nalgorithm = \"HS256\"\n"),
            None,
            1,
            "error: auth.algorithm: HS256 cannot sign gateway assertions",
        ),
        (
            "env = \"production\"\n[proxy]\ntrusted = [\"10.0.0.1\"]\n[gateway]\nupstream = \"http://203.0.113.5:8001\"\n".to_owned(),
            None,
            1,
            "error: gateway.upstream: plain http to http://203.0.113.5:8001",
        ),
        (
            format!("{gateway}[[gateway.routes]]\npath = \"/files/{{name}}.json\"\naccess = \"public\"\n"),
            None,
            2,
            "is not a route template",
        ),
        (route("access = \"public\"\nmethod = \"GET\"\n"), None, 2, "unknown configuration key"),
        (route("access = \"everyone\"\n"), None, 2, "write \"public\", \"authenticated\", or the roles"),
        (
            gateway.to_owned(),
            Some(("RAMPART_GATEWAY__ROUTES", "[]")),
            2,
            "gateway.routes cannot come from the environment",
        ),
        (String::new(), Some(("RAMPART_GATEWAY__UPSTREAM", "http://127.0.0.1:8001")), 0, "warning: gateway.routes"),
    ];
    for (toml, env, code, says) in cases {
        let mut config = TestConfig::default().toml(&toml);
        if let Some((key, value)) = env {
            config = config.env(key, value);
        }
        let output = run_cli(&config, &["config", "check"], "");
        let all = format!("{}{}", output.stdout, output.stderr);
        assert_eq!(output.code, Some(code), "{toml}: {all}");
        assert!(all.contains(says), "{toml}: {all}");
    }

    // `serve` refuses what cannot work, in one sentence.
    let bad_role = run_cli(
        &TestConfig::default().toml(&route("access = [\"Admins\"]\n")),
        &["serve"],
        "",
    );
    assert_eq!(bad_role.code, Some(1));
    assert!(
        bad_role.stderr.contains("`Admins` is not a role name"),
        "{}",
        bad_role.stderr
    );
}

#[tokio::test]
async fn an_upstream_whose_document_cannot_be_read_stops_the_start() {
    let upstream = Upstream::start(App::Recording { root_security: false });
    let output = run_cli(
        &TestConfig::default().toml(&format!(
            "[gateway]\nupstream = \"{}\"\nopenapi = \"/public/hello\"\n",
            upstream.origin()
        )),
        &["serve"],
        "",
    );
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("gateway.openapi:") && output.stderr.contains("is not understood"),
        "{}",
        output.stderr
    );
}

/// A TCP relay in front of an app that keeps what rampart sent, to lift an
/// assertion off the wire as an attacker on the path would. Its address is
/// known before the app's: `target` is set once the app runs.
struct Wiretap {
    addr: std::net::SocketAddr,
    target: Arc<OnceLock<std::net::SocketAddr>>,
    seen: Arc<Mutex<Vec<u8>>>,
}

async fn wiretap() -> Wiretap {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tap = Wiretap {
        addr: listener.local_addr().unwrap(),
        target: Arc::default(),
        seen: Arc::default(),
    };
    let (target, seen) = (tap.target.clone(), tap.seen.clone());
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            let mut outbound = TcpStream::connect(*target.get().unwrap()).await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let (mut in_read, mut in_write) = inbound.split();
                let (mut out_read, mut out_write) = outbound.split();
                let up = async {
                    let mut buffer = [0u8; 16 << 10];
                    loop {
                        let n = in_read.read(&mut buffer).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        seen.lock().unwrap().extend_from_slice(&buffer[..n]);
                        if out_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = out_write.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
                    let _ = in_write.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    tap
}

/// The last `X-Rampart-Assertion` in what the relay saw.
fn lifted_assertion(seen: &Mutex<Vec<u8>>) -> String {
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    seen.lines()
        .rev()
        .find_map(|l| l.strip_prefix("x-rampart-assertion: "))
        .expect("an assertion on the wire")
        .trim()
        .to_owned()
}

// Multi-threaded: the relay serves while the harness waits for the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_apps_dependency_accepts_rampart_and_nothing_else() {
    // rampart's port first: the app fetches rampart's JWKS from it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let jwks = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    // The app is reached through the relay: its origin is the audience.
    let tap = wiretap().await;
    let app = Upstream::start(App::Example {
        jwks_url: &jwks,
        audience: &format!("http://{}", tap.addr),
    });
    tap.target.set(app.addr).unwrap();
    let relay = tap.addr;
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_BIND", &format!("127.0.0.1:{port}"))
            .toml(&format!(
                "[gateway]\nupstream = \"http://{relay}\"\nopenapi = \"/openapi.json\"\n"
            )),
    )
    .await;
    server.create_user("alice", PASSWORD, &["user"]);
    server.create_user("root", PASSWORD, &["user", "admin"]);
    let alice = token(&server, "alice").await;
    let root = token(&server, "root").await;

    let whoami = server.get_as("/whoami", &alice).await;
    assert_eq!(whoami.status(), 200);
    assert_eq!(
        whoami.json::<Value>().await.unwrap(),
        json!({"username": "alice", "roles": ["user"]})
    );
    let created = server
        .client
        .post(server.url("/items/"))
        .bearer_auth(&alice)
        .json(&json!({"name": "lamp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    assert_eq!(server.get_as("/admin/items", &alice).await.status(), 403);
    assert_eq!(server.get_as("/admin/items", &root).await.status(), 200);
    assert_eq!(
        server.get("/whoami").await.status(),
        401,
        "rampart: the document says it needs a caller"
    );

    // What the app accepts from rampart, it refuses from anyone else.
    assert_eq!(server.get_as("/whoami", &alice).await.status(), 200);
    let assertion = lifted_assertion(&tap.seen);
    let direct = |path: &str, assertion: &str| {
        reqwest::Client::new()
            .get(format!("{}{path}", app.origin()))
            .header("X-Rampart-Assertion", assertion.to_owned())
            .send()
    };
    assert_eq!(
        direct("/whoami", &assertion).await.unwrap().status(),
        200,
        "the lifted one, as made"
    );
    let replayed = direct("/items/", &assertion).await.unwrap();
    assert_eq!(replayed.status(), 401, "replayed on another path");
    assert_eq!(
        replayed.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid rampart assertion"})
    );
    // The claims rewritten (root's roles), the signature kept.
    let parts: Vec<&str> = assertion.split('.').collect();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    claims["roles"] = json!(["user", "admin"]);
    let forged = format!("{}.{}.{}", parts[0], engine.encode(claims.to_string()), parts[2]);
    assert_eq!(
        direct("/whoami", &forged).await.unwrap().status(),
        401,
        "forged claims"
    );
    // Signed by a key of its own, under rampart's kid.
    let header = jsonwebtoken::decode_header(&assertion).unwrap();
    let own_key = jsonwebtoken::EncodingKey::from_ed_der(&ed25519_pkcs8());
    let mut own_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    own_header.kid = header.kid;
    own_header.typ = header.typ;
    let self_signed = jsonwebtoken::encode(&own_header, &claims, &own_key).unwrap();
    assert_eq!(
        direct("/whoami", &self_signed).await.unwrap().status(),
        401,
        "another key"
    );
    let none = direct("/whoami", "").await.unwrap();
    assert_eq!(none.status(), 401, "no assertion");
}

/// A fresh Ed25519 key, PKCS#8 DER.
fn ed25519_pkcs8() -> Vec<u8> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[tokio::test]
async fn websockets_are_tunnelled_and_closed_when_their_credential_ends() {
    let (upstream, server) = behind(
        false,
        "[[gateway.routes]]\npath = \"/ws/echo\"\nmethods = [\"GET\"]\naccess = \"authenticated\"\n",
    )
    .await;
    let tokens = server.login("alice", PASSWORD).await;

    // Refused before the upstream hears of it.
    assert_eq!(open_ws_at(&server, "/ws/echo", &[]).await.err(), Some(401));
    let bearer = format!("Bearer {}", tokens.access_token);
    let foreign = open_ws_at(
        &server,
        "/ws/echo",
        &[("authorization", &bearer), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(foreign.err(), Some(403));
    assert!(upstream.records().await.is_empty());

    // A browser's way: the token as a subprotocol, never passed on.
    let protocols = format!("chat.v1, bearer.{}", tokens.access_token);
    let mut socket = open_ws_at(
        &server,
        "/ws/echo",
        &[("sec-websocket-protocol", &protocols), ("x-rampart-user", "root")],
    )
    .await
    .expect("upgrade");
    let hello = next_event(&mut socket).await;
    let seen = json!({"headers": hello["headers"]});
    assert_eq!(header_values(&seen, "x-rampart-user"), ["alice"]);
    assert_eq!(header_values(&seen, "sec-websocket-protocol"), ["chat.v1"]);
    assert!(header_values(&seen, "authorization").is_empty());
    assert_eq!(header_values(&seen, "x-rampart-assertion").len(), 1);
    assert!(send_text(&mut socket, "ping?".to_owned()).await);
    let echoed = tokio::time::timeout(PATIENCE, async {
        loop {
            match futures_util::StreamExt::next(&mut socket).await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => return text.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("expected the echo, got {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(echoed, "ping?");

    // The token revoked: the tunnel closes (1008) within 5 s.
    let revoked = server
        .client
        .post(server.url("/token/revoke"))
        .form(&[("token", tokens.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (code, took) = close_code(&mut socket).await;
    assert_eq!(code, 1008);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn own_routes_move_under_the_prefix_and_the_upstream_gets_their_paths() {
    let upstream = Upstream::start(App::Recording { root_security: false });
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_RATE_LIMIT__LOGIN", "50/minute")
            .toml(&format!(
                "[gateway]\nupstream = \"{}\"\nown_prefix = \"/auth\"\n\
                 [[gateway.routes]]\npath = \"/{{*rest}}\"\naccess = \"public\"\n",
                upstream.origin()
            )),
    )
    .await;
    server.create_user("alice", PASSWORD, &["user"]);

    // rampart's own, under the prefix, with their policies and headers.
    let token = server
        .client
        .post(server.url("/auth/token"))
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    assert_eq!(token.headers()["cache-control"], "no-store");
    assert_eq!(token.headers()["ratelimit-limit"], "50", "the login policy");
    let access = token.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = server.get_as("/auth/users/me", &access).await;
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "alice");
    assert_eq!(server.get("/auth/healthz").await.status(), 200);
    let jwks: Value = server
        .get("/auth/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
    // One document for both: rampart's paths written under the prefix (no
    // `servers` entry, which would move the upstream's paths too).
    let document: Value = server.get("/auth/openapi.json").await.json().await.unwrap();
    assert!(document.get("servers").is_none());
    assert!(document["paths"].get("/auth/users/me").is_some());
    assert!(document["paths"].get("/users/me").is_none(), "not the upstream's");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["flows"]["password"]["tokenUrl"],
        "/auth/token"
    );

    // The pages work there, as a person uses them.
    // (Paths from the prefix: the form is also shown at `/login/mfa`.
    // The page escapes `/` in attributes, as HTML allows.)
    let page = server
        .get("/auth/login")
        .await
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(page.contains(r#"action="/auth/login""#) && page.contains(r#"href="/auth/static/app.css""#));
    assert_eq!(server.get("/auth/static/app.css").await.status(), 200);
    let mut browser = Browser::with(server.url("/auth"), server.client.clone());
    let signed_in = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/");

    // The upstream's own /token and /users are its own.
    assert_eq!(server.get("/token").await.status(), 404, "the upstream's 404");
    assert_eq!(server.get("/users/me").await.status(), 404);
    assert_eq!(upstream.paths().await, ["/token", "/users/me"]);
}

#[tokio::test]
async fn bodies_stream_up_under_the_body_limit() {
    let upstream = Upstream::start(App::Recording { root_security: false });
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_LIMITS__MAX_BODY_BYTES", "65536")
            .toml(&format!(
                "[gateway]\nupstream = \"{}\"\nopenapi = \"/openapi.json\"\n",
                upstream.origin()
            )),
    )
    .await;
    // Within the limit, in chunks of unknown total length: passed whole.
    let chunks = |n: usize| {
        let stream = futures_util::stream::iter((0..n).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024])));
        reqwest::Body::wrap_stream(stream)
    };
    let post = |body: reqwest::Body| server.client.post(server.url("/echo")).body(body).send();
    let within = post(chunks(60)).await.unwrap();
    assert_eq!(within.status(), 200);
    assert_eq!(within.json::<Value>().await.unwrap()["body_bytes"], 60 * 1024);
    // Over it: 413, whether the length is declared or only discovered.
    let declared = post(vec![b'x'; 70 * 1024].into()).await.unwrap();
    assert_eq!(declared.status(), 413);
    let discovered = post(chunks(70)).await.unwrap();
    assert_eq!(discovered.status(), 413);
    assert_eq!(
        discovered.json::<Value>().await.unwrap(),
        json!({"detail": "Payload Too Large"})
    );
}

#[tokio::test]
async fn over_tls_the_upstream_hears_https_and_the_answer_carries_hsts() {
    let upstream = Upstream::start(App::Recording { root_security: false });
    let certificates = tempfile::tempdir().unwrap();
    crate::helpers::cert_dev(certificates.path(), &["localhost"]);
    let server = TestServer::start_with(TestConfig::default().tls(certificates.path()).toml(&format!(
        "[gateway]\nupstream = \"{}\"\nopenapi = \"/openapi.json\"\n",
        upstream.origin()
    )))
    .await;
    let pem = std::fs::read(certificates.path().join("cert.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let host = format!("localhost:{}", server.addr.port());
    let answer = client
        .get(format!("https://{host}/echo"))
        .header("Cookie", "__Host-rampart_session=stolen; theme=dark")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let record = upstream.wait_for("/echo").await;
    assert_eq!(header_values(&record, "x-forwarded-proto"), ["https"]);
    assert_eq!(header_values(&record, "x-forwarded-host"), [host]);
    assert_eq!(header_values(&record, "cookie"), ["theme=dark"]);
}
