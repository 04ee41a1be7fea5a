//! Measures rampart's WebSockets under load (`scripts/bench-websockets`
//! starts the server and runs this): the server's memory per idle socket,
//! and how long an item event takes to reach every open socket.
//!
//! Usage: ws_fanout ADDR PID PASSWORD USERS SOCKETS EVENTS
//! - ADDR: the server's address (127.0.0.1:PORT); PID: its process, whose
//!   resident memory is read from /proc;
//! - USERS: admin accounts `bench0`.. with PASSWORD (an admin's socket
//!   carries every item, so every socket receives every event);
//! - SOCKETS: sockets to open (at most 16 per user), EVENTS: items created.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{
    client_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's /proc entry");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, pid, password, users, sockets, events] = args.as_slice() else {
        eprintln!("usage: ws_fanout ADDR PID PASSWORD USERS SOCKETS EVENTS");
        std::process::exit(2);
    };
    let pid: u32 = pid.parse().unwrap();
    let users: usize = users.parse().unwrap();
    let sockets: usize = sockets.parse().unwrap();
    let events: usize = events.parse().unwrap();
    assert!(sockets <= users * 16, "at most 16 sockets per user");
    let client = reqwest::Client::new();

    let mut tokens = Vec::new();
    for n in 0..users {
        let response = client
            .post(format!("http://{addr}/token"))
            .form(&[("username", format!("bench{n}")), ("password", password.clone())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login of bench{n}");
        let body: serde_json::Value = response.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid);
    // When each event was sent, by its number; receivers report latencies.
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events]));
    let (report, mut reports) = mpsc::unbounded_channel::<(usize, Duration)>();
    for n in 0..sockets {
        let mut request = format!("ws://{addr}/ws/items").into_client_request().unwrap();
        let bearer = format!("Bearer {}", tokens[n % users]);
        request
            .headers_mut()
            .insert("authorization", HeaderValue::from_str(&bearer).unwrap());
        let stream = TcpStream::connect(addr.as_str()).await.unwrap();
        let (mut socket, _) = client_async(request, stream).await.expect("upgrade");
        let (sent, report) = (sent.clone(), report.clone());
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    let at = Instant::now();
                    let event: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let name = event["item"]["name"].as_str().unwrap_or_default();
                    if let Some(index) = name.strip_prefix("event-").and_then(|i| i.parse::<usize>().ok()) {
                        let started = sent.lock().unwrap()[index];
                        if let Some(started) = started {
                            let _ = report.send((index, at - started));
                        }
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "memory: {sockets} idle sockets: RSS {before} KiB -> {after} KiB, {:.1} KiB per socket",
        (after as f64 - before as f64) / sockets as f64
    );

    let mut latencies = Vec::new();
    let mut whole = Vec::new();
    for index in 0..events {
        sent.lock().unwrap()[index] = Some(Instant::now());
        let response = client
            .post(format!("http://{addr}/items/"))
            .bearer_auth(&tokens[0])
            .json(&serde_json::json!({"name": format!("event-{index}"), "price": 1.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let mut received = 0;
        let mut last = Duration::ZERO;
        while received < sockets {
            let (got, latency) = tokio::time::timeout(Duration::from_secs(30), reports.recv())
                .await
                .expect("every socket receives the event")
                .unwrap();
            assert_eq!(got, index);
            latencies.push(latency);
            last = last.max(latency);
            received += 1;
        }
        whole.push(last);
    }
    latencies.sort();
    whole.sort();
    println!(
        "fan-out: {events} events to {sockets} sockets each, from the POST to each socket's receipt: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; until the last socket: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        percentile(&whole, 0.5).as_secs_f64() * 1e3,
        percentile(&whole, 0.99).as_secs_f64() * 1e3,
    );
}
