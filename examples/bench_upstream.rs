//! The upstream of `scripts/bench-gateway`: an API that does next to
//! nothing, so that what a proxy in front of it costs is what is measured.
//! `GET /hello` answers a small JSON document; `GET /big?mb=N` streams N
//! MiB of zeros in 64 KiB chunks, never holding them.
//!
//! Usage: bench_upstream PORT

use axum::{Json, Router, body::Body, extract::Query, routing::get};
use bytes::Bytes;

#[derive(serde::Deserialize)]
struct Size {
    mb: usize,
}

async fn big(Query(Size { mb }): Query<Size>) -> Body {
    let chunk = Bytes::from(vec![0u8; 64 * 1024]);
    let chunks =
        futures_util::stream::iter((0..mb * 16).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    Body::from_stream(chunks)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: bench_upstream PORT");
    let app = Router::new()
        .route(
            "/hello",
            get(|| async { Json(serde_json::json!({"hello": "world"})) }),
        )
        .route("/big", get(big));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
