//! Clients where a user signed in successfully, by address: the login
//! throttle gives them a budget of their own (`ratelimit::login`).

use super::{Store, StoreError, with_pool};
use crate::names::Username;

impl Store {
    /// Records a successful login of user `user_id` from `client`.
    pub async fn remember_client(&self, user_id: i64, client: &str, now: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO known_clients (user_id, client, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, client) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(user_id)
            .bind(client)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether the user called `username` signed in successfully from
    /// `client` at or after `since` (unix ms).
    pub async fn is_known_client(
        &self,
        username: &Username,
        client: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let key = username.key();
        let found: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT k.seen_at FROM known_clients k JOIN users u ON u.id = k.user_id \
                 WHERE u.username_key = $1 AND k.client = $2 AND k.seen_at >= $3",
            )
            .bind(&key)
            .bind(client)
            .bind(since)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// Forgets clients last seen before `before`.
    pub async fn purge_known_clients(&self, before: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM known_clients WHERE seen_at < $1").bind(before).execute(pool).await?;
        });
        Ok(())
    }
}
