//! Refresh tokens (stored as hashes, in families) and revoked access tokens.

use super::{
    Store, StoreError,
    changes::{LOG_ENDING, announce},
    with_pool,
};

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// It was live: it is now used, and the caller may issue the next one
    /// in `family_id` for `user_id`.
    /// `amr`: how the login that started the family was signed in.
    Rotated {
        family_id: String,
        user_id: i64,
        amr: String,
    },
    /// It had been used before: its whole family is now revoked
    /// (RFC 6819 section 5.2.2.3, OAuth 2.0 Security BCP section 4.14).
    Reused { user_id: i64 },
    /// Unknown, expired or revoked, or its family is.
    Invalid,
}

impl Store {
    /// Starts a refresh family at a login, with its first token, in one
    /// transaction. The family ends at `expires_at` whatever its rotations,
    /// and as soon as the user's token version moves past `token_version`.
    pub async fn start_refresh_family(
        &self,
        token_hash: &[u8],
        family_id: &str,
        user_id: i64,
        token_version: i64,
        (amr, client_ip): (&str, Option<&str>),
        (now, expires_at): (i64, i64),
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO refresh_families \
                 (family_id, user_id, token_version, created_at, expires_at, amr, client_ip, seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $4)",
            )
            .bind(family_id)
            .bind(user_id)
            .bind(token_version)
            .bind(now)
            .bind(expires_at)
            .bind(amr)
            .bind(client_ip)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(family_id)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Adds the next token of a family, unless the family was revoked in
    /// the meantime (a concurrent reuse of its parent): `false` then, and
    /// nothing is stored. The token expires with its family.
    pub async fn rotate_refresh_family(
        &self,
        token_hash: &[u8],
        family_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let inserted = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
                 SELECT $1, family_id, user_id, $3, expires_at FROM refresh_families \
                 WHERE family_id = $2 AND revoked_at IS NULL AND expires_at > $3",
            )
            .bind(token_hash)
            .bind(family_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("UPDATE refresh_families SET seen_at = $2 WHERE family_id = $1")
                .bind(family_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            inserted
        });
        Ok(inserted == 1)
    }

    /// Marks the refresh token used, atomically: of two concurrent uses of
    /// one token, exactly one rotates and the other counts as reuse. A
    /// token is live only while its family is: not revoked, not past its
    /// absolute end, started under the user's current token version, and
    /// the user enabled (RFC 9700 section 4.14.2; ASVS 5.0 7.4.2, 7.4.3).
    pub async fn use_refresh_token(&self, token_hash: &[u8], now: i64) -> Result<RefreshUse, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let claimed: Option<(String, i64)> = sqlx::query_as(
                "UPDATE refresh_tokens SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                 AND family_id IN (SELECT f.family_id FROM refresh_families f JOIN users u ON u.id = f.user_id \
                     WHERE f.revoked_at IS NULL AND f.expires_at > $2 \
                     AND f.token_version = u.token_version AND u.disabled = 0) \
                 RETURNING family_id, user_id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = if let Some((family_id, user_id)) = claimed {
                let (amr,): (String,) = sqlx::query_as("SELECT amr FROM refresh_families WHERE family_id = $1")
                    .bind(&family_id)
                    .fetch_one(&mut *tx)
                    .await?;
                RefreshUse::Rotated { family_id, user_id, amr }
            } else {
                let used: Option<(String, i64)> = sqlx::query_as(
                    "SELECT family_id, user_id FROM refresh_tokens \
                     WHERE token_hash = $1 AND used_at IS NOT NULL",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                match used {
                    Some((family_id, user_id)) => {
                        // The whole family, at family level: a child that a
                        // concurrent use is issuing right now dies with it.
                        sqlx::query(
                            "UPDATE refresh_families SET revoked_at = $2 \
                             WHERE family_id = $1 AND revoked_at IS NULL",
                        )
                        .bind(&family_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        RefreshUse::Reused { user_id }
                    }
                    None => RefreshUse::Invalid,
                }
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Revokes the family of the refresh token with this hash. True if
    /// there is such a token (revoked before or not).
    pub async fn revoke_refresh_family(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        let family: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(pool)
                .await?
        });
        let Some((family_id,)) = family else {
            return Ok(false);
        };
        with_pool!(self, pool => {
            sqlx::query("UPDATE refresh_families SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                .bind(&family_id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(true)
    }

    /// Records an access token as revoked until it expires, and logs it.
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64, now: i64) -> Result<(), StoreError> {
        let notify = self.notify_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO revoked_access_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted > 0 {
                sqlx::query(LOG_ENDING)
                    .bind(now)
                    .bind("revoked")
                    .bind(jti)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                announce!(tx, notify);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Access tokens revoked that have not expired at `now`.
    pub async fn revoked_access_tokens(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as("SELECT jti, expires_at FROM revoked_access_tokens WHERE expires_at > $1")
                .bind(now)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Forgets what can no longer matter: expired refresh tokens and
    /// revocations of expired access tokens.
    pub async fn purge_expired_tokens(&self, now: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1").bind(now).execute(pool).await?;
            sqlx::query("DELETE FROM refresh_families WHERE expires_at <= $1").bind(now).execute(pool).await?;
            sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at <= $1").bind(now).execute(pool).await?;
        });
        Ok(())
    }
}
