//! Routes that exist only in test builds (feature `test-hooks`): they let
//! the black-box tests force a panic, exercise the extractors, and hold a
//! request in flight. Release builds do not contain them.

use std::time::Duration;

use axum::{
    extract::Request,
    routing::{get, post},
};
use serde::Serialize;

use super::Routed;
use crate::{
    http::{
        context::RequestContext,
        extract::{Form, Json, Path, Query},
    },
    input::{Field, Fields, Model},
};

pub fn router<S: Clone + Send + Sync + 'static>() -> Routed<S> {
    Routed::default()
        .route("/__test/panic", get(panic))
        .route("/__test/echo/{id}", post(echo))
        .route("/__test/form", post(form))
        .route("/__test/sleep", get(sleep))
}

async fn panic() -> &'static str {
    panic!("forced panic at /srv/rampart/src/secret.rs with SELECT * FROM users");
}

#[derive(Debug, Serialize)]
struct EchoBody {
    name: String,
    price: f64,
    tags: Vec<i64>,
}

impl Model for EchoBody {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let name = fields.required("name", String::read);
        let price = fields.required("price", f64::read);
        let tags = fields.optional("tags", Vec::<i64>::read);
        Some(Self {
            name: name?,
            price: price?,
            tags: tags?.unwrap_or_default(),
        })
    }
}

#[derive(Debug, Serialize)]
struct EchoQuery {
    limit: Option<i64>,
}

impl Model for EchoQuery {
    const FORBID_EXTRA: bool = false;
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            limit: fields.optional("limit", i64::read)?,
        })
    }
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

#[derive(Debug, Serialize)]
struct FormBody {
    username: String,
    count: i64,
}

impl Model for FormBody {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let username = fields.required("username", String::read);
        let count = fields.required("count", i64::read);
        Some(Self {
            username: username?,
            count: count?,
        })
    }
}

async fn form(Form(body): Form<FormBody>) -> Json<FormBody> {
    Json(body)
}

struct SleepQuery {
    ms: i64,
}

impl Model for SleepQuery {
    const FORBID_EXTRA: bool = false;
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            ms: fields.required("ms", |raw| crate::input::bounded_int(raw, 0, 60_000))?,
        })
    }
}

async fn sleep(Query(query): Query<SleepQuery>, request: Request) -> &'static str {
    let request_id = RequestContext::of(request.extensions())
        .map(|context| context.id.as_str())
        .unwrap_or_default()
        .to_owned();
    tracing::info!(request_id, "sleep started");
    tokio::time::sleep(Duration::from_millis(query.ms.unsigned_abs())).await;
    "slept"
}
