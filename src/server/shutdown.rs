//! Graceful shutdown: one token, cloned into every task that must stop.

use tokio_util::sync::CancellationToken;

/// Fires once, when the server should stop.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Completes when the shutdown has started.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}

/// Triggers `shutdown` on SIGTERM or SIGINT (Ctrl-C).
pub async fn wait_for_signal(shutdown: Shutdown) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the server with SIGKILL");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        () = shutdown.wait() => return,
    };
    tracing::info!(signal = name, "shutting down");
    shutdown.trigger();
}
