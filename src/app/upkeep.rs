//! What every instance does in the background while it serves: signing key
//! upkeep, the invalidation state's refresh, other instances' item events,
//! the hourly purges and the OpenID providers' documents, and on PostgreSQL the announcements that make the
//! refresh immediate.

use std::{sync::Arc, time::Duration};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::{
    audit::{self, Action, Outcome},
    auth::{
        invalidation::{self, Invalidations},
        keyring::{self, KeyRing},
        oidc::{Sso, discovery},
        session::Sessions,
    },
    items::events::{self, ItemEvents},
    server::Shutdown,
    store::{ITEMS_CHANNEL, Store},
};

/// Periodic work every instance does while it serves.
pub(super) struct Upkeep {
    pub(super) metrics: PrometheusHandle,
    pub(super) keys: Arc<KeyRing>,
    pub(super) invalidations: Arc<Invalidations>,
    /// Other instances' item events, for this one's sockets.
    pub(super) events: ItemEvents,
    pub(super) store: Store,
    pub(super) sessions: Sessions,
    /// `audit.retention`.
    pub(super) audit_retention: Duration,
    /// The OpenID providers, whose documents are read again hourly.
    pub(super) sso: Arc<Sso>,
}

impl Upkeep {
    pub(super) async fn run(self, shutdown: Shutdown) {
        let listen = listen_for_changes(
            self.store.clone(),
            self.invalidations.clone(),
            self.events.clone(),
            shutdown.clone(),
        );
        tokio::join!(self.periodic(shutdown), listen);
    }

    async fn periodic(self, shutdown: Shutdown) {
        let mut keys = tokio::time::interval(keyring::RELOAD_INTERVAL);
        let mut invalidations = tokio::time::interval(invalidation::REFRESH_INTERVAL);
        let mut purge = tokio::time::interval(Duration::from_secs(3600));
        let mut histograms = tokio::time::interval(Duration::from_secs(5));
        let mut providers = tokio::time::interval(discovery::REFRESH_EVERY);
        // The start read them: the first tick waits an hour.
        providers.tick().await;
        let mut withdrawals = self.keys.withdrawals();
        loop {
            tokio::select! {
                // Histograms are summarized lazily; keep their memory bounded.
                _ = histograms.tick() => self.metrics.run_upkeep(),
                _ = providers.tick() => self.sso.refresh().await,
                _ = keys.tick() => {
                    let upkeep = self.keys.upkeep().await;
                    if self.keys.withdrawals() != withdrawals {
                        // A key stopped verifying: sockets opened with its
                        // tokens close.
                        withdrawals = self.keys.withdrawals();
                        self.invalidations.poke();
                    }
                    match upkeep {
                        Ok(Some(kid)) => {
                            audit::record_direct(&self.store, Action::KeyRotated, Outcome::Success, "system", Some(&kid)).await;
                        }
                        Ok(None) => {}
                        Err(err) => tracing::warn!(error = %err, "signing key upkeep failed"),
                    }
                }
                _ = invalidations.tick() => {
                    if let Err(err) = self.invalidations.refresh().await {
                        tracing::warn!(error = %err, "refreshing token invalidations failed");
                    }
                    if let Err(err) = self.events.relay().await {
                        tracing::warn!(error = %err, "reading other instances' item events failed");
                    }
                }
                _ = purge.tick() => {
                    let now = crate::store::now_ms();
                    let ago = |age: Duration| now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
                    let purges = [
                        ("expired tokens", self.store.purge_expired_tokens(now).await),
                        ("expired sessions", self.sessions.purge().await),
                        ("pending sign-ins", self.store.purge_expired_sign_ins(now).await),
                        ("known clients", self.store.purge_known_clients(ago(crate::auth::device::DEVICE_LIFETIME)).await),
                        ("the change log", self.store.purge_changes(ago(invalidation::LOG_RETENTION)).await),
                        ("item events", self.store.purge_item_events(ago(events::RETENTION)).await),
                        ("audit events", self.store.purge_audit_events(ago(self.audit_retention)).await),
                    ];
                    for (what, result) in purges {
                        if let Err(err) = result {
                            tracing::warn!(error = %err, "purging {what} failed");
                        }
                    }
                }
                () = shutdown.wait() => return,
            }
        }
    }
}

/// On PostgreSQL, refreshes the invalidation state, or relays item events
/// to this instance's sockets, as soon as another instance announces a
/// change or an event (`NOTIFY`): within milliseconds rather than at the
/// next periodic refresh. Announcements are at most once (one sent while
/// the connection is down is lost); the periodic refresh, reading the logs
/// by number, loses nothing.
async fn listen_for_changes(
    store: Store,
    invalidations: Arc<Invalidations>,
    events: ItemEvents,
    shutdown: Shutdown,
) {
    let mut listener = loop {
        match store.listen_for_changes().await {
            Ok(Some(listener)) => break listener,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for changes; relying on the periodic refresh");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = shutdown.wait() => return,
                }
            }
        }
    };
    loop {
        tokio::select! {
            received = listener.recv() => {
                let (changes, items) = match received {
                    Ok(notification) if notification.channel() == ITEMS_CHANNEL => (false, true),
                    Ok(_) => {
                        metrics::counter!(crate::observability::metrics::CHANGES_ANNOUNCED).increment(1);
                        (true, false)
                    }
                    Err(err) => {
                        // sqlx reconnects on the next call; what was
                        // announced meanwhile is read now.
                        tracing::warn!(error = %err, "listening for changes failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        (true, true)
                    }
                };
                if changes && let Err(err) = invalidations.refresh().await {
                    tracing::warn!(error = %err, "refreshing token invalidations failed");
                }
                if items && let Err(err) = events.relay().await {
                    tracing::warn!(error = %err, "reading other instances' item events failed");
                }
            }
            () = shutdown.wait() => return,
        }
    }
}
