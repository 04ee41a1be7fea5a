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

/// Secrets that appear in tutorials and sample configurations. A server using
/// one has no secret at all (OWASP ASVS 5.0 V13.3: no default credentials).
/// Compared case-insensitively, after trimming.
const WELL_KNOWN: &[&str] = &[
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

    /// What is wrong with this secret, if anything.
    pub fn weakness(&self) -> Option<SecretWeakness> {
        let bytes = self.expose();
        let text = String::from_utf8_lossy(bytes);
        let normalized = text.trim().to_ascii_lowercase();
        if WELL_KNOWN.contains(&normalized.as_str()) {
            Some(SecretWeakness::WellKnown)
        } else if bytes.len() < MIN_SECRET_BYTES {
            Some(SecretWeakness::TooShort(bytes.len()))
        } else if bytes.iter().all(|b| *b == bytes[0]) {
            Some(SecretWeakness::Repetitive)
        } else {
            None
        }
    }
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
    Repetitive,
}

impl std::fmt::Display for SecretWeakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort(len) => write!(
                f,
                "the secret is {len} bytes long; at least {MIN_SECRET_BYTES} are required"
            ),
            Self::WellKnown => f.write_str("the secret is a well-known default value"),
            Self::Repetitive => f.write_str("the secret repeats a single byte"),
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
    fn a_long_random_secret_is_fine_and_never_printed() {
        let key = SecretKey::generate();
        assert_eq!(key.weakness(), None);
        assert_eq!(format!("{key:?}"), "SecretKey([REDACTED])");
    }
}
