//! Second factors (SPEC section 7): a user's TOTP factor, passkeys and
//! recovery codes, and the sign-ins waiting for a second factor.

use super::{
    Store, StoreError,
    changes::{LOG_USER, announce},
    users::REVOKE_FAMILIES,
    with_pool,
};

/// A user's TOTP factor as stored: the sealed secret, whether a code
/// confirmed it, and the last time step a code was accepted for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTotp {
    pub sealed_secret: Vec<u8>,
    pub confirmed: bool,
    pub last_step: i64,
}

/// Which factors a user has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactorCounts {
    pub totp: bool,
    pub passkeys: i64,
    pub recovery_codes: i64,
}

impl FactorCounts {
    /// Whether the user has a second factor (recovery codes are a way back
    /// in, not a factor).
    pub fn any(self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// A sign-in waiting for its second factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignIn {
    pub user_id: i64,
    /// The user's token version when the password was checked: a change
    /// since ends the pending sign-in.
    pub token_version: i64,
    /// The pre-session of the browser it belongs to, if a browser's.
    pub binding: Option<Vec<u8>>,
    pub failures: i64,
}

/// Pending sign-ins one user keeps at most.
pub const MAX_PENDING_PER_USER: i64 = 5;

/// Deletes a user's recovery codes when no factor is left to recover.
pub(super) const VOID_ORPHAN_CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
     AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)";

/// Replaces a user's recovery codes (their hashes) within `$tx`.
macro_rules! replace_codes {
    ($tx:ident, $user_id:expr, $codes:expr) => {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($user_id)
            .execute(&mut *$tx)
            .await?;
        for hash in $codes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind($user_id)
                .bind(hash)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(super) use replace_codes;

impl Store {
    pub async fn factor_counts(&self, user_id: i64) -> Result<FactorCounts, StoreError> {
        let (totp, passkeys, recovery_codes): (i64, i64, i64) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT \
                 (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                 (SELECT COUNT(*) FROM passkeys WHERE user_id = $1), \
                 (SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1)",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await?
        });
        Ok(FactorCounts {
            totp: totp > 0,
            passkeys,
            recovery_codes,
        })
    }

    /// Stores a pending TOTP secret, replacing an earlier pending one;
    /// `false` when TOTP is on already.
    pub async fn set_pending_totp(
        &self,
        user_id: i64,
        sealed_secret: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let stored = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, \
                 last_step = 0 WHERE totp_factors.confirmed_at IS NULL",
            )
            .bind(user_id)
            .bind(sealed_secret)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(stored == 1)
    }

    pub async fn totp(&self, user_id: i64) -> Result<Option<StoredTotp>, StoreError> {
        let row: Option<(Vec<u8>, Option<i64>, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT secret, confirmed_at, last_step FROM totp_factors WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(sealed_secret, confirmed_at, last_step)| StoredTotp {
            sealed_secret,
            confirmed: confirmed_at.is_some(),
            last_step,
        }))
    }

    /// Turns the pending TOTP factor on, its code's `step` spent. When it
    /// is the user's first factor, `codes` become their recovery codes
    /// (`true` then). `None` when nothing was pending.
    pub async fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        codes: &[Vec<u8>],
        now: i64,
    ) -> Result<Option<bool>, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let confirmed = sqlx::query(
                "UPDATE totp_factors SET confirmed_at = $2, last_step = $3 \
                 WHERE user_id = $1 AND confirmed_at IS NULL",
            )
            .bind(user_id)
            .bind(now)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if confirmed != 1 {
                return Ok(None);
            }
            let (passkeys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
            let first = passkeys == 0;
            if first {
                replace_codes!(tx, user_id, codes);
            }
            tx.commit().await?;
            Ok(Some(first))
        })
    }

    /// Spends a TOTP time step: `false` when it (or a later one) was spent
    /// already, so a code works once.
    pub async fn spend_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let spent = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE totp_factors SET last_step = $2 \
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
            )
            .bind(user_id)
            .bind(step)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(spent == 1)
    }

    /// Removes the TOTP factor (pending or on); recovery codes go with the
    /// last factor.
    pub async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(VOID_ORPHAN_CODES).bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(removed == 1)
        })
    }

    /// Replaces the user's recovery codes; `false` (nothing changed) when
    /// the user has no factor.
    pub async fn replace_recovery_codes(&self, user_id: i64, codes: &[Vec<u8>]) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (factors,): (i64,) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
                 + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            if factors == 0 {
                return Ok(false);
            }
            replace_codes!(tx, user_id, codes);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Spends a recovery code: `false` when the user has no such code.
    pub async fn spend_recovery_code(&self, user_id: i64, hash: &[u8]) -> Result<bool, StoreError> {
        let spent = with_pool!(self, pool => {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2")
                .bind(user_id)
                .bind(hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(spent == 1)
    }

    /// Removes every factor and recovery code of a user and ends what their
    /// credentials made (sessions, refresh families, access tokens by
    /// their token version): the lost phone. `false`: no such user.
    pub async fn reset_factors(&self, user_id: i64, now: i64) -> Result<bool, StoreError> {
        let notify = self.notify_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE users SET token_version = token_version + 1, updated_at = $2 WHERE id = $1",
            )
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed != 1 {
                return Ok(false);
            }
            for delete in [
                "DELETE FROM totp_factors WHERE user_id = $1",
                "DELETE FROM passkeys WHERE user_id = $1",
                "DELETE FROM recovery_codes WHERE user_id = $1",
                "DELETE FROM pending_sign_ins WHERE user_id = $1",
                "DELETE FROM sessions WHERE user_id = $1",
            ] {
                sqlx::query(delete)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(REVOKE_FAMILIES).bind(user_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(LOG_USER).bind(user_id).bind(now).execute(&mut *tx).await?;
            announce!(tx, notify);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Stores a pending sign-in. A user keeps at most
    /// [`MAX_PENDING_PER_USER`]: a right password sent again and again
    /// (each one refunds its login attempt) replaces the oldest instead of
    /// growing the table.
    pub async fn insert_pending_sign_in(
        &self,
        token_hash: &[u8],
        pending: &PendingSignIn,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM pending_sign_ins WHERE user_id = $1 AND token_hash NOT IN \
                 (SELECT token_hash FROM pending_sign_ins WHERE user_id = $1 \
                  ORDER BY expires_at DESC LIMIT $2)",
            )
            .bind(pending.user_id)
            .bind(MAX_PENDING_PER_USER - 1)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO pending_sign_ins (token_hash, user_id, token_version, binding, failures, expires_at) \
                 VALUES ($1, $2, $3, $4, 0, $5)",
            )
            .bind(token_hash)
            .bind(pending.user_id)
            .bind(pending.token_version)
            .bind(pending.binding.as_deref())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A user's pending sign-ins, live or not yet purged.
    pub async fn pending_sign_ins_of(&self, user_id: i64) -> Result<i64, StoreError> {
        let (count,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM pending_sign_ins WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await?
        });
        Ok(count)
    }

    /// The pending sign-in of this token hash, unless it expired.
    pub async fn pending_sign_in(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let row: Option<(i64, i64, Option<Vec<u8>>, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT user_id, token_version, binding, failures FROM pending_sign_ins \
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(
            row.map(|(user_id, token_version, binding, failures)| PendingSignIn {
                user_id,
                token_version,
                binding,
                failures,
            }),
        )
    }

    /// Counts a wrong code against a pending sign-in; at `max` wrong codes
    /// it ends. `true` while it lives on.
    pub async fn fail_pending_sign_in(&self, token_hash: &[u8], max: i64) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let failures: Option<(i64,)> = sqlx::query_as(
                "UPDATE pending_sign_ins SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures",
            )
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let alive = failures.is_some_and(|(failures,)| failures < max);
            if !alive {
                sqlx::query("DELETE FROM pending_sign_ins WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(alive)
        })
    }

    /// Ends a pending sign-in (its second factor was shown): `false` when
    /// another request took it first.
    pub async fn take_pending_sign_in(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
        let taken = with_pool!(self, pool => {
            sqlx::query("DELETE FROM pending_sign_ins WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(taken == 1)
    }

    /// Deletes pending sign-ins and WebAuthn ceremonies past their time.
    pub async fn purge_expired_sign_ins(&self, now: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at <= $1").bind(now).execute(pool).await?;
            sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1").bind(now).execute(pool).await?;
        });
        Ok(())
    }
}
