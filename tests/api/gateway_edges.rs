//! The gateway's resource bounds and edge rules (SPEC section 11): slow
//! bodies, requests in flight per client, headers that change what a
//! request means, path forms other servers read differently, the
//! document's order, and tunnels that keep to their route's rule.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    gateway::{behind, raw_status, token},
    helpers::{
        App, Browser, PASSWORD, PATIENCE, TestConfig, TestServer, Upstream, close_code, header_values,
        next_event, open_ws_at,
    },
};

/// Waits until the upstream's record of `path` satisfies `done`.
async fn wait_for_record(
    upstream: &crate::helpers::Upstream,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let records = upstream.records().await;
        if let Some(record) = records.into_iter().find(|r| r["raw_path"] == path && done(r)) {
            return record;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no record of {path} as expected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A body that stops arriving is cut off at `limits.request_timeout`: the
/// client gets 408, and the upstream sees its request end unfinished.
#[tokio::test]
async fn a_body_that_stops_arriving_is_408_and_the_upstream_request_aborted() {
    let (upstream, server) = behind(false, "[limits]\nrequest_timeout = \"2s\"\n").await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 1000\r\n\r\n0123456789",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        while !answer.ends_with(b"}") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("an answer while the body is still awaited");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        answer.ends_with(r#"{"detail":"Request body timeout"}"#),
        "{answer}"
    );
    let record = wait_for_record(&upstream, "/echo", |r| r["disconnected"] == true).await;
    assert!(record["body_bytes"].as_u64().unwrap() < 1000);
}

/// One client has at most `gateway.max_in_flight_per_client` forwarded
/// requests in flight; another client is not held up by it.
#[tokio::test]
async fn a_client_has_at_most_its_share_of_requests_in_flight() {
    let (upstream, server) = behind(false, "max_in_flight_per_client = 2\n").await;
    let slow = || {
        let (client, url) = (server.client.clone(), server.url("/slow?seconds=30"));
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    let waiting = [slow(), slow()];
    let deadline = std::time::Instant::now() + PATIENCE;
    while upstream.paths().await.iter().filter(|p| *p == "/slow").count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow requests reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let third = server.get("/public/hello").await;
    assert_eq!(third.status(), 429);
    assert_eq!(
        third.json::<Value>().await.unwrap(),
        json!({"detail": "Too many requests in flight"})
    );
    let alice = token(&server, "alice").await;
    assert_eq!(
        server.get_as("/public/hello", &alice).await.status(),
        200,
        "alice is another client"
    );
    for task in waiting {
        task.abort();
    }
}

/// Headers that make an upstream run another method or path, and a
/// WebSocket subprotocol outside an upgrade, never arrive; an ambiguous
/// host is refused.
#[tokio::test]
async fn headers_that_change_what_a_request_means_never_arrive() {
    let (upstream, server) = behind(false, "").await;
    let alice = token(&server, "alice").await;
    let mut request = server
        .client
        .post(server.url("/private/echo"))
        .bearer_auth(&alice);
    for name in [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        "X-Original-Method",
        "X_HTTP_Method_Override",
    ] {
        request = request.header(name, "DELETE");
    }
    for name in ["X-Original-URL", "X-Original-URI", "X-Rewrite-URL"] {
        request = request.header(name, "/staff/stats");
    }
    request = request.header("Sec-WebSocket-Protocol", format!("bearer.{alice}"));
    assert_eq!(request.send().await.unwrap().status(), 200);
    let record = upstream.wait_for("/private/echo").await;
    for name in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-original-method",
        "x-original-url",
        "x-original-uri",
        "x-rewrite-url",
        "sec-websocket-protocol",
    ] {
        assert!(header_values(&record, name).is_empty(), "{name} arrived");
    }
    assert_eq!(record["method"], "POST");

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let two_hosts =
        "GET /public/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    stream.write_all(two_hosts.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(!upstream.paths().await.contains(&"/public/hello".to_owned()));
}

/// `;` and segments ending in a dot or a space are refused, whatever route
/// would take them; the document's operations match in its order.
#[tokio::test]
async fn path_forms_other_servers_read_differently_are_refused() {
    let (upstream, server) = behind(
        false,
        "[[gateway.routes]]\npath = \"/public/{*rest}\"\naccess = \"public\"\n",
    )
    .await;
    for target in [
        "/public;x/hello",
        "/public/hello;jsessionid=1",
        "/public/a%3bb",
        "/public/a%3Bb",
        "/public./hello",
        "/public/hello.",
        "/public/a..",
        "/public%20/hello",
        "/public/hello%20",
    ] {
        assert_eq!(raw_status(&server, target).await, 400, "{target}");
    }
    assert!(upstream.records().await.is_empty(), "nothing was forwarded");

    // `/reports/{report_id}` is declared first: its rule is the one the
    // upstream's handler runs under.
    assert_eq!(server.get("/reports/summary").await.status(), 401);
    assert!(upstream.records().await.is_empty());
}

/// A session's tunnel to an admin-only route closes when its user is no
/// longer an admin; pings count toward the message limit.
#[tokio::test]
async fn tunnels_keep_to_their_routes_rule_and_count_pings() {
    let (_upstream, server) = behind(
        false,
        "[[gateway.routes]]\npath = \"/ws/echo\"\nmethods = [\"GET\"]\naccess = [\"admin\"]\n",
    )
    .await;
    server.create_user("chief", PASSWORD, &["user", "admin"]);
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("chief", PASSWORD).await.status(), 303);
    let cookie = format!("rampart_session={}", browser.cookie("rampart_session"));
    let own = format!("http://{}", server.addr);
    let mut socket = open_ws_at(&server, "/ws/echo", &[("cookie", &cookie), ("origin", &own)])
        .await
        .expect("an admin's upgrade");
    next_event(&mut socket).await;

    let root = token(&server, "root").await;
    let demoted = server.set_roles(&root, "chief", &["user"]).await;
    assert_eq!(demoted.status(), 200);
    let (code, took) = close_code(&mut socket).await;
    assert_eq!(code, 1008);
    assert!(took < Duration::from_secs(5), "{took:?}");

    let bearer = format!("Bearer {root}");
    let mut socket = open_ws_at(&server, "/ws/echo", &[("authorization", &bearer)])
        .await
        .expect("upgrade");
    next_event(&mut socket).await;
    for _ in 0..40 {
        if socket.send(Message::Ping(Default::default())).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut socket).await.0, 1008);
}

/// Anonymous sockets are capped per client, and an IPv6 /64 is one client.
#[tokio::test]
async fn anonymous_sockets_of_one_ipv6_network_share_one_cap() {
    let (_upstream, server) = behind(
        false,
        "[[gateway.routes]]\npath = \"/ws/echo\"\naccess = \"public\"\n[proxy]\ntrusted = [\"127.0.0.1\"]\n",
    )
    .await;
    let mut open = Vec::new();
    for n in 1..=16 {
        let address = format!("2001:db8:0:7::{n:x}");
        let socket = open_ws_at(&server, "/ws/echo", &[("x-forwarded-for", &address)])
            .await
            .expect("within the cap");
        open.push(socket);
    }
    let seventeenth = open_ws_at(
        &server,
        "/ws/echo",
        &[("x-forwarded-for", "2001:db8:0:7:ffff::1")],
    )
    .await;
    assert_eq!(seventeenth.err(), Some(429));
    let elsewhere = open_ws_at(&server, "/ws/echo", &[("x-forwarded-for", "2001:db8:0:8::1")]).await;
    assert!(elsewhere.is_ok(), "another /64 is another client");
}

/// rampart on a public route to an upstream that closes connections idle
/// for `keep_alive_seconds`.
async fn keeping_alive(keep_alive_seconds: u32) -> (Upstream, TestServer) {
    let upstream = Upstream::start_keeping_alive(App::Recording { root_security: false }, keep_alive_seconds);
    let server = TestServer::start_with(TestConfig::default().toml(&format!(
        "[gateway]\nupstream = \"{}\"\n[[gateway.routes]]\npath = \"/public/{{*rest}}\"\naccess = \"public\"\n",
        upstream.origin()
    )))
    .await;
    (upstream, server)
}

/// A `GET /public/hello` through rampart, read to its end as a client
/// reads it: its status.
async fn hello(server: &TestServer) -> u16 {
    let response = server.get("/public/hello").await;
    let status = response.status().as_u16();
    response.text().await.unwrap();
    status
}

/// The ports of the connections the upstream's requests came on, oldest
/// first.
async fn connection_ports(upstream: &Upstream) -> Vec<u64> {
    upstream
        .records()
        .await
        .iter()
        .map(|record| record["client_port"].as_u64().expect("a client port"))
        .collect()
}

/// Requests one after another reuse one connection to the upstream; one
/// the upstream closed while it was idle (uvicorn after its keep-alive
/// time) is replaced, and the next request is answered, not refused 502.
#[tokio::test]
async fn connections_to_the_upstream_are_reused_and_replaced_when_it_closes_them() {
    let (upstream, server) = keeping_alive(1).await;
    for _ in 0..3 {
        assert_eq!(hello(&server).await, 200);
    }
    let ports = connection_ports(&upstream).await;
    assert_eq!(ports.len(), 3);
    assert!(ports.iter().all(|port| *port == ports[0]), "{ports:?}");
    // Well past uvicorn's one second: the connection is closed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..2 {
        assert_eq!(hello(&server).await, 200);
    }
    let ports = connection_ports(&upstream).await;
    assert_eq!(ports.len(), 5);
    assert_ne!(ports[3], ports[0], "a closed connection was used again");
    assert_eq!(ports[4], ports[3], "{ports:?}");
}

/// The established TCP connections process `pid` holds to `port` on this
/// machine, as the kernel lists them (`/proc/net/tcp`).
fn connections_to(pid: i32, port: u16) -> usize {
    let sockets: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let remote = format!(":{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // rem_address, st (01: established), inode
            fields[2].ends_with(&remote) && fields[3] == "01" && sockets.contains(fields[9])
        })
        .count()
}

/// rampart closes a connection to the upstream that has been idle for 4
/// seconds, before an upstream such as uvicorn (5 s) would: the next
/// request opens a new one, and one left idle is closed with no request
/// to notice it.
#[tokio::test]
async fn idle_connections_to_the_upstream_are_closed_after_four_seconds() {
    let (upstream, server) = keeping_alive(60).await;
    assert_eq!(hello(&server).await, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(hello(&server).await, 200);
    tokio::time::sleep(Duration::from_millis(5500)).await;
    assert_eq!(hello(&server).await, 200);
    let ports = connection_ports(&upstream).await;
    assert_eq!(ports[1], ports[0], "{ports:?}");
    assert_ne!(ports[2], ports[1], "{ports:?}");
    let port = upstream.addr.port();
    assert_eq!(connections_to(server.pid(), port), 1);
    let deadline = std::time::Instant::now() + PATIENCE;
    while connections_to(server.pid(), port) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "an idle connection to the upstream was never closed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
