//! Tokens for accounts: a login's refresh family and its pairs, the
//! refresh grant, revocation, and the known clients of the login throttle.
//! The accounts themselves (create, check a password, change a password,
//! roles or state) are `auth::users`.

use std::{net::IpAddr, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use sha2::Digest;

use super::{
    amr::Amr,
    device::{DEVICE_LIFETIME, DeviceKey},
    invalidation::Invalidations,
    password::HashError,
    tokens::TokenService,
};
use crate::{
    config::AuthSettings,
    names::Username,
    ratelimit::{self, KnownClient},
    store::{RefreshUse, Store, StoreError, UserRecord, now_ms},
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

pub struct AccountService {
    store: Store,
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
        tokens: Arc<TokenService>,
        invalidations: Arc<Invalidations>,
        devices: DeviceKey,
        settings: &AuthSettings,
    ) -> Self {
        Self {
            store,
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
        amr: Amr,
    ) -> Result<TokenPair, AuthError> {
        if let Some(ip) = client {
            self.store
                .remember_client(user.id, &ratelimit::network(ip).to_string(), now_ms())
                .await?;
        }
        self.start_family(user, amr, client).await
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

    /// The refresh grant (RFC 6749 section 6): single use, rotated within
    /// its family, which ends at its login's `refresh_token_ttl`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let hash = refresh_hash(refresh_token);
        let now = now_ms();
        match self.store.use_refresh_token(&hash, now).await? {
            RefreshUse::Rotated {
                family_id,
                user_id,
                amr,
            } => {
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
                self.pair(&user, refresh_token, Amr::from_text(&amr))
            }
            RefreshUse::Reused { .. } => Err(AuthError::RefreshReuse),
            RefreshUse::Invalid => Err(AuthError::InvalidCredentials),
        }
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.store.find_user_by_id(id).await
    }

    /// A new refresh family for a login, and its first pair.
    async fn start_family(
        &self,
        user: &UserRecord,
        amr: Amr,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, AuthError> {
        let refresh_token = new_refresh_token();
        let now = now_ms();
        let ttl = i64::try_from(self.settings.refresh_token_ttl.get().as_millis()).unwrap_or(i64::MAX / 4);
        self.store
            .start_refresh_family(
                &refresh_hash(&refresh_token),
                &new_family(),
                user.id,
                user.token_version,
                (&amr.to_text(), client.map(|ip| ip.to_string()).as_deref()),
                (now, now.saturating_add(ttl)),
            )
            .await?;
        self.pair(user, refresh_token, amr)
    }

    fn pair(&self, user: &UserRecord, refresh_token: String, amr: Amr) -> Result<TokenPair, AuthError> {
        let (access_token, expires_in) =
            self.tokens
                .issue(&user.username, &user.roles, user.token_version, amr)?;
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

    pub fn store(&self) -> &Store {
        &self.store
    }
}

fn new_family() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
