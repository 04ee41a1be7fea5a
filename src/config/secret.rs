//! The server secret: read only from the environment, held in a type that
//! cannot be printed, and judged against the rules of SPEC section 4.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretSlice};

/// Environment variable holding the secret itself.
pub const SECRET_ENV: &str = "RAMPART_SECRET_KEY";
/// Environment variable naming a file that holds the secret (e.g. a Docker or
/// Kubernetes secret mount). A trailing newline is not part of the secret.
pub const SECRET_FILE_ENV: &str = "RAMPART_SECRET_KEY_FILE";

/// The shortest secret accepted (SPEC section 2: `>= 32 bytes`).
pub const MIN_SECRET_BYTES: usize = 32;
/// The fewest distinct bytes a secret may hold. Random hex has 16 symbols
/// and in 32 characters (`openssl rand -hex 16`) shows fewer than 8 of them
/// with a probability below 10^-7, in 64 characters below 10^-18; a secret
/// typed from a handful of keys does not reach it.
pub const MIN_DISTINCT_BYTES: usize = 8;

/// Secrets that appear in tutorials and sample configurations. A server using
/// one has no secret at all (OWASP ASVS 5.0 V13.3: no default credentials).
/// Compared case-insensitively, after trimming.
pub const WELL_KNOWN: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "secret",
    "secret-key",
    "secret_key",
    "secretkey",
    "supersecret",
    "super-secret",
    "super-secret-key",
    "mysecret",
    "mysecretkey",
    "your-secret-key",
    "your_secret_key",
    "yoursecretkey",
    "hello-from-escape-team",
    "staysecureyourescapeteam",
    "password",
    "default",
    "development",
    "test",
    "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
];

/// The server secret. `Debug` prints `[REDACTED]`; there is no `Display`.
pub struct SecretKey(SecretSlice<u8>);

impl SecretKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    /// A fresh random secret, for development when none is configured.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        rand::fill(&mut bytes[..]);
        Self::new(bytes)
    }

    /// The key material, for key derivation only.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// A 32-byte key for one purpose, named by `info` (HKDF-SHA256, RFC
    /// 5869), so no two uses of the secret share a key.
    pub fn derive(&self, info: &[u8]) -> [u8; 32] {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"rampart"), self.expose());
        let mut key = [0u8; 32];
        hkdf.expand(info, &mut key)
            .expect("32 bytes is a valid HKDF length");
        key
    }

    /// What is wrong with this secret, if anything. Length alone does not
    /// make a secret: `changeme` four times is 32 bytes and no secret at all,
    /// so low-entropy patterns are refused like well-known values (ASVS 5.0
    /// V13.3: secrets are generated randomly, not chosen).
    pub fn weakness(&self) -> Option<SecretWeakness> {
        let bytes = self.expose();
        let text = String::from_utf8_lossy(bytes);
        let normalized = text.trim().to_ascii_lowercase();
        if WELL_KNOWN.contains(&normalized.as_str()) {
            Some(SecretWeakness::WellKnown)
        } else if bytes.len() < MIN_SECRET_BYTES {
            Some(SecretWeakness::TooShort(bytes.len()))
        } else if repeats_a_block(bytes) {
            Some(SecretWeakness::Repetitive)
        } else {
            let distinct = distinct_bytes(bytes);
            (distinct < MIN_DISTINCT_BYTES).then_some(SecretWeakness::FewDistinct(distinct))
        }
    }
}

/// Whether `bytes` is one block written at least twice (the last copy
/// possibly cut short): `abab...`, `changemechangeme...`, `aaaa...`.
///
/// The shortest period of a string is its length less its longest border
/// (a proper prefix that is also a suffix), which the Knuth-Morris-Pratt
/// failure function gives in linear time.
fn repeats_a_block(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 2 {
        return false;
    }
    let mut border = vec![0usize; n];
    for i in 1..n {
        let mut k = border[i - 1];
        while k > 0 && bytes[i] != bytes[k] {
            k = border[k - 1];
        }
        if bytes[i] == bytes[k] {
            k += 1;
        }
        border[i] = k;
    }
    let period = n - border[n - 1];
    period * 2 <= n
}

fn distinct_bytes(bytes: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &b in bytes {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|s| **s).count()
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretWeakness {
    TooShort(usize),
    WellKnown,
    /// One block repeated to fill the secret.
    Repetitive,
    /// Fewer than [`MIN_DISTINCT_BYTES`] different bytes.
    FewDistinct(usize),
}

impl std::fmt::Display for SecretWeakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort(len) => write!(
                f,
                "the secret is {len} bytes long; at least {MIN_SECRET_BYTES} are required"
            ),
            Self::WellKnown => f.write_str("the secret is a well-known default value"),
            Self::Repetitive => f.write_str("the secret repeats one block over and over"),
            Self::FewDistinct(count) => write!(
                f,
                "the secret uses only {count} different bytes; at least {MIN_DISTINCT_BYTES} are required"
            ),
        }
    }
}

/// Where the secret came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Environment,
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("set only one of {SECRET_ENV} and {SECRET_FILE_ENV}")]
    Both,
    #[error("{SECRET_FILE_ENV} names {path}, which cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{SECRET_ENV} is set but empty")]
    Empty,
}

/// Reads the secret from the process environment.
pub fn from_environment() -> Result<Option<(SecretKey, SecretSource)>, SecretError> {
    let direct = std::env::var_os(SECRET_ENV);
    let file = std::env::var_os(SECRET_FILE_ENV).map(PathBuf::from);
    match (direct, file) {
        (Some(_), Some(_)) => Err(SecretError::Both),
        (Some(value), None) => {
            let bytes = value.into_encoded_bytes();
            if bytes.is_empty() {
                return Err(SecretError::Empty);
            }
            Ok(Some((SecretKey::new(bytes), SecretSource::Environment)))
        }
        (None, Some(path)) => {
            let mut bytes = std::fs::read(&path).map_err(|err| SecretError::Unreadable {
                path: path.clone(),
                reason: err.kind().to_string(),
            })?;
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            if bytes.is_empty() {
                return Err(SecretError::Empty);
            }
            Ok(Some((SecretKey::new(bytes), SecretSource::File(path))))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_secrets_are_weak_whatever_their_case() {
        for known in [
            "changeme",
            "SECRET",
            " staysecureyourescapeteam ",
            "hello-from-escape-team",
        ] {
            assert_eq!(
                SecretKey::new(known.as_bytes().to_vec()).weakness(),
                Some(SecretWeakness::WellKnown),
                "{known}"
            );
        }
    }

    #[test]
    fn short_and_repetitive_secrets_are_weak() {
        let short = SecretKey::new(b"0123456789abcdef0123456789abcde".to_vec());
        assert_eq!(short.weakness(), Some(SecretWeakness::TooShort(31)));
        let repetitive = SecretKey::new(vec![b'a'; 64]);
        assert_eq!(repetitive.weakness(), Some(SecretWeakness::Repetitive));
    }

    #[test]
    fn blocks_repeated_to_fill_the_secret_are_weak() {
        for (block, times) in [
            ("changeme", 4),
            ("ab", 16),
            ("ab", 20),
            ("0123456789abcdef", 2),
            ("password", 4),
            ("Tr0ub4dor&3-xyz", 3),
        ] {
            let secret = block.repeat(times);
            assert_eq!(
                SecretKey::new(secret.clone().into_bytes()).weakness(),
                Some(SecretWeakness::Repetitive),
                "{secret}"
            );
        }
        // A last copy cut short is still a repetition.
        let cut = format!("{}chan", "changeme".repeat(4));
        assert_eq!(
            SecretKey::new(cut.into_bytes()).weakness(),
            Some(SecretWeakness::Repetitive)
        );
    }

    #[test]
    fn secrets_of_few_distinct_bytes_are_weak() {
        let secret = b"aabbccddaabbccddabcdabcdddccbbaa-x".to_vec();
        assert_eq!(
            SecretKey::new(secret).weakness(),
            Some(SecretWeakness::FewDistinct(6))
        );
    }

    #[test]
    fn random_hex_and_base64_secrets_pass() {
        use base64::Engine;
        for _ in 0..200 {
            // `openssl rand -hex 32`, `-hex 16` and `-base64 32`.
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let short_hex: String = bytes[..16].iter().map(|b| format!("{b:02x}")).collect();
            let base64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            for secret in [hex, short_hex, base64] {
                assert_eq!(
                    SecretKey::new(secret.clone().into_bytes()).weakness(),
                    None,
                    "{secret}"
                );
            }
        }
        // Hand-checked values, in case the generator were ever unlucky.
        for secret in [
            "d763480fc97cc7bfa4207390fb1f0d8759aa5cf009ef9ad22b451cf560b7e325",
            "LafPNiJg7HdNIAVdVuVGOn6HGH4998NS5pZjNpvG8SQ=",
        ] {
            assert_eq!(SecretKey::new(secret.as_bytes().to_vec()).weakness(), None);
        }
    }

    #[test]
    fn a_long_random_secret_is_fine_and_never_printed() {
        let key = SecretKey::generate();
        assert_eq!(key.weakness(), None);
        assert_eq!(format!("{key:?}"), "SecretKey([REDACTED])");
    }
}
