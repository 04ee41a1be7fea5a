//! The secret: set, and not weak.

use super::Finding;
use crate::config::secret::SecretKey;

pub(super) fn findings(secret: Option<&SecretKey>, production: bool) -> Vec<Finding> {
    let mut found = Vec::new();
    match secret.map(SecretKey::weakness) {
        None if production => found.push(Finding::error(
            "secret",
            "no secret is set: set RAMPART_SECRET_KEY or RAMPART_SECRET_KEY_FILE (at least 32 random bytes)",
        )),
        None => found.push(Finding::warning(
            "secret",
            "no secret is set: a random one is generated per process, so tokens and sessions end at every restart",
        )),
        Some(Some(weakness)) => found.push(
            Finding::error("secret", format!("{weakness}: use at least 32 random bytes")).everywhere(),
        ),
        Some(None) => {}
    }

    found
}
