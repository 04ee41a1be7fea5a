//! `rampart serve`.

use std::{path::Path, process::ExitCode, sync::Arc};

use super::{Failure, findings};
use crate::{
    app::Application,
    config::{
        self,
        secret::{self, SecretKey},
    },
    observability,
    server::{self, Shutdown},
};

pub fn run(config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    let settings = config::load(config_file)?;
    let secret = secret::from_environment()?;
    let found = findings(&settings, secret.as_ref().map(|(key, _)| key));
    let refused: Vec<String> = found
        .iter()
        .filter(|f| f.refuses_start(settings.env))
        .map(ToString::to_string)
        .collect();
    if !refused.is_empty() {
        return Err(Failure::Config(format!(
            "refusing to start: {}",
            refused.join("; ")
        )));
    }

    // The guard flushes the log when the command ends.
    let observability::Observability {
        log_guard: _log_guard,
        metrics,
    } = observability::start();
    for finding in &found {
        tracing::warn!(key = finding.key, severity = %finding.level, "configuration: {}", finding.message);
    }
    let secret = match secret {
        Some((key, _)) => key,
        None => SecretKey::generate(),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::Runtime(format!("cannot start the async runtime: {err}")))?;
    runtime.block_on(async move {
        let app = Application::build(settings, Arc::new(secret), metrics)
            .await
            .map_err(|err| Failure::Runtime(err.to_string()))?
            .reloading_from(config_file);
        tracing::info!(
            addr = %app.local_addr(),
            admin_addr = %app.admin_addr(),
            redirect_addr = app.redirect_addr().map(tracing::field::display),
            tls = app.tls(),
            "listening"
        );
        if let Some(link) = app.setup_link() {
            // To the operator's terminal, never to the JSON log: the link
            // is a credential (SPEC section 3, "First run").
            eprintln!("rampart: no admin account yet; create the first one within 30 minutes at {link}");
        }
        // Once started (the first round of background upkeep included),
        // what only the start needed goes back to the system.
        tokio::spawn(async {
            tokio::time::sleep(server::memory::SETTLE).await;
            let _ = tokio::task::spawn_blocking(server::memory::release_startup_memory).await;
        });
        let shutdown = Shutdown::new();
        tokio::spawn(server::wait_for_signal(shutdown.clone()));
        app.run(shutdown).await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}
