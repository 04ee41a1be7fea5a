//! Browser sessions, held on the server (OWASP Session Management cheat
//! sheet): the cookie carries 256 random bits and nothing else; the store
//! keeps only their SHA-256, so a copy of the database opens no session.
//! A session ends at logout, after [`IDLE_TIMEOUT`] without a request, after
//! [`ABSOLUTE_TIMEOUT`] whatever happens, and when its user changes
//! password or is disabled (the store deletes it in the same transaction).
//! Each login starts a new session with a new id (no session fixation).

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{amr::Amr, invalidation::Invalidations};
use crate::store::{OpenCredential, Store, StoreError, now_ms};

/// A session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
/// Activity is written at most this often per session, so a busy page
/// does not write on every request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// A session id as the cookie carries it. Never printed.
#[derive(Clone)]
pub struct SessionId(SecretString);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId([REDACTED])")
    }
}

impl SessionId {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn from_cookie(value: &str) -> Self {
        Self(SecretString::from(value.to_owned()))
    }

    /// The cookie value.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the store keeps, and what CSRF tokens are bound to.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.expose().as_bytes()).into()
    }
}

/// The user behind a live session.
#[derive(Clone, Debug)]
pub struct SessionUser {
    pub user_id: i64,
    pub username: String,
    pub roles: Vec<String>,
    /// How the user signed in (RFC 8176).
    pub amr: Amr,
    pub id: SessionId,
    /// When the session times out (unix ms) unless it is used again.
    pub expires_at: i64,
}

/// Starts, resumes and ends sessions.
#[derive(Clone, Debug)]
pub struct Sessions {
    store: Store,
    /// Told of every session ended here, for the sockets it opened.
    invalidations: Arc<Invalidations>,
}

impl Sessions {
    pub fn new(store: Store, invalidations: Arc<Invalidations>) -> Self {
        Self { store, invalidations }
    }

    /// A new session for `user_id`, whose password was checked while the
    /// user's token version was `token_version`; `None` if it has changed
    /// since (a password change or disabling raced the login).
    pub async fn start(
        &self,
        user_id: i64,
        token_version: i64,
        amr: Amr,
        client_ip: std::net::IpAddr,
    ) -> Result<Option<SessionId>, StoreError> {
        let id = SessionId::generate();
        let started = self
            .store
            .insert_session(
                &id.digest(),
                (user_id, token_version),
                (&amr.to_text(), &client_ip.to_string()),
                now_ms(),
            )
            .await?;
        Ok(started.then_some(id))
    }

    /// How many sessions and refresh families of `user_id` are open now.
    pub async fn open_counts(&self, user_id: i64) -> Result<(i64, i64), StoreError> {
        let now = now_ms();
        self.store
            .count_open_credentials(user_id, live_after(now), now)
            .await
    }

    /// How many sessions are open, of every user.
    pub async fn open_total(&self) -> Result<i64, StoreError> {
        self.store.count_all_open_sessions(live_after(now_ms())).await
    }

    /// The open sessions and refresh families of `user_id`, newest first.
    pub async fn open_credentials(&self, user_id: i64) -> Result<Vec<OpenCredential>, StoreError> {
        let now = now_ms();
        self.store
            .list_open_credentials(user_id, live_after(now), now)
            .await
    }

    /// The user of a live session, or `None` (unknown, timed out, or its
    /// user disabled). Counts as activity.
    pub async fn resume(&self, id: SessionId) -> Result<Option<SessionUser>, StoreError> {
        self.find(id, true).await
    }

    /// Like [`Self::resume`], without counting as activity: what an open
    /// WebSocket uses to re-check the session that opened it.
    pub async fn check(&self, id: SessionId) -> Result<Option<SessionUser>, StoreError> {
        self.find(id, false).await
    }

    async fn find(&self, id: SessionId, activity: bool) -> Result<Option<SessionUser>, StoreError> {
        let digest = id.digest();
        let Some(session) = self.store.find_session(&digest).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if expired(session.created_at, session.seen_at, now) {
            self.store.delete_session(&digest).await?;
            return Ok(None);
        }
        if session.disabled {
            return Ok(None);
        }
        let mut seen_at = session.seen_at;
        if activity && now - session.seen_at >= TOUCH_INTERVAL_MS {
            self.store.touch_session(&digest, now).await?;
            seen_at = now;
        }
        Ok(Some(SessionUser {
            user_id: session.user_id,
            username: session.username,
            amr: Amr::from_text(&session.amr),
            roles: session.roles,
            id,
            expires_at: expires_at(session.created_at, seen_at),
        }))
    }

    /// Ends a session (logout, a new login): logged, so the sockets it
    /// opened close on every instance.
    pub async fn end(&self, id: &SessionId) -> Result<(), StoreError> {
        self.end_digest(id.digest()).await
    }

    /// Ends the session whose cookie has this SHA-256 (an admin's revoke,
    /// who never sees the cookie).
    pub async fn end_digest(&self, digest: [u8; 32]) -> Result<(), StoreError> {
        let now = now_ms();
        let until = now + millis(ABSOLUTE_TIMEOUT);
        self.store.end_session(&digest, until, now).await?;
        self.invalidations.note_session_ended(digest, until).await;
        Ok(())
    }

    /// Deletes the sessions that have timed out.
    pub async fn purge(&self) -> Result<(), StoreError> {
        let now = now_ms();
        self.store
            .purge_expired_sessions(now - millis(IDLE_TIMEOUT), now - millis(ABSOLUTE_TIMEOUT))
            .await
    }
}

/// What a session must have been seen and started after, at `now`, to be
/// open.
fn live_after(now: i64) -> (i64, i64) {
    (now - millis(IDLE_TIMEOUT), now - millis(ABSOLUTE_TIMEOUT))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// When a session started at `created_at` and last seen at `seen_at` times
/// out (all unix ms).
fn expires_at(created_at: i64, seen_at: i64) -> i64 {
    (seen_at + millis(IDLE_TIMEOUT)).min(created_at + millis(ABSOLUTE_TIMEOUT))
}

/// Whether a session started at `created_at` and last seen at `seen_at`
/// has timed out at `now` (all unix ms).
fn expired(created_at: i64, seen_at: i64, now: i64) -> bool {
    now >= expires_at(created_at, seen_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_time_out_when_idle_or_old() {
        let minute = 60_000;
        assert!(!expired(0, 0, 29 * minute));
        assert!(expired(0, 0, 30 * minute));
        // Active all along, but past the absolute limit.
        assert!(!expired(0, 479 * minute, 479 * minute + 1));
        assert!(expired(0, 479 * minute, 480 * minute));
    }

    #[test]
    fn ids_are_random_and_never_printed() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
