//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps): a new secret,
//! its `otpauth://` URI, and which time step a code belongs to. The
//! algorithm is `totp-rs`'s; what a step's use means (once per user) is the
//! store's ([`crate::store::Store::spend_totp_step`]).

use base32::Alphabet;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use totp_rs::{Algorithm, Builder};

/// 160 bits, RFC 4226 section 4's recommended length.
pub const SECRET_BYTES: usize = 20;
const STEP_SECS: u64 = 30;

/// A new random secret.
pub fn new_secret() -> [u8; SECRET_BYTES] {
    let mut secret = [0u8; SECRET_BYTES];
    rand::fill(&mut secret);
    secret
}

/// The secret as authenticator apps take it: base32 without padding.
pub fn base32(secret: &[u8]) -> String {
    base32::encode(Alphabet::Rfc4648 { padding: false }, secret)
}

/// `otpauth://totp/<issuer>:<username>?secret=...&issuer=<issuer>` (the
/// Key Uri Format that authenticator apps read), the label's parts and the
/// issuer percent-encoded.
pub fn otpauth_uri(secret: &[u8], issuer: &str, username: &str) -> String {
    let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC).to_string();
    let username = utf8_percent_encode(username, NON_ALPHANUMERIC);
    format!(
        "otpauth://totp/{issuer}:{username}?secret={}&issuer={issuer}",
        base32(secret)
    )
}

/// Whether `code` is a TOTP code shape: six ASCII digits, spaces ignored.
pub fn looks_like_code(code: &str) -> bool {
    let digits = code.chars().filter(|c| !c.is_ascii_whitespace());
    digits.clone().count() == 6 && digits.clone().all(|c| c.is_ascii_digit())
}

/// The time step `code` is valid for at `now_secs`: the current one or one
/// on either side (clock drift, a code typed as it turned).
pub fn matched_step(secret: &[u8], code: &str, now_secs: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(secret.to_vec())
        .build()
        .ok()?;
    totp.check(&code, now_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret and times (its codes are 8
    /// digits; ours are their last 6).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238_test_vectors_and_their_step() {
        assert_eq!(matched_step(RFC_SECRET, "287082", 59), Some(1));
        assert_eq!(
            matched_step(RFC_SECRET, "081804", 1_111_111_109),
            Some(37_037_036)
        );
        assert_eq!(
            matched_step(RFC_SECRET, "050471", 1_111_111_111),
            Some(37_037_037)
        );
        assert_eq!(
            matched_step(RFC_SECRET, "005924", 1_234_567_890),
            Some(41_152_263)
        );
        // One step either side, no further.
        assert_eq!(
            matched_step(RFC_SECRET, "005924", 1_234_567_890 + 30),
            Some(41_152_263)
        );
        assert_eq!(matched_step(RFC_SECRET, "005924", 1_234_567_890 + 60), None);
        assert_eq!(
            matched_step(RFC_SECRET, "005 924", 1_234_567_890),
            Some(41_152_263)
        );
        assert_eq!(matched_step(RFC_SECRET, "005925", 1_234_567_890), None);
    }

    #[test]
    fn the_uri_names_issuer_and_user_and_carries_the_secret_in_base32() {
        let uri = otpauth_uri(RFC_SECRET, "rampart", "alice");
        assert_eq!(
            uri,
            "otpauth://totp/rampart:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=rampart"
        );
        let odd = otpauth_uri(RFC_SECRET, "https://id.example", "a.b");
        assert!(
            odd.starts_with("otpauth://totp/https%3A%2F%2Fid%2Eexample:a%2Eb?"),
            "{odd}"
        );
        assert!(looks_like_code("123 456"));
        assert!(!looks_like_code("12345"));
        assert!(!looks_like_code("abcdef"));
    }
}
