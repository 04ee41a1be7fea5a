//! CSRF tokens: OWASP's signed double-submit cookie. A token is
//! `random.HMAC(key, binding || random)`, where the binding is the digest of
//! the caller's session id, or before login the digest of a random
//! pre-session nonce held in its own cookie (OWASP CSRF cheat sheet,
//! "pre-sessions"), so a login-form token is good for one browser only. The same token
//! goes in a cookie and in the request (`X-CSRF-Token` or the form field
//! `csrf_token`); the server checks that the two are equal and that the
//! signature holds for the session the request belongs to, so a cookie and
//! token pair taken from another session, or forged, is refused.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{mac::MacKey, session::SessionId};
use crate::config::secret::SecretKey;

/// What a token is bound to: a session, or a pre-session nonce (the login
/// form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding([u8; 32]);

impl Binding {
    pub fn session(session: &SessionId) -> Self {
        Self(session.digest())
    }

    /// The binding of a pre-session nonce; apart from every session's, as
    /// the digest is of a prefixed value.
    pub fn presession(nonce: &str) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"rampart presession\0");
        digest.update(nonce.as_bytes());
        Self(digest.finalize().into())
    }
}

/// A new pre-session nonce: 256 random bits.
pub fn new_presession() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The key tokens are signed with, derived from the server secret.
#[derive(Clone, Debug)]
pub struct CsrfKey(MacKey);

impl CsrfKey {
    pub fn new(secret: &SecretKey) -> Self {
        Self(MacKey::derive(secret, b"rampart csrf token v1"))
    }

    /// A fresh token for `binding`.
    pub fn issue(&self, binding: Binding) -> String {
        let mut random = [0u8; 16];
        rand::fill(&mut random);
        let random = URL_SAFE_NO_PAD.encode(random);
        let signature = URL_SAFE_NO_PAD.encode(self.0.sign(&[&binding.0, random.as_bytes()]));
        format!("{random}.{signature}")
    }

    /// Whether `token` was issued by this server for `binding`.
    pub fn verify(&self, token: &str, binding: Binding) -> bool {
        let Some((random, signature)) = token.split_once('.') else {
            return false;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.0.verifies(&[&binding.0, random.as_bytes()], &signature)
    }
}

/// The double-submit check: the token sent equals the cookie's, and it was
/// issued for this binding. Constant time in the tokens' contents.
pub fn matches(key: &CsrfKey, sent: &str, cookie: &str, binding: Binding) -> bool {
    let same = bool::from(sent.as_bytes().ct_eq(cookie.as_bytes()));
    same && key.verify(sent, binding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CsrfKey {
        CsrfKey::new(&SecretKey::generate())
    }

    #[test]
    fn a_token_verifies_for_its_binding_only() {
        let key = key();
        let mine = Binding::session(&SessionId::from_cookie("session-a"));
        let theirs = Binding::session(&SessionId::from_cookie("session-b"));
        let token = key.issue(mine);
        assert!(matches(&key, &token, &token, mine));
        assert!(!matches(&key, &token, &token, theirs));
        assert!(!matches(&key, &token, &token, Binding::presession("session-a")));
        let before_login = key.issue(Binding::presession(&new_presession()));
        assert!(!matches(
            &key,
            &before_login,
            &before_login,
            Binding::presession(&new_presession())
        ));
        assert!(
            !matches(&key, &token, &key.issue(mine), mine),
            "sent and cookie differ"
        );
    }

    #[test]
    fn forged_and_malformed_tokens_fail() {
        let key = key();
        let binding = Binding::presession(&new_presession());
        let token = key.issue(binding);
        let other_key = CsrfKey::new(&SecretKey::generate());
        assert!(!other_key.verify(&token, binding));
        let (random, _) = token.split_once('.').unwrap();
        for forged in [
            "",
            ".",
            "abc",
            &format!("{random}."),
            &format!("{random}.AAAA"),
            "a.b.c",
        ] {
            assert!(!key.verify(forged, binding), "{forged:?}");
        }
    }
}
