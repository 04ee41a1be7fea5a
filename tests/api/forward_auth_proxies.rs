//! Forward-auth with the real proxies in front (SPEC section 6, "Gateway,
//! continued"): Debian's nginx (`auth_request`) and Caddy (`forward_auth`),
//! each run from the configuration the README shows, with only its three
//! addresses moved to the test's ports: rampart (127.0.0.1:8000), the
//! upstream app (127.0.0.1:8001) and the proxy (port 8080).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{
    App, Browser, PASSWORD, PATIENCE, TestConfig, TestServer, Upstream, access_token_via, claims_of,
    free_port, header_values, hidden_token,
};

/// The heading of the README's section, and the fences of its two blocks.
const SECTION: &str = "### Forward-auth: nginx or Caddy stays in front";

/// The first block fenced as `language` in the README's forward-auth
/// section.
fn readme_block(language: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split(SECTION)
        .nth(1)
        .expect("the README's forward-auth section");
    let fence = format!("```{language}\n");
    let start = section
        .find(&fence)
        .unwrap_or_else(|| panic!("a ```{language} block"))
        + fence.len();
    let end = section[start..].find("\n```").unwrap() + start;
    section[start..=end].to_owned()
}

/// rampart's own configuration, from the same section (the block fenced
/// as `toml`).
fn readme_rampart_toml() -> String {
    readme_block("toml")
}

/// A proxy process, killed when dropped.
struct Proxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's block for `language` with the test's addresses in place of
/// the README's.
fn with_addresses(block: &str, rampart: u16, upstream: u16, proxy: u16) -> String {
    block
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{rampart}"))
        .replace("127.0.0.1:8001", &format!("127.0.0.1:{upstream}"))
        .replace("8080", &proxy.to_string())
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// Starts a proxy from the README's `language` block and waits until it
/// answers.
async fn start_proxy(language: &str, rampart: u16, upstream: u16) -> Proxy {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // nginx's workers drop to `nobody` when the tests run as root: they
    // must reach its temporary files.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = with_addresses(&readme_block(language), rampart, upstream, port);
    let mut command = match language {
        "nginx" => {
            let file = dir.path().join("nginx.conf");
            std::fs::write(&file, config).unwrap();
            let mut command = Command::new(nginx_binary());
            command
                .arg("-p")
                .arg(format!("{}/", dir.path().display()))
                .arg("-c")
                .arg(&file)
                .args(["-g", "daemon off;"]);
            command
        }
        "caddyfile" => {
            let file = dir.path().join("Caddyfile");
            std::fs::write(&file, config).unwrap();
            let mut command = Command::new("caddy");
            command
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path())
                .env("XDG_CONFIG_HOME", dir.path());
            command
        }
        other => panic!("no proxy for {other}"),
    };
    let child = command
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{language}: {err} (scripts/install-system-packages installs it)"));
    let proxy = Proxy {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{language} never listened on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy
}

/// rampart from the README's `rampart.toml`, on `port`.
async fn start_rampart(port: u16) -> TestServer {
    let toml = readme_rampart_toml().replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_BIND", &format!("127.0.0.1:{port}"))
            .toml(&toml),
    )
    .await;
    server.create_user("alice", PASSWORD, &["user"]);
    server
}

/// Everything a user of the proxy sees, and what reaches the upstream.
async fn check_through(language: &str) {
    let upstream_port = free_port();
    let upstream = Upstream::start_on(App::Recording { root_security: false }, upstream_port);
    let rampart_port = free_port();
    let server = start_rampart(rampart_port).await;
    let proxy = start_proxy(language, rampart_port, upstream_port).await;
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Anonymous on a public route: passes, with an assertion, and a
    // spoofed identity never arrives.
    let hello = client
        .get(format!("{base}/public/hello"))
        .header("x-rampart-user", "admin")
        .header("x-rampart-roles", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(hello.status(), 200, "{language}");
    let record = upstream.wait_for("/public/hello").await;
    assert!(
        header_values(&record, "x-rampart-user").is_empty(),
        "{language}: {record}"
    );
    assert!(
        header_values(&record, "x-rampart-roles").is_empty(),
        "{language}: {record}"
    );
    let assertion = header_values(&record, "x-rampart-assertion");
    assert_eq!(assertion.len(), 1, "{language}: {record}");
    let claims = claims_of(&assertion[0]);
    assert_eq!(claims["htu"], "/public/hello");
    assert_eq!(claims["aud"], "forward-auth");

    // A caller's route without a caller: refused before the upstream.
    let refused = client.get(format!("{base}/reports")).send().await.unwrap();
    assert_eq!(refused.status(), 401, "{language}");
    assert!(!upstream.paths().await.contains(&"/reports".to_owned()));

    // With a bearer token: the upstream hears who, and never the token.
    let token = access_token_via(&client, &format!("{base}/auth"), "alice", PASSWORD).await;
    let token = token.as_str();
    let reports = client
        .get(format!("{base}/reports?q=1"))
        .bearer_auth(token)
        .header("x-rampart-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(reports.status(), 200, "{language}");
    let record = upstream.wait_for("/reports").await;
    assert_eq!(
        header_values(&record, "x-rampart-user"),
        ["alice"],
        "{language}: {record}"
    );
    assert_eq!(header_values(&record, "x-rampart-roles"), ["user"]);
    assert!(
        header_values(&record, "authorization").is_empty(),
        "{language}: {record}"
    );
    let claims = claims_of(&header_values(&record, "x-rampart-assertion")[0]);
    assert_eq!(
        (claims["sub"].as_str(), claims["htu"].as_str()),
        (Some("alice"), Some("/reports?q=1"))
    );

    // A client that names another request in the proxy's headers gets
    // nothing for it.
    let spoofed = client
        .get(format!("{base}/staff/stats"))
        .header("x-forwarded-uri", "/public/hello")
        .header("x-original-uri", "/public/hello")
        .header("x-forwarded-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        spoofed.status().is_client_error(),
        "{language}: {}",
        spoofed.status()
    );

    // Roles: 403, and never forwarded.
    let admin = client
        .get(format!("{base}/staff/stats"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 403, "{language}");
    assert!(!upstream.paths().await.contains(&"/staff/stats".to_owned()));

    // A person signs in through the proxy and lands where they were going.
    let mut browser = Browser::with(base.clone(), client.clone());
    let page = browser
        .get("/auth/login?return_to=%2Freports%3Fq%3D2")
        .await
        .text()
        .await
        .unwrap();
    let signed_in = browser
        .post_form(
            "/auth/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", &hidden_token(&page)),
                ("return_to", "/reports?q=2"),
            ],
        )
        .await;
    assert_eq!(signed_in.status(), 303, "{language}");
    assert_eq!(signed_in.headers()["location"], "/reports?q=2");
    let landed = browser.get("/reports?q=2").await;
    assert_eq!(landed.status(), 200, "{language}: the session cookie passes");
    // An unsafe request of that browser: CSRF-checked against the host
    // and port the browser used. Without the token, refused before the
    // upstream; with it and the page's own Origin, passed (the upstream's
    // own route takes GET only, so it answers 405).
    let csrf = browser.csrf_token_at("/auth/csrftoken/").await;
    let origin = base.clone();
    let without = browser
        .send(
            reqwest::Method::POST,
            "/public/hello",
            &[("origin", &origin)],
            None,
        )
        .await;
    assert_eq!(without.status(), 403, "{language}");
    let with = browser
        .send(
            reqwest::Method::POST,
            "/public/hello",
            &[("origin", &origin), ("x-csrf-token", &csrf)],
            None,
        )
        .await;
    assert_eq!(with.status(), 405, "{language}: passed to the upstream");
    drop(proxy);
    drop(server);
}

#[tokio::test]
async fn nginx_in_front_asks_rampart_as_the_readme_configures_it() {
    check_through("nginx").await;
}

#[tokio::test]
async fn caddy_in_front_asks_rampart_as_the_readme_configures_it() {
    check_through("caddyfile").await;
}
