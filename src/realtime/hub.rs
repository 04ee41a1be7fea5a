//! The open sockets of this instance: how many each user has (at most
//! [`PER_USER`], SPEC section 3), how many in all (at most
//! `limits.max_connections`: an upgraded connection leaves the listener's
//! count), and the signal that closes them all at shutdown.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{broadcast, watch};
use tokio_util::{
    sync::CancellationToken,
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};

use crate::{
    auth::{invalidation::Invalidations, session::Sessions, tokens::TokenService},
    items::events::{ItemEvent, ItemEvents},
    observability::metrics::WEBSOCKETS_OPEN,
};

/// Open sockets one user may have; the next upgrade is 429.
pub const PER_USER: usize = 16;

/// Why an upgrade gets no socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The user has [`PER_USER`] open.
    User,
    /// The instance has as many as it serves, or is shutting down.
    Instance,
}

/// What sockets need of the rest of rampart, and their registry.
pub struct Hub {
    pub(super) tokens: Arc<TokenService>,
    pub(super) sessions: Sessions,
    pub(super) invalidations: Arc<Invalidations>,
    pub(super) events: ItemEvents,
    max_open: usize,
    /// Open sockets by lower-case username. Touched at open and close
    /// only, never per message.
    per_user: Mutex<HashMap<String, usize>>,
    pub(super) closing: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("max_open", &self.max_open)
            .finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(
        tokens: Arc<TokenService>,
        sessions: Sessions,
        invalidations: Arc<Invalidations>,
        events: ItemEvents,
        max_open: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            tokens,
            sessions,
            invalidations,
            events,
            max_open,
            per_user: Mutex::default(),
            closing: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// A place for one more socket of `username`, held until the socket
    /// closes (or its upgrade fails).
    pub fn admit(self: &Arc<Self>, username: &str) -> Result<Slot, Full> {
        if self.closing.is_cancelled() {
            return Err(Full::Instance);
        }
        let key = username.to_lowercase();
        let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let open: usize = self.tasks.len();
        if open >= self.max_open {
            return Err(Full::Instance);
        }
        let count = per_user.entry(key.clone()).or_default();
        if *count >= PER_USER {
            return Err(Full::User);
        }
        *count += 1;
        metrics::gauge!(WEBSOCKETS_OPEN).increment(1.0);
        Ok(Slot {
            hub: self.clone(),
            key,
            _task: self.tasks.token(),
        })
    }

    /// What a socket listens to, subscribed before the upgrade is
    /// answered: every write and every invalidation after the 101 reaches
    /// the socket.
    pub fn subscribe(&self) -> Subscriptions {
        let mut changes = self.invalidations.watch();
        changes.mark_unchanged();
        Subscriptions {
            events: self.events.subscribe(),
            changes,
        }
    }

    /// The invalidation state alone, for a tunnel (which carries no item
    /// events), watched from now on.
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        let mut changes = self.invalidations.watch();
        changes.mark_unchanged();
        changes
    }

    /// Closes every socket (1001) and refuses new ones: the instance is
    /// shutting down.
    pub fn close_all(&self) {
        self.closing.cancel();
    }

    /// Completes when every socket has closed (after [`Self::close_all`]).
    pub async fn closed(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The item events and invalidation changes one socket listens to.
pub struct Subscriptions {
    pub(super) events: broadcast::Receiver<Arc<ItemEvent>>,
    pub(super) changes: watch::Receiver<u64>,
}

/// One socket's place in the registry; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    hub: Arc<Hub>,
    key: String,
    _task: TaskTrackerToken,
}

impl Slot {
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_user = self.hub.per_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_user.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                per_user.remove(&self.key);
            }
        }
        metrics::gauge!(WEBSOCKETS_OPEN).decrement(1.0);
    }
}
