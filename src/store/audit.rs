//! Audit events: written in batches by the audit writer, read newest first.

use super::{Store, StoreError, with_pool};

/// An audit event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
}

/// An event as `list_audit_events` reads it: id, then the record's fields.
type AuditRow = (
    i64,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

impl Store {
    /// Stores events, all or none.
    pub async fn insert_audit_events(&self, events: &[AuditRecord]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for event in events {
                sqlx::query(
                    "INSERT INTO audit_events (at, actor, action, target, client_ip, request_id, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(event.at)
                .bind(&event.actor)
                .bind(&event.action)
                .bind(&event.target)
                .bind(&event.client_ip)
                .bind(&event.request_id)
                .bind(&event.outcome)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the events from before `before` (unix ms).
    pub async fn purge_audit_events(&self, before: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM audit_events WHERE at < $1").bind(before).execute(pool).await?;
        });
        Ok(())
    }

    /// The newest events that pass `filter`, newest first (by `id`, which
    /// only grows). Only the conditions given are in the query, so each
    /// database picks the index that fits them (a user's events read
    /// `audit_events_actor_id`, migration 0016).
    pub async fn list_audit_events(
        &self,
        filter: &AuditFilter<'_>,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, at, actor, action, target, client_ip, request_id, outcome FROM audit_events WHERE 1 = 1",
            );
            if let Some(actor) = filter.actor {
                query.push(" AND actor = ").push_bind(actor);
            }
            if let Some(action) = filter.action {
                query.push(" AND action = ").push_bind(action);
            }
            if let Some(outcome) = filter.outcome {
                query.push(" AND outcome = ").push_bind(outcome);
            }
            if let Some(since) = filter.since {
                query.push(" AND at >= ").push_bind(since);
            }
            if let Some(until) = filter.until {
                query.push(" AND at < ").push_bind(until);
            }
            if let Some(before) = filter.before {
                query.push(" AND id < ").push_bind(before);
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(filter.limit);
            query.build_query_as().fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, at, actor, action, target, client_ip, request_id, outcome)| StoredAuditEvent {
                    id,
                    record: AuditRecord {
                        at,
                        actor,
                        action,
                        target,
                        client_ip,
                        request_id,
                        outcome,
                    },
                },
            )
            .collect())
    }

    /// Events of `actions` since `since` (unix ms), counted by hour (unix
    /// ms divided by 3,600,000), action and outcome. Reads the index
    /// `audit_events_action_at` alone (migration 0014).
    pub async fn count_audit_events_by_hour(
        &self,
        actions: &[&str; 3],
        since: i64,
    ) -> Result<Vec<HourCount>, StoreError> {
        let rows: Vec<(i64, String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(STATS_QUERY)
                .bind(actions[0])
                .bind(actions[1])
                .bind(actions[2])
                .bind(since)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(hour, action, outcome, count)| HourCount {
                hour,
                action,
                outcome,
                count,
            })
            .collect())
    }
}

/// The hourly counts' query; public so tests can ask each database for its
/// plan.
pub const STATS_QUERY: &str = "SELECT at / 3600000 AS hour, action, outcome, COUNT(*) FROM audit_events \
     WHERE action IN ($1, $2, $3) AND at >= $4 GROUP BY hour, action, outcome";

/// How many events of one action and outcome happened in one hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourCount {
    /// Unix milliseconds divided by 3,600,000.
    pub hour: i64,
    pub action: String,
    pub outcome: String,
    pub count: i64,
}

/// An audit event with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Grows with every event: a cursor for paging.
    pub id: i64,
    pub record: AuditRecord,
}

/// Which events to list; every `None` lets all pass.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub outcome: Option<&'a str>,
    /// Unix ms, inclusive.
    pub since: Option<i64>,
    /// Unix ms, exclusive.
    pub until: Option<i64>,
    /// Only events whose id is smaller.
    pub before: Option<i64>,
    pub limit: i64,
}
