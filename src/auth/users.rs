//! User accounts, as the routes and the command line both use them: create
//! a user under the password policy, check a password, change a password,
//! roles or enabled state. Changes that end earlier tokens are applied to
//! this instance's invalidation state at once, when it has one (the
//! server); another process (the command line) leaves them to the server's
//! refresh.

use std::sync::Arc;

use secrecy::SecretString;

use super::{
    invalidation::Invalidations,
    password::{HashError, NewPasswordError, PasswordHasher, PasswordRejection, Verified},
};
use crate::{
    names::{Role, Username},
    store::{FirstAdmin, NewUser, Store, StoreError, UserChange, UserRecord, UserState},
};

#[derive(Debug, thiserror::Error)]
pub enum NewUserError {
    #[error("username is taken")]
    Taken,
    #[error(transparent)]
    Password(#[from] PasswordRejection),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<NewPasswordError> for NewUserError {
    fn from(err: NewPasswordError) -> Self {
        match err {
            NewPasswordError::Rejected(rejection) => Self::Password(rejection),
            NewPasswordError::Hash(err) => Self::Hash(err),
        }
    }
}

/// Why a password check found no user.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Unknown user, wrong password or a disabled user: the client learns
    /// nothing more.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user accounts.
pub struct Users {
    store: Store,
    hasher: PasswordHasher,
    invalidations: Option<Arc<Invalidations>>,
    /// `auth.issuer`, a word no password may be built from.
    issuer: String,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

impl Users {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        invalidations: Option<Arc<Invalidations>>,
        issuer: &str,
    ) -> Self {
        Self {
            store,
            hasher,
            invalidations,
            issuer: issuer.to_owned(),
        }
    }

    /// The enabled user whose password this is. An unknown user costs the
    /// same hashing time as a known one; an imported hash is upgraded.
    pub async fn check_password(
        &self,
        username: &str,
        password: SecretString,
    ) -> Result<UserRecord, CheckError> {
        let user = match Username::parse(username) {
            Ok(name) => self.store.find_user(&name).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verified = self.hasher.verify(password, stored).await?;
        let user = match (user, verified) {
            (Some(user), Verified::Yes) if !user.disabled => user,
            (Some(user), Verified::YesRehashed(new_hash)) if !user.disabled => {
                // bcrypt (or weaker argon2) upgraded to current argon2id.
                self.store.set_password_hash(user.id, &new_hash, false).await?;
                user
            }
            _ => return Err(CheckError::InvalidCredentials),
        };
        Ok(user)
    }

    /// Creates a user after checking the password policy.
    pub async fn create_user(
        &self,
        username: &Username,
        password: SecretString,
        roles: &[Role],
    ) -> Result<UserRecord, NewUserError> {
        let password_hash = self.hash_new(password, username.as_str()).await?;
        let user = NewUser {
            username: username.clone(),
            password_hash,
            roles: roles.to_vec(),
        };
        self.store.create_user(&user).await?.ok_or(NewUserError::Taken)
    }

    /// Creates the first admin (roles `user` and `admin`) after checking
    /// the password policy; `Ok(None)` when an admin exists already, which
    /// the store checks in the same transaction as the insert.
    pub async fn create_first_admin(
        &self,
        username: &Username,
        password: SecretString,
    ) -> Result<Option<UserRecord>, NewUserError> {
        let password_hash = self.hash_new(password, username.as_str()).await?;
        let user = NewUser {
            username: username.clone(),
            password_hash,
            roles: vec![Role::user(), Role::admin()],
        };
        match self.store.create_first_admin(&user).await? {
            FirstAdmin::Created(user) => Ok(Some(user)),
            FirstAdmin::AdminExists => Ok(None),
            FirstAdmin::Taken => Err(NewUserError::Taken),
        }
    }

    /// Sets a new password for `user`, whose current one was checked
    /// (`auth::login`); earlier tokens, refresh families and sessions end.
    pub async fn set_password(&self, user: &UserRecord, new: SecretString) -> Result<(), NewUserError> {
        let hash = self.hash_new(new, &user.username).await?;
        self.store.set_password_hash(user.id, &hash, true).await?;
        self.note(user.id).await?;
        Ok(())
    }

    /// Replaces a user's roles; earlier tokens stop working.
    /// Refused when it would leave no enabled admin.
    pub async fn set_roles(&self, username: &Username, roles: &[Role]) -> Result<UserChange, StoreError> {
        let change = self.store.set_roles(username, roles).await?;
        if let UserChange::Done(user) = &change {
            self.note(user.id).await?;
        }
        Ok(change)
    }

    /// Disables or enables a user; earlier tokens stop working.
    /// Refused when it would leave no enabled admin.
    pub async fn set_disabled(&self, username: &Username, disabled: bool) -> Result<UserChange, StoreError> {
        let change = self.store.set_disabled(username, disabled).await?;
        if let UserChange::Done(user) = &change {
            self.note(user.id).await?;
        }
        Ok(change)
    }

    /// Removes every second factor of a user and ends their credentials
    /// (the lost phone); `false`: no such user.
    pub async fn reset_factors(&self, user_id: i64) -> Result<bool, StoreError> {
        let reset = self.store.reset_factors(user_id, crate::store::now_ms()).await?;
        if reset {
            self.note(user_id).await?;
        }
        Ok(reset)
    }

    /// Applies a user's new token state locally at once.
    async fn note(&self, user_id: i64) -> Result<(), StoreError> {
        let Some(invalidations) = &self.invalidations else {
            return Ok(());
        };
        if let Some(user) = self.store.find_user_by_id(user_id).await? {
            let state = UserState {
                token_version: user.token_version,
                disabled: user.disabled,
            };
            invalidations.note_user(&user.username, state).await;
        }
        Ok(())
    }

    /// `username`'s new password, checked against the password policy and
    /// hashed, on the hashing pool.
    async fn hash_new(&self, password: SecretString, username: &str) -> Result<String, NewPasswordError> {
        self.hasher
            .hash_new(password, username.to_owned(), self.issuer.clone())
            .await
    }
}
