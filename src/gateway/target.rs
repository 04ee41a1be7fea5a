//! One upstream as the gateway reaches it: its pooled client, the audience
//! of its assertions, the hosts its routes answer for and its time-out.

use std::{sync::Arc, time::Duration};

use super::upstream::Upstream;
use crate::{auth::assertion::Assertions, config::gateway::HostName};

/// One upstream: its client, what its assertions are addressed to, and the
/// hosts its routes answer for.
pub struct Target {
    /// Its name, as metrics label it.
    pub name: Arc<str>,
    pub(super) upstream: Arc<Upstream>,
    pub(super) assertions: Assertions,
    hosts: Vec<HostName>,
    /// `gateway.timeout`: no response headers by then, 504.
    pub(super) timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Target {
    pub(super) fn new(
        name: &str,
        upstream: Arc<Upstream>,
        assertions: Assertions,
        hosts: Vec<HostName>,
        timeout: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            upstream,
            assertions,
            hosts,
            timeout,
        }
    }

    /// Whether its routes answer a request for `host` (without its port).
    pub fn serves(&self, host: Option<&str>) -> bool {
        self.hosts.is_empty()
            || host.is_some_and(|host| self.hosts.iter().any(|h| h.as_str().eq_ignore_ascii_case(host)))
    }
}
