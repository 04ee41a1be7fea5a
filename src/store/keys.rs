//! Token signing keys. The private half is stored sealed (see
//! `auth::keys`); the store only keeps bytes.

use super::{Store, StoreError, with_pool};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    pub sealed_private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    /// When it starts (or started) signing; until then it only verifies
    /// and is published.
    pub signs_from: i64,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl Store {
    /// Every key that may still verify a token at `now`, newest first.
    pub async fn live_keys(&self, now: i64) -> Result<Vec<StoredKey>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kid, algorithm, private_key AS sealed_private_key, public_jwk, created_at, \
                 COALESCE(signs_from, created_at) AS signs_from, retired_at, expires_at \
                 FROM signing_keys WHERE expires_at IS NULL OR expires_at > $1 \
                 ORDER BY COALESCE(signs_from, created_at) DESC, kid DESC",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Makes `key` the signing key from `key.signs_from`: every key signing
    /// now is retired then and expires at `old_keys_expire_at`, when the
    /// last token it signed has expired; with `revoke_old`, every other key
    /// is deleted instead (nothing it signed verifies). One transaction.
    pub async fn rotate_to(
        &self,
        key: &StoredKey,
        old_keys_expire_at: i64,
        revoke_old: bool,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if revoke_old {
                // A leaked key: nothing it signed may verify any more.
                sqlx::query("DELETE FROM signing_keys").execute(&mut *tx).await?;
            }
            // The keys signing now stop when the new one starts.
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE retired_at IS NULL",
            )
            .bind(key.signs_from)
            .bind(old_keys_expire_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk, created_at, signs_from) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.sealed_private_key)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.signs_from)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the key `kid`: nothing it signed verifies any more.
    /// Whether there was one.
    pub async fn delete_key(&self, kid: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => {
            sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted == 1)
    }

    pub async fn delete_expired_keys(&self, now: i64) -> Result<u64, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query("DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
