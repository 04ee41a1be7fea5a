//! Routes that exist only in test builds (feature `test-hooks`): they let
//! the black-box tests force a panic, exercise the extractors, and hold a
//! request in flight. Release builds do not contain them.

use std::time::Duration;

use axum::{
    Router,
    extract::Request,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use crate::http::{
    extract::{Form, Json, Path, Query},
    request_id::RequestId,
};

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/__test/panic", get(panic))
        .route("/__test/echo/{id}", post(echo))
        .route("/__test/form", post(form))
        .route("/__test/sleep", get(sleep))
}

async fn panic() -> &'static str {
    panic!("forced panic at /srv/rampart/src/secret.rs with SELECT * FROM users");
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct EchoBody {
    name: String,
    price: f64,
    #[serde(default)]
    tags: Vec<u32>,
}

#[derive(Debug, Deserialize, Serialize)]
struct EchoQuery {
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Serialize)]
struct Echo {
    id: i64,
    query: EchoQuery,
    body: EchoBody,
}

async fn echo(Path(id): Path<i64>, Query(query): Query<EchoQuery>, Json(body): Json<EchoBody>) -> Json<Echo> {
    Json(Echo { id, query, body })
}

#[derive(Debug, Deserialize, Serialize)]
struct FormBody {
    username: String,
    count: u32,
}

async fn form(Form(body): Form<FormBody>) -> Json<FormBody> {
    Json(body)
}

#[derive(Deserialize)]
struct SleepQuery {
    ms: u64,
}

async fn sleep(Query(query): Query<SleepQuery>, request: Request) -> &'static str {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(RequestId::as_str)
        .unwrap_or_default()
        .to_owned();
    tracing::info!(request_id, "sleep started");
    tokio::time::sleep(Duration::from_millis(query.ms)).await;
    "slept"
}
