//! Audit events: who did what security-relevant thing, from where, with
//! what outcome (OWASP ASVS 5.0 V16.3). Each event is logged at once and
//! stored by a background writer.
//!
//! Recording never fails the request it describes: events go through a
//! bounded queue, and when the queue is full the event is still logged but
//! not stored, and `audit_events_dropped_total` counts it. Its log line is
//! never dropped: with stdout stuck, logging it waits for room
//! (`observability::log_writer`).

use std::net::IpAddr;

use tokio::sync::mpsc;

use crate::{
    observability::{
        log_writer::AUDIT_TARGET,
        metrics::{AUDIT_EVENTS_DROPPED, SECOND_FACTOR_EVENTS},
    },
    ratelimit::Refusal,
    store::{AuditRecord, Store, now_ms},
};

/// Events waiting to be stored, at most.
const QUEUE: usize = 4096;
/// Events stored per transaction, at most.
const BATCH: usize = 256;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Login,
    Refresh,
    RefreshReuse,
    Revoke,
    RateLimited,
    CsrfRejected,
    AccessDenied,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    UserCreated,
    PasswordChanged,
    KeyRotated,
    KeyRevoked,
    WebSocketRefused,
    MfaEnrolled,
    MfaRemoved,
    MfaFailed,
    MfaPassed,
    RecoveryCodeUsed,
    MfaReset,
    SsoLogin,
}

impl Action {
    /// For a second factor's step, the factor it concerns (a closed set,
    /// for a metric's label), from the event's subject.
    fn second_factor(self, target: Option<&str>) -> Option<&'static str> {
        match self {
            Self::MfaReset => Some("all"),
            Self::RecoveryCodeUsed => Some("recovery_code"),
            Self::MfaEnrolled | Self::MfaRemoved | Self::MfaFailed | Self::MfaPassed => Some(match target {
                Some("totp") => "totp",
                Some(passkey) if passkey.starts_with("passkey") => "passkey",
                Some("recovery_codes") => "recovery_code",
                _ => "code",
            }),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::RefreshReuse => "refresh_reuse",
            Self::Revoke => "revoke",
            Self::RateLimited => "rate_limited",
            Self::CsrfRejected => "csrf_rejected",
            Self::AccessDenied => "access_denied",
            Self::RoleChanged => "role_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserCreated => "user_created",
            Self::PasswordChanged => "password_changed",
            Self::KeyRotated => "key_rotated",
            Self::KeyRevoked => "key_revoked",
            Self::WebSocketRefused => "websocket_refused",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::MfaRemoved => "mfa_removed",
            Self::MfaFailed => "mfa_failed",
            Self::MfaPassed => "mfa_passed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::MfaReset => "mfa_reset",
            Self::SsoLogin => "sso_login",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// Where a request came from, for its audit events (`http::provenance` reads
/// it from a request).
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// Records audit events.
#[derive(Clone, Debug)]
pub struct Auditor {
    queue: mpsc::Sender<AuditRecord>,
}

impl Auditor {
    /// An auditor and the writer that stores its events. The writer ends
    /// when every clone of the auditor is gone, after storing what is queued.
    pub fn start(store: Store) -> (Self, impl Future<Output = ()>) {
        let (queue, events) = mpsc::channel(QUEUE);
        (Self { queue }, write(store, events))
    }

    /// Records a rate limit's refusal when the limiter keeps this one
    /// ([`Refusal::audit`]: the first of a subject under a policy, then one
    /// a minute).
    pub fn rate_limited(&self, refusal: &Refusal, actor: Option<&str>, provenance: &Provenance) {
        if refusal.audit {
            self.record(
                Action::RateLimited,
                Outcome::Denied,
                actor,
                Some(refusal.policy.as_str()),
                provenance,
            );
        }
    }

    /// Logs and queues an event.
    pub fn record(
        &self,
        action: Action,
        outcome: Outcome,
        actor: Option<&str>,
        target: Option<&str>,
        provenance: &Provenance,
    ) {
        if let Some(factor) = action.second_factor(target) {
            metrics::counter!(SECOND_FACTOR_EVENTS, "event" => action.as_str(), "factor" => factor)
                .increment(1);
        }
        let event = event(action, outcome, actor, target, provenance);
        // Logged from the stored form, so the log holds no more than the
        // table does.
        tracing::info!(
            target: AUDIT_TARGET,
            action = event.action.as_str(),
            outcome = event.outcome.as_str(),
            actor = event.actor.as_deref(),
            subject = event.target.as_deref(),
            client_ip = event.client_ip.as_deref(),
            request_id = event.request_id.as_deref(),
            "audit"
        );
        if self.queue.try_send(event).is_err() {
            metrics::counter!(AUDIT_EVENTS_DROPPED).increment(1);
        }
    }
}

/// An event as stored, happening now.
pub fn event(
    action: Action,
    outcome: Outcome,
    actor: Option<&str>,
    target: Option<&str>,
    provenance: &Provenance,
) -> AuditRecord {
    AuditRecord {
        at: now_ms(),
        actor: actor.map(bounded),
        action: action.as_str().to_owned(),
        target: target.map(bounded),
        client_ip: provenance.client_ip.map(|ip| ip.to_string()),
        request_id: provenance.request_id.clone(),
        outcome: outcome.as_str().to_owned(),
    }
}

/// The longest value an event keeps whole, in characters.
pub const MAX_FIELD_CHARS: usize = 256;

/// A value as an event keeps it: whole up to [`MAX_FIELD_CHARS`], else
/// its start and a mark that it was cut (OWASP Logging cheat sheet; a
/// client must not be able to grow the log or the audit table at will).
pub fn bounded(value: &str) -> String {
    match value.char_indices().nth(MAX_FIELD_CHARS) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}...", &value[..end]),
    }
}

/// Stores an event at once, for work done outside a request (the command
/// line, scheduled rotation), and logs it. A failure to store is logged.
pub async fn record_direct(
    store: &Store,
    action: Action,
    outcome: Outcome,
    actor: &str,
    target: Option<&str>,
) {
    let event = event(action, outcome, Some(actor), target, &Provenance::default());
    tracing::info!(target: AUDIT_TARGET, action = action.as_str(), outcome = outcome.as_str(), actor, subject = target, "audit");
    if let Err(err) = store.insert_audit_events(std::slice::from_ref(&event)).await {
        metrics::counter!(AUDIT_EVENTS_DROPPED).increment(1);
        tracing::error!(error = %err, "storing an audit event failed");
    }
}

async fn write(store: Store, mut events: mpsc::Receiver<AuditRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if events.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        if let Err(err) = store.insert_audit_events(&batch).await {
            metrics::counter!(AUDIT_EVENTS_DROPPED).increment(batch.len() as u64);
            tracing::error!(error = %err, dropped = batch.len(), "storing audit events failed");
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut() {
        assert_eq!(bounded("alice"), "alice");
        let exact = "é".repeat(MAX_FIELD_CHARS);
        assert_eq!(bounded(&exact), exact);
        let long = "x".repeat(300_000);
        let cut = bounded(&long);
        assert_eq!(cut.len(), MAX_FIELD_CHARS + 3);
        assert!(cut.ends_with("..."));
    }
}
