//! Item events: every write the items service makes is announced here, and
//! the open WebSockets (`realtime`) subscribe. An event is serialized once,
//! when it is published, however many sockets it reaches.
//!
//! On PostgreSQL other instances may serve sockets too: each event is also
//! stored (`store::item_events`) and announced with `NOTIFY`; every
//! instance reads the events of the others by number ([`ItemEvents::relay`],
//! at once when announced and every second: an announcement lost while a
//! connection was down delays an event, never loses it) and sends them to
//! its own sockets. A stored log rather than Redis pub/sub, which delivers
//! at most once.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Mutex, broadcast};

use super::Item;
use crate::store::{ItemRecord, Store, StoreError, cursor::Cursor, now_ms};

/// Events a subscriber may fall behind by before it is told it lagged
/// (and its socket is closed: it missed events).
const CAPACITY: usize = 1024;
/// How long a missing event number is waited for (a write that commits
/// late) before it is taken for a rollback.
const GAP_PATIENCE: Duration = Duration::from_secs(60);
/// Stored events are kept this long: every instance has read them by then.
pub const RETENTION: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemEventKind {
    Created,
    Updated,
    Deleted,
}

/// One write to an item, as subscribers receive it.
#[derive(Debug)]
pub struct ItemEvent {
    /// The item's owner, for the object rule ([`super::may_access`]).
    pub owner: String,
    /// `{"event":"created|updated|deleted","item":{...}}`, UTF-8 JSON.
    pub message: Bytes,
}

impl ItemEvent {
    pub fn new(kind: ItemEventKind, item: &ItemRecord) -> Self {
        #[derive(Serialize)]
        struct Wire<'a> {
            event: ItemEventKind,
            item: &'a Item,
        }
        let message = serde_json::to_vec(&Wire {
            event: kind,
            item: &Item::from(item),
        })
        .expect("an item serializes");
        Self {
            owner: item.owner.clone(),
            message: Bytes::from(message),
        }
    }
}

/// The channel item events go through.
#[derive(Clone, Debug)]
pub struct ItemEvents {
    sender: broadcast::Sender<Arc<ItemEvent>>,
    shared: Option<Arc<Shared>>,
}

/// What sharing events with other instances takes.
#[derive(Debug)]
struct Shared {
    store: Store,
    /// This instance, so it skips its own stored events.
    origin: String,
    cursor: Mutex<Option<Cursor>>,
}

impl Default for ItemEvents {
    fn default() -> Self {
        Self {
            sender: broadcast::Sender::new(CAPACITY),
            shared: None,
        }
    }
}

impl ItemEvents {
    /// Events for this instance's sockets, and, when the store may be
    /// shared by other instances, theirs.
    pub fn new(store: &Store) -> Self {
        Self {
            shared: store.shares_item_events().then(|| {
                Arc::new(Shared {
                    store: store.clone(),
                    origin: uuid::Uuid::new_v4().to_string(),
                    cursor: Mutex::new(None),
                })
            }),
            ..Self::default()
        }
    }

    /// Announces a write; costs nothing when nobody listens (here or, on a
    /// shared store, anywhere).
    pub async fn publish(&self, kind: ItemEventKind, item: &ItemRecord) {
        if self.sender.receiver_count() == 0 && self.shared.is_none() {
            return;
        }
        let event = Arc::new(ItemEvent::new(kind, item));
        if let Some(shared) = &self.shared {
            let message = std::str::from_utf8(&event.message).expect("JSON is UTF-8");
            if let Err(err) = shared
                .store
                .log_item_event(&shared.origin, &event.owner, message, now_ms())
                .await
            {
                // The write stands; other instances' sockets miss this one.
                tracing::warn!(error = %err, "storing an item event for other instances failed");
            }
        }
        // No receiver left between the count and the send is fine.
        let _ = self.sender.send(event);
    }

    /// Sends this instance's sockets the events other instances stored
    /// since the last call; nothing on an unshared store.
    pub async fn relay(&self) -> Result<(), StoreError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let mut cursor = shared.cursor.lock().await;
        let now = tokio::time::Instant::now();
        let cursor = match &mut *cursor {
            Some(cursor) => cursor,
            // From now on: events stored before this instance started are
            // no one's here.
            empty => empty.insert(Cursor::new(
                shared.store.latest_item_event_before(now_ms() + 1).await?,
            )),
        };
        for stored in shared.store.item_events_after(cursor.read_from(), 1_000).await? {
            if !cursor.take(stored.seq) || stored.origin == shared.origin {
                continue;
            }
            if self.sender.receiver_count() > 0 {
                let _ = self.sender.send(Arc::new(ItemEvent {
                    owner: stored.owner,
                    message: Bytes::from(stored.message),
                }));
            }
        }
        cursor.settle(now, GAP_PATIENCE);
        Ok(())
    }

    /// Events of the writes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ItemEvent>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ItemRecord {
        ItemRecord {
            id: 7,
            name: "lamp".into(),
            description: Some("<b>ok</b>".into()),
            price: 2.5,
            tax: None,
            owner: "alice".into(),
            created_at: 0,
        }
    }

    #[test]
    fn events_carry_the_item_as_the_api_shows_it() {
        let event = ItemEvent::new(ItemEventKind::Updated, &record());
        let json: serde_json::Value = serde_json::from_slice(&event.message).unwrap();
        assert_eq!(json["event"], "updated");
        assert_eq!(json["item"]["id"], 7);
        assert_eq!(json["item"]["price_with_tax"], 2.5);
        assert_eq!(json["item"]["description"], "<b>ok</b>");
        assert_eq!(event.owner, "alice");
    }

    #[tokio::test]
    async fn subscribers_see_writes_made_after_they_subscribed() {
        let events = ItemEvents::default();
        events.publish(ItemEventKind::Created, &record()).await;
        let mut receiver = events.subscribe();
        events.publish(ItemEventKind::Deleted, &record()).await;
        let event = receiver.recv().await.unwrap();
        assert!(
            std::str::from_utf8(&event.message)
                .unwrap()
                .starts_with(r#"{"event":"deleted""#)
        );
        assert!(receiver.try_recv().is_err());
    }
}
