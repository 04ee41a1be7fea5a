//! `GET /console`: the last 24 hours at a glance (users, open sessions,
//! logins succeeded and failed, rate-limit and CSRF refusals, as numbers
//! and as an hourly bar chart with the same figures in a table), the
//! signing keys, and the state of the database and of Redis.

use std::time::Duration;

use axum::{
    extract::{RawQuery, State},
    response::Response,
};
use http::StatusCode;
use minijinja::{Value, context, value::Serde};

use super::{ConsoleAdmin, SaidQuery, chart};
use crate::{admin::stats::hourly, auth::keyring::KeyRing, http::error::ApiError, state::AppState};

/// How long the overview waits for the database or Redis to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The keys, as the overview and the keys page list them.
pub(super) async fn key_rows(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let keys = KeyRing::list(&state.store).await?;
    Ok(keys
        .into_iter()
        .map(|key| {
            context! {
                kid => key.kid,
                algorithm => key.algorithm,
                state => key.state,
                created_at => crate::store::rfc3339(key.created_at),
                retired_at => key.retired_at.map(crate::store::rfc3339),
                expires_at => key.expires_at.map(crate::store::rfc3339),
            }
        })
        .collect())
}

/// The console's overview.
#[utoipa::path(get, path = "/console", tag = "console",
    responses(
        (status = 200, description = "HTML page; sets the CSRF cookie", content_type = "text/html"),
        (status = 303, description = "No session: to /login, returning here"),
        (status = 403, description = "Not an admin", content_type = "text/html")
    ))]
pub async fn console(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let stats = hourly(&state.store, 24).await?;
    let total = |count: fn(&crate::admin::stats::Bucket) -> i64| stats.buckets.iter().map(count).sum::<i64>();
    let database = match tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "reachable",
        _ => "unreachable",
    };
    // Never the URL: it may hold a password.
    let redis = if state.settings.rate_limit.redis_url.is_empty() {
        "not used: rate limits are kept in this process"
    } else if tokio::time::timeout(PING_TIMEOUT, state.limits.healthy())
        .await
        .unwrap_or(false)
    {
        "reachable"
    } else {
        "unreachable"
    };
    let context = context! {
        title => "Console",
        nav => "overview",
        users => state.store.count_users().await?,
        sessions => state.sessions.open_total().await?,
        logins_succeeded => total(|b| b.logins_succeeded),
        logins_failed => total(|b| b.logins_failed),
        rate_limited => total(|b| b.rate_limited),
        csrf_rejected => total(|b| b.csrf_rejected),
        chart => Value::from(Serde(chart::layout(&stats.buckets))),
        buckets => Value::from(Serde(&stats.buckets)),
        keys => key_rows(&state).await?,
        database_kind => state.store.backend(),
        database,
        redis,
    };
    admin.page(
        &state,
        "console_overview.html",
        StatusCode::OK,
        SaidQuery::read(query.as_deref()),
        context,
    )
}
