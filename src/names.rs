//! Usernames and roles: types that can only hold valid values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::input::{Field, Invalid, Problem, Raw, bounded_text};

/// What a name type (a `String` that `parse` has checked) is besides: its
/// pattern, its schema as the OpenAPI document states the rule, a request
/// field, serde's way in and out, and its text.
macro_rules! name_type {
    ($name:ident, $error:ident, $min:literal, $max:literal, $pattern:literal, $example:literal) => {
        impl $name {
            /// The pattern of a valid value, as the OpenAPI document states it.
            pub const PATTERN: &'static str = $pattern;
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                string_schema($min, $max, Self::PATTERN, $example)
            }
        }

        impl utoipa::ToSchema for $name {}

        impl Field for $name {
            fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
                let text = bounded_text(raw, $min, $max)?;
                Self::parse(&text).map_err(|_| Problem::string_pattern_mismatch(Self::PATTERN).into())
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// 3-32 characters of `[A-Za-z0-9_.-]` (SPEC section 3, "Users").
/// Compared case-insensitively by the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

#[derive(Debug, thiserror::Error)]
#[error("Username must be 3 to 32 characters of letters, digits, '_', '.' and '-'")]
pub struct UsernameError;

impl Username {
    /// How an attempted user name is logged and audited: as typed when it
    /// is a valid name, else `"<invalid>"` (a password typed into the name
    /// field, or a megabyte of junk, never reaches the logs; ASVS 5.0
    /// 16.2.5).
    pub fn loggable(attempted: &str) -> &str {
        match Self::parse(attempted) {
            Ok(_) => attempted,
            Err(_) => "<invalid>",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UsernameError> {
        let valid = (3..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(UsernameError)
        }
    }

    /// The name as the store compares it: user names are unique and
    /// compared without letter case (they are ASCII).
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A valid name made from any text (an identity provider's claim):
    /// characters a name may not hold become `_`, the length is cut to
    /// 32 and padded to 3. `None` when nothing of it is left (an empty
    /// claim).
    pub fn made_from(text: &str) -> Option<Self> {
        let mut name: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(32)
            .collect();
        if name.trim_matches('_').is_empty() {
            return None;
        }
        while name.len() < 3 {
            name.push('_');
        }
        Self::parse(&name).ok()
    }

    /// This name with `-{n}` at its end (cut to make room): the next
    /// choice when this one is taken.
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let keep = 32usize.saturating_sub(suffix.len()).min(self.0.len());
        Self(format!("{}{suffix}", &self.0[..keep]))
    }
}

name_type!(Username, UsernameError, 3, 32, "^[A-Za-z0-9_.-]+$", "alice");

/// A role name: 1-32 of `[a-z0-9_-]`, starting with a letter. `user` and
/// `admin` have meaning to rampart; others may be assigned for callers' own
/// use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Role(String);

#[derive(Debug, thiserror::Error)]
#[error("a role is 1 to 32 characters of lower-case letters, digits, '_' and '-', starting with a letter")]
pub struct RoleError;

impl Role {
    pub const USER: &'static str = "user";
    pub const ADMIN: &'static str = "admin";

    pub fn parse(text: &str) -> Result<Self, RoleError> {
        let valid = (1..=32).contains(&text.len())
            && text.as_bytes()[0].is_ascii_lowercase()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(RoleError)
        }
    }

    pub fn user() -> Self {
        Self(Self::USER.to_owned())
    }

    pub fn admin() -> Self {
        Self(Self::ADMIN.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

name_type!(Role, RoleError, 1, 32, "^[a-z][a-z0-9_-]*$", "admin");

fn string_schema(
    min: usize,
    max: usize,
    pattern: &str,
    example: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .examples([example])
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_made_from_claims() {
        let made = |text: &str| Username::made_from(text).map(|n| n.as_str().to_owned());
        assert_eq!(made("alice").as_deref(), Some("alice"));
        assert_eq!(made("alice@example.com").as_deref(), Some("alice_example.com"));
        assert_eq!(made("Émile Zola").as_deref(), Some("_mile_Zola"));
        assert_eq!(made("al").as_deref(), Some("al_"));
        assert_eq!(made(&"x".repeat(40)).as_deref(), Some("x".repeat(32).as_str()));
        assert_eq!(made(""), None);
        assert_eq!(made("@@@"), None);
        let long = Username::parse(&"y".repeat(32)).unwrap();
        assert_eq!(long.with_suffix(2).as_str(), format!("{}-2", "y".repeat(30)));
        assert_eq!(Username::parse("bob").unwrap().with_suffix(12).as_str(), "bob-12");
    }

    #[test]
    fn usernames() {
        for ok in ["abc", "Alice_1.x-y", &"a".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", &"a".repeat(33), "has space", "émile", "a/b", ""] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles() {
        for ok in ["user", "admin", "billing-2"] {
            assert!(Role::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Admin", "2fa", "a b", &"a".repeat(33)] {
            assert!(Role::parse(bad).is_err(), "{bad}");
        }
    }
}
