//! Second factors (SPEC section 7): TOTP, passkeys and recovery codes, enrolled and
//! checked here; the sign-ins that wait for one (`mfa_token` at `/token`,
//! `rampart_mfa` at `/login`). What a credential shows of them is its
//! [`Amr`](super::amr::Amr).

pub mod passkeys;
pub mod recovery;
pub mod totp;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use sha2::Digest;

use super::{keys::KeySealer, mac::MacKey};
use crate::{
    config::secret::SecretKey,
    store::{FactorCounts, PendingSignIn, Store, StoreError, UserRecord, now_ms},
};

/// How long a sign-in waits for its second factor.
pub const PENDING_LIFETIME_MS: i64 = 5 * 60 * 1000;
/// Wrong codes that end a pending sign-in.
pub const MAX_FAILURES: i64 = 5;

/// Which code a second factor's check took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Totp,
    RecoveryCode,
}

/// A TOTP enrolment begun: what the user's app needs. Never printed.
pub struct TotpEnrolment {
    /// Base32, as apps take it typed.
    pub secret: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment([REDACTED])")
    }
}

/// What confirming a TOTP enrolment came to. (No `Debug`: it holds
/// recovery codes.)
pub enum Confirmed {
    /// On; the recovery codes when it is the user's first factor, else
    /// none.
    On(Vec<String>),
    WrongCode,
    NothingPending,
}

/// Second factors and pending sign-ins.
#[derive(Debug)]
pub struct SecondFactors {
    store: Store,
    sealer: KeySealer,
    codes: MacKey,
    issuer: String,
    /// `auth.webauthn_rp_id`, if set.
    rp_id: Option<String>,
}

/// SHA-256 of a pending sign-in's token: what the store keeps.
fn token_hash(token: &str) -> Vec<u8> {
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

/// What sealed a user's TOTP secret is bound to: the user.
fn totp_binding(user_id: i64) -> String {
    format!("totp:{user_id}")
}

impl SecondFactors {
    pub fn new(store: Store, secret: &SecretKey, issuer: &str, rp_id: &str) -> Self {
        Self {
            store,
            sealer: KeySealer::for_purpose(secret, b"rampart/v1/totp-secret-sealing"),
            codes: MacKey::derive(secret, b"rampart/v1/recovery-codes"),
            issuer: issuer.to_owned(),
            rp_id: (!rp_id.is_empty()).then(|| rp_id.to_owned()),
        }
    }

    pub async fn counts(&self, user_id: i64) -> Result<FactorCounts, StoreError> {
        self.store.factor_counts(user_id).await
    }

    /// A new pending TOTP secret (replacing a pending one); `None` when
    /// TOTP is on already.
    pub async fn begin_totp(&self, user: &UserRecord) -> Result<Option<TotpEnrolment>, StoreError> {
        let secret = totp::new_secret();
        let sealed = self.sealer.seal(&totp_binding(user.id), &secret);
        if !self.store.set_pending_totp(user.id, &sealed, now_ms()).await? {
            return Ok(None);
        }
        Ok(Some(TotpEnrolment {
            secret: totp::base32(&secret),
            otpauth_uri: totp::otpauth_uri(&secret, &self.issuer, &user.username),
        }))
    }

    /// Turns the pending TOTP factor on with a code from the user's app.
    pub async fn confirm_totp(&self, user_id: i64, code: &str) -> Result<Confirmed, StoreError> {
        let Some(stored) = self.store.totp(user_id).await? else {
            return Ok(Confirmed::NothingPending);
        };
        if stored.confirmed {
            return Ok(Confirmed::NothingPending);
        }
        let Some(step) = self.step_of(user_id, &stored.sealed_secret, code)? else {
            return Ok(Confirmed::WrongCode);
        };
        let codes = recovery::generate();
        let hashes = self.hashes(user_id, &codes);
        Ok(
            match self.store.confirm_totp(user_id, step, &hashes, now_ms()).await? {
                None => Confirmed::NothingPending,
                Some(true) => Confirmed::On(codes),
                Some(false) => Confirmed::On(Vec::new()),
            },
        )
    }

    pub async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError> {
        self.store.remove_totp(user_id).await
    }

    /// A new set of recovery codes, the old one void; `None` when the user
    /// has no factor to recover.
    pub async fn renew_recovery_codes(&self, user_id: i64) -> Result<Option<Vec<String>>, StoreError> {
        let codes = recovery::generate();
        let hashes = self.hashes(user_id, &codes);
        Ok(self
            .store
            .replace_recovery_codes(user_id, &hashes)
            .await?
            .then_some(codes))
    }

    /// Checks a second factor's code (a TOTP code or a recovery code) and
    /// spends it: which it was, or `None`. Either is `otp` (RFC 8176).
    pub async fn verify_code(&self, user_id: i64, code: &str) -> Result<Option<Shown>, StoreError> {
        if totp::looks_like_code(code) {
            let Some(stored) = self.store.totp(user_id).await?.filter(|t| t.confirmed) else {
                return Ok(None);
            };
            let Some(step) = self.step_of(user_id, &stored.sealed_secret, code)? else {
                return Ok(None);
            };
            return Ok(self
                .store
                .spend_totp_step(user_id, step)
                .await?
                .then_some(Shown::Totp));
        }
        let Some(code) = recovery::normalize(code) else {
            return Ok(None);
        };
        let hash = recovery::hash(&self.codes, user_id, &code);
        Ok(self
            .store
            .spend_recovery_code(user_id, &hash)
            .await?
            .then_some(Shown::RecoveryCode))
    }

    /// A sign-in that waits for the second factor of `user`, bound to a
    /// browser's pre-session if a browser's: its token (256 random bits).
    pub async fn begin_sign_in(
        &self,
        user: &UserRecord,
        binding: Option<&[u8]>,
    ) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let token = B64.encode(bytes);
        let pending = PendingSignIn {
            user_id: user.id,
            token_version: user.token_version,
            binding: binding.map(<[u8]>::to_vec),
            failures: 0,
        };
        self.store
            .insert_pending_sign_in(&token_hash(&token), &pending, now_ms() + PENDING_LIFETIME_MS)
            .await?;
        Ok(token)
    }

    /// The live sign-in a token names.
    pub async fn pending(&self, token: &str) -> Result<Option<PendingSignIn>, StoreError> {
        self.store.pending_sign_in(&token_hash(token), now_ms()).await
    }

    /// Counts a wrong code; `false` once the sign-in has ended.
    pub async fn failed(&self, token: &str) -> Result<bool, StoreError> {
        self.store
            .fail_pending_sign_in(&token_hash(token), MAX_FAILURES)
            .await
    }

    /// Ends a sign-in whose second factor was shown: `false` when another
    /// request ended it first.
    pub async fn complete(&self, token: &str) -> Result<bool, StoreError> {
        self.store.take_pending_sign_in(&token_hash(token)).await
    }

    fn step_of(&self, user_id: i64, sealed: &[u8], code: &str) -> Result<Option<i64>, StoreError> {
        let secret = self
            .sealer
            .open(&totp_binding(user_id), sealed)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let now = u64::try_from(now_ms() / 1000).unwrap_or_default();
        Ok(totp::matched_step(&secret, code, now).and_then(|step| i64::try_from(step).ok()))
    }

    fn hashes(&self, user_id: i64, codes: &[String]) -> Vec<Vec<u8>> {
        codes
            .iter()
            .map(|code| recovery::hash(&self.codes, user_id, code))
            .collect()
    }
}
