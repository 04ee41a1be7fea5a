//! Lists in configuration: a TOML array, or a comma-separated string (how
//! lists arrive from the environment, SPEC section 2).

use std::{fmt, marker::PhantomData, str::FromStr};

use serde::{
    Deserializer,
    de::{self, SeqAccess, Visitor},
};

/// Deserializes `["a", "b"]` or `"a, b"` into a list of parsed items. Each
/// item's own parse error is reported, so a bad entry is named.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    deserializer.deserialize_any(ListVisitor(PhantomData))
}

struct ListVisitor<T>(PhantomData<T>);

fn parse<T, E>(item: &str) -> Result<T, E>
where
    T: FromStr,
    T::Err: fmt::Display,
    E: de::Error,
{
    item.trim().parse().map_err(E::custom)
}

impl<'de, T> Visitor<'de> for ListVisitor<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list, or a comma-separated string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        text.split(',')
            .filter(|item| !item.trim().is_empty())
            .map(parse)
            .collect()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(parse(&item)?);
        }
        Ok(items)
    }
}
