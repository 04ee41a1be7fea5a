//! `GET /console/audit`: the audit trail, newest first, filtered by actor,
//! action, outcome and time, a page at a time (each page links to the next
//! older one by the last event's `id`, as `GET /admin/audit?before=`).

use axum::{
    extract::{RawQuery, State},
    response::Response,
};
use http::StatusCode;
use minijinja::{Value, context, value::Serde};
use serde::{Deserialize, Serialize};

use super::{ConsoleAdmin, Said, user::event_rows};
use crate::{http::error::ApiError, state::AppState, store::AuditFilter};

/// Events a page lists.
const PAGE: i64 = 50;
const OUTCOMES: [&str; 3] = ["success", "failure", "denied"];

/// The filters, as the form sends them: every field text, checked here so
/// that a bad one is said on the page.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default, skip_serializing)]
    before: String,
}

/// A time as the form gives it: RFC 3339, or a browser's
/// `datetime-local` (`2026-12-06T10:00`, read as UTC). Unix ms.
fn instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| at.and_utc().timestamp_millis())
}

/// A field's text, unless it is blank.
fn given(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|text| !text.is_empty())
}

impl Filters {
    /// The store's filter, or what is wrong with the form.
    fn filter(&self) -> Result<AuditFilter<'_>, String> {
        let time = |text: &str, name: &str| {
            given(text)
                .map(|text| {
                    instant(text).ok_or(format!("{name}: a date and time, e.g. 2026-12-06T10:00:00Z"))
                })
                .transpose()
        };
        let outcome = given(&self.outcome);
        if outcome.is_some_and(|outcome| !OUTCOMES.contains(&outcome)) {
            return Err("Outcome: success, failure or denied".to_owned());
        }
        let before = given(&self.before)
            .map(|before| {
                before
                    .parse::<i64>()
                    .map_err(|_| "Before: an event id".to_owned())
            })
            .transpose()?;
        Ok(AuditFilter {
            actor: given(&self.actor),
            action: given(&self.action),
            outcome,
            since: time(&self.since, "Since")?,
            until: time(&self.until, "Until")?,
            before,
            limit: PAGE,
        })
    }
}

/// The audit trail, filtered and paged.
#[utoipa::path(get, path = "/console/audit", tag = "console",
    params(
        ("actor" = Option<String>, Query), ("action" = Option<String>, Query),
        ("outcome" = Option<String>, Query, description = "success, failure or denied"),
        ("since" = Option<String>, Query, description = "RFC 3339, or a date and time read as UTC"),
        ("until" = Option<String>, Query, description = "RFC 3339, or a date and time read as UTC"),
        ("before" = Option<i64>, Query, description = "Events with a smaller id: the next page")
    ),
    responses(
        (status = 200, description = "HTML page", content_type = "text/html"),
        (status = 303, description = "No session: to /login, returning here"),
        (status = 400, description = "A bad filter: the page, saying which", content_type = "text/html"),
        (status = 403, description = "Not an admin", content_type = "text/html")
    ))]
pub async fn console_audit(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let filters: Filters = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let (status, said, events) = match filters.filter() {
        Ok(filter) => (
            StatusCode::OK,
            Said::default(),
            event_rows(&state, &filter).await?,
        ),
        Err(err) => (StatusCode::BAD_REQUEST, Said::error(err), Vec::new()),
    };
    // The next page: the same filters, before the last event listed.
    // The first page, and the next: the same filters, the next before
    // the last event listed.
    let newest = serde_urlencoded::to_string(&filters).unwrap_or_default();
    let older = (events.len() == usize::try_from(PAGE).unwrap_or(usize::MAX))
        .then(|| events.last().and_then(|event| event.get_attr("id").ok()))
        .flatten()
        .map(|id| format!("{newest}&before={id}"));
    let context = context! {
        title => "Audit trail",
        nav => "audit",
        filters => Value::from(Serde(&filters)),
        outcomes => OUTCOMES,
        events,
        newest,
        older,
        paged => !filters.before.is_empty(),
    };
    admin.page(&state, "console_audit.html", status, said, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_local_field_as_utc() {
        assert_eq!(instant("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(instant("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(instant("1970-01-01T00:01"), Some(60_000));
        assert_eq!(instant("yesterday"), None);
    }

    #[test]
    fn bad_filters_are_said() {
        let filters = |query: &str| serde_urlencoded::from_str::<Filters>(query).unwrap();
        let all = filters("");
        let filter = all.filter().unwrap();
        assert_eq!((filter.actor, filter.before, filter.limit), (None, None, PAGE));
        let some = filters("actor=alice&outcome=denied&before=42&since=2026-12-06T10:00");
        let filter = some.filter().unwrap();
        assert_eq!(filter.actor, Some("alice"));
        assert_eq!(filter.outcome, Some("denied"));
        assert_eq!(filter.before, Some(42));
        assert!(filter.since.is_some());
        assert!(
            filters("outcome=maybe")
                .filter()
                .unwrap_err()
                .starts_with("Outcome")
        );
        assert!(filters("until=soon").filter().unwrap_err().starts_with("Until"));
        assert!(filters("before=x").filter().unwrap_err().starts_with("Before"));
    }
}
