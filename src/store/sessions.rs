//! Browser sessions, stored by the SHA-256 of their cookie value.

use super::{Store, StoreError, with_pool};

/// A stored session, with what a request needs of its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: i64,
    pub created_at: i64,
    pub seen_at: i64,
    pub username: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    /// How the user signed in: RFC 8176 names, space-separated.
    pub amr: String,
}

impl Store {
    /// Stores a session, in the same statement that checks the user is
    /// still enabled at `token_version`: a password change or disabling
    /// that commits between the password check and this insert (and so
    /// deleted the user's sessions before this one existed) makes it insert
    /// nothing. `false` then.
    pub async fn insert_session(
        &self,
        id_hash: &[u8],
        (user_id, token_version): (i64, i64),
        (amr, client_ip): (&str, &str),
        now: i64,
    ) -> Result<bool, StoreError> {
        let inserted = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, seen_at, amr, client_ip) \
                 SELECT $1, id, $3, $3, $5, $6 FROM users WHERE id = $2 AND token_version = $4 AND disabled = 0",
            )
            .bind(id_hash)
            .bind(user_id)
            .bind(now)
            .bind(token_version)
            .bind(amr)
            .bind(client_ip)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }

    /// The session with this id hash and its user, in one query (a
    /// request with a session cookie costs one round trip before the
    /// rate limit).
    pub async fn find_session(&self, id_hash: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        // One row per role (a user without roles gives one row, role NULL):
        // user id, created, seen, name, disabled, amr, role.
        type Row = (i64, i64, i64, String, i64, String, Option<String>);
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT s.user_id, s.created_at, s.seen_at, u.username, u.disabled, s.amr, r.role \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 LEFT JOIN user_roles r ON r.user_id = u.id \
                 WHERE s.id_hash = $1",
            )
            .bind(id_hash)
            .fetch_all(pool)
            .await?
        });
        let Some((user_id, created_at, seen_at, username, disabled, amr, _)) = rows.first().cloned() else {
            return Ok(None);
        };
        let mut roles: Vec<String> = rows.into_iter().filter_map(|row| row.6).collect();
        roles.sort();
        Ok(Some(SessionRecord {
            user_id,
            created_at,
            seen_at,
            username,
            roles,
            disabled: disabled != 0,
            amr,
        }))
    }

    /// Records activity, for the idle time-out.
    pub async fn touch_session(&self, id_hash: &[u8], now: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(pool).await?;
        });
        Ok(())
    }

    /// Deletes sessions idle since `idle_before` or started before `started_before`.
    pub async fn purge_expired_sessions(
        &self,
        idle_before: i64,
        started_before: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE seen_at <= $1 OR created_at <= $2")
                .bind(idle_before)
                .bind(started_before)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// How many sessions of `user_id` are open (seen after `idle_after`,
    /// started after `started_after`), and how many refresh families (not
    /// revoked, not expired at `now`, started under the user's current
    /// token version).
    pub async fn count_open_credentials(
        &self,
        user_id: i64,
        (idle_after, started_after): (i64, i64),
        now: i64,
    ) -> Result<(i64, i64), StoreError> {
        let counts: (i64, i64) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT \
                 (SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND seen_at > $2 AND created_at > $3), \
                 (SELECT COUNT(*) FROM refresh_families f JOIN users u ON u.id = f.user_id \
                  WHERE f.user_id = $1 AND f.revoked_at IS NULL AND f.expires_at > $4 \
                  AND f.token_version = u.token_version)",
            )
            .bind(user_id)
            .bind(idle_after)
            .bind(started_after)
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        Ok(counts)
    }

    /// How many sessions are open, of every user (as
    /// [`Self::count_open_credentials`] counts them).
    pub async fn count_all_open_sessions(
        &self,
        (idle_after, started_after): (i64, i64),
    ) -> Result<i64, StoreError> {
        let (count,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE seen_at > $1 AND created_at > $2")
                .bind(idle_after)
                .bind(started_after)
                .fetch_one(pool)
                .await?
        });
        Ok(count)
    }

    /// The open sessions and refresh families of `user_id` (as
    /// [`Self::count_open_credentials`] counts them), newest first.
    pub async fn list_open_credentials(
        &self,
        user_id: i64,
        (idle_after, started_after): (i64, i64),
        now: i64,
    ) -> Result<Vec<OpenCredential>, StoreError> {
        let sessions: Vec<(Vec<u8>, i64, i64, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id_hash, created_at, seen_at, client_ip FROM sessions \
                 WHERE user_id = $1 AND seen_at > $2 AND created_at > $3",
            )
            .bind(user_id)
            .bind(idle_after)
            .bind(started_after)
            .fetch_all(pool)
            .await?
        });
        let families: Vec<(String, i64, Option<i64>, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT f.family_id, f.created_at, f.seen_at, f.client_ip \
                 FROM refresh_families f JOIN users u ON u.id = f.user_id \
                 WHERE f.user_id = $1 AND f.revoked_at IS NULL AND f.expires_at > $2 \
                 AND f.token_version = u.token_version",
            )
            .bind(user_id)
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        let mut open: Vec<OpenCredential> = sessions
            .into_iter()
            .map(|(id_hash, created_at, seen_at, client_ip)| OpenCredential {
                kind: CredentialKind::Session(id_hash),
                created_at,
                last_seen_at: seen_at,
                client_ip,
            })
            .chain(
                families
                    .into_iter()
                    .map(|(family_id, created_at, seen_at, client_ip)| OpenCredential {
                        kind: CredentialKind::RefreshFamily(family_id),
                        created_at,
                        last_seen_at: seen_at.unwrap_or(created_at),
                        client_ip,
                    }),
            )
            .collect();
        open.sort_by_key(|credential| std::cmp::Reverse(credential.created_at));
        Ok(open)
    }

    /// The user of the session with this id hash, if it exists.
    pub async fn session_owner(&self, id_hash: &[u8]) -> Result<Option<i64>, StoreError> {
        let owner: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT user_id FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(pool)
                .await?
        });
        Ok(owner.map(|(user_id,)| user_id))
    }

    /// Revokes the refresh family `family_id` (already revoked: still
    /// revoked); its owner's id, or `None` if there is no such family.
    pub async fn revoke_family_by_id(&self, family_id: &str, now: i64) -> Result<Option<i64>, StoreError> {
        let owner: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, $2) WHERE family_id = $1 \
                 RETURNING user_id",
            )
            .bind(family_id)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(owner.map(|(user_id,)| user_id))
    }
}

/// A session or refresh family that is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCredential {
    pub kind: CredentialKind,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms: a session's last request, a family's last rotation (or its
    /// start).
    pub last_seen_at: i64,
    /// Where it started; none for one from before this was kept.
    pub client_ip: Option<String>,
}

/// Which kind, and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A browser session, by the SHA-256 of its cookie.
    Session(Vec<u8>),
    RefreshFamily(String),
}
