//! Device cookies (OWASP "Slow Down Online Guessing Attacks with Device
//! Cookies"): a browser where a user signed in successfully gets a signed
//! cookie naming that user. While it is valid, that browser's login
//! attempts for that user spend a budget of its own instead of the budget
//! every unknown client shares, so guessing from elsewhere cannot lock the
//! owner out.
//!
//! The cookie is `v1.<user>.<issued>.<nonce>.<mac>`: the user's name in
//! lower case (base64url), the issue time in unix seconds, 16 random bytes
//! that tell one device from another, and an HMAC-SHA-256 over the rest
//! with a key derived from the server secret. Nothing is stored.

use std::time::Duration;

use super::mac::MacKey;
use crate::config::secret::SecretKey;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

/// How long a device stays known after a successful login.
pub const DEVICE_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

const VERSION: &str = "v1";

/// One device, as its cookie's nonce names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceId(pub [u8; 16]);

/// Signs and checks device cookies.
#[derive(Clone, Debug)]
pub struct DeviceKey(MacKey);

impl DeviceKey {
    pub fn new(secret: &SecretKey) -> Self {
        Self(MacKey::derive(secret, b"rampart device cookie v1"))
    }

    /// A new cookie value naming `username`, issued at `now` (unix s).
    pub fn issue(&self, username: &str, now: i64) -> String {
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce);
        let body = format!(
            "{VERSION}.{}.{now}.{}",
            B64.encode(username.to_lowercase()),
            B64.encode(nonce)
        );
        let mac = B64.encode(self.0.sign(&[body.as_bytes()]));
        format!("{body}.{mac}")
    }

    /// The device, if `cookie` was issued by this server for `username`
    /// (compared without case) within [`DEVICE_LIFETIME`] of `now`.
    pub fn verify(&self, cookie: &str, username: &str, now: i64) -> Option<DeviceId> {
        let (body, mac) = cookie.rsplit_once('.')?;
        let mac = B64.decode(mac).ok()?;
        if !self.0.verifies(&[body.as_bytes()], &mac) {
            return None;
        }
        let mut parts = body.split('.');
        let (version, user, issued, nonce) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != VERSION || parts.next().is_some() {
            return None;
        }
        let user = B64.decode(user).ok()?;
        if !user.eq_ignore_ascii_case(username.as_bytes()) {
            return None;
        }
        let issued: i64 = issued.parse().ok()?;
        let lifetime = i64::try_from(DEVICE_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        if issued > now + 60 || now - issued >= lifetime {
            return None;
        }
        let nonce: [u8; 16] = B64.decode(nonce).ok()?.try_into().ok()?;
        Some(DeviceId(nonce))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DeviceKey {
        DeviceKey::new(&SecretKey::generate())
    }

    #[test]
    fn a_cookie_names_its_user_and_its_device() {
        let key = key();
        let now = 1_800_000_000;
        let cookie = key.issue("Alice", now);
        let device = key.verify(&cookie, "alice", now).expect("valid");
        assert_eq!(key.verify(&cookie, "ALICE", now + 10), Some(device));
        assert_eq!(key.verify(&cookie, "bob", now), None);
        assert_ne!(key.verify(&key.issue("alice", now), "alice", now), Some(device));
    }

    #[test]
    fn old_forged_and_foreign_cookies_fail() {
        let key = key();
        let now = 1_800_000_000;
        let cookie = key.issue("alice", now);
        let lifetime = DEVICE_LIFETIME.as_secs() as i64;
        assert!(key.verify(&cookie, "alice", now + lifetime - 1).is_some());
        assert!(key.verify(&cookie, "alice", now + lifetime).is_none());
        assert!(
            DeviceKey::new(&SecretKey::generate())
                .verify(&cookie, "alice", now)
                .is_none()
        );
        let (body, _) = cookie.rsplit_once('.').unwrap();
        let bob = body.replacen(&B64.encode("alice"), &B64.encode("bob"), 1);
        for forged in [
            "",
            "v1",
            &format!("{body}.AAAA"),
            &format!("{bob}.{}", cookie.rsplit_once('.').unwrap().1),
        ] {
            assert!(key.verify(forged, "alice", now).is_none(), "{forged:?}");
            assert!(key.verify(forged, "bob", now).is_none(), "{forged:?}");
        }
    }
}
