//! Password hashes: argon2id with the OWASP password storage cheat sheet's
//! parameters (m = 19 MiB, t = 2, p = 1), the formats accepted on import
//! (argon2 and bcrypt, as passlib stores them), and verification, with an
//! unknown user checked against a dummy hash so timing says nothing. Each
//! function runs on the calling thread: the pool (`super`) calls them.

use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

/// OWASP minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid argon2 parameters"),
    )
}

/// The result of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, or an unusable stored hash.
    No,
    /// Right password, and the stored hash is current.
    Yes,
    /// Right password; store this argon2id hash in place of the old one
    /// (bcrypt, or weaker argon2 parameters).
    YesRehashed(String),
}

/// Accepted stored-hash formats.
pub fn is_supported_hash(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) && bcrypt_parts_ok(hash)
        || argon2::PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}

fn bcrypt_parts_ok(hash: &str) -> bool {
    // $2b$12$ + 53 characters of salt and hash.
    hash.len() == 60 && hash[4..6].bytes().all(|b| b.is_ascii_digit()) && &hash[6..7] == "$"
}

/// Hashes with the current parameters, on the calling thread.
pub fn hash_now(password: &str) -> Result<String, String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A hash of a random password with the current parameters: what an
/// unknown user's password is checked against.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 24];
        rand::fill(&mut random);
        let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
        hash_now(&password).expect("hashing a random password works")
    })
}

/// Verifies an argon2id hash with the current parameters in this thread's
/// own 19 MiB of working memory, allocated once per hashing thread instead
/// of per login (fresh memory costs a page fault per 4 KiB, which on virtual
/// machines doubled the cost of a login). `None` if the hash has other
/// parameters.
fn verify_current(password: &str, parsed: &argon2::PasswordHash) -> Option<bool> {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(0x13)
        && Params::try_from(parsed)
            .is_ok_and(|p| p.m_cost() == MEMORY_KIB && p.t_cost() == ITERATIONS && p.p_cost() == LANES);
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return None;
    };
    if !current || expected.len() > 64 {
        return None;
    }
    let expected = expected.as_bytes();
    let mut output = [0u8; 64];
    let output = &mut output[..expected.len()];
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(expected.len())).ok()?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    metrics::counter!(crate::observability::metrics::PASSWORD_VERIFICATIONS).increment(1);
    MEMORY.with_borrow_mut(|memory| {
        memory.resize(MEMORY_KIB as usize, argon2::Block::default());
        hasher
            .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), output, &mut memory[..])
            .ok()
    })?;
    Some(bool::from(subtle::ConstantTimeEq::ct_eq(&output[..], expected)))
}

/// Verifies on the calling thread.
pub fn verify_now(password: &str, stored: Option<&str>) -> Verified {
    // An account with no password (made by single sign-on) answers as an
    // unknown one does, after the same work.
    let Some(stored) = stored.filter(|stored| *stored != crate::store::NO_PASSWORD) else {
        // Same work as a real user's check: timing tells nothing.
        let dummy = argon2::PasswordHash::new(dummy_hash()).expect("the dummy hash parses");
        let _ = verify_current(password, &dummy);
        return Verified::No;
    };
    if stored.starts_with("$2") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => match hash_now(password) {
                Ok(new_hash) => Verified::YesRehashed(new_hash),
                Err(_) => Verified::Yes,
            },
            _ => Verified::No,
        };
    }
    let Ok(parsed) = argon2::PasswordHash::new(stored) else {
        return Verified::No;
    };
    match verify_current(password, &parsed) {
        Some(true) => return Verified::Yes,
        Some(false) => return Verified::No,
        None => {}
    }
    if argon2().verify_password(password.as_bytes(), &parsed).is_err() {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() >= MEMORY_KIB && p.t_cost() >= ITERATIONS && p.p_cost() >= LANES);
    if current {
        Verified::Yes
    } else {
        hash_now(password).map_or(Verified::Yes, Verified::YesRehashed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_use_owasp_parameters_and_verify() {
        let hash = hash_now("Zq8#mT2!vL9p").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(verify_now("Zq8#mT2!vL9p", Some(&hash)), Verified::Yes);
        assert_eq!(verify_now("wrong-password", Some(&hash)), Verified::No);
        assert_eq!(verify_now("Zq8#mT2!vL9p", None), Verified::No);
    }

    #[test]
    fn bcrypt_hashes_verify_and_are_upgraded() {
        let hash = bcrypt::hash("password1", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &hash[4..]);
            assert!(is_supported_hash(&variant));
            match verify_now("password1", Some(&variant)) {
                Verified::YesRehashed(new) => assert!(new.starts_with("$argon2id$")),
                other => panic!("{prefix}: {other:?}"),
            }
            assert_eq!(verify_now("password2", Some(&variant)), Verified::No);
        }
    }

    #[test]
    fn weaker_argon2_hashes_are_upgraded() {
        let weak = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(b"Zq8#mT2!vL9p")
        .unwrap()
        .to_string();
        assert!(matches!(
            verify_now("Zq8#mT2!vL9p", Some(&weak)),
            Verified::YesRehashed(_)
        ));
    }

    #[test]
    fn unsupported_hashes_are_recognised() {
        assert!(!is_supported_hash("plaintext"));
        assert!(!is_supported_hash("$1$abc$def"));
        assert!(!is_supported_hash("$2b$12$short"));
    }
}
