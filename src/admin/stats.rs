//! The hourly counts of logins and refusals (SPEC section 9): what
//! `GET /admin/stats` answers and the console's overview draws. One query
//! on the covering index `audit_events_action_at`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{Store, StoreError, now_ms, rfc3339};

/// One hour's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Bucket {
    /// The hour's start, RFC 3339 UTC.
    pub start: String,
    pub logins_succeeded: i64,
    /// Wrong credentials (a login a rate limit refused counts as
    /// `rate_limited` instead).
    pub logins_failed: i64,
    /// Audited rate-limit refusals: the first of each client under each
    /// policy, then at most one a minute (every refusal is counted in the
    /// metrics).
    pub rate_limited: i64,
    pub csrf_rejected: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// One per hour, oldest first; the last is the current hour.
    pub buckets: Vec<Bucket>,
}

const HOUR_MS: i64 = 3_600_000;
const COUNTED: [&str; 3] = ["login", "rate_limited", "csrf_rejected"];

/// The last `hours` hours' counts (the API's and the console's overview's).
pub async fn hourly(store: &Store, hours: i64) -> Result<Stats, StoreError> {
    let current = now_ms() / HOUR_MS;
    let first = current - (hours - 1);
    let counts = store
        .count_audit_events_by_hour(&COUNTED, first * HOUR_MS)
        .await?;
    let mut buckets: Vec<Bucket> = (first..=current)
        .map(|hour| Bucket {
            start: rfc3339(hour * HOUR_MS),
            ..Bucket::default()
        })
        .collect();
    for count in counts {
        let Some(bucket) = usize::try_from(count.hour - first)
            .ok()
            .and_then(|index| buckets.get_mut(index))
        else {
            continue;
        };
        let slot = match (count.action.as_str(), count.outcome.as_str()) {
            ("login", "success") => &mut bucket.logins_succeeded,
            ("login", _) => &mut bucket.logins_failed,
            ("rate_limited", _) => &mut bucket.rate_limited,
            ("csrf_rejected", _) => &mut bucket.csrf_rejected,
            _ => continue,
        };
        *slot += count.count;
    }
    Ok(Stats { buckets })
}
