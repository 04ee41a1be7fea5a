//! Resource bounds (SPEC section 11): input that costs what it weighs,
//! callers decided before their bodies are read, connections per client.

use std::{net::SocketAddr, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{PASSWORD, TestConfig, TestServer};

/// Generous: a refusal comes at once, a server waiting for the body never.
const PATIENCE: Duration = Duration::from_secs(20);

/// Sends `head` (a request whose body never comes) and returns the status
/// line of the answer, or `None` if none came within [`PATIENCE`]. The
/// connection stays open meanwhile: the server has every chance to wait.
async fn status_before_the_body(addr: SocketAddr, head: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"user").await.unwrap();
    let mut answer = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.ok()?;
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().map(str::to_owned)
}

fn post_head(path: &str, content_type: &str, authorization: Option<&str>) -> String {
    let authorization =
        authorization.map_or_else(String::new, |token| format!("Authorization: Bearer {token}\r\n"));
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
         Content-Length: 100000\r\n{authorization}\r\n"
    )
}

/// No request waits on a body its caller may not send: without
/// registration, `POST /users` is 401 for a stranger and 403 for a user
/// while the body is still on its way; `POST /app/items` without a session
/// goes to `/login` the same way.
#[tokio::test]
async fn callers_who_may_not_are_refused_before_their_body_arrives() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_LIMITS__REQUEST_TIMEOUT", "10m")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await.access_token;

    let anonymous = status_before_the_body(server.addr, &post_head("/users", "application/json", None)).await;
    assert_eq!(anonymous.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    let user = status_before_the_body(
        server.addr,
        &post_head("/users", "application/json", Some(&alice)),
    )
    .await;
    assert_eq!(user.as_deref(), Some("HTTP/1.1 403 Forbidden"));
    let page = post_head("/app/items", "application/x-www-form-urlencoded", None);
    assert_eq!(
        status_before_the_body(server.addr, &page).await.as_deref(),
        Some("HTTP/1.1 303 See Other")
    );
}

/// A body of 100,000 keys the model does not know is answered with the
/// first 100 problems, in the usual order: the model's fields, then the
/// unknown names.
#[tokio::test]
async fn a_body_of_a_hundred_thousand_unknown_keys_lists_the_first_hundred_problems() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_PUBLIC_REGISTRATION", "true")).await;
    let mut body = String::from("{");
    for key in 0..100_000u32 {
        if key > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"{key:x}\":0"));
    }
    body.push('}');
    assert!(body.len() < 1_048_576, "within limits.max_body_bytes");
    let response = server
        .client
        .post(server.url("/users"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let detail: Value = response.json().await.unwrap();
    let detail = detail["detail"].as_array().unwrap();
    assert_eq!(detail.len(), 100);
    assert_eq!(detail[0]["loc"], serde_json::json!(["body", "username"]));
    assert_eq!(detail[1]["loc"], serde_json::json!(["body", "password"]));
    assert_eq!(detail[2]["type"], "extra_forbidden");
    assert_eq!(detail[2]["loc"], serde_json::json!(["body", "0"]));
    assert_eq!(detail[99]["loc"], serde_json::json!(["body", "61"]));
}

/// A connection from `source` (an address of the loopback range) that asks
/// for `/healthz` and reads the answer's status line; `None` when the
/// server closed it instead.
async fn healthz_from(source: &str, server: SocketAddr) -> Option<(TcpStream, String)> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return None;
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
        true
    };
    let answered = tokio::time::timeout(PATIENCE, read)
        .await
        .expect("an answer or a close");
    let status = String::from_utf8_lossy(&answer).lines().next().map(str::to_owned);
    answered.then(|| (stream, status.unwrap_or_default()))
}

/// One client opening connection after connection keeps
/// `limits.max_connections_per_client` of them; the rest are closed at
/// once, and another client is still served although the pool is small.
/// A connection given back makes room again.
#[tokio::test]
async fn one_client_holds_at_most_its_share_of_connections() {
    let config = TestConfig::default()
        .env("RAMPART_LIMITS__MAX_CONNECTIONS", "6")
        .env("RAMPART_LIMITS__MAX_CONNECTIONS_PER_CLIENT", "4");
    let server = TestServer::start_with(config).await;
    let mut held = Vec::new();
    let mut closed = 0;
    for _ in 0..12 {
        match healthz_from("127.0.0.1", server.addr).await {
            Some((stream, status)) => {
                assert_eq!(status, "HTTP/1.1 200 OK");
                held.push(stream);
            }
            None => closed += 1,
        }
    }
    assert_eq!((held.len(), closed), (4, 8));
    let (_other, status) = healthz_from("127.0.0.2", server.addr)
        .await
        .expect("another client is served");
    assert_eq!(status, "HTTP/1.1 200 OK");

    held.pop();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some((stream, _)) = healthz_from("127.0.0.1", server.addr).await {
            held.push(stream);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a closed connection's place is given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = server.metrics().await;
    assert!(
        refused.contains("connections_refused_total{reason=\"per_client\"}"),
        "{refused}"
    );
}

/// A trusted proxy speaks for many clients: it is not capped.
#[tokio::test]
async fn a_trusted_proxy_is_not_capped() {
    let config = TestConfig::default()
        .env("RAMPART_LIMITS__MAX_CONNECTIONS_PER_CLIENT", "2")
        .env("RAMPART_PROXY__TRUSTED", "127.0.0.1");
    let server = TestServer::start_with(config).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let (stream, status) = healthz_from("127.0.0.1", server.addr)
            .await
            .expect("a trusted peer is served");
        assert_eq!(status, "HTTP/1.1 200 OK");
        held.push(stream);
    }
    let first = healthz_from("127.0.0.3", server.addr).await;
    let second = healthz_from("127.0.0.3", server.addr).await;
    assert!(first.is_some() && second.is_some());
    assert!(
        healthz_from("127.0.0.3", server.addr).await.is_none(),
        "others are"
    );
}
