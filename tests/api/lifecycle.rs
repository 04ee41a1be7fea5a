//! Starting, stopping and bounding the server.

use std::io::Write;

use crate::helpers::{TestConfig, TestServer};

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_exits_0() {
    let mut server = TestServer::start().await;
    let client = server.client.clone();
    let url = server.url("/__test/sleep?ms=1500");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    server
        .wait_for_log("the slow request started", |v| v["message"] == "sleep started")
        .await;

    server.terminate();
    let response = in_flight.await.unwrap().expect("the request in flight completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slept");
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit();
        (status, server.logs())
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0), "{}", status.1.join("\n"));
    assert!(status.1.iter().any(|l| l.contains("\"stopped\"")));
}

#[tokio::test]
async fn sigint_stops_the_server_too() {
    let mut server = TestServer::start().await;
    assert_eq!(server.get("/healthz").await.status(), 200);
    std::process::Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || server.wait_exit())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_for_a_free_slot() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_LIMITS__MAX_CONNECTIONS", "1")).await;
    // The one slot is taken by an idle connection.
    let mut holder = std::net::TcpStream::connect(server.addr).unwrap();
    server
        .wait_for_log("the bound is reached", |v| {
            v["message"] == "connection limit reached; new connections wait"
        })
        .await;

    let client = reqwest::Client::new();
    let url = server.url("/healthz");
    let waiting = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    // While the slot is taken the request is not served. (If the bound were
    // broken, it would be answered at once; a slow machine can only make
    // this check pass when it should fail, never the reverse.)
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        while !waiting.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(early.is_err(), "a connection beyond the bound was served");

    // Freeing the slot lets it through.
    holder
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    drop(holder);
    let status = waiting.await.unwrap().expect("served once a slot is free");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn development_without_a_secret_starts_with_a_warning() {
    let server = TestServer::start_with(TestConfig::default().without("RAMPART_SECRET_KEY")).await;
    assert_eq!(server.get("/healthz").await.status(), 200);
    server
        .wait_for_log("the generated-secret warning", |v| {
            v["level"] == "warn" && v["key"] == "secret"
        })
        .await;
}
