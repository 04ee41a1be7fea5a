//! Item events shared between instances (`item_events`): written by the
//! instance that made the write, read by the others for their WebSockets.
//! Used on PostgreSQL only: with SQLite there is one instance.

use super::{Db, Store, StoreError, with_pool};

/// The PostgreSQL channel that announces new item events.
pub const ITEMS_CHANNEL: &str = "rampart_items";
const NOTIFY: &str = "NOTIFY rampart_items";

/// An item event as stored.
#[derive(Clone, Debug)]
pub struct StoredItemEvent {
    pub seq: i64,
    /// The instance that wrote it.
    pub origin: String,
    pub owner: String,
    pub message: String,
}

impl Store {
    /// Whether other instances may share this database (and so need the
    /// item events of this one).
    pub fn shares_item_events(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Stores an item event for the other instances and announces it.
    pub async fn log_item_event(
        &self,
        origin: &str,
        owner: &str,
        message: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(());
        };
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO item_events (at, origin, owner, message) VALUES ($1, $2, $3, $4)")
            .bind(now)
            .bind(origin)
            .bind(owner)
            .bind(message)
            .execute(&mut *tx)
            .await?;
        sqlx::query(NOTIFY).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Item events numbered above `seq`, in order, at most `limit`.
    pub async fn item_events_after(&self, seq: i64, limit: i64) -> Result<Vec<StoredItemEvent>, StoreError> {
        let rows: Vec<(i64, String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, origin, owner, message FROM item_events WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(seq)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(seq, origin, owner, message)| StoredItemEvent {
                seq,
                origin,
                owner,
                message,
            })
            .collect())
    }

    /// The highest number of an event stored before `before` (unix ms).
    pub async fn latest_item_event_before(&self, before: i64) -> Result<i64, StoreError> {
        let (seq,): (Option<i64>,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT MAX(seq) FROM item_events WHERE at < $1")
                .bind(before)
                .fetch_one(pool)
                .await?
        });
        Ok(seq.unwrap_or(0))
    }

    /// Forgets item events stored before `before` (unix ms).
    pub async fn purge_item_events(&self, before: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM item_events WHERE at < $1").bind(before).execute(pool).await?;
        });
        Ok(())
    }
}
