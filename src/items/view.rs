//! An item as clients see it: the API's answers and the WebSocket's events
//! carry this one shape.

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{ItemRecord, rfc3339};

#[derive(Serialize, ToSchema)]
pub struct Item {
    id: i64,
    name: String,
    /// Sanitized HTML, as stored.
    description: Option<String>,
    price: f64,
    tax: Option<f64>,
    price_with_tax: f64,
    owner: String,
    /// RFC 3339.
    created_at: String,
}

impl From<&ItemRecord> for Item {
    fn from(item: &ItemRecord) -> Self {
        Self {
            price_with_tax: item.price + item.tax.unwrap_or(0.0),
            created_at: rfc3339(item.created_at),
            id: item.id,
            name: item.name.clone(),
            description: item.description.clone(),
            price: item.price,
            tax: item.tax,
            owner: item.owner.clone(),
        }
    }
}

impl From<ItemRecord> for Item {
    fn from(item: ItemRecord) -> Self {
        Self {
            price_with_tax: item.price + item.tax.unwrap_or(0.0),
            created_at: rfc3339(item.created_at),
            id: item.id,
            name: item.name,
            description: item.description,
            price: item.price,
            tax: item.tax,
            owner: item.owner,
        }
    }
}
