//! Items: the typed input (a name, price, tax or description cannot exist
//! invalid), the HTML policy for descriptions, the object rule, the shape
//! clients see, and the events every write announces.

pub mod events;
pub mod fields;
pub mod sanitize;
mod service;
mod view;

pub use service::Items;
pub use view::Item;

use crate::{auth::Principal, names::Role, store::ItemRecord};

/// The object rule (OWASP API1:2023), in one place: the owner or an admin
/// may act on an item. Everyone else is told it does not exist (404, never
/// 403), so ids cannot be probed.
pub fn may_access(user: &impl Principal, item: &ItemRecord) -> bool {
    user.has_role(Role::ADMIN) || item.owner.eq_ignore_ascii_case(user.username())
}
