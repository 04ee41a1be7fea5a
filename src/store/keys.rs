//! Token signing keys. The private half is stored sealed (see
//! `auth::keys`); the store only keeps bytes.

use super::{Store, StoreError, with_pool};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    pub sealed_private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

type KeyRow = (String, String, Vec<u8>, String, i64, Option<i64>, Option<i64>);

impl Store {
    /// Every key that may still verify a token at `now`, newest first.
    pub async fn live_keys(&self, now: i64) -> Result<Vec<StoredKey>, StoreError> {
        let rows: Vec<KeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kid, algorithm, private_key, public_jwk, created_at, retired_at, expires_at \
                 FROM signing_keys WHERE expires_at IS NULL OR expires_at > $1 \
                 ORDER BY created_at DESC, kid DESC",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(kid, algorithm, sealed_private_key, public_jwk, created_at, retired_at, expires_at)| {
                    StoredKey {
                        kid,
                        algorithm,
                        sealed_private_key,
                        public_jwk,
                        created_at,
                        retired_at,
                        expires_at,
                    }
                },
            )
            .collect())
    }

    /// Makes `key` the signing key: every other signing key is retired at
    /// `key.created_at` and expires at `old_keys_expire_at`, when the last
    /// token it signed has expired. One transaction.
    pub async fn rotate_to(&self, key: &StoredKey, old_keys_expire_at: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE retired_at IS NULL",
            )
            .bind(key.created_at)
            .bind(old_keys_expire_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.sealed_private_key)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes keys that can no longer verify any token.
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
