//! A user's open credentials as an admin sees them (SPEC section 9):
//! browser sessions and refresh-token families, each with an id to revoke
//! it by. Ids say their kind: `s-` and the hex SHA-256 of a session's
//! cookie (the cookie itself is never stored), `f-` and a family's id.

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{CredentialKind, OpenCredential, rfc3339};

/// What a credential id names.
#[derive(Debug, PartialEq, Eq)]
pub enum CredentialId<'a> {
    /// The SHA-256 of a session's cookie.
    Session([u8; 32]),
    RefreshFamily(&'a str),
}

impl<'a> CredentialId<'a> {
    /// `None` for what can name nothing.
    pub fn parse(id: &'a str) -> Option<Self> {
        if let Some(digest) = id.strip_prefix("s-") {
            return unhex(digest).map(Self::Session);
        }
        id.strip_prefix("f-")
            .filter(|family| {
                (1..=64).contains(&family.len()) && family.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .map(Self::RefreshFamily)
    }
}

/// One open credential.
#[derive(Serialize, ToSchema)]
pub struct CredentialView {
    /// What `POST /admin/sessions/{id}/revoke` takes.
    pub id: String,
    /// `session` (a browser's cookie) or `refresh_family` (a login at
    /// `/token` and every refresh token rotated from it).
    #[schema(example = "session")]
    pub kind: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: a session's last request, a family's last refresh.
    pub last_seen_at: String,
    /// Where it started (none for one from before this was kept).
    pub client_ip: Option<String>,
}

impl From<OpenCredential> for CredentialView {
    fn from(credential: OpenCredential) -> Self {
        let (id, kind) = match credential.kind {
            CredentialKind::Session(digest) => (format!("s-{}", hex(&digest)), "session"),
            CredentialKind::RefreshFamily(family) => (format!("f-{family}"), "refresh_family"),
        };
        Self {
            id,
            kind,
            created_at: rfc3339(credential.created_at),
            last_seen_at: rfc3339(credential.last_seen_at),
            client_ip: credential.client_ip,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_kind_and_nothing_else() {
        let digest: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 7).unwrap());
        let id = format!("s-{}", hex(&digest));
        assert_eq!(CredentialId::parse(&id), Some(CredentialId::Session(digest)));
        assert_eq!(
            CredentialId::parse("f-abc123"),
            Some(CredentialId::RefreshFamily("abc123"))
        );
        for bad in [
            "",
            "s-00",
            &format!("s-{}", "zz".repeat(32)),
            "f-",
            "f-a;b",
            "x-abc",
            "abc",
        ] {
            assert_eq!(CredentialId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(CredentialId::parse(&format!("f-{}", "a".repeat(65))), None);
    }
}
