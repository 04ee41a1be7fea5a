//! The item request body: each field a type that parses, so a handler never
//! sees an invalid name, price, tax or description.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::sanitize;
use crate::{
    input::{Field, Fields, Invalid, Model, Problem, Raw, bounded_text},
    store::ItemFields,
};

/// The largest price or tax: every sum of the two is a finite number, and
/// every amount in cents below it is exact in an `f64`.
pub const MAX_AMOUNT: f64 = 1e15;

/// 1-100 characters.
#[derive(Clone, Debug)]
pub struct ItemName(String);

impl Field for ItemName {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        bounded_text(raw, 1, 100).map(Self)
    }
}

/// At most 10,000 characters of HTML, sanitized on reading.
#[derive(Clone, Debug)]
pub struct Description(String);

impl Field for Description {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        bounded_text(raw, 0, 10_000).map(|html| Self(sanitize::clean(&html)))
    }
}

/// A number greater than 0, at most [`MAX_AMOUNT`].
#[derive(Clone, Copy, Debug)]
pub struct Price(f64);

impl Field for Price {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        amount(raw, |value| value > 0.0, || Problem::greater_than(json!(0))).map(Self)
    }
}

/// A number from 0 to [`MAX_AMOUNT`].
#[derive(Clone, Copy, Debug)]
pub struct Tax(f64);

impl Field for Tax {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        amount(
            raw,
            |value| value >= 0.0,
            || Problem::greater_than_equal(json!(0)),
        )
        .map(Self)
    }
}

/// A number at most [`MAX_AMOUNT`] that passes `low`, else `too_low()`.
fn amount(raw: Raw<'_>, low: fn(f64) -> bool, too_low: fn() -> Problem) -> Result<f64, Invalid> {
    let value = f64::read(raw)?;
    if !low(value) {
        Err(too_low().into())
    } else if value > MAX_AMOUNT {
        Err(Problem::less_than_equal(json!(MAX_AMOUNT)).into())
    } else {
        Ok(value)
    }
}

/// An item as a client sends it. Unknown fields (`owner`, `id`, ...) are
/// refused (OWASP API3:2023, mass assignment).
#[derive(Debug, ToSchema)]
pub struct ItemBody {
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "Foo")]
    name: ItemName,
    #[schema(value_type = Option<String>, max_length = 10000, example = "<b>ok</b>")]
    description: Option<Description>,
    #[schema(value_type = f64, exclusive_minimum = 0, maximum = 1e15, example = 35.4)]
    price: Price,
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1e15, example = 3.2)]
    tax: Option<Tax>,
}

impl Model for ItemBody {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let name = fields.required("name", ItemName::read);
        let description = fields.optional("description", Description::read);
        let price = fields.required("price", Price::read);
        let tax = fields.optional("tax", Tax::read);
        Some(Self {
            name: name?,
            description: description?,
            price: price?,
            tax: tax?,
        })
    }
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

/// An item from the `/app` page's HTML form, where every field is text
/// (and an empty one means absent). Parsed by the same rules as [`ItemBody`].
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemForm {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price: String,
    #[serde(default)]
    pub tax: String,
    /// Checked before the handler runs (the CSRF rules).
    pub csrf_token: Option<String>,
}

impl ItemForm {
    /// The fields, or each rule broken as `(field, message)`.
    pub fn parse(&self) -> Result<ItemFields, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let name = check(&mut errors, "name", ItemName::read(Raw::Text(&self.name)));
        let description = match self.description.as_str() {
            "" => Some(None),
            html => check(&mut errors, "description", Description::read(Raw::Text(html))).map(Some),
        };
        let price = check(&mut errors, "price", Price::read(Raw::Text(&self.price)));
        let tax = match self.tax.trim() {
            "" => Some(None),
            tax => check(&mut errors, "tax", Tax::read(Raw::Text(tax))).map(Some),
        };
        match (name, description, price, tax) {
            (Some(name), Some(description), Some(price), Some(tax)) => Ok(ItemFields {
                name: name.0,
                description: description.map(|d| d.0),
                price: price.0,
                tax: tax.map(|t| t.0),
            }),
            _ => Err(errors),
        }
    }
}

/// The value, or its problems recorded under `field`.
fn check<T>(
    errors: &mut Vec<(&'static str, String)>,
    field: &'static str,
    read: Result<T, Invalid>,
) -> Option<T> {
    read.map_err(|invalid| {
        errors.extend(
            invalid
                .0
                .into_iter()
                .map(|problem| (field, problem.msg.into_owned())),
        );
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, description: &str, price: &str, tax: &str) -> ItemForm {
        ItemForm {
            name: name.into(),
            description: description.into(),
            price: price.into(),
            tax: tax.into(),
            csrf_token: None,
        }
    }

    #[test]
    fn a_form_parses_by_the_api_rules() {
        let fields = form("Lamp", "<b>ok</b><script>x</script>", " 12.5 ", "")
            .parse()
            .unwrap();
        assert_eq!(fields.name, "Lamp");
        assert_eq!(fields.description.as_deref(), Some("<b>ok</b>"));
        assert_eq!(fields.price, 12.5);
        assert_eq!(fields.tax, None);
        assert!(form("Lamp", "", "1", "").parse().unwrap().description.is_none());
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let errors = form("", "", "free", "-1").parse().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(field, _)| *field).collect();
        assert_eq!(fields, ["name", "price", "tax"]);
        assert!(form("x", "", "0", "").parse().is_err());
        assert!(form("x", "", "NaN", "").parse().is_err());
    }
}
