//! Users and their roles.

use sqlx::Row;

use super::{
    Store, StoreError,
    changes::{LOG_USER, announce},
    now_ms, with_pool,
};
use crate::names::{Role, Username};

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub token_version: i64,
    pub created_at: i64,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: Username,
    pub password_hash: String,
    pub roles: Vec<Role>,
}

/// What a change of roles or enabled state did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserChange {
    Done(UserRecord),
    NoSuchUser,
    /// Refused: it would leave no enabled admin.
    LastAdmin,
}

/// What token verification needs to know of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserState {
    pub token_version: i64,
    pub disabled: bool,
}

/// What creating the first admin did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    Created(UserRecord),
    /// Refused: a user holds the `admin` role already.
    AdminExists,
    /// Refused: the name is taken (in any case).
    Taken,
}

/// Starts a transaction that checks admins: writing this row takes SQLite's
/// write lock, and a row lock on PostgreSQL, so every such transaction,
/// from any instance on the database, runs after the last one committed.
const ADMIN_GUARD: &str = "INSERT INTO leases (name, holder, expires_at) VALUES ('admin-guard', '', 0) \
                           ON CONFLICT (name) DO UPDATE SET expires_at = leases.expires_at + 1";

pub(super) const INSERT_USER: &str = "INSERT INTO users (username, username_key, password_hash, created_at, updated_at) \
                           VALUES ($1, $2, $3, $4, $4) RETURNING id";
pub(super) const INSERT_ROLE: &str =
    "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING";

const SELECT_USER: &str = "SELECT id, username, password_hash, disabled, token_version, created_at \
                           FROM users WHERE username_key = $1";

impl NewUser {
    /// The record of this user, stored as `id` at `now`.
    pub(super) fn created(&self, id: i64, now: i64) -> UserRecord {
        UserRecord {
            id,
            username: self.username.as_str().to_owned(),
            password_hash: self.password_hash.clone(),
            roles: sorted(self.roles.iter().map(|r| r.as_str().to_owned()).collect()),
            disabled: false,
            token_version: 0,
            created_at: now,
        }
    }
}

impl Store {
    /// Creates a user; `Ok(None)` when the name is taken (in any case).
    pub async fn create_user(&self, user: &NewUser) -> Result<Option<UserRecord>, StoreError> {
        match self.create_users(std::slice::from_ref(user)).await {
            Ok(mut created) => Ok(created.pop()),
            Err((_, err)) if err.is_unique_violation() => Ok(None),
            Err((_, err)) => Err(err),
        }
    }

    /// Creates every user in one transaction: all or none. On failure, says
    /// which user (by index) failed.
    pub async fn create_users(
        &self,
        users: &[NewUser],
    ) -> Result<Vec<UserRecord>, (Option<usize>, StoreError)> {
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(|e| (None, e.into()))?;
            let mut created = Vec::with_capacity(users.len());
            for (index, user) in users.iter().enumerate() {
                let row = sqlx::query(INSERT_USER)
                .bind(user.username.as_str())
                .bind(user.username.key())
                .bind(&user.password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| (Some(index), e.into()))?;
                let id: i64 = row.try_get(0).map_err(|e| (Some(index), e.into()))?;
                for role in &user.roles {
                    sqlx::query(INSERT_ROLE)
                        .bind(id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| (Some(index), e.into()))?;
                }
                created.push(user.created(id, now));
            }
            tx.commit().await.map_err(|e| (None, e.into()))?;
            Ok(created)
        })
    }

    /// Creates `user` as the first admin (SPEC section 3, "First run"):
    /// only while no user holds the `admin` role. The check and the insert
    /// are one transaction behind the `admin-guard` row ([`ADMIN_GUARD`]),
    /// so however many instances print a setup link and however many forms
    /// arrive at once, exactly one first admin is created.
    pub async fn create_first_admin(&self, user: &NewUser) -> Result<FirstAdmin, StoreError> {
        let now = now_ms();
        let created = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(ADMIN_GUARD).execute(&mut *tx).await?;
            let admin: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM user_roles WHERE role = $1 LIMIT 1")
                .bind(Role::ADMIN)
                .fetch_optional(&mut *tx)
                .await?;
            if admin.is_some() {
                return Ok(FirstAdmin::AdminExists);
            }
            let inserted = sqlx::query(INSERT_USER)
                .bind(user.username.as_str())
                .bind(user.username.key())
                .bind(&user.password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await;
            let id: i64 = match inserted {
                Ok(row) => row.try_get(0)?,
                Err(err) => {
                    let err = StoreError::from(err);
                    return if err.is_unique_violation() { Ok(FirstAdmin::Taken) } else { Err(err) };
                }
            };
            for role in &user.roles {
                sqlx::query(INSERT_ROLE).bind(id).bind(role.as_str()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            id
        });
        Ok(FirstAdmin::Created(user.created(created, now)))
    }

    /// The user called `username` (compared case-insensitively).
    pub async fn find_user(&self, username: &Username) -> Result<Option<UserRecord>, StoreError> {
        self.user_with_key(&username.key()).await
    }

    /// The user whose lower-case name is `key`.
    async fn user_with_key(&self, key: &str) -> Result<Option<UserRecord>, StoreError> {
        with_pool!(self, pool => {
            let Some(row) = sqlx::query(SELECT_USER).bind(key).fetch_optional(pool).await? else {
                return Ok(None);
            };
            let id: i64 = row.try_get("id")?;
            let roles: Vec<(String,)> = sqlx::query_as("SELECT role FROM user_roles WHERE user_id = $1")
                .bind(id)
                .fetch_all(pool)
                .await?;
            Ok(Some(UserRecord {
                id,
                username: row.try_get("username")?,
                password_hash: row.try_get("password_hash")?,
                roles: sorted(roles.into_iter().map(|(r,)| r).collect()),
                disabled: row.try_get::<i64, _>("disabled")? != 0,
                token_version: row.try_get("token_version")?,
                created_at: row.try_get("created_at")?,
            }))
        })
    }

    /// The user with this id.
    pub async fn find_user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let key: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT username_key FROM users WHERE id = $1").bind(id).fetch_optional(pool).await?
        });
        match key {
            Some((key,)) => self.user_with_key(&key).await,
            None => Ok(None),
        }
    }

    /// Whether any user holds the `admin` role (enabled or not).
    pub async fn has_admin(&self) -> Result<bool, StoreError> {
        let found: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT user_id FROM user_roles WHERE role = $1 LIMIT 1")
                .bind(Role::ADMIN)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let keys: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT username_key FROM users ORDER BY username_key").fetch_all(pool).await?
        });
        let mut users = Vec::with_capacity(keys.len());
        for (key,) in keys {
            if let Some(user) = self.user_with_key(&key).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// Up to `limit` users whose name contains `part` (any case), by name.
    pub async fn search_users(&self, part: &str, limit: i64) -> Result<Vec<UserRecord>, StoreError> {
        // `LIKE` with its wildcards escaped: the part is matched as text.
        let escaped: String = part
            .to_lowercase()
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        let keys: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT username_key FROM users WHERE username_key LIKE $1 ESCAPE '\\' \
                 ORDER BY username_key LIMIT $2",
            )
            .bind(&pattern)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        let mut users = Vec::with_capacity(keys.len());
        for (key,) in keys {
            if let Some(user) = self.user_with_key(&key).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// How many users there are.
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let (count,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pool).await?
        });
        Ok(count)
    }

    /// Replaces a user's roles; earlier tokens stop working.
    pub async fn set_roles(&self, username: &Username, roles: &[Role]) -> Result<UserChange, StoreError> {
        self.change_user(username, Some(roles), None).await
    }

    /// Disables or enables a user; earlier tokens stop working either way.
    pub async fn set_disabled(&self, username: &Username, disabled: bool) -> Result<UserChange, StoreError> {
        self.change_user(username, None, Some(disabled)).await
    }

    /// Applies a change of roles or enabled state in one transaction that
    /// refuses to leave no enabled admin. The transaction starts by writing
    /// the `admin-guard` lease row ([`ADMIN_GUARD`]), so concurrent changes
    /// are checked one at a time.
    async fn change_user(
        &self,
        username: &Username,
        roles: Option<&[Role]>,
        disabled: Option<bool>,
    ) -> Result<UserChange, StoreError> {
        let key = username.key();
        let now = now_ms();
        let notify = self.notify_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(ADMIN_GUARD).execute(&mut *tx).await?;
            let row: Option<(i64, i64, i64)> = sqlx::query_as(
                "SELECT id, disabled, (SELECT COUNT(*) FROM user_roles r WHERE r.user_id = users.id AND r.role = $2) \
                 FROM users WHERE username_key = $1",
            )
            .bind(&key)
            .bind(Role::ADMIN)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id, was_disabled, admin_roles)) = row else {
                return Ok(UserChange::NoSuchUser);
            };
            let enabled_admin_before = was_disabled == 0 && admin_roles > 0;
            let enabled_after = disabled.map_or(was_disabled == 0, |d| !d);
            let admin_after = roles.map_or(admin_roles > 0, |r| r.iter().any(|role| role.as_str() == Role::ADMIN));
            if enabled_admin_before && !(enabled_after && admin_after) {
                let (others,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM users u WHERE u.id <> $1 AND u.disabled = 0 AND EXISTS \
                     (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = $2)",
                )
                .bind(id)
                .bind(Role::ADMIN)
                .fetch_one(&mut *tx)
                .await?;
                if others == 0 {
                    return Ok(UserChange::LastAdmin);
                }
            }
            sqlx::query(
                "UPDATE users SET disabled = $2, token_version = token_version + 1, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(i64::from(!enabled_after))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if !enabled_after {
                // Disabling ends what the user's credentials made: sessions
                // and refresh families; enabling again revives none
                // (ASVS 5.0 7.4.2).
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query(REVOKE_FAMILIES).bind(id).bind(now).execute(&mut *tx).await?;
            }
            if let Some(roles) = roles {
                sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                for role in roles {
                    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query(LOG_USER).bind(id).bind(now).execute(&mut *tx).await?;
            announce!(tx, notify);
            tx.commit().await?;
        });
        Ok(match self.find_user(username).await? {
            Some(user) => UserChange::Done(user),
            None => UserChange::NoSuchUser,
        })
    }

    /// Stores a new password hash. With `invalidate_tokens` (a password
    /// change) earlier tokens stop working; without (a rehash at login of
    /// the same password) nothing else changes.
    pub async fn set_password_hash(
        &self,
        user_id: i64,
        hash: &str,
        invalidate_tokens: bool,
    ) -> Result<(), StoreError> {
        let sql = if invalidate_tokens {
            "UPDATE users SET password_hash = $2, token_version = token_version + 1, updated_at = $3 \
             WHERE id = $1 RETURNING id"
        } else {
            "UPDATE users SET password_hash = $2 WHERE id = $1 AND $3 = $3 RETURNING id"
        };
        let now = now_ms();
        let notify = self.notify_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed: Option<(i64,)> = sqlx::query_as(sql)
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let (true, Some((id,))) = (invalidate_tokens, changed) {
                // A password change also ends every browser session (OWASP
                // Session Management cheat sheet, "Renew the session ID")
                // and every refresh family (RFC 9700 section 4.14.2).
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query(REVOKE_FAMILIES).bind(id).bind(now).execute(&mut *tx).await?;
                sqlx::query(LOG_USER).bind(id).bind(now).execute(&mut *tx).await?;
                announce!(tx, notify);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every user whose token state is not the initial one, by username
    /// key (what an instance knows at start; later changes come from the
    /// change log).
    pub async fn user_states(&self) -> Result<Vec<(String, UserState)>, StoreError> {
        let rows: Vec<(String, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT username_key, token_version, disabled FROM users \
                 WHERE token_version > 0 OR disabled <> 0",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(name, version, disabled)| {
                (
                    name,
                    UserState {
                        token_version: version,
                        disabled: disabled != 0,
                    },
                )
            })
            .collect())
    }
}

/// Ends every refresh family of a user (`$1`, at `$2`), inside the
/// transaction that changes the user.
pub(super) const REVOKE_FAMILIES: &str =
    "UPDATE refresh_families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";

fn sorted(mut roles: Vec<String>) -> Vec<String> {
    roles.sort();
    roles.dedup();
    roles
}
