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

type AuditRow = (
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

    /// The newest `limit` events, newest first.
    pub async fn list_audit_events(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT at, actor, action, target, client_ip, request_id, outcome FROM audit_events \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(at, actor, action, target, client_ip, request_id, outcome)| AuditRecord {
                    at,
                    actor,
                    action,
                    target,
                    client_ip,
                    request_id,
                    outcome,
                },
            )
            .collect())
    }
}
