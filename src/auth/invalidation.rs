//! What makes an otherwise valid access token fail: its `jti` was revoked,
//! or its user was disabled or changed roles or password since it was
//! issued (the user's token version moved on). Beside them, the sessions
//! this instance ended (logout), so open WebSockets learn of it.
//!
//! The state lives in memory behind an atomic pointer: verification reads it
//! without a lock or a query. Each instance refreshes it from the store every
//! `REFRESH_INTERVAL` (changes made by other instances show within that
//! time, well inside SPEC's 5 s), and applies its own changes at once.
//! Every change is announced on a watch channel ([`Invalidations::watch`]):
//! open WebSockets re-check their credential then, instead of polling.

use std::{collections::HashMap, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use tokio::sync::watch;

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
    /// Digests of sessions ended here, until they could have timed out
    /// anyway (unix ms).
    ended_sessions: HashMap<[u8; 32], i64>,
    /// Store changes up to here are included.
    watermark: i64,
}

pub struct Invalidations {
    state: ArcSwap<State>,
    store: Store,
    /// Serializes writers (refreshes and local notes); readers never wait.
    write: tokio::sync::Mutex<()>,
    /// Counts the changes to `state`.
    changes: watch::Sender<u64>,
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
            changes: watch::Sender::new(0),
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

    /// Changes as they happen: the value moves on at every change of what
    /// this instance knows (a refresh that found nothing new is none).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// What this instance knows of a user's state.
    pub fn user_state(&self, username: &str) -> UserState {
        let state = self.state.load();
        let initial = UserState {
            token_version: 0,
            disabled: false,
        };
        if state.users.is_empty() {
            initial
        } else {
            state
                .users
                .get(&username.to_lowercase())
                .copied()
                .unwrap_or(initial)
        }
    }

    /// Whether the session with this digest was ended here.
    pub fn session_ended(&self, digest: &[u8; 32]) -> bool {
        self.state.load().ended_sessions.contains_key(digest)
    }

    fn standing(&self, claims: &AccessClaims) -> Standing {
        if self.state.load().revoked.contains_key(&claims.jti) {
            return Standing::Bad(TokenError::Revoked);
        }
        let user = self.user_state(&claims.sub);
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
        let mut changed = false;
        for (name, user, _) in users {
            changed |= state.users.insert(name, user) != Some(user);
        }
        for (jti, expires_at, _) in revoked {
            changed |= state.revoked.insert(jti, expires_at).is_none();
        }
        state.revoked.retain(|_, expires_at| *expires_at > now);
        state.ended_sessions.retain(|_, until| *until > now);
        state.watermark = now;
        self.publish(state, changed);
        Ok(())
    }

    /// Makes `state` current; announces it if it `changed` anything.
    fn publish(&self, state: State, changed: bool) {
        self.state.store(Arc::new(state));
        if changed {
            self.changes.send_modify(|count| *count += 1);
        }
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
        let changed = state.users.insert(key, user) != Some(user);
        self.publish(state, changed);
    }

    /// Applies a revocation this instance made.
    pub async fn note_revoked(&self, jti: &str, expires_at: i64) {
        let _writer = self.write.lock().await;
        let mut state = State::clone(&self.state.load());
        let changed = state.revoked.insert(jti.to_owned(), expires_at).is_none();
        self.publish(state, changed);
    }

    /// Notes a session this instance ended; `until` (unix ms) is when it
    /// would have timed out anyway.
    pub async fn note_session_ended(&self, digest: [u8; 32], until: i64) {
        let _writer = self.write.lock().await;
        let mut state = State::clone(&self.state.load());
        let changed = state.ended_sessions.insert(digest, until).is_none();
        self.publish(state, changed);
    }
}
