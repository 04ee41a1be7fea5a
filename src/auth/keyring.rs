//! The key ring: the signing key and every key that may still verify a
//! live token, held in memory and swapped atomically, so issuing and
//! verifying read it without a lock or a database round-trip.
//!
//! Rotation (SPEC sections 4 and 5): every `key_rotation_interval`, the
//! instance holding the `key-rotation` lease generates a new key and stores
//! it sealed, [`PUBLISH_AHEAD`] before it starts signing: from then on it
//! is in `/.well-known/jwks.json`, so a client that caches the JWKS (60 s,
//! plus PyJWT's 30 s cool-down) knows the key when its first token
//! arrives. The old key is retired when the new one starts, and keeps
//! verifying until the last token it signed has expired (`access_token_ttl`
//! and the leeway); then it is deleted. Rotation therefore logs nobody out. A
//! rotation asked for (`POST /admin/keys/rotate`, `rampart keys rotate`)
//! switches at once: it answers a suspected leak; `--revoke` also deletes
//! every older key, so nothing they signed verifies. Every instance
//! reloads the keys periodically, and at once (throttled) when it meets an
//! unknown `kid`.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};

use super::keys::{self, KeySealer};
use crate::{
    config::{AuthSettings, SigningAlgorithm},
    store::{Store, StoreError, StoredKey, now_ms},
};

/// How often every instance reloads the keys.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);
/// At most one reload for unknown `kid`s per this many milliseconds.
const UNKNOWN_KID_RELOAD_MS: i64 = 1_000;
const LEASE: &str = "key-rotation";
const LEASE_MS: i64 = 30_000;
/// A scheduled key is published this long before it signs.
pub const PUBLISH_AHEAD: Duration = Duration::from_secs(120);
/// How long opening the ring waits for a signing key: one another
/// instance is making, or one that starts signing within this on this
/// host's clock (clocks of instances differ a little).
const OPEN_WAIT: Duration = Duration::from_secs(10);
/// How often opening the ring looks again while it waits.
const OPEN_POLL: Duration = Duration::from_millis(200);

/// When a new key starts signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// After [`PUBLISH_AHEAD`]: the schedule.
    Scheduled,
    /// At once: asked for by an admin.
    Now,
    /// At once, and every older key deleted: a leaked key.
    NowRevokingOlder,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Open(#[from] keys::OpenError),
    #[error("no signing key became available")]
    NoKey,
    /// Keys exist, but the newest starts signing later than this host's
    /// clock says it is now, and no older one signs: the clock is most
    /// likely behind the instance that made the key.
    #[error(
        "the newest signing key is active from {}, after this host's clock: is the clock right?",
        crate::store::rfc3339(*.0)
    )]
    ClockBehind(i64),
}

/// A digest of what a key set is built from at `now`: the stored rows,
/// and which of them may sign at `now` (a scheduled key starts signing, a
/// retired one stops, without a row changing).
fn made_of(stored: &[StoredKey], now: i64) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for key in stored {
        key.kid.hash(&mut hasher);
        key.algorithm.hash(&mut hasher);
        key.sealed_private_key.hash(&mut hasher);
        key.public_jwk.hash(&mut hasher);
        (key.created_at, key.signs_from, key.retired_at, key.expires_at).hash(&mut hasher);
        (key.signs_from <= now && key.retired_at.is_none_or(|at| at > now)).hash(&mut hasher);
    }
    hasher.finish()
}

/// What a JWT the ring signs is, named by its JOSE `typ`: each kind its
/// own, so that one can never pass for another (RFC 8725 section 3.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// An access token (RFC 9068).
    Access,
    /// A gateway's `X-Rampart-Assertion` (SPEC section 6).
    Assertion,
}

impl TokenType {
    const ALL: [Self; 2] = [Self::Access, Self::Assertion];

    pub const fn typ(self) -> &'static str {
        match self {
            Self::Access => "at+jwt",
            Self::Assertion => "rampart-assertion+jwt",
        }
    }
}

/// The key that signs new tokens.
pub struct Signer {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    key: keys::SigningKey,
    pub created_at: i64,
    /// The encoded JOSE header of each [`TokenType`], in its order.
    headers: [String; 2],
}

impl Signer {
    fn new(kid: String, algorithm: SigningAlgorithm, key: keys::SigningKey, created_at: i64) -> Self {
        let headers = TokenType::ALL.map(|kind| keys::encoded_header(algorithm, &kid, kind.typ()));
        Self {
            kid,
            algorithm,
            key,
            created_at,
            headers,
        }
    }

    /// A JWT of `claims` under this key: header `alg`, `kid` and `typ`.
    pub fn sign<T: serde::Serialize>(
        &self,
        kind: TokenType,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.key.sign(&self.headers[kind as usize], claims)
    }
}

/// A key as `keys list` shows it: never key material.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub algorithm: String,
    pub state: &'static str,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// A key revoked ([`KeyRing::revoke`]).
#[derive(Debug)]
pub struct Revoked {
    /// The new key that signs instead, when the revoked one signed (or
    /// was to sign next).
    pub replaced_by: Option<String>,
}

struct KeySet {
    signer: Option<Arc<Signer>>,
    /// With no signer: when the newest usable key starts signing, if that
    /// is later than the clock said at the reload.
    signs_later: Option<i64>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: axum::body::Bytes,
}

pub struct KeyRing {
    set: ArcSwap<KeySet>,
    store: Store,
    sealer: KeySealer,
    settings: AuthSettings,
    instance: String,
    last_unknown_kid_reload: AtomicI64,
    /// Counts reloads that found a key gone (revoked or expired).
    withdrawals: AtomicU64,
    /// What the key set was last built from ([`made_of`]).
    built_from: Mutex<Option<u64>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the keys, creating the first one if there is none (or none of
    /// the configured algorithm). When keys exist but the newest starts
    /// signing later than this host's clock (beyond a short wait) and no
    /// older one signs, fails at once with [`KeyError::ClockBehind`]
    /// (SPEC section 11, "Clock and key errors").
    pub async fn open(
        store: Store,
        sealer: KeySealer,
        settings: &AuthSettings,
    ) -> Result<Arc<Self>, KeyError> {
        let ring = Arc::new(Self {
            set: ArcSwap::from_pointee(KeySet {
                signer: None,
                signs_later: None,
                verifiers: HashMap::new(),
                jwks: empty_jwks(),
            }),
            store,
            sealer,
            settings: settings.clone(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            last_unknown_kid_reload: AtomicI64::new(0),
            withdrawals: AtomicU64::new(0),
            built_from: Mutex::new(None),
        });
        ring.reload().await?;
        let deadline = tokio::time::Instant::now() + OPEN_WAIT;
        loop {
            let (signs, signs_later) = {
                let set = ring.set.load();
                (set.signer.is_some(), set.signs_later)
            };
            if signs {
                return Ok(ring);
            }
            if let Some(from) = signs_later {
                // Not this instance's to replace: a key made now would
                // retire the newest one before it ever signed, and with it
                // the tokens the instance that made it has been signing.
                // A short wait covers instances whose clocks differ a
                // little; anything longer is the clock, and is named.
                let wait = u64::try_from(from - now_ms()).unwrap_or(0);
                if Duration::from_millis(wait)
                    > deadline.saturating_duration_since(tokio::time::Instant::now())
                {
                    return Err(KeyError::ClockBehind(from));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KeyError::NoKey);
            }
            if signs_later.is_none() && ring.holds_lease().await? {
                ring.rotate(Rotation::Now).await?;
                continue;
            }
            // Another instance is creating it, or it starts soon.
            tokio::time::sleep(OPEN_POLL).await;
            ring.reload().await?;
        }
    }

    /// The current signing key.
    pub fn signer(&self) -> Arc<Signer> {
        self.set
            .load()
            .signer
            .clone()
            .expect("the key ring always has a signer once open")
    }

    /// The verifying key for `kid`, if it may still verify tokens.
    pub fn verifier(&self, kid: &str) -> Option<DecodingKey> {
        self.set.load().verifiers.get(kid).cloned()
    }

    /// How many times a key stopped verifying (revoked or expired): when
    /// this moves, open sockets re-check their tokens.
    pub fn withdrawals(&self) -> u64 {
        self.withdrawals.load(Ordering::Relaxed)
    }

    /// Whether `kid` still verifies (a revoked or expired key does not).
    pub fn knows(&self, kid: &str) -> bool {
        self.set.load().verifiers.contains_key(kid)
    }

    /// `/.well-known/jwks.json`, serialized once per change.
    pub fn jwks(&self) -> axum::body::Bytes {
        self.set.load().jwks.clone()
    }

    /// Reloads (at most once a second) when a token names an unknown `kid`.
    pub async fn reload_for_unknown_kid(&self, kid: &str) -> Option<DecodingKey> {
        let now = now_ms();
        let last = self.last_unknown_kid_reload.load(Ordering::Relaxed);
        if now - last < UNKNOWN_KID_RELOAD_MS
            || self
                .last_unknown_kid_reload
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        if let Err(err) = self.reload().await {
            tracing::warn!(error = %err, "reloading signing keys failed");
        }
        self.verifier(kid)
    }

    /// Reads the keys from the store. The signer is the key that started
    /// signing last; keys scheduled to start later only verify and are
    /// published.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let now = now_ms();
        let stored = self.store.live_keys(now).await?;
        // Keys are decrypted and parsed only when the set would come out
        // different: every reload (each instance, every RELOAD_INTERVAL)
        // otherwise opens and parses every key again.
        let inputs = made_of(&stored, now);
        if *self.built_from.lock().unwrap_or_else(PoisonError::into_inner) == Some(inputs) {
            return Ok(());
        }
        let mut signer = None;
        let mut newest_usable = None;
        let mut verifiers = HashMap::new();
        let mut public = Vec::new();
        for key in &stored {
            let Some(algorithm) = keys::parse_algorithm(&key.algorithm) else {
                continue;
            };
            // Only the configured algorithm is accepted (RFC 8725 section 3.1).
            if algorithm != self.settings.algorithm {
                continue;
            }
            let private = match self.sealer.open(&key.kid, &key.sealed_private_key) {
                Ok(private) => private,
                Err(err) => {
                    // Sealed under another secret (the secret was changed,
                    // or development generated one per process): unusable.
                    // Tokens it signed fail; a new key takes over.
                    tracing::warn!(kid = %key.kid, "{err}");
                    continue;
                }
            };
            let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap_or(Value::Null);
            if let Some(decoding) = keys::decoding_key(algorithm, &private, &jwk) {
                verifiers.insert(key.kid.clone(), decoding);
            }
            // Newest first: the first key that opens.
            newest_usable.get_or_insert(key.signs_from);
            if algorithm != SigningAlgorithm::HS256 && jwk.is_object() {
                public.push(jwk);
            }
            // The key that started signing last and has not been retired.
            if key.signs_from <= now
                && key.retired_at.is_none_or(|at| at > now)
                && signer.is_none()
                && let Some(signing) = keys::SigningKey::new(algorithm, &private)
            {
                signer = Some(Arc::new(Signer::new(
                    key.kid.clone(),
                    algorithm,
                    signing,
                    key.created_at,
                )));
            }
        }
        let jwks = axum::body::Bytes::from(json!({ "keys": public }).to_string());
        let withdrawn = self
            .set
            .load()
            .verifiers
            .keys()
            .any(|kid| !verifiers.contains_key(kid));
        if withdrawn {
            self.withdrawals.fetch_add(1, Ordering::Relaxed);
        }
        let signs_later = newest_usable.filter(|&from| signer.is_none() && from > now);
        self.set.store(Arc::new(KeySet {
            signer,
            signs_later,
            verifiers,
            jwks,
        }));
        *self.built_from.lock().unwrap_or_else(PoisonError::into_inner) = Some(inputs);
        Ok(())
    }

    /// A new signing key, starting as `rotation` says; the old ones verify
    /// until their tokens have expired (unless revoked). Returns the new
    /// `kid`.
    pub async fn rotate(&self, rotation: Rotation) -> Result<String, KeyError> {
        let algorithm = self.settings.algorithm;
        // RSA generation takes a while: keep it off the async workers.
        let generated = tokio::task::spawn_blocking(move || keys::generate(algorithm))
            .await
            .map_err(|_| KeyError::NoKey)?;
        let now = now_ms();
        let signs_from = match rotation {
            Rotation::Scheduled => now + i64::try_from(PUBLISH_AHEAD.as_millis()).unwrap_or(0),
            Rotation::Now | Rotation::NowRevokingOlder => now,
        };
        let stored = StoredKey {
            kid: generated.kid.clone(),
            algorithm: keys::algorithm_name(algorithm).to_owned(),
            sealed_private_key: self.sealer.seal(&generated.kid, &generated.private),
            public_jwk: generated.public_jwk.to_string(),
            created_at: now,
            signs_from,
            retired_at: None,
            expires_at: None,
        };
        let ttl_ms = i64::try_from(self.settings.access_token_ttl.get().as_millis()).unwrap_or(i64::MAX / 4);
        let leeway_ms = i64::try_from(super::claims::LEEWAY_SECS * 1000).unwrap_or(0);
        self.store
            .rotate_to(
                &stored,
                signs_from + ttl_ms + leeway_ms,
                rotation == Rotation::NowRevokingOlder,
            )
            .await?;
        self.reload().await?;
        tracing::info!(
            kid = %generated.kid,
            algorithm = keys::algorithm_name(algorithm),
            signs_in_s = (signs_from - now) / 1000,
            revoked_older = rotation == Rotation::NowRevokingOlder,
            "signing key rotated"
        );
        Ok(generated.kid)
    }

    /// Revokes the key `kid` (a leaked key): it is deleted, so nothing it
    /// signed verifies here any more (other instances drop it at their
    /// next reload, as after `keys rotate --revoke`). When it signs now, or
    /// is scheduled to, a new key signs from now on first. `None` when
    /// there is no such key.
    pub async fn revoke(&self, kid: &str) -> Result<Option<Revoked>, KeyError> {
        let stored = self.store.live_keys(now_ms()).await?;
        let Some(key) = stored.iter().find(|key| key.kid == kid) else {
            return Ok(None);
        };
        // Not retired: the signer, or the one scheduled to be.
        let replaced_by = if key.retired_at.is_none() {
            Some(self.rotate(Rotation::Now).await?)
        } else {
            None
        };
        let deleted = self.store.delete_key(kid).await?;
        self.reload().await?;
        tracing::info!(kid, "signing key revoked");
        Ok(deleted.then_some(Revoked { replaced_by }))
    }

    async fn holds_lease(&self) -> Result<bool, StoreError> {
        let now = now_ms();
        self.store
            .acquire_lease(LEASE, &self.instance, now, now + LEASE_MS)
            .await
    }

    /// One round of upkeep: reload, and if this instance holds the lease,
    /// schedule the next key when it is due (published [`PUBLISH_AHEAD`]
    /// before the interval ends) and delete keys that verify nothing.
    /// Returns the new `kid` when it rotated.
    pub async fn upkeep(&self) -> Result<Option<String>, KeyError> {
        self.reload().await?;
        if !self.holds_lease().await? {
            return Ok(None);
        }
        let interval_ms =
            i64::try_from(self.settings.key_rotation_interval.get().as_millis()).unwrap_or(i64::MAX);
        let ahead_ms = i64::try_from(PUBLISH_AHEAD.as_millis()).unwrap_or(0);
        // Due when the newest key (signing, or scheduled to) has less than
        // the publication time left of its interval.
        let newest = self
            .store
            .live_keys(now_ms())
            .await?
            .first()
            .map(|k| k.signs_from);
        let due = newest.is_none_or(|from| now_ms() >= from + interval_ms - ahead_ms);
        let rotated = if due {
            Some(self.rotate(Rotation::Scheduled).await?)
        } else {
            None
        };
        let deleted = self.store.delete_expired_keys(now_ms()).await?;
        if deleted > 0 {
            tracing::info!(deleted, "expired signing keys deleted");
        }
        Ok(rotated)
    }

    /// Every stored key, for `keys list`.
    pub async fn list(store: &Store) -> Result<Vec<KeyInfo>, StoreError> {
        Ok(store
            .live_keys(now_ms())
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                state: if k.signs_from > now_ms() {
                    "scheduled"
                } else if k.retired_at.is_none_or(|at| at > now_ms()) {
                    "active"
                } else {
                    "retired"
                },
                kid: k.kid,
                algorithm: k.algorithm,
                created_at: k.created_at,
                retired_at: k.retired_at,
                expires_at: k.expires_at,
            })
            .collect())
    }
}

fn empty_jwks() -> axum::body::Bytes {
    axum::body::Bytes::from_static(br#"{"keys":[]}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, signs_from: i64, retired_at: Option<i64>) -> StoredKey {
        StoredKey {
            kid: kid.to_owned(),
            algorithm: "EdDSA".to_owned(),
            sealed_private_key: vec![1, 2, 3],
            public_jwk: "{}".to_owned(),
            created_at: 0,
            signs_from,
            retired_at,
            expires_at: None,
        }
    }

    #[test]
    fn the_same_rows_at_a_later_time_make_the_same_set() {
        let keys = [key("a", 0, None), key("b", 100, None)];
        assert_eq!(made_of(&keys, 50), made_of(&keys, 99));
    }

    #[test]
    fn a_key_that_starts_or_stops_signing_makes_another_set() {
        let scheduled = [key("a", 0, None), key("b", 100, None)];
        assert_ne!(made_of(&scheduled, 99), made_of(&scheduled, 100));
        let retiring = [key("a", 0, Some(100))];
        assert_ne!(made_of(&retiring, 99), made_of(&retiring, 100));
    }

    #[test]
    fn a_row_added_removed_or_changed_makes_another_set() {
        let one = [key("a", 0, None)];
        let two = [key("a", 0, None), key("b", 0, None)];
        assert_ne!(made_of(&one, 10), made_of(&two, 10));
        assert_ne!(made_of(&two, 10), made_of(&two[1..], 10));
        let mut resealed = key("a", 0, None);
        resealed.sealed_private_key = vec![9];
        assert_ne!(made_of(&one, 10), made_of(&[resealed], 10));
    }
}
