//! Leases: at most one holder of a named duty at a time, across instances
//! sharing the database (e.g. key rotation).

use super::{Store, StoreError, with_pool};

impl Store {
    /// Takes or renews the lease `name` for `holder` until `expires_at`.
    /// True when `holder` holds it afterwards.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let affected = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
            )
            .bind(name)
            .bind(holder)
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected > 0)
    }
}
