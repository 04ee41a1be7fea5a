//! The first run (SPEC section 3, "First run"): a server whose database
//! holds no admin names a one-time setup link at start, whose form creates
//! the first admin. The link carries 256 random bits, works once, and for
//! 30 minutes; only its SHA-256 digest is kept, in this process's memory,
//! so the instance that printed the link is the one that honours it (a
//! restart prints a new one). Several instances on one database each print
//! a link; the store creates the first admin only while none exists, in
//! one transaction (`Store::create_first_admin`), so one of them wins.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, MutexGuard};

/// How long a setup link works.
pub const SETUP_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The setup link's token, while it may still be used.
#[derive(Debug)]
pub struct FirstRun {
    digest: [u8; 32],
    expires: Instant,
    /// Held while a setup is carried out, so two forms sent at once create
    /// one admin; `true` once one was created.
    spent: Mutex<bool>,
}

/// A setup in progress: the token was right and unspent. Call
/// [`Setup::spend`] once the admin exists.
pub struct Setup<'a>(MutexGuard<'a, bool>);

impl Setup<'_> {
    pub fn spend(mut self) {
        *self.0 = true;
    }
}

impl FirstRun {
    /// A new link's state, and the token to print.
    pub fn new() -> (Self, SecretString) {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let token = SecretString::from(URL_SAFE_NO_PAD.encode(bytes));
        let first_run = Self {
            digest: digest(token.expose_secret()),
            expires: Instant::now() + SETUP_LIFETIME,
            spent: Mutex::new(false),
        };
        (first_run, token)
    }

    /// Whether `token` opens the setup now (not spent, not expired).
    pub fn accepts(&self, token: &str) -> bool {
        self.matches(token)
            && Instant::now() < self.expires
            && !self.spent.try_lock().is_ok_and(|spent| *spent)
    }

    /// Begins a setup with `token`: `None` when it is wrong, spent or
    /// expired. Waits for a setup already in progress.
    pub async fn begin(&self, token: &str) -> Option<Setup<'_>> {
        if !self.matches(token) || Instant::now() >= self.expires {
            return None;
        }
        let spent = self.spent.lock().await;
        (!*spent).then_some(Setup(spent))
    }

    fn matches(&self, token: &str) -> bool {
        bool::from(digest(token).ct_eq(&self.digest))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_token_opens_the_setup_once() {
        let (first_run, token) = FirstRun::new();
        let token = token.expose_secret();
        assert_eq!(token.len(), 43, "256 bits, base64url");
        assert!(first_run.accepts(token));
        assert!(!first_run.accepts("wrong"));
        assert!(first_run.begin("wrong").await.is_none());
        // A setup that fails (a refused password, say) leaves it usable.
        drop(first_run.begin(token).await.unwrap());
        assert!(first_run.accepts(token));
        first_run.begin(token).await.unwrap().spend();
        assert!(!first_run.accepts(token));
        assert!(first_run.begin(token).await.is_none());
    }

    #[tokio::test]
    async fn an_expired_token_opens_nothing() {
        let (mut first_run, token) = FirstRun::new();
        first_run.expires = Instant::now();
        assert!(!first_run.accepts(token.expose_secret()));
        assert!(first_run.begin(token.expose_secret()).await.is_none());
    }
}
