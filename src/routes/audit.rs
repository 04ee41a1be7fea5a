//! The audit trail for admins (SPEC section 9): events filtered by actor,
//! action, outcome and time, newest first, paged by id; and the hourly
//! counts of logins and refusals the console's overview draws.

use axum::extract::State;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    admin::stats::{Stats, hourly},
    http::{
        error::{ApiError, ErrorBody},
        extract::{Json, Query},
        identity::{Admin, RequireRole},
    },
    input::{Fields, Invalid, Model, Problem, bounded_int, bounded_text},
    state::AppState,
    store::{AuditFilter, StoredAuditEvent},
};

/// `GET /admin/audit`'s filters; every one is optional.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many events (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Events of this user (or attempted name).
    actor: Option<String>,
    /// Events of this action (`login`, `rate_limited`, ...).
    action: Option<String>,
    /// `success`, `failure` or `denied`.
    outcome: Option<String>,
    /// RFC 3339: events at or after it.
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<i64>,
    /// RFC 3339: events before it.
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<i64>,
    /// Events whose `id` is smaller: the last `id` of the page before.
    #[param(minimum = 1)]
    before: Option<i64>,
}

/// RFC 3339, as unix milliseconds.
fn instant(raw: crate::input::Raw<'_>) -> Result<i64, Invalid> {
    let text = bounded_text(raw, 1, 64)?;
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|at| at.timestamp_millis())
        .map_err(|_| Problem::value_error("an RFC 3339 date and time, e.g. 2026-12-06T10:00:00Z").into())
}

impl Model for AuditQuery {
    const FORBID_EXTRA: bool = false;

    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let limit = fields.optional("limit", |raw| bounded_int(raw, 1, 1000));
        let actor = fields.optional("actor", |raw| bounded_text(raw, 1, 256));
        let action = fields.optional("action", |raw| bounded_text(raw, 1, 64));
        let outcome = fields.optional("outcome", |raw| bounded_text(raw, 1, 16));
        let since = fields.optional("since", instant);
        let until = fields.optional("until", instant);
        let before = fields.optional("before", |raw| bounded_int(raw, 1, i64::MAX));
        Some(Self {
            limit: limit?,
            actor: actor?,
            action: action?,
            outcome: outcome?,
            since: since?,
            until: until?,
            before: before?,
        })
    }
}

/// One security event, as `GET /admin/audit` shows it.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    /// Grows with every event: `before` pages by it.
    id: i64,
    /// When it happened, in unix milliseconds.
    at: i64,
    /// The user who acted, or the name that was tried (`"<invalid>"` for
    /// one that is no valid name); none for an anonymous caller.
    actor: Option<String>,
    /// What happened: `login`, `refresh`, `refresh_reuse`, `revoke`,
    /// `rate_limited`, `csrf_rejected`, `access_denied`, `role_changed`, ...
    action: String,
    /// What it happened to: a user, a route, a policy or a key id.
    target: Option<String>,
    client_ip: Option<String>,
    request_id: Option<String>,
    /// `success`, `failure` or `denied`.
    outcome: String,
}

impl From<StoredAuditEvent> for AuditEvent {
    fn from(event: StoredAuditEvent) -> Self {
        let record = event.record;
        Self {
            id: event.id,
            at: record.at,
            actor: record.actor,
            action: record.action,
            target: record.target,
            client_ip: record.client_ip,
            request_id: record.request_id,
            outcome: record.outcome,
        }
    }
}

/// Audit events, newest first, filtered.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "Events, newest first", body = Vec<AuditEvent>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    _: RequireRole<Admin>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    Ok(Json(events(&state, &query).await?))
}

/// The events `query` asks for (the console's audit page reads the same).
pub async fn events(state: &AppState, query: &AuditQuery) -> Result<Vec<AuditEvent>, ApiError> {
    let filter = AuditFilter {
        actor: query.actor.as_deref(),
        action: query.action.as_deref(),
        outcome: query.outcome.as_deref(),
        since: query.since,
        until: query.until,
        before: query.before,
        limit: query.limit.unwrap_or(100),
    };
    let events = state.store.list_audit_events(&filter).await?;
    Ok(events.into_iter().map(AuditEvent::from).collect())
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How many hours, the current one included (default 24).
    #[param(minimum = 1, maximum = 720)]
    hours: Option<i64>,
}

impl Model for StatsQuery {
    const FORBID_EXTRA: bool = false;

    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            hours: fields.optional("hours", |raw| bounded_int(raw, 1, 720))?,
        })
    }
}

/// Logins and refusals per hour.
#[utoipa::path(get, path = "/admin/stats", tag = "admin", security(("bearer" = [])), params(StatsQuery),
    responses((status = 200, description = "Hourly counts, oldest first", body = Stats), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    _: RequireRole<Admin>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(hourly(&state.store, query.hours.unwrap_or(24)).await?))
}
