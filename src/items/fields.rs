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
    pub fn parse(&self) -> Result<ItemFields, Vec<(&'static str, &'static str)>> {
        let mut errors = Vec::new();
        let number = |text: &str| {
            text.trim()
                .parse::<f64>()
                .map_err(|_| "Input should be a valid number")
        };
        let name = ItemName::try_from(self.name.clone())
            .map_err(|e| errors.push(("name", e)))
            .ok();
        let description = (!self.description.is_empty())
            .then(|| {
                Description::try_from(self.description.clone())
                    .map_err(|e| errors.push(("description", e)))
                    .ok()
            })
            .flatten();
        let price = number(&self.price)
            .and_then(Price::try_from)
            .map_err(|e| errors.push(("price", e)))
            .ok();
        let tax = if self.tax.trim().is_empty() {
            None
        } else {
            number(&self.tax)
                .and_then(Tax::try_from)
                .map_err(|e| errors.push(("tax", e)))
                .ok()
        };
        match (name, price) {
            (Some(name), Some(price)) if errors.is_empty() => Ok(ItemFields {
                name: name.0,
                description: description.map(|d| d.0),
                price: price.0,
                tax: tax.map(|t| t.0),
            }),
            _ => Err(errors),
        }
    }
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
