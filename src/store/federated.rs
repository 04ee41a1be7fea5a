//! Accounts linked to an OpenID Connect provider's (issuer, subject)
//! (SPEC section 8): found by that pair, created at the first sign-in, and
//! never linked to another account by email.

use sqlx::Row;

use super::{
    NewUser, Store, StoreError, UserRecord, now_ms,
    users::{INSERT_ROLE, INSERT_USER},
    with_pool,
};
use crate::names::Username;

/// The password hash of an account with no password: no hash parses as
/// it, so no password matches it.
pub const NO_PASSWORD: &str = "!";

/// How many names an account's first sign-in tries (`name`, `name-2`, ...)
/// before it gives up.
const MAX_NAME_TRIES: u32 = 50;

impl Store {
    /// The account linked to `(issuer, subject)`.
    pub async fn federated_user(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT user_id FROM federated_identities WHERE issuer = $1 AND subject = $2")
                .bind(issuer)
                .bind(subject)
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some((id,)) => self.find_user_by_id(id).await,
            None => Ok(None),
        }
    }

    /// Creates the account of `(issuer, subject)`, with no password, named
    /// `wanted` or, when that is taken, `wanted-2`, `wanted-3`... Another
    /// request that linked the same pair first wins: its account is
    /// answered.
    pub async fn create_federated_user(
        &self,
        issuer: &str,
        subject: &str,
        provider: &str,
        wanted: &Username,
        roles: &[crate::names::Role],
    ) -> Result<UserRecord, StoreError> {
        for attempt in 1..=MAX_NAME_TRIES {
            let username = if attempt == 1 {
                wanted.clone()
            } else {
                wanted.with_suffix(attempt)
            };
            let user = NewUser {
                username,
                password_hash: NO_PASSWORD.to_owned(),
                roles: roles.to_vec(),
            };
            match self.insert_federated(issuer, subject, provider, &user).await {
                Ok(created) => return Ok(created),
                Err(err) if err.is_unique_violation() => {
                    // Linked meanwhile by another sign-in, or the name is
                    // taken: which one decides what comes next.
                    if let Some(linked) = self.federated_user(issuer, subject).await? {
                        return Ok(linked);
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Corrupt(format!(
            "no free username from {:?} after {MAX_NAME_TRIES} tries",
            wanted.as_str()
        )))
    }

    async fn insert_federated(
        &self,
        issuer: &str,
        subject: &str,
        provider: &str,
        user: &NewUser,
    ) -> Result<UserRecord, StoreError> {
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(INSERT_USER)
                .bind(user.username.as_str())
                .bind(user.username.key())
                .bind(&user.password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let id: i64 = row.try_get(0)?;
            for role in &user.roles {
                sqlx::query(INSERT_ROLE).bind(id).bind(role.as_str()).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO federated_identities (issuer, subject, user_id, provider, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(issuer)
            .bind(subject)
            .bind(id)
            .bind(provider)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(user.created(id, now))
        })
    }
}
