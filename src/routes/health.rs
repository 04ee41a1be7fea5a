//! `/`, `/healthz` and `/readyz`.

use std::time::Duration;

use axum::{extract::State, response::IntoResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    http::{
        error::{ApiError, ErrorBody},
        extract::Json,
    },
    state::AppState,
};

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
pub struct Message {
    #[schema(example = "Hello World")]
    pub message: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The greeting.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = Message)))]
pub async fn root() -> Json<Message> {
    Json(Message {
        message: "Hello World",
    })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// What `/readyz` answers.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok`, or `degraded` while the instance serves without something
    /// it is configured to use (Redis).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// `unreachable` while Redis does not answer (rate limits then follow
    /// `rate_limit.redis_failure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
}

/// Readiness: the database answers (503 if not); `degraded` (still 200:
/// the instance serves) while Redis does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "The database does not answer", body = ErrorBody)
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) if state.limits.healthy().await => Ok(Json(Readiness {
            status: "ok",
            redis: None,
        })),
        Ok(Ok(())) => Ok(Json(Readiness {
            status: "degraded",
            redis: Some("unreachable"),
        })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::Unavailable("Database unavailable"))
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            Err(ApiError::Unavailable("Database unavailable"))
        }
    }
}
