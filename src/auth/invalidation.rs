//! What makes an otherwise valid access token fail: its `jti` was revoked,
//! or its user was disabled or changed roles or password since it was
//! issued (the user's token version moved on). Beside them, the sessions
//! this instance ended (logout), so open WebSockets learn of it.
//!
//! The state lives in memory behind an atomic pointer: verification reads it
//! without a lock or a query. An instance applies its own changes at once;
//! those of other instances come from the store's change log, read by
//! number ([`crate::store::cursor`]), at once when PostgreSQL announces them
//! (`NOTIFY`, see `app`) and every `REFRESH_INTERVAL` whatever happens (a
//! missed announcement costs at most that: SPEC's 5 s hold either way).
//! Every change is announced on a watch channel ([`Invalidations::watch`]):
//! open WebSockets re-check their credential then, instead of polling.

use std::{collections::HashMap, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::claims::{AccessClaims, TokenError};
use crate::names::Username;
use crate::store::{Change, Store, StoreError, UserState, cursor::Cursor, now_ms};

pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// How long a missing change number is waited for before it is taken for
/// a rolled-back transaction (transactions end within the request time-out).
const GAP_PATIENCE: Duration = Duration::from_secs(60);
/// Changes read per refresh, at most.
const BATCH: i64 = 10_000;
/// A refresh that has not succeeded for this long reads everything again:
/// the log may have been purged past it.
const RELOAD_AFTER: Duration = Duration::from_secs(600);
/// The log keeps changes this long (every running instance has read them
/// by then; one that has not reloads).
pub const LOG_RETENTION: Duration = Duration::from_secs(3600);

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
}

impl State {
    /// Applies one change; whether it changed anything. A user's state
    /// only moves forward: a change read late never undoes a newer one.
    fn apply(&mut self, change: Change) -> bool {
        match change {
            Change::User { key, state } => {
                if self
                    .users
                    .get(&key)
                    .is_some_and(|known| known.token_version >= state.token_version)
                {
                    return false;
                }
                self.users.insert(key, state);
                true
            }
            Change::Revoked { jti, expires_at } => self.revoked.insert(jti, expires_at).is_none(),
            Change::SessionEnded { digest, until } => self.ended_sessions.insert(digest, until).is_none(),
        }
    }
}

/// What the writer keeps: where it is in the change log.
#[derive(Default)]
struct Reader {
    cursor: Option<Cursor>,
    last_success: Option<tokio::time::Instant>,
}

pub struct Invalidations {
    state: ArcSwap<State>,
    store: Store,
    /// Serializes writers (refreshes and local notes); readers never wait.
    write: tokio::sync::Mutex<Reader>,
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
                // Boxed: the rare read would otherwise enlarge every
                // request's future.
                if let Err(err) = Box::pin(self.reload_user(&claims.sub)).await {
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

    /// Announces a change made elsewhere than in this state (a signing key
    /// withdrawn): open sockets re-check their credentials.
    pub fn poke(&self) {
        self.changes.send_modify(|count| *count += 1);
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

    /// Reads the changes this instance has not seen yet.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let mut reader = self.write.lock().await;
        let now = now_ms();
        let instant = tokio::time::Instant::now();
        let stale = reader
            .last_success
            .is_none_or(|at| instant.duration_since(at) > RELOAD_AFTER);
        let mut state = State::clone(&self.state.load());
        let mut changed = false;
        if reader.cursor.is_none() || stale {
            // Everything, from the tables themselves; then the log from a
            // point every earlier change has surely committed by.
            let patience = i64::try_from(GAP_PATIENCE.as_millis()).unwrap_or(i64::MAX);
            let (settled, _) = self.store.change_bounds(now - patience).await?;
            for (key, user) in self.store.user_states().await? {
                changed |= state.apply(Change::User { key, state: user });
            }
            for (jti, expires_at) in self.store.revoked_access_tokens(now).await? {
                changed |= state.apply(Change::Revoked { jti, expires_at });
            }
            reader.cursor = Some(Cursor::new(settled));
        }
        let cursor = reader.cursor.as_mut().expect("set above");
        for logged in self.store.changes_after(cursor.read_from(), BATCH).await? {
            if cursor.take(logged.seq) {
                changed |= state.apply(logged.change);
            }
        }
        cursor.settle(instant, GAP_PATIENCE);
        state.revoked.retain(|_, expires_at| *expires_at > now);
        state.ended_sessions.retain(|_, until| *until > now);
        reader.last_success = Some(instant);
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
        let changed = state.apply(Change::User {
            key: username.to_lowercase(),
            state: user,
        });
        self.publish(state, changed);
    }

    /// Applies a revocation this instance made.
    pub async fn note_revoked(&self, jti: &str, expires_at: i64) {
        let _writer = self.write.lock().await;
        let mut state = State::clone(&self.state.load());
        let changed = state.apply(Change::Revoked {
            jti: jti.to_owned(),
            expires_at,
        });
        self.publish(state, changed);
    }

    /// Notes a session this instance ended; `until` (unix ms) is when it
    /// would have timed out anyway.
    pub async fn note_session_ended(&self, digest: [u8; 32], until: i64) {
        let _writer = self.write.lock().await;
        let mut state = State::clone(&self.state.load());
        let changed = state.apply(Change::SessionEnded { digest, until });
        self.publish(state, changed);
    }
}
