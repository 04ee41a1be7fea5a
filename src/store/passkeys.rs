//! Passkeys (SPEC section 7): a user's WebAuthn credentials, the user
//! handle a discoverable one names its account by, and the ceremonies
//! under way (each single use).

use super::{
    Store, StoreError,
    factors::{VOID_ORPHAN_CODES, replace_codes},
    with_pool,
};

/// A passkey as stored. `credential` is the WebAuthn library's own record
/// of it (JSON: the public key, its counter), opaque to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: String,
    pub user_id: i64,
    pub credential_id: Vec<u8>,
    pub name: String,
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// What adding a passkey came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasskeyAdded {
    /// Added; `true` when it is the user's first factor (the recovery
    /// codes given were stored).
    Added(bool),
    /// Its credential id is registered already (to anyone).
    Duplicate,
    /// The user has the most passkeys one may keep.
    TooMany,
}

/// A WebAuthn ceremony taken back: whose it was (none for a passwordless
/// sign-in's) and the library's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ceremony {
    pub user_id: Option<i64>,
    pub state: String,
}

type PasskeyRow = (String, i64, Vec<u8>, String, String, i64, Option<i64>);

fn passkey(
    (id, user_id, credential_id, name, credential, created_at, last_used_at): PasskeyRow,
) -> StoredPasskey {
    StoredPasskey {
        id,
        user_id,
        credential_id,
        name,
        credential,
        created_at,
        last_used_at,
    }
}

impl Store {
    /// The user's WebAuthn user handle, made (from `fresh`) if they had
    /// none.
    pub async fn user_handle(&self, user_id: i64, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (handle,): (Option<Vec<u8>>,) = with_pool!(self, pool => {
            sqlx::query("UPDATE users SET user_handle = $2 WHERE id = $1 AND user_handle IS NULL")
                .bind(user_id)
                .bind(fresh)
                .execute(pool)
                .await?;
            sqlx::query_as("SELECT user_handle FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await?
        });
        handle.ok_or_else(|| StoreError::Corrupt("a user handle was not stored".into()))
    }

    /// The user a WebAuthn user handle names.
    pub async fn user_id_by_handle(&self, handle: &[u8]) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM users WHERE user_handle = $1")
                .bind(handle)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id,)| id))
    }

    /// A user's passkeys, oldest first.
    pub async fn passkeys_of(&self, user_id: i64) -> Result<Vec<StoredPasskey>, StoreError> {
        let rows: Vec<PasskeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, user_id, credential_id, name, credential, created_at, last_used_at \
                 FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(passkey).collect())
    }

    /// Adds a passkey (at most `max` per user). When it is the user's
    /// first factor, `codes` become their recovery codes.
    pub async fn add_passkey(
        &self,
        added: &StoredPasskey,
        codes: &[Vec<u8>],
        max: i64,
    ) -> Result<PasskeyAdded, StoreError> {
        let user_id = added.user_id;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (totp, passkeys): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                 (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            if passkeys >= max {
                return Ok(PasskeyAdded::TooMany);
            }
            let inserted = sqlx::query(
                "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING",
            )
            .bind(&added.id)
            .bind(user_id)
            .bind(&added.credential_id)
            .bind(&added.name)
            .bind(&added.credential)
            .bind(added.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted != 1 {
                return Ok(PasskeyAdded::Duplicate);
            }
            let first = totp == 0 && passkeys == 0;
            if first {
                replace_codes!(tx, user_id, codes);
            }
            tx.commit().await?;
            Ok(PasskeyAdded::Added(first))
        })
    }

    /// Records a passkey's use: its updated credential (the signature
    /// counter) and when.
    pub async fn passkey_used(&self, id: &str, credential: &str, now: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE id = $1")
                .bind(id)
                .bind(credential)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Removes one of the user's passkeys (`false`: they have no such
    /// passkey); recovery codes go with the last factor.
    pub async fn remove_passkey(&self, user_id: i64, id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(VOID_ORPHAN_CODES).bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(removed == 1)
        })
    }

    /// Stores a ceremony under way, replacing the one its holder had.
    pub async fn put_ceremony(
        &self,
        id_hash: &[u8],
        ceremony: &Ceremony,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO webauthn_ceremonies (id_hash, user_id, state, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id_hash) DO UPDATE SET user_id = excluded.user_id, state = excluded.state, \
                 expires_at = excluded.expires_at",
            )
            .bind(id_hash)
            .bind(ceremony.user_id)
            .bind(&ceremony.state)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes a ceremony back, once: it is gone whatever comes of it.
    /// `None` when there is none, or it expired.
    pub async fn take_ceremony(&self, id_hash: &[u8], now: i64) -> Result<Option<Ceremony>, StoreError> {
        let row: Option<(Option<i64>, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("DELETE FROM webauthn_ceremonies WHERE id_hash = $1 RETURNING user_id, state, expires_at")
                .bind(id_hash)
                .fetch_optional(pool)
                .await?
        });
        Ok(row
            .filter(|(_, _, expires_at)| *expires_at > now)
            .map(|(user_id, state, _)| Ceremony { user_id, state }))
    }
}
