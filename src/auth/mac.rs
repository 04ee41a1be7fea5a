//! A MAC key for one purpose: HMAC-SHA-256 under a key derived (HKDF) from
//! the server secret with a label of its own, so a value signed for one
//! purpose (a CSRF token) never verifies as another (a device cookie).
//! The key is never printed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::secret::SecretKey;

#[derive(Clone)]
pub struct MacKey([u8; 32]);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey([REDACTED])")
    }
}

impl MacKey {
    /// The key for `purpose` (a label, e.g. `b"rampart csrf token v1"`).
    pub fn derive(secret: &SecretKey, purpose: &[u8]) -> Self {
        Self(secret.derive(purpose))
    }

    /// The MAC of `parts`, one after the other.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `mac` is the MAC of `parts`, compared in constant time.
    pub fn verifies(&self, parts: &[&[u8]], mac: &[u8]) -> bool {
        bool::from(self.sign(parts)[..].ct_eq(mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_verifies_for_its_parts_and_its_purpose_only() {
        let secret = SecretKey::generate();
        let csrf = MacKey::derive(&secret, b"one purpose");
        let other = MacKey::derive(&secret, b"another purpose");
        let mac = csrf.sign(&[b"ab", b"c"]);
        assert!(csrf.verifies(&[b"ab", b"c"], &mac));
        assert!(!csrf.verifies(&[b"ab", b"d"], &mac));
        assert!(!other.verifies(&[b"ab", b"c"], &mac));
        assert!(!csrf.verifies(&[b"ab", b"c"], &mac[..31]));
        assert!(!format!("{csrf:?}").contains(&format!("{:?}", csrf.0)));
    }
}
