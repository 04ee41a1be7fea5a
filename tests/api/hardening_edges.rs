//! Hardening at the edges: `X-Forwarded-For` entries with ports, the
//! `docs` switch, links in item descriptions, low-entropy secrets,
//! over-broad trusted proxies, passwords built from context words or
//! guessable by zxcvbn's estimate, the database's file modes, the development certificate, and the hosts the
//! HTTPS redirect goes to.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::helpers::{TestConfig, TestServer, cert_dev, run_cli};

#[tokio::test]
async fn docs_false_hides_the_document_and_its_viewer() {
    let server = TestServer::start_with(TestConfig::default().env("RAMPART_DOCS", "false")).await;
    for path in [
        "/docs",
        "/docs/",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
        "/openapi.json",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"detail": "Not Found"}), "{path}");
    }
    // The API itself is unaffected.
    assert_eq!(server.get("/").await.status(), 200);

    // The default serves them; so does `docs = true` in the file.
    for config in [TestConfig::default(), TestConfig::default().toml("docs = true\n")] {
        let server = TestServer::start_with(config).await;
        for path in ["/docs", "/docs/swagger-ui.css", "/openapi.json"] {
            assert_eq!(server.get(path).await.status(), 200, "{path}");
        }
    }
}

#[tokio::test]
async fn item_descriptions_keep_only_absolute_web_and_mail_links() {
    let server = TestServer::start().await;
    server.create_user("alice", "Alice-s3cure-passphrase", &[]);
    let alice = server.login("alice", "Alice-s3cure-passphrase").await;
    let description = concat!(
        r#"<a href="//evil.example/phish">a</a>"#,
        r#"<a href="\\evil.example/x">b</a>"#,
        r#"<a href="/local">c</a>"#,
        r#"<a href="https://example.com/" title="t" hreflang="en" lang="en">d</a>"#,
        r#"<a href="mailto:team@example.com">e</a>"#,
    );
    let response = server
        .client
        .post(server.url("/items/"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"name": "links", "price": 1, "description": description}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let item: Value = response.json().await.unwrap();
    assert_eq!(
        item["description"],
        concat!(
            r#"<a rel="noopener noreferrer">a</a>"#,
            r#"<a rel="noopener noreferrer">b</a>"#,
            r#"<a rel="noopener noreferrer">c</a>"#,
            r#"<a href="https://example.com/" rel="noopener noreferrer">d</a>"#,
            r#"<a href="mailto:team@example.com" rel="noopener noreferrer">e</a>"#,
        )
    );
}

#[test]
fn low_entropy_secrets_are_refused_like_weak_ones() {
    for secret in [
        "changeme".repeat(4),
        "ab".repeat(16),
        "0123456789abcdef".repeat(2),
        "password".repeat(4),
        "abcdabcdabcdeeeedddcccbbbaaa-+-+-+".to_owned(),
    ] {
        let config = TestConfig::default().env("RAMPART_SECRET_KEY", &secret);
        let check = run_cli(&config, &["config", "check"], "");
        assert_eq!(check.code, Some(1), "{secret}: {check:?}");
        assert!(
            check.stdout.contains("error: secret: the secret "),
            "{}",
            check.stdout
        );
        // A server in development refuses it too, with one sentence.
        let serve = run_cli(&config, &["serve"], "");
        assert_eq!(serve.code, Some(2), "{secret}: {serve:?}");
        assert!(serve.stderr.contains("secret"), "{}", serve.stderr);
        for output in [&check.stdout, &check.stderr, &serve.stdout, &serve.stderr] {
            assert!(!output.contains(&secret), "the secret is never printed: {output}");
        }
    }
    // What `openssl rand -hex 32` and `openssl rand -base64 32` make passes.
    for secret in [
        "d763480fc97cc7bfa4207390fb1f0d8759aa5cf009ef9ad22b451cf560b7e325",
        "LafPNiJg7HdNIAVdVuVGOn6HGH4998NS5pZjNpvG8SQ=",
    ] {
        let config = TestConfig::default().env("RAMPART_SECRET_KEY", secret);
        let check = run_cli(&config, &["config", "check"], "");
        assert_eq!(check.code, Some(0), "{secret}: {check:?}");
        assert!(!check.stdout.contains("secret"), "{}", check.stdout);
    }
}

#[test]
fn trusting_every_address_as_a_proxy_is_an_error_in_production_and_a_warning_otherwise() {
    let everything = TestConfig::default().env("RAMPART_PROXY__TRUSTED", "0.0.0.0/0, ::/0");
    let production = everything.clone().env("RAMPART_ENV", "production");
    let check = run_cli(&production, &["config", "check"], "");
    assert_eq!(check.code, Some(1), "{check:?}");
    for net in ["0.0.0.0/0", "::/0"] {
        let line = check
            .stdout
            .lines()
            .find(|line| line.contains(net))
            .unwrap_or_else(|| panic!("a finding names {net}: {}", check.stdout));
        assert!(line.starts_with("error: proxy.trusted: "), "{line}");
    }
    let serve = run_cli(&production, &["serve"], "");
    assert_eq!(serve.code, Some(2), "{serve:?}");
    assert!(serve.stderr.contains("proxy.trusted"), "{}", serve.stderr);
    assert_eq!(serve.stderr.trim().lines().count(), 1, "{}", serve.stderr);

    let check = run_cli(&everything, &["config", "check"], "");
    assert_eq!(check.code, Some(0), "{check:?}");
    assert!(
        check
            .stdout
            .contains("warning: proxy.trusted: 0.0.0.0/0 holds every address"),
        "{}",
        check.stdout
    );

    // A prefix broader than /8 is as bad; a public range (a CDN's) warns.
    let broad = production_trusting("2.0.0.0/7");
    assert_eq!(broad.code, Some(1), "{broad:?}");
    assert!(
        broad
            .stdout
            .contains("error: proxy.trusted: 2.0.0.0/7 is broader than /8"),
        "{}",
        broad.stdout
    );
    let public = production_trusting("104.16.0.0/13, 10.0.0.0/8");
    assert_eq!(public.code, Some(0), "{public:?}");
    assert!(
        public
            .stdout
            .contains("warning: proxy.trusted: 104.16.0.0/13 holds public addresses"),
        "{}",
        public.stdout
    );
    assert!(!public.stdout.contains("10.0.0.0/8"), "{}", public.stdout);
}

fn production_trusting(nets: &str) -> crate::helpers::CliOutput {
    let config = TestConfig::default()
        .env("RAMPART_ENV", "production")
        .env("RAMPART_PROXY__TRUSTED", nets);
    run_cli(&config, &["config", "check"], "")
}

/// The 422 of a refused password: its `loc` and its message.
async fn refused_password(response: reqwest::Response, what: &str) -> (Value, String) {
    assert_eq!(response.status(), 422, "{what}");
    let body: Value = response.json().await.unwrap();
    let issue = &body["detail"][0];
    (issue["loc"].clone(), issue["msg"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn passwords_built_from_the_username_or_the_product_name_are_refused() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_PUBLIC_REGISTRATION", "true")).await;
    for (username, password) in [
        ("rampartuser", "rampartuser"),
        ("bob.smith", "bob.smith123"),
        ("carol", "rampart-api-2024"),
    ] {
        let response = server
            .post_json("/users", &json!({"username": username, "password": password}))
            .await;
        let (loc, msg) = refused_password(response, password).await;
        assert_eq!(loc, json!(["body", "password"]), "{username}");
        assert!(msg.contains("built from the username"), "{msg}");
    }
    // Ordinary strong passwords still pass, for the same names.
    for (username, password) in [
        ("rampartuser", "Zq8#mT2!vL9p"),
        ("bob.smith", "correct horse battery staple"),
        ("carol", "Carol-s3cure-passphrase"),
    ] {
        let response = server
            .post_json("/users", &json!({"username": username, "password": password}))
            .await;
        assert_eq!(response.status(), 201, "{username}");
    }

    // A new password follows the same rule; its `loc` is its own field.
    let carol = server.login("carol", "Carol-s3cure-passphrase").await;
    let change = |new_password: &str| {
        server
            .client
            .post(server.url("/users/me/password"))
            .bearer_auth(&carol.access_token)
            .json(&json!({"current_password": "Carol-s3cure-passphrase", "new_password": new_password}))
            .send()
    };
    let (loc, _) = refused_password(change("Carol-2024!").await.unwrap(), "Carol-2024!").await;
    assert_eq!(loc, json!(["body", "new_password"]));
    let (loc, _) = refused_password(change("rampart-api-2024").await.unwrap(), "rampart-api-2024").await;
    assert_eq!(loc, json!(["body", "new_password"]));
    assert_eq!(change("Carol-n3w-passphrase").await.unwrap().status(), 204);

    // So does the command line.
    let output = server.cli(
        &["user", "create", "--username", "rampartuser2"],
        "rampartuser2\n",
    );
    assert_eq!(output.code, Some(2), "{output:?}");
    assert!(
        output.stderr.contains("built from the username"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("rampartuser2"), "{}", output.stderr);
}

#[tokio::test]
async fn guessable_passwords_are_refused_with_zxcvbns_advice() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_PUBLIC_REGISTRATION", "true")).await;
    for (password, advice) in [
        ("00000000", "Repeats like"),
        ("abcdefgh", "Sequences like abc"),
        ("11111111", "Repeats like"),
        ("Summer2024!", "Add another word or two"),
    ] {
        let response = server
            .post_json("/users", &json!({"username": "dora", "password": password}))
            .await;
        let (loc, msg) = refused_password(response, password).await;
        assert_eq!(loc, json!(["body", "password"]), "{password}");
        assert!(msg.contains("too easy to guess"), "{password}: {msg}");
        assert!(msg.contains(advice), "{password}: {msg}");
        assert!(!msg.contains(password), "the password is not echoed: {msg}");
    }
    // 8 random characters pass (drawn once: zxcvbn puts 8 characters with
    // no pattern at 10^8 guesses, the bar itself, and now and then a draw
    // happens to hold a word or a date).
    for (username, password) in [("dora", "kR7#vQ2m"), ("eve", "Xw9$Lp3z"), ("fay", "t6H!qZ8c")] {
        let response = server
            .post_json("/users", &json!({"username": username, "password": password}))
            .await;
        assert_eq!(response.status(), 201, "{password}");
    }

    // A new password follows the same rule.
    let dora = server.login("dora", "kR7#vQ2m").await;
    let response = server
        .client
        .post(server.url("/users/me/password"))
        .bearer_auth(&dora.access_token)
        .json(&json!({"current_password": "kR7#vQ2m", "new_password": "Summer2024!"}))
        .send()
        .await
        .unwrap();
    let (loc, msg) = refused_password(response, "a new password").await;
    assert_eq!(loc, json!(["body", "new_password"]));
    assert!(msg.contains("Add another word or two"), "{msg}");

    // So does the command line.
    let output = server.cli(&["user", "create", "--username", "gus"], "abcdefgh\n");
    assert_eq!(output.code, Some(2), "{output:?}");
    assert!(output.stderr.contains("Sequences like abc"), "{}", output.stderr);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_sqlite_database_and_its_wal_and_shm_are_readable_by_their_owner_only() {
    let server = TestServer::start_with(TestConfig::default().sqlite()).await;
    // A write, so the write-ahead log holds something.
    server.create_user("alice", "Alice-s3cure-passphrase", &[]);
    server.login("alice", "Alice-s3cure-passphrase").await;
    let database = server.database();
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", database.display()));
        assert_eq!(format!("{:o}", mode(&path)), "600", "{}", path.display());
    }
}

#[test]
fn cert_dev_writes_a_90_day_certificate_named_for_its_hosts_with_key_identifiers() {
    use x509_parser::{extensions::GeneralName, prelude::*};

    let dir = tempfile::tempdir().unwrap();
    cert_dev(dir.path(), &["localhost"]);
    let pem = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();

    // localhost, and the addresses it stands for.
    let names: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .expect("subject alternative names")
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => (*dns).to_owned(),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*ip).unwrap()).to_string(),
                _ => IpAddr::from(<[u8; 16]>::try_from(*ip).unwrap()).to_string(),
            },
            other => panic!("unexpected name {other:?}"),
        })
        .collect();
    assert_eq!(names, ["localhost", "127.0.0.1", "::1"]);

    // The first host is the common name.
    let common_names: Vec<&str> = cert
        .subject()
        .iter_common_name()
        .map(|cn| cn.as_str().unwrap())
        .collect();
    assert_eq!(common_names, ["localhost"]);

    // 90 days, starting now.
    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
    assert_eq!(days, 90);
    let now = chrono::Utc::now().timestamp();
    assert!(
        (validity.not_before.timestamp() - now).abs() < 600,
        "{validity:?}"
    );

    // Subject and authority key identifiers, the same key for a self-signed
    // certificate.
    let mut subject_key = None;
    let mut authority_key = None;
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => subject_key = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            _ => {}
        }
    }
    let subject_key = subject_key.expect("a subject key identifier");
    assert!(!subject_key.is_empty());
    assert_eq!(authority_key, Some(subject_key));
}

/// `GET path` in plain HTTP/1.1 to `addr` with a `Host` header of our
/// choosing: the status, the `Location` header and the body.
async fn get_with_host(addr: std::net::SocketAddr, path: &str, host: &str) -> (u16, Option<String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {answer}"));
    let location = head
        .lines()
        .find_map(|line| line.strip_prefix("location: ").map(str::to_owned));
    (status, location, body.to_owned())
}

#[tokio::test]
async fn the_https_redirect_goes_only_to_hosts_the_certificate_names() {
    let certs = tempfile::tempdir().unwrap();
    cert_dev(certs.path(), &["localhost"]);
    let server = TestServer::start_with(
        TestConfig::default()
            .tls(certs.path())
            .env("RAMPART_TLS__REDIRECT_HTTP_FROM", "127.0.0.1:0"),
    )
    .await;
    let tls_port = server.addr.port();
    let listeners = [server.redirect_addr.expect("a redirect listener"), server.addr];

    for addr in listeners {
        let port = addr.port();
        // The names of `cert dev --host localhost`.
        for (host, location_host) in [
            (format!("localhost:{port}"), "localhost"),
            ("LOCALHOST".to_owned(), "LOCALHOST"),
            (format!("127.0.0.1:{port}"), "127.0.0.1"),
            (format!("[::1]:{port}"), "[::1]"),
        ] {
            let (status, location, _) = get_with_host(addr, "/login?next=%2Fapp", &host).await;
            assert_eq!(status, 308, "{addr} {host}");
            assert_eq!(
                location.as_deref(),
                Some(format!("https://{location_host}:{tls_port}/login?next=%2Fapp").as_str()),
                "{addr} {host}"
            );
        }
        // Anything else is refused, never reflected into a Location.
        for host in [
            "evil.example".to_owned(),
            format!("evil.example:{port}"),
            "localhost.evil.example".to_owned(),
            "127.0.0.2".to_owned(),
            "[::2]".to_owned(),
        ] {
            let (status, location, body) = get_with_host(addr, "/login", &host).await;
            assert_eq!(status, 400, "{addr} {host}");
            assert_eq!(location, None, "{addr} {host}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body, json!({"detail": "Unknown host"}), "{addr} {host}");
        }
    }

    // A new certificate on SIGHUP brings its own names.
    cert_dev(certs.path(), &["api.example.test"]);
    server.hang_up();
    server
        .wait_for_log("certificate reloaded", |v| {
            v["message"] == "TLS certificate reloaded"
        })
        .await;
    for addr in listeners {
        let (status, location, _) = get_with_host(addr, "/", "api.example.test").await;
        assert_eq!(status, 308, "{addr}");
        assert_eq!(
            location.as_deref(),
            Some(format!("https://api.example.test:{tls_port}/").as_str())
        );
        let (status, location, _) = get_with_host(addr, "/", "localhost").await;
        assert_eq!((status, location), (400, None), "{addr}");
    }
}
