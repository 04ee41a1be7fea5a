//! SIGHUP (SPEC section 6, "Gateway, continued"): the TLS pair, and from
//! the configuration file the gateway's routes and upstreams and the
//! rate-limit policies, read again. Everything is built before anything is
//! put in place, so a file that does not load, or an upstream whose
//! document cannot be read, leaves everything as it was, with one error
//! line. Other keys need a restart (they shape listeners, the store and
//! the stack), and are left as they were.

use std::{path::PathBuf, sync::Arc};

use crate::{
    config::{self, Settings},
    gateway::{self, Gateway},
    ratelimit::RateLimits,
    server::{
        Shutdown,
        tls::{self, Certificates},
    },
};

/// What a SIGHUP reloads.
pub(super) struct Reload {
    /// `--config`; `None`: `./rampart.toml` when it exists, as at start.
    pub(super) config_file: Option<PathBuf>,
    pub(super) certificates: Option<Arc<Certificates>>,
    pub(super) gateway: Option<Arc<Gateway>>,
    pub(super) limits: Arc<RateLimits>,
}

impl Reload {
    /// Reloads on every SIGHUP until shutdown.
    pub(super) async fn on_hangup(self, shutdown: Shutdown) {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot listen for SIGHUP; reloads need a restart");
            return;
        };
        loop {
            tokio::select! {
                _ = hangup.recv() => self.reload().await,
                () = shutdown.wait() => return,
            }
        }
    }

    async fn reload(&self) {
        if let Some(certificates) = &self.certificates {
            tls::reload_logged(certificates);
        }
        match self.configuration().await {
            Ok(routes) => tracing::info!(gateway_routes = routes, "configuration reloaded"),
            Err(why) => tracing::error!(
                error = %why,
                "configuration reload failed; the gateway routes, upstreams and rate limits stay as they were"
            ),
        }
    }

    /// Reads the file and puts its gateway and rate limits in force; the
    /// number of gateway routes now.
    async fn configuration(&self) -> Result<usize, String> {
        let settings = config::load(self.config_file.as_deref()).map_err(|err| err.to_string())?;
        refused(&settings)?;
        let gateway = match (&self.gateway, &settings.gateway) {
            (Some(gateway), Some(new)) => {
                Some((gateway, gateway.prepare(new).await.map_err(|e| e.to_string())?))
            }
            (None, None) => None,
            _ => return Err("adding or removing [gateway] needs a restart".to_owned()),
        };
        let route_rates = settings
            .gateway
            .as_ref()
            .map(gateway::route_rates)
            .unwrap_or_default();
        let policies = self
            .limits
            .prepare(&settings.rate_limit, &route_rates)
            .map_err(|err| format!("rate_limit: {err}"))?;
        let mut routes = 0;
        if let Some((gateway, routing)) = gateway {
            routes = routing.routes();
            gateway.install(routing);
        }
        self.limits.install(policies);
        Ok(routes)
    }
}

/// The findings that would stop a start, among the keys a reload reads.
fn refused(settings: &Settings) -> Result<(), String> {
    let refused: Vec<String> = config::check::findings(settings, None)
        .iter()
        .filter(|finding| {
            finding.refuses_start(settings.env)
                && (finding.key.starts_with("gateway") || finding.key.starts_with("rate_limit"))
        })
        .map(ToString::to_string)
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused.join("; "))
    }
}
