//! Passkeys (WebAuthn, SPEC section 7), by `webauthn-rs`: registration, the
//! assertion that is a sign-in's second step, and the passwordless sign-in
//! with a discoverable credential.
//!
//! The relying party is made per request: its id is `auth.webauthn_rp_id`,
//! or the host the request came to; its origin is the scheme, host and
//! port the browser used (a credential is bound to both, so one server
//! reached under two names keeps two sets). `webauthn-rs`'s passkeys always
//! ask the authenticator to verify its user: the crate's authors refuse
//! "preferred", under which a credential registered with verification may
//! later sign in without it. Every passkey here thus shows two factors
//! (`hwk` and `mfa`, RFC 8176).
//!
//! A ceremony's state stays on the server (webauthn-rs: "YOU MUST STORE
//! THE STATE SERVER SIDE"), keyed by what its client holds already: the
//! user for a registration, the pending sign-in for a second step, the
//! pre-session for a passwordless sign-in. A holder has one ceremony at a
//! time (a new one replaces it), each one is taken back once, whatever
//! comes of it, and lives 5 minutes.

use serde_json::Value;
use sha2::Digest;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::{SecondFactors, recovery};
use crate::store::{Ceremony, PasskeyAdded, StoreError, StoredPasskey, UserRecord, now_ms};

/// How long a ceremony's challenge may be answered.
pub const CEREMONY_LIFETIME_MS: i64 = 5 * 60 * 1000;
/// Passkeys one user may keep.
pub const MAX_PASSKEYS: i64 = 20;

/// Why a passkey step failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// No ceremony under way, or the credential failed its checks
    /// (challenge, origin, signature, counter, user verification).
    #[error("invalid passkey")]
    Invalid,
    /// The request came to an address no relying party id fits (an IP
    /// address, with no `auth.webauthn_rp_id`).
    #[error("passkeys need a domain name")]
    NoRelyingParty,
    /// The credential is registered already.
    #[error("passkey registered already")]
    Duplicate,
    #[error("too many passkeys")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The check itself failed (it panicked): the server's fault.
    #[error("a passkey check failed: {0}")]
    Check(String),
}

/// Runs a signature check on the blocking pool: an ES256 verification with
/// its parsing is about 0.2 ms (`benches/second_factor.rs`), too long for
/// an async worker that serves every other request.
async fn off_the_workers<T: Send + 'static>(
    check: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasskeyError> {
    tokio::task::spawn_blocking(check)
        .await
        .map_err(|err| PasskeyError::Check(err.to_string()))
}

/// Who holds a ceremony: what its client brings back to finish it.
#[derive(Clone, Copy, Debug)]
pub enum Holder<'a> {
    /// A registration, by its user.
    Registration(i64),
    /// A sign-in's second step, by its pending sign-in's token.
    SecondStep(&'a str),
    /// A passwordless sign-in, by the browser's pre-session binding.
    Passwordless(&'a [u8]),
}

impl Holder<'_> {
    fn id_hash(self) -> Vec<u8> {
        let mut hash = sha2::Sha256::new();
        match self {
            Self::Registration(user_id) => {
                hash.update(b"registration\0");
                hash.update(user_id.to_be_bytes());
            }
            Self::SecondStep(token) => {
                hash.update(b"second-step\0");
                hash.update(token.as_bytes());
            }
            Self::Passwordless(binding) => {
                hash.update(b"passwordless\0");
                hash.update(binding);
            }
        }
        hash.finalize().to_vec()
    }
}

/// A passkey added.
pub struct Registered {
    pub passkey: StoredPasskey,
    /// The recovery codes when it is the user's first factor, else none.
    pub recovery_codes: Vec<String>,
}

/// A passkey that signed its user in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asserted {
    pub user_id: i64,
    /// The authenticator verified its user (PIN, biometrics): always, with
    /// `webauthn-rs`'s passkeys, but read from the assertion.
    pub user_verified: bool,
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|err| StoreError::Corrupt(err.to_string()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

/// The options the browser passes to `navigator.credentials`, as WebAuthn
/// L3's `...OptionsJSON` (the `publicKey` member, base64url fields).
fn options_json<T: serde::Serialize>(options: &T) -> Result<Value, StoreError> {
    serde_json::to_value(options).map_err(|err| StoreError::Corrupt(err.to_string()))
}

impl SecondFactors {
    /// The relying party for a request that came to `origin`.
    fn relying_party(&self, origin: &Url) -> Result<Webauthn, PasskeyError> {
        let rp_id = match &self.rp_id {
            Some(configured) => configured.as_str(),
            None => origin.domain().ok_or(PasskeyError::NoRelyingParty)?,
        };
        WebauthnBuilder::new(rp_id, origin)
            .map_err(|_| PasskeyError::NoRelyingParty)?
            .rp_name(&self.issuer)
            // With a configured id, the origin may be any host below it.
            .allow_subdomains(self.rp_id.is_some())
            .build()
            .map_err(|_| PasskeyError::NoRelyingParty)
    }

    async fn begin(&self, holder: Holder<'_>, user_id: Option<i64>, state: String) -> Result<(), StoreError> {
        let ceremony = Ceremony { user_id, state };
        self.store
            .put_ceremony(&holder.id_hash(), &ceremony, now_ms() + CEREMONY_LIFETIME_MS)
            .await
    }

    async fn take(&self, holder: Holder<'_>) -> Result<Ceremony, PasskeyError> {
        self.store
            .take_ceremony(&holder.id_hash(), now_ms())
            .await?
            .ok_or(PasskeyError::Invalid)
    }

    /// A user's passkeys as stored.
    pub async fn passkeys(&self, user_id: i64) -> Result<Vec<StoredPasskey>, StoreError> {
        self.store.passkeys_of(user_id).await
    }

    /// Creation options for a new passkey of `user`'s.
    pub async fn begin_registration(&self, origin: &Url, user: &UserRecord) -> Result<Value, PasskeyError> {
        let webauthn = self.relying_party(origin)?;
        let handle = self.store.user_handle(user.id, Uuid::new_v4().as_bytes()).await?;
        let handle = Uuid::from_slice(&handle).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let mut known = Vec::new();
        for stored in self.store.passkeys_of(user.id).await? {
            known.push(parse::<Passkey>(&stored.credential)?.cred_id().clone());
        }
        let (options, state) = webauthn
            .start_passkey_registration(handle, &user.username, &user.username, Some(known))
            .map_err(|_| PasskeyError::Invalid)?;
        self.begin(Holder::Registration(user.id), Some(user.id), to_json(&state)?)
            .await?;
        let mut options = options_json(&options.public_key)?;
        // A discoverable credential where the authenticator can keep one,
        // so that the passkey can also sign in alone (WebAuthn L3
        // `residentKey`); a security key that cannot still registers.
        if let Some(selection) = options.get_mut("authenticatorSelection") {
            selection["residentKey"] = Value::from("preferred");
        }
        Ok(options)
    }

    /// Finishes a registration: the passkey, named `name`, is `user`'s.
    pub async fn finish_registration(
        &self,
        origin: &Url,
        user: &UserRecord,
        name: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<Registered, PasskeyError> {
        let webauthn = self.relying_party(origin)?;
        let ceremony = self.take(Holder::Registration(user.id)).await?;
        let state: PasskeyRegistration = parse(&ceremony.state)?;
        let credential = credential.clone();
        let passkey = off_the_workers(move || webauthn.finish_passkey_registration(&credential, &state))
            .await?
            .map_err(|_| PasskeyError::Invalid)?;
        let stored = StoredPasskey {
            id: Uuid::new_v4().simple().to_string(),
            user_id: user.id,
            credential_id: passkey.cred_id().to_vec(),
            name: name.to_owned(),
            credential: to_json(&passkey)?,
            created_at: now_ms(),
            last_used_at: None,
        };
        let codes = recovery::generate();
        let hashes = self.hashes(user.id, &codes);
        match self.store.add_passkey(&stored, &hashes, MAX_PASSKEYS).await? {
            PasskeyAdded::Added(first) => Ok(Registered {
                passkey: stored,
                recovery_codes: if first { codes } else { Vec::new() },
            }),
            PasskeyAdded::Duplicate => Err(PasskeyError::Duplicate),
            PasskeyAdded::TooMany => Err(PasskeyError::TooMany),
        }
    }

    pub async fn remove_passkey(&self, user_id: i64, id: &str) -> Result<bool, StoreError> {
        self.store.remove_passkey(user_id, id).await
    }

    /// Request options for a sign-in's second step, by one of the user's
    /// passkeys; `token` is the pending sign-in's.
    pub async fn begin_second_step(
        &self,
        origin: &Url,
        user_id: i64,
        token: &str,
    ) -> Result<Value, PasskeyError> {
        let webauthn = self.relying_party(origin)?;
        let mut passkeys = Vec::new();
        for stored in self.store.passkeys_of(user_id).await? {
            passkeys.push(parse::<Passkey>(&stored.credential)?);
        }
        // No passkey: nothing to ask for (webauthn-rs refuses too).
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|_| PasskeyError::Invalid)?;
        self.begin(Holder::SecondStep(token), Some(user_id), to_json(&state)?)
            .await?;
        Ok(options_json(&options.public_key)?)
    }

    /// Finishes a sign-in's second step.
    pub async fn finish_second_step(
        &self,
        origin: &Url,
        user_id: i64,
        token: &str,
        credential: &PublicKeyCredential,
    ) -> Result<Asserted, PasskeyError> {
        let webauthn = self.relying_party(origin)?;
        let ceremony = self.take(Holder::SecondStep(token)).await?;
        if ceremony.user_id != Some(user_id) {
            return Err(PasskeyError::Invalid);
        }
        let state: PasskeyAuthentication = parse(&ceremony.state)?;
        let credential = credential.clone();
        let result = off_the_workers(move || webauthn.finish_passkey_authentication(&credential, &state))
            .await?
            .map_err(|_| PasskeyError::Invalid)?;
        let stored = self
            .store
            .passkeys_of(user_id)
            .await?
            .into_iter()
            .find(|stored| stored.credential_id == result.cred_id().as_slice())
            .ok_or(PasskeyError::Invalid)?;
        self.used(&stored, &result).await?;
        Ok(Asserted {
            user_id,
            user_verified: result.user_verified(),
        })
    }

    /// Request options for a passwordless sign-in: no user named; the
    /// authenticator picks a discoverable credential.
    pub async fn begin_passwordless(&self, origin: &Url, binding: &[u8]) -> Result<Value, PasskeyError> {
        let webauthn = self.relying_party(origin)?;
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|_| PasskeyError::Invalid)?;
        self.begin(Holder::Passwordless(binding), None, to_json(&state)?)
            .await?;
        // The `mediation` webauthn-rs adds (conditional UI) is the
        // script's to choose: the options are the `publicKey` member alone.
        Ok(options_json(&options.public_key)?)
    }

    /// Finishes a passwordless sign-in: whose passkey it was.
    pub async fn finish_passwordless(
        &self,
        origin: &Url,
        binding: &[u8],
        credential: &PublicKeyCredential,
    ) -> Result<Asserted, PasskeyError> {
        let webauthn = self.relying_party(origin)?;
        let ceremony = self.take(Holder::Passwordless(binding)).await?;
        let state: DiscoverableAuthentication = parse(&ceremony.state)?;
        // The user handle the authenticator stored names the account; the
        // credential must be one of that account's.
        let (handle, credential_id) = webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|_| PasskeyError::Invalid)?;
        let user_id = self
            .store
            .user_id_by_handle(handle.as_bytes())
            .await?
            .ok_or(PasskeyError::Invalid)?;
        let stored = self
            .store
            .passkeys_of(user_id)
            .await?
            .into_iter()
            .find(|stored| stored.credential_id == credential_id)
            .ok_or(PasskeyError::Invalid)?;
        let passkey: Passkey = parse(&stored.credential)?;
        let credential = credential.clone();
        let result = off_the_workers(move || {
            webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey)
        })
        .await?
        .map_err(|_| PasskeyError::Invalid)?;
        // A passkey alone signs in only if it verified its user.
        if !result.user_verified() {
            return Err(PasskeyError::Invalid);
        }
        self.used(&stored, &result).await?;
        Ok(Asserted {
            user_id,
            user_verified: true,
        })
    }

    /// Stores what an assertion changed (the signature counter) and when.
    async fn used(
        &self,
        stored: &StoredPasskey,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<(), StoreError> {
        let mut passkey: Passkey = parse(&stored.credential)?;
        passkey.update_credential(result);
        self.store
            .passkey_used(&stored.id, &to_json(&passkey)?, now_ms())
            .await
    }
}
