//! The one road to items: every read and write, for the API and the app
//! page alike, goes through here with the caller, so the object rule
//! (OWASP API1:2023, [`super::may_access`]) is applied in one place and
//! every write passes one place where it can be announced.

use super::{
    events::{ItemEventKind, ItemEvents},
    may_access,
};
use crate::{
    auth::Principal,
    names::{Role, Username},
    store::{ItemFields, ItemRecord, ItemScope, Store, StoreError},
};

/// Items, as a caller may see and change them.
#[derive(Clone, Debug)]
pub struct Items {
    store: Store,
    events: ItemEvents,
}

impl Items {
    pub fn new(store: Store) -> Self {
        Self {
            events: ItemEvents::new(&store),
            store,
        }
    }

    /// The events of every write made through this service.
    pub fn events(&self) -> &ItemEvents {
        &self.events
    }

    async fn announce(&self, kind: ItemEventKind, item: Option<&ItemRecord>) {
        if let Some(item) = item {
            self.events.publish(kind, item).await;
        }
    }

    /// A new item owned by the caller; `None` if the caller's account is
    /// gone.
    pub async fn create(
        &self,
        caller: &impl Principal,
        fields: &ItemFields,
    ) -> Result<Option<ItemRecord>, StoreError> {
        let Ok(owner) = Username::parse(caller.username()) else {
            return Ok(None);
        };
        let created = self.store.create_item(&owner, fields).await?;
        self.announce(ItemEventKind::Created, created.as_ref()).await;
        Ok(created)
    }

    /// A page of the items the caller may see, newest first, and how many
    /// match in all.
    pub async fn list(
        &self,
        caller: &impl Principal,
        q: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ItemRecord>, i64), StoreError> {
        // The same rule as `may_access`, for listings: an admin sees every
        // item, anyone else their own.
        if caller.has_role(Role::ADMIN) {
            return self.store.list_items(ItemScope::All, q, limit, offset).await;
        }
        match Username::parse(caller.username()) {
            Ok(owner) => {
                self.store
                    .list_items(ItemScope::OwnedBy(&owner), q, limit, offset)
                    .await
            }
            Err(_) => Ok((Vec::new(), 0)),
        }
    }

    /// The item, if it exists and the caller may see it. Another user's
    /// item is `None` like a missing one, so ids cannot be probed.
    pub async fn get(&self, caller: &impl Principal, id: i64) -> Result<Option<ItemRecord>, StoreError> {
        Ok(self
            .store
            .find_item(id)
            .await?
            .filter(|item| may_access(caller, item)))
    }

    /// Replaces the fields of an item the caller may change.
    pub async fn update(
        &self,
        caller: &impl Principal,
        id: i64,
        fields: &ItemFields,
    ) -> Result<Option<ItemRecord>, StoreError> {
        if self.get(caller, id).await?.is_none() {
            return Ok(None);
        }
        let updated = self.store.update_item(id, fields).await?;
        self.announce(ItemEventKind::Updated, updated.as_ref()).await;
        Ok(updated)
    }

    /// Deletes an item the caller may change; `false` if there was none.
    pub async fn delete(&self, caller: &impl Principal, id: i64) -> Result<bool, StoreError> {
        let Some(item) = self.get(caller, id).await? else {
            return Ok(false);
        };
        let deleted = self.store.delete_item(id).await?;
        if deleted {
            self.announce(ItemEventKind::Deleted, Some(&item)).await;
        }
        Ok(deleted)
    }
}
