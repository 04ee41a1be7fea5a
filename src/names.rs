//! Usernames and roles: types that can only hold valid values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::input::{Field, Invalid, Problem, Raw, bounded_text};

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
}

impl Username {
    /// The pattern of a valid name, as the OpenAPI document states it.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_.-]+$";
}

/// The rule as the OpenAPI document states it.
impl utoipa::PartialSchema for Username {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(3, 32, Self::PATTERN, "alice")
    }
}

impl utoipa::ToSchema for Username {}

impl Field for Username {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        let text = bounded_text(raw, 3, 32)?;
        Self::parse(&text).map_err(|_| Problem::string_pattern_mismatch(Self::PATTERN).into())
    }
}

impl TryFrom<String> for Username {
    type Error = UsernameError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Username> for String {
    fn from(name: Username) -> Self {
        name.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

impl Role {
    /// The pattern of a valid role, as the OpenAPI document states it.
    pub const PATTERN: &'static str = "^[a-z][a-z0-9_-]*$";
}

/// The rule as the OpenAPI document states it.
impl utoipa::PartialSchema for Role {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(1, 32, Self::PATTERN, "admin")
    }
}

impl utoipa::ToSchema for Role {}

impl Field for Role {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        let text = bounded_text(raw, 1, 32)?;
        Self::parse(&text).map_err(|_| Problem::string_pattern_mismatch(Self::PATTERN).into())
    }
}

impl TryFrom<String> for Role {
    type Error = RoleError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Role> for String {
    fn from(role: Role) -> Self {
        role.0
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
