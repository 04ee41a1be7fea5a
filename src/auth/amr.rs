//! How a caller signed in: the authentication methods of RFC 8176 that a
//! credential carries as `amr` (access tokens, sessions, gateway
//! assertions), SPEC section 7.
//!
//! A set of at most five methods, so a byte: a token's claims are decoded
//! on every request that is not already cached, and a byte costs no
//! allocation. Written as RFC 8176's names, in a fixed order.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser::SerializeSeq};

/// The methods, each a bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Method {
    /// A password.
    Pwd = 1,
    /// A one-time password: a TOTP code or a recovery code.
    Otp = 2,
    /// A proof of possession of a hardware-protected key: a passkey.
    Hwk = 4,
    /// Federated: an OpenID Connect provider signed the caller in.
    Fed = 8,
    /// More than one factor: two were shown, or a passkey verified its
    /// user.
    Mfa = 16,
}

impl Method {
    const ALL: [Self; 5] = [Self::Pwd, Self::Otp, Self::Hwk, Self::Fed, Self::Mfa];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
            Self::Fed => "fed",
            Self::Mfa => "mfa",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.name() == name)
    }
}

/// The methods a credential was obtained with.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Amr(u8);

impl Amr {
    /// A password alone.
    pub const PASSWORD: Self = Self(Method::Pwd as u8);

    pub const fn of(methods: &[Method]) -> Self {
        let mut bits = 0;
        let mut at = 0;
        while at < methods.len() {
            bits |= methods[at] as u8;
            at += 1;
        }
        Self(bits)
    }

    /// These methods and `method`.
    #[must_use]
    pub const fn with(self, method: Method) -> Self {
        Self(self.0 | method as u8)
    }

    pub const fn has(self, method: Method) -> bool {
        self.0 & method as u8 != 0
    }

    /// Whether a second factor was shown (`mfa`).
    pub const fn is_multi_factor(self) -> bool {
        self.has(Method::Mfa)
    }

    pub fn methods(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |method| self.has(*method))
    }

    /// The stored form: the names, space-separated (as OAuth scopes are).
    pub fn to_text(self) -> String {
        self.to_string()
    }

    /// Reads the stored form; an unknown name is ignored (a later version
    /// may know more methods than this one).
    pub fn from_text(text: &str) -> Self {
        Self(
            text.split_ascii_whitespace()
                .filter_map(Method::named)
                .fold(0, |bits, method| bits | method as u8),
        )
    }
}

impl fmt::Display for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, method) in self.methods().enumerate() {
            if at > 0 {
                f.write_str(" ")?;
            }
            f.write_str(method.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amr({self})")
    }
}

/// A JSON array of names (RFC 8176 section 1).
impl Serialize for Amr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.count_ones() as usize))?;
        for method in self.methods() {
            seq.serialize_element(method.name())?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Amr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> de::Visitor<'de> for Names {
            type Value = Amr;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of authentication method names")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Amr, A::Error> {
                let mut amr = Amr::default();
                while let Some(name) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    if let Some(method) = Method::named(&name) {
                        amr = amr.with(method);
                    }
                }
                Ok(amr)
            }
        }
        deserializer.deserialize_seq(Names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_is_rfc_8176_names_in_json_and_text() {
        let amr = Amr::of(&[Method::Otp, Method::Pwd, Method::Mfa]);
        assert_eq!(serde_json::to_string(&amr).unwrap(), r#"["pwd","otp","mfa"]"#);
        assert_eq!(amr.to_text(), "pwd otp mfa");
        assert_eq!(Amr::from_text("pwd otp mfa"), amr);
        assert_eq!(
            serde_json::from_str::<Amr>(r#"["mfa","otp","pwd","sms"]"#).unwrap(),
            amr
        );
        assert!(amr.is_multi_factor());
        assert!(!Amr::PASSWORD.is_multi_factor());
        assert_eq!(Amr::from_text(""), Amr::default());
    }
}
