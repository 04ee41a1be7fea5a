//! Accounts and tokens as the routes and the command line use them: log in,
//! refresh, revoke, create users, change passwords and roles.

use std::{net::IpAddr, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use secrecy::SecretString;
use sha2::Digest;

use super::{
    device::{DEVICE_LIFETIME, DeviceKey},
    invalidation::Invalidations,
    password::{self, HashError, PasswordHasher, PasswordRejection, Verified},
    tokens::TokenService,
};
use crate::{
    config::AuthSettings,
    names::{Role, Username},
    ratelimit::{self, KnownClient},
    store::{NewUser, RefreshUse, Store, StoreError, UserChange, UserRecord, UserState, now_ms},
};

/// What a successful login or refresh returns (RFC 6749 section 5.1).
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub username: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong username or password, disabled user, or a bad refresh token:
    /// the client learns nothing more.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A used refresh token was presented again: its family is revoked.
    #[error("refresh token reuse")]
    RefreshReuse,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("token signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

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

pub struct AccountService {
    store: Store,
    hasher: PasswordHasher,
    tokens: Arc<TokenService>,
    invalidations: Arc<Invalidations>,
    devices: DeviceKey,
    settings: AuthSettings,
}

impl std::fmt::Debug for AccountService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountService").finish_non_exhaustive()
    }
}

/// SHA-256 of a refresh token: what the store keeps.
fn refresh_hash(token: &str) -> Vec<u8> {
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    B64.encode(bytes)
}

impl AccountService {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        tokens: Arc<TokenService>,
        invalidations: Arc<Invalidations>,
        devices: DeviceKey,
        settings: &AuthSettings,
    ) -> Self {
        Self {
            store,
            hasher,
            tokens,
            invalidations,
            devices,
            settings: settings.clone(),
        }
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The password grant (RFC 6749 section 4.3), after the password was
    /// checked (`auth::login`): a new refresh family and its first pair. A
    /// login from `client` makes it a known client of the user's for the
    /// login throttle.
    pub async fn start_login(
        &self,
        user: &UserRecord,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, AuthError> {
        if let Some(ip) = client {
            self.store
                .remember_client(user.id, &ratelimit::network(ip).to_string(), now_ms())
                .await?;
        }
        self.start_family(user).await
    }

    /// Whether `username` signed in successfully from this client lately:
    /// the browser's device cookie if it names the user, else the client's
    /// network ([`DEVICE_LIFETIME`] for both).
    pub async fn known_client(
        &self,
        username: &Username,
        ip: Option<IpAddr>,
        device_cookie: Option<&str>,
    ) -> Result<Option<KnownClient>, StoreError> {
        let now = now_ms();
        if let Some(device) =
            device_cookie.and_then(|cookie| self.devices.verify(cookie, username.as_str(), now / 1000))
        {
            return Ok(Some(KnownClient::Device(device.0)));
        }
        let Some(ip) = ip else {
            return Ok(None);
        };
        let network = ratelimit::network(ip);
        let since = now - i64::try_from(DEVICE_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        let known = self
            .store
            .is_known_client(username, &network.to_string(), since)
            .await?;
        Ok(known.then_some(KnownClient::Network(network)))
    }

    /// A device cookie's value for a browser where `username` just signed in.
    pub fn device_cookie(&self, username: &str) -> String {
        self.devices.issue(username, now_ms() / 1000)
    }

    /// The enabled user whose password this is. An unknown user costs the
    /// same hashing time as a known one; an imported hash is upgraded.
    pub async fn check_password(
        &self,
        username: &str,
        password: SecretString,
    ) -> Result<UserRecord, AuthError> {
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
            _ => return Err(AuthError::InvalidCredentials),
        };
        Ok(user)
    }

    /// The refresh grant (RFC 6749 section 6): single use, rotated within
    /// its family, which ends at its login's `refresh_token_ttl`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let hash = refresh_hash(refresh_token);
        let now = now_ms();
        match self.store.use_refresh_token(&hash, now).await? {
            RefreshUse::Rotated { family_id, user_id } => {
                let user = self
                    .user_by_id(user_id)
                    .await?
                    .ok_or(AuthError::InvalidCredentials)?;
                if user.disabled {
                    return Err(AuthError::InvalidCredentials);
                }
                let refresh_token = new_refresh_token();
                // Refused when a concurrent reuse of the token just used
                // revoked the family: the pair is never handed out.
                if !self
                    .store
                    .rotate_refresh_family(&refresh_hash(&refresh_token), &family_id, now)
                    .await?
                {
                    return Err(AuthError::InvalidCredentials);
                }
                self.pair(&user, refresh_token)
            }
            RefreshUse::Reused { .. } => Err(AuthError::RefreshReuse),
            RefreshUse::Invalid => Err(AuthError::InvalidCredentials),
        }
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.store.find_user_by_id(id).await
    }

    /// A new refresh family for a login, and its first pair.
    async fn start_family(&self, user: &UserRecord) -> Result<TokenPair, AuthError> {
        let refresh_token = new_refresh_token();
        let now = now_ms();
        let ttl = i64::try_from(self.settings.refresh_token_ttl.get().as_millis()).unwrap_or(i64::MAX / 4);
        self.store
            .start_refresh_family(
                &refresh_hash(&refresh_token),
                &new_family(),
                user.id,
                user.token_version,
                now,
                now.saturating_add(ttl),
            )
            .await?;
        self.pair(user, refresh_token)
    }

    fn pair(&self, user: &UserRecord, refresh_token: String) -> Result<TokenPair, AuthError> {
        let (access_token, expires_in) =
            self.tokens
                .issue(&user.username, &user.roles, user.token_version)?;
        Ok(TokenPair {
            access_token,
            expires_in,
            refresh_token,
            username: user.username.clone(),
        })
    }

    /// RFC 7009: revokes a refresh token's family, or an access token.
    /// Unknown tokens are ignored (the endpoint always answers 200).
    pub async fn revoke(&self, token: &str) -> Result<(), AuthError> {
        let now = now_ms();
        if self
            .store
            .revoke_refresh_family(&refresh_hash(token), now)
            .await?
        {
            return Ok(());
        }
        if let Ok(claims) = self.tokens.verify(token).await {
            let expires_at = claims.exp.saturating_mul(1000);
            self.store
                .revoke_access_token(&claims.jti, expires_at, now)
                .await?;
            self.invalidations.note_revoked(&claims.jti, expires_at).await;
        }
        Ok(())
    }

    /// Creates a user after checking the password policy.
    pub async fn create_user(
        &self,
        username: &Username,
        password: SecretString,
        roles: &[Role],
    ) -> Result<UserRecord, NewUserError> {
        self.check_policy(&password, username.as_str())?;
        let password_hash = self.hasher.hash(password).await?;
        let user = NewUser {
            username: username.clone(),
            password_hash,
            roles: roles.to_vec(),
        };
        self.store.create_user(&user).await?.ok_or(NewUserError::Taken)
    }

    /// Sets a new password for `user`, whose current one was checked
    /// (`auth::login`); earlier tokens, refresh families and sessions end.
    pub async fn set_password(&self, user: &UserRecord, new: SecretString) -> Result<(), NewUserError> {
        self.check_policy(&new, &user.username)?;
        let hash = self.hasher.hash(new).await?;
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

    /// Applies a user's new token state locally at once.
    async fn note(&self, user_id: i64) -> Result<(), StoreError> {
        if let Some(user) = self.store.find_user_by_id(user_id).await? {
            let state = UserState {
                token_version: user.token_version,
                disabled: user.disabled,
            };
            self.invalidations.note_user(&user.username, state).await;
        }
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The password policy for `username`'s new password.
    fn check_policy(&self, password: &SecretString, username: &str) -> Result<(), PasswordRejection> {
        use secrecy::ExposeSecret;
        let context = password::PasswordContext {
            username,
            issuer: &self.settings.issuer,
        };
        password::check_policy(password.expose_secret(), context)
    }
}

fn new_family() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
