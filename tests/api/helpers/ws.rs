//! A WebSocket client for the black-box tests: tokio-tungstenite over a
//! plain TCP connection to the server, and a raw upgrade for what a client
//! library would hide (the answer's status and headers).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue},
};

use super::{PATIENCE, TestServer};

pub type Socket = WebSocketStream<TcpStream>;

/// Opens `/ws/items` with these request headers; the refusal's status if
/// the server does not upgrade.
pub async fn open_ws(server: &TestServer, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    open_ws_at(server, "/ws/items", headers).await
}

/// Opens a socket at `path` with these request headers.
pub async fn open_ws_at(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    let mut request = format!("ws://{}{path}", server.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let stream = TcpStream::connect(server.addr).await.unwrap();
    match client_async(request, stream).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(err) => panic!("handshake failed: {err}"),
    }
}

/// A socket authenticated by `Authorization: Bearer`.
pub async fn open_ws_bearer(server: &TestServer, token: &str) -> Socket {
    open_ws(server, &[("authorization", &format!("Bearer {token}"))])
        .await
        .expect("upgrade")
}

/// The next event the socket carries (pings are answered by the library).
pub async fn next_event<S: AsyncRead + AsyncWrite + Unpin>(socket: &mut WebSocketStream<S>) -> Value {
    let message = tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected an event, got {other:?}"),
            }
        }
    })
    .await;
    message.expect("an event within the deadline")
}

/// Waits for the server to close the socket; the close code, and how long
/// it took.
pub async fn close_code(socket: &mut Socket) -> (u16, Duration) {
    let started = std::time::Instant::now();
    let code = tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(err)) => panic!("the socket broke without a close frame: {err}"),
                None => panic!("the socket ended without a close frame"),
            }
        }
    })
    .await
    .expect("a close within the deadline");
    (code, started.elapsed())
}

/// Sends a text message; a failure means the server has closed.
pub async fn send_text(socket: &mut Socket, text: String) -> bool {
    socket.send(Message::text(text)).await.is_ok()
}

/// The answer to a hand-written upgrade request: status line and headers,
/// lower-case names.
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends an upgrade request for `target` with `headers` by hand and reads
/// the answer's head.
pub async fn raw_upgrade(server: &TestServer, target: &str, headers: &[(&str, &str)]) -> RawAnswer {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        server.addr
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut byte))
            .await
            .expect("an answer")
            .unwrap();
        assert_eq!(read, 1, "the server closed before answering");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap();
            (name.trim().to_lowercase(), value.trim().to_owned())
        })
        .collect();
    RawAnswer { status, headers }
}
