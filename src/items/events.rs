//! Item events: every write the items service makes is announced here, and
//! the open WebSockets (`realtime`) subscribe. An event is serialized once,
//! when it is published, however many sockets it reaches.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use super::Item;
use crate::store::ItemRecord;

/// Events a subscriber may fall behind by before it is told it lagged
/// (and its socket is closed: it missed events).
const CAPACITY: usize = 1024;

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
}

impl Default for ItemEvents {
    fn default() -> Self {
        Self {
            sender: broadcast::Sender::new(CAPACITY),
        }
    }
}

impl ItemEvents {
    /// Announces a write; costs nothing when nobody listens.
    pub fn publish(&self, kind: ItemEventKind, item: &ItemRecord) {
        if self.sender.receiver_count() > 0 {
            // No receiver left between the count and the send is fine.
            let _ = self.sender.send(Arc::new(ItemEvent::new(kind, item)));
        }
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
        events.publish(ItemEventKind::Created, &record());
        let mut receiver = events.subscribe();
        events.publish(ItemEventKind::Deleted, &record());
        let event = receiver.recv().await.unwrap();
        assert!(
            std::str::from_utf8(&event.message)
                .unwrap()
                .starts_with(r#"{"event":"deleted""#)
        );
        assert!(receiver.try_recv().is_err());
    }
}
