//! One upstream as the gateway reaches it: its pooled client, the audience
//! of its assertions, the hosts its routes answer for and its time-out.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use http::StatusCode;
use metrics::{Counter, Histogram};

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
    metrics: Metered,
}

/// Its metrics' handles, registered once: a forwarded request then counts
/// with an atomic add, with no label made and no registry looked up.
struct Metered {
    duration: Histogram,
    /// `gateway_upstream_requests_total{status}`, by status 100-599, each
    /// registered when first seen.
    requests: Box<[OnceLock<Counter>]>,
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
        let duration = metrics::histogram!(
            crate::observability::metrics::GATEWAY_UPSTREAM_DURATION,
            "upstream" => name.to_owned(),
        );
        Self {
            name: name.into(),
            upstream,
            assertions,
            hosts,
            timeout,
            metrics: Metered {
                duration,
                requests: (100..600).map(|_| OnceLock::new()).collect(),
            },
        }
    }

    /// Counts an exchange that answered `status` after `elapsed`.
    pub(super) fn metered(&self, status: StatusCode, elapsed: Duration) {
        let counter = |status: StatusCode| {
            metrics::counter!(
                crate::observability::metrics::GATEWAY_UPSTREAM_REQUESTS,
                "upstream" => self.name.to_string(),
                "status" => status.as_str().to_owned(),
            )
        };
        match usize::from(status.as_u16())
            .checked_sub(100)
            .and_then(|at| self.metrics.requests.get(at))
        {
            Some(slot) => slot.get_or_init(|| counter(status)).increment(1),
            None => counter(status).increment(1),
        }
        self.metrics.duration.record(elapsed.as_secs_f64());
    }

    /// Whether its routes answer a request for `host` (without its port).
    pub fn serves(&self, host: Option<&str>) -> bool {
        self.hosts.is_empty()
            || host.is_some_and(|host| self.hosts.iter().any(|h| h.as_str().eq_ignore_ascii_case(host)))
    }
}
