//! The item request body: each field a type that parses, so a handler never
//! sees an invalid name, price, tax or description.

use serde::Deserialize;
use utoipa::ToSchema;

use super::sanitize;
use crate::store::ItemFields;

/// 1-100 characters.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct ItemName(String);

impl TryFrom<String> for ItemName {
    type Error = &'static str;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        match name.chars().count() {
            0 => Err("String should have at least 1 character"),
            1..=100 => Ok(Self(name)),
            _ => Err("String should have at most 100 characters"),
        }
    }
}

/// At most 10,000 characters of HTML, sanitized on parsing.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Description(String);

impl TryFrom<String> for Description {
    type Error = &'static str;
    fn try_from(html: String) -> Result<Self, Self::Error> {
        if html.chars().count() > 10_000 {
            return Err("String should have at most 10000 characters");
        }
        Ok(Self(sanitize::clean(&html)))
    }
}

/// A finite number greater than 0.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "f64")]
pub struct Price(f64);

impl TryFrom<f64> for Price {
    type Error = &'static str;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err("Input should be greater than 0")
        }
    }
}

/// A finite number, 0 or more.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "f64")]
pub struct Tax(f64);

impl TryFrom<f64> for Tax {
    type Error = &'static str;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if value.is_finite() && value >= 0.0 {
            Ok(Self(value))
        } else {
            Err("Input should be greater than or equal to 0")
        }
    }
}

/// An item as a client sends it. Unknown fields (`owner`, `id`, ...) are
/// refused (OWASP API3:2023, mass assignment).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "Foo")]
    name: ItemName,
    #[schema(value_type = Option<String>, max_length = 10000, example = "<b>ok</b>")]
    #[serde(default)]
    description: Option<Description>,
    #[schema(value_type = f64, exclusive_minimum = 0, example = 35.4)]
    price: Price,
    #[schema(value_type = Option<f64>, minimum = 0, example = 3.2)]
    #[serde(default)]
    tax: Option<Tax>,
}

impl From<ItemBody> for ItemFields {
    fn from(body: ItemBody) -> Self {
        Self {
            name: body.name.0,
            description: body.description.map(|d| d.0),
            price: body.price.0,
            tax: body.tax.map(|t| t.0),
        }
    }
}
