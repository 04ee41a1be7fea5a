//! What makes an otherwise valid access token fail: its `jti` was revoked,
//! or its user was disabled or changed roles or password since it was
//! issued (the user's token version moved on).
//!
//! The state lives in memory behind an atomic pointer: verification reads it
//! without a lock or a query. Each instance refreshes it from the store every
//! `REFRESH_INTERVAL` (changes made by other instances show within that
//! time, well inside SPEC's 5 s), and applies its own changes at once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use arc_swap::ArcSwap;

use super::claims::{AccessClaims, TokenError};
use crate::names::Username;
use crate::store::{Store, StoreError, UserState, now_ms};

pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Changes are re-read with this much overlap, against clock skew between
/// instances and transactions committing late.
const OVERLAP_MS: i64 = 3_000;

/// A token's standing against what this instance knows.
enum Standing {
    Good,
    Bad(TokenError),
    /// Issued under a token version newer than the one known here.
    Newer,
}

#[derive(Clone, Default)]
struct State {
    /// By lower-case username; only users whose state is not the initial one.
    users: HashMap<String, UserState>,
    /// Revoked `jti`s, with their expiry (unix ms).
    revoked: HashMap<String, i64>,
    /// Store changes up to here are included.
    watermark: i64,
}

pub struct Invalidations {
    state: ArcSwap<State>,
    store: Store,
    /// Serializes writers (refreshes and local notes); readers never wait.
    write: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Invalidations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidations").finish_non_exhaustive()
    }
}

impl Invalidations {
    pub async fn load(store: Store) -> Result<Arc<Self>, StoreError> {
        let this = Arc::new(Self {
            state: ArcSwap::from_pointee(State::default()),
            store,
            write: Default::default(),
        });
        this.refresh().await?;
        Ok(this)
    }

    /// Whether the token's user and `jti` are still in good standing. A
    /// token newer than what this instance knows of its user (minted after
    /// a change that another instance or process made) has that user's
    /// state read at once, rather than refused until the next refresh:
    /// the one case that costs a query, once per change.
    pub async fn check(&self, claims: &AccessClaims) -> Result<(), TokenError> {
        match self.standing(claims) {
            Standing::Newer => {
                if let Err(err) = self.reload_user(&claims.sub).await {
                    tracing::warn!(error = %err, "reading a user's token state failed");
                }
                match self.standing(claims) {
                    Standing::Good => Ok(()),
                    Standing::Newer => Err(TokenError::UserInvalidated),
                    Standing::Bad(err) => Err(err),
                }
            }
            Standing::Good => Ok(()),
            Standing::Bad(err) => Err(err),
        }
    }

    fn standing(&self, claims: &AccessClaims) -> Standing {
        let state = self.state.load();
        if state.revoked.contains_key(&claims.jti) {
            return Standing::Bad(TokenError::Revoked);
        }
        let initial = UserState {
            token_version: 0,
            disabled: false,
        };
        let user = if state.users.is_empty() {
            initial
        } else {
            state
                .users
                .get(&claims.sub.to_lowercase())
                .copied()
                .unwrap_or(initial)
        };
        if claims.ver > user.token_version {
            Standing::Newer
        } else if user.disabled || user.token_version != claims.ver {
            Standing::Bad(TokenError::UserInvalidated)
        } else {
            Standing::Good
        }
    }

    /// Reads one user's state from the store.
    async fn reload_user(&self, username: &str) -> Result<(), StoreError> {
        // A signed token names a valid user; anything else has no state.
        let Ok(name) = Username::parse(username) else {
            return Ok(());
        };
        if let Some(user) = self.store.find_user(&name).await? {
            let state = UserState {
                token_version: user.token_version,
                disabled: user.disabled,
            };
            self.note_user(&user.username, state).await;
        }
        Ok(())
    }

    /// Reads the changes since the last refresh.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _writer = self.write.lock().await;
        let now = now_ms();
        let since = (self.state.load().watermark - OVERLAP_MS).max(0);
        let users = self.store.user_states_since(since).await?;
        let revoked = self.store.revoked_access_tokens_since(since, now).await?;
        let mut state = State::clone(&self.state.load());
        for (name, user, _) in users {
            state.users.insert(name, user);
        }
        for (jti, expires_at, _) in revoked {
            state.revoked.insert(jti, expires_at);
        }
        state.revoked.retain(|_, expires_at| *expires_at > now);
        state.watermark = now;
        self.state.store(Arc::new(state));
        Ok(())
    }

    /// Applies a change this instance made (or read), without waiting for
    /// a refresh. Versions only move forward.
    pub async fn note_user(&self, username: &str, user: UserState) {
        let _writer = self.write.lock().await;
        let mut state = State::clone(&self.state.load());
        let key = username.to_lowercase();
        if state
            .users
            .get(&key)
            .is_some_and(|known| known.token_version > user.token_version)
        {
            return;
        }
        state.users.insert(key, user);
        self.state.store(Arc::new(state));
    }

    /// Applies a revocation this instance made.
    pub async fn note_revoked(&self, jti: &str, expires_at: i64) {
        let _writer = self.write.lock().await;
        let mut state = State::clone(&self.state.load());
        state.revoked.insert(jti.to_owned(), expires_at);
        self.state.store(Arc::new(state));
    }
}
