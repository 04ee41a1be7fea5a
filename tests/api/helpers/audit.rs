//! Audit helpers: waiting for an event to be stored.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestServer;

/// Polls `/admin/audit` until an event matches; events are stored by a
/// background writer.
pub async fn wait_for_event(
    server: &TestServer,
    token: &str,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events: Value = server
            .get_as("/admin/audit?limit=1000", token)
            .await
            .json()
            .await
            .unwrap();
        if let Some(event) = events.as_array().unwrap().iter().find(|e| matches(e)) {
            return event.clone();
        }
        assert!(Instant::now() < deadline, "no audit event: {what}\n{events:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
