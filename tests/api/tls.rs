//! HTTPS: a development certificate, TLS 1.2 and 1.3 only, plain HTTP
//! answered rather than dropped, the redirect listener, HSTS over TLS only,
//! and certificate reloads on SIGHUP.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    time::Duration,
};

use rustls_pki_types::{CertificateDer, pem::PemObject};
use serde_json::Value;

use crate::helpers::{TestConfig, TestServer, cert_dev, run_cli};

/// Writes a development certificate for localhost into `dir`.
fn dev_certificate(dir: &Path) -> Vec<u8> {
    cert_dev(dir, &["localhost", "127.0.0.1"]);
    CertificateDer::from_pem_file(dir.join("cert.pem"))
        .unwrap()
        .to_vec()
}

async fn tls_server(dir: &Path, redirect: bool) -> TestServer {
    let mut config = TestConfig::default().tls(dir);
    if redirect {
        config = config.env("RAMPART_TLS__REDIRECT_HTTP_FROM", "127.0.0.1:0");
    }
    TestServer::start_with(config).await
}

/// A client that trusts only the certificate in `dir`.
fn https_client(dir: &Path) -> reqwest::ClientBuilder {
    let pem = std::fs::read(dir.join("cert.pem")).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
}

fn https_url(server: &TestServer, path: &str) -> String {
    format!("https://localhost:{}{path}", server.addr.port())
}

/// `GET path` over HTTPS on a new connection, trusting only the
/// certificate in `dir`.
async fn https_get(dir: &Path, server: &TestServer, path: &str) -> reqwest::Response {
    let client = https_client(dir).build().unwrap();
    client.get(https_url(server, path)).send().await.unwrap()
}

fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

#[tokio::test]
async fn https_with_a_dev_certificate_speaks_tls_1_2_and_1_3_with_hsts() {
    let certs = tempfile::tempdir().unwrap();
    let der = dev_certificate(certs.path());
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(certs.path().join("key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(
        key_mode & 0o077,
        0,
        "the private key is readable by its owner only"
    );
    let server = tls_server(certs.path(), false).await;

    for (label, client) in [
        (
            "TLS 1.3",
            https_client(certs.path()).tls_version_min(reqwest::tls::Version::TLS_1_3),
        ),
        (
            "TLS 1.2",
            https_client(certs.path()).tls_version_max(reqwest::tls::Version::TLS_1_2),
        ),
    ] {
        let response = client
            .build()
            .unwrap()
            .get(https_url(&server, "/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{label}");
        assert_eq!(peer_certificate(&response), der, "{label}");
        let hsts = response.headers()["strict-transport-security"].to_str().unwrap();
        assert!(hsts.starts_with("max-age=31536000"), "{label}: {hsts}");
    }

    // The plain listener of a server without TLS sends no HSTS.
    let plain = TestServer::start().await;
    assert!(
        plain
            .get("/healthz")
            .await
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

/// A TLS 1.1 ClientHello as OpenSSL sends one with `-tls1_1`: suites,
/// groups and signature algorithms a TLS 1.2 server accepts, but version
/// 1.1 and no `supported_versions` extension. Written byte by byte: no TLS
/// library here will still speak 1.1.
fn tls_1_1_client_hello() -> Vec<u8> {
    fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend((data.len() as u16).to_be_bytes());
        out.extend(data);
        out
    }
    let mut extensions = Vec::new();
    extensions.extend(extension(0x000a, &[0x00, 0x04, 0x00, 0x1d, 0x00, 0x17])); // x25519, P-256
    extensions.extend(extension(0x000b, &[0x01, 0x00])); // uncompressed points
    extensions.extend(extension(
        0x000d,
        &[0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x08, 0x07],
    )); // signature algorithms
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([7u8; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x06, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x13]); // cipher suites
    body.extend([0x01, 0x00]); // null compression
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);
    let mut handshake = vec![0x01, 0, 0, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, 0, handshake.len() as u8];
    record.extend(handshake);
    record
}

#[tokio::test]
async fn a_tls_1_1_client_is_refused_and_the_server_lives_on() {
    let certs = tempfile::tempdir().unwrap();
    dev_certificate(certs.path());
    let server = tls_server(certs.path(), false).await;

    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(&tls_1_1_client_hello()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    })
    .await
    .unwrap();
    // An alert record (21) whose description is protocol_version (70),
    // then the connection closes.
    assert!(answer.len() >= 7, "{answer:?}");
    assert_eq!(answer[0], 0x15, "{answer:?}");
    assert_eq!(answer[6], 70, "{answer:?}");

    let response = https_get(certs.path(), &server, "/").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn plain_http_to_the_tls_port_and_the_redirect_listener_send_browsers_to_https_only() {
    let certs = tempfile::tempdir().unwrap();
    dev_certificate(certs.path());
    let server = tls_server(certs.path(), true).await;
    let tls_port = server.addr.port();
    let redirect = server.redirect_addr.expect("a redirect listener");

    for base in [
        format!("http://localhost:{}", redirect.port()),
        format!("http://localhost:{tls_port}"),
    ] {
        let page = server
            .client
            .get(format!("{base}/login?next=%2Fapp"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 308, "{base}");
        assert_eq!(
            page.headers()["location"],
            format!("https://localhost:{tls_port}/login?next=%2Fapp").as_str()
        );
        assert!(page.headers().get("strict-transport-security").is_none());
        let head = server.client.head(format!("{base}/")).send().await.unwrap();
        assert_eq!(head.status(), 308);

        for request in [
            server
                .client
                .post(format!("{base}/token"))
                .form(&[("username", "a"), ("password", "b")]),
            server.client.get(format!("{base}/items/")).bearer_auth("a.b.c"),
            server.client.delete(format!("{base}/login")),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 400, "{base}");
            assert!(response.headers().get("location").is_none());
            let body: Value = response.json().await.unwrap();
            assert_eq!(body, serde_json::json!({"detail": "HTTPS required"}));
        }
    }
}

#[tokio::test]
async fn a_replaced_certificate_is_served_after_sighup() {
    let certs = tempfile::tempdir().unwrap();
    let first = dev_certificate(certs.path());
    let server = tls_server(certs.path(), false).await;
    let response = https_get(certs.path(), &server, "/").await;
    assert_eq!(peer_certificate(&response), first);

    let second = dev_certificate(certs.path());
    assert_ne!(first, second);
    server.hang_up();
    server
        .wait_for_log("certificate reloaded", |v| {
            v["message"] == "TLS certificate reloaded"
        })
        .await;
    let response = https_get(certs.path(), &server, "/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(peer_certificate(&response), second);

    // A broken file on reload keeps the certificate in use.
    std::fs::write(certs.path().join("cert.pem"), "not a certificate").unwrap();
    server.hang_up();
    server
        .wait_for_log("reload failure", |v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("TLS certificate reload failed"))
        })
        .await;
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_der(&second).unwrap()])
        .tls_info(true)
        .build()
        .unwrap();
    let response = client.get(https_url(&server, "/")).send().await.unwrap();
    assert_eq!(peer_certificate(&response), second);
}

#[tokio::test]
async fn a_missing_certificate_stops_the_start_with_one_sentence() {
    let config = TestConfig::default()
        .env("RAMPART_TLS__CERT", "/nonexistent/cert.pem")
        .env("RAMPART_TLS__KEY", "/nonexistent/key.pem");
    let output = run_cli(&config, &["serve"], "");
    assert_eq!(output.code, Some(1));
    assert!(
        output
            .stderr
            .contains("cannot read the TLS certificate /nonexistent/cert.pem"),
        "{}",
        output.stderr
    );
}

/// Reads until the server closes the connection; the server must close it
/// by itself (the harness's patience is the only bound).
async fn closed_by_server(mut stream: impl tokio::io::AsyncRead + Unpin) {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a silent connection open");
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_idle_time_out() {
    let certs = tempfile::tempdir().unwrap();
    dev_certificate(certs.path());
    let server = TestServer::start_with(
        TestConfig::default()
            .tls(certs.path())
            .env("RAMPART_LIMITS__IDLE_TIMEOUT", "1s"),
    )
    .await;

    // A TLS handshake, then silence (no HTTP/1 request, no HTTP/2 preface).
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(certs.path().join("cert.pem")).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("handshake");
    closed_by_server(tls).await;

    // Half an HTTP/2 preface, then silence, on the plain-HTTP side.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, b"PRI * HTTP/2.0\r\n")
        .await
        .unwrap();
    closed_by_server(tcp).await;
}

#[tokio::test]
async fn config_check_reports_a_certificate_that_does_not_load() {
    let certs = tempfile::tempdir().unwrap();
    dev_certificate(certs.path());
    let config = |cert: &str| {
        TestConfig::default()
            .env("RAMPART_TLS__CERT", cert)
            .env("RAMPART_TLS__KEY", certs.path().join("key.pem").to_str().unwrap())
    };
    let good = run_cli(
        &config(certs.path().join("cert.pem").to_str().unwrap()),
        &["config", "check"],
        "",
    );
    assert!(!good.stdout.contains("error: tls"), "{}", good.stdout);

    // Another certificate's key does not match.
    let other = tempfile::tempdir().unwrap();
    dev_certificate(other.path());
    let output = run_cli(
        &config(other.path().join("cert.pem").to_str().unwrap()),
        &["config", "check"],
        "",
    );
    assert_eq!(output.code, Some(1));
    assert!(
        output.stdout.contains("error: tls: the TLS key"),
        "{}",
        output.stdout
    );
}
