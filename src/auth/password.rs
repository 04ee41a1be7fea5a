//! Passwords: the policy for new ones, hashing with argon2id, verifying
//! argon2 and imported bcrypt hashes, all on a bounded pool of threads.
//!
//! OWASP password storage cheat sheet: argon2id with m = 19 MiB, t = 2,
//! p = 1 is the minimum; rampart uses those parameters. bcrypt hashes (as a
//! passlib/FastAPI app stores them) verify, and are replaced by argon2id at
//! the next successful login.
//!
//! Hashing is slow on purpose, so it never runs on the async workers: jobs
//! go to a rayon pool with one thread per core, and at most
//! `QUEUE_PER_THREAD` jobs per thread may wait. A full queue answers "busy"
//! at once (the caller returns 503 with `Retry-After`) instead of queueing
//! without bound, so a login flood cannot stall other routes. A new
//! password's policy check runs there too, in the job that hashes it:
//! zxcvbn's estimate is too slow for an async worker as well.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// OWASP minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;
/// Jobs that may wait per pool thread before the pool reports busy.
const QUEUE_PER_THREAD: usize = 16;

/// The shortest and longest password accepted, in characters (Unicode
/// scalar values), as NIST SP 800-63B 3.1.1.2 counts them and as JSON
/// Schema's `minLength`/`maxLength` state them in the OpenAPI document. At
/// most 4 KiB of UTF-8 ever reaches the hash.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The product's name: a word every attacker of this server knows.
pub const PRODUCT_NAME: &str = "rampart";
/// A password that uses a context word must still take this many guesses
/// (log10) when the attacker knows the word: zxcvbn's top score, "very
/// unguessable" (more than 10^10 guesses).
const CONTEXT_MIN_GUESSES_LOG10: f64 = 10.0;
/// Context words shorter than this are too common to hold against a password.
const CONTEXT_MIN_CHARS: usize = 3;
/// Any password must take at least this many guesses by zxcvbn's estimate:
/// zxcvbn's score 3, "safely unguessable: moderate protection from offline
/// slow-hash scenario", which is what argon2id storage is for; 8 random
/// characters reach it. NIST SP 800-63B 3.1.1.2 asks verifiers to refuse
/// "commonly-used, expected, or compromised" values, and OWASP ASVS 5.0 6.2
/// to check new passwords against common ones.
const MIN_GUESSES: u64 = 100_000_000;
/// zxcvbn estimates on at most this many leading characters. Its matching is
/// superlinear: the l33t matcher runs every dictionary over every substring
/// once per combination of substitutions the password's symbols allow, so a
/// few dozen characters of `4@8({[<3691!|70$5+%2` cost many argon2id hashes.
/// A password is at least as hard to guess as its beginning, so a prefix
/// that passes vouches for the whole, and with this bound the estimate of
/// the longest password allowed costs no more than about one hash (input
/// costs what it weighs). What the bound gives up: a long password whose
/// first characters alone are guessable (`aaaaaaaaaaaaaaaaaaaa...`) is
/// refused, with zxcvbn's advice about that beginning.
const ESTIMATE_PREFIX_CHARS: usize = 20;

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid argon2 parameters"),
    )
}

/// Why a new password is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    #[error("Password must be at least 8 characters long")]
    TooShort,
    #[error("Password must be at most 1024 characters long")]
    TooLong,
    /// The whole password is on zxcvbn's list; `advice` is zxcvbn's.
    #[error("Password is too common: choose one that is not on lists of well-known passwords. {advice}")]
    WellKnown { advice: String },
    #[error("Password must not be built from the username or the product's name")]
    ContextSpecific,
    /// Fewer than `MIN_GUESSES` by zxcvbn's estimate; `advice` is zxcvbn's
    /// warning and suggestions.
    #[error("Password is too easy to guess: {advice}")]
    Guessable { advice: String },
}

/// A new password's policy check or its hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum NewPasswordError {
    #[error(transparent)]
    Rejected(#[from] PasswordRejection),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Who a new password is for: besides the product's name, the words it must
/// not be built from.
#[derive(Clone, Copy, Debug)]
pub struct PasswordContext<'a> {
    pub username: &'a str,
    /// `auth.issuer`, the name the server's tokens carry.
    pub issuer: &'a str,
}

impl PasswordContext<'_> {
    /// The context words, lower-cased: the username, the product's name and
    /// the issuer.
    fn words(&self) -> Vec<String> {
        [self.username, PRODUCT_NAME, self.issuer]
            .iter()
            .filter(|word| word.chars().count() >= CONTEXT_MIN_CHARS)
            .map(|word| word.to_lowercase())
            .collect()
    }
}

/// Checks a new password against the policy: its length, not a well-known
/// password, not built from the context's words, and not guessable in fewer
/// than `MIN_GUESSES` guesses by zxcvbn's estimate. Its cost is bounded
/// whatever the length (`ESTIMATE_PREFIX_CHARS`), but it is still too slow
/// for an async worker: [`PasswordHasher::hash_new`] runs it on the hashing
/// pool.
///
/// The common-password list is zxcvbn's (`zxcvbn` crate): the 30,000 most
/// frequent passwords of the Xato corpus, as published with Dropbox's
/// zxcvbn. Its matcher also catches case, l33t and reversed variants of
/// those passwords, and its estimate catches what no list holds: repeats
/// (`00000000`), sequences (`abcdefgh`), keyboard walks, dates and a word
/// with a year (`Summer2024!`). Refusals carry zxcvbn's advice (OWASP ASVS
/// 5.0 6.2; NIST SP 800-63B 3.1.1.2: the verifier "SHALL advise the
/// subscriber that they need to select a different secret").
///
/// Context-specific words (OWASP ASVS 5.0 6.2.11; NIST SP 800-63B 3.1.1.2:
/// "context-specific words, such as the name of the service, the username")
/// are the username, the product's name and the token issuer. They go to
/// zxcvbn as its user inputs, so it also finds them in l33t, reversed or
/// other case. A password that uses one, whether zxcvbn matched it or it
/// holds the word as written, must still need more than 10^10 guesses from
/// an attacker who knows the words: `rampartuser` for `rampartuser`,
/// `bob.smith123` for `bob.smith` and `rampart-api-2024` are refused, while
/// a long passphrase that happens to start with the username passes.
pub fn check_policy(password: &str, context: PasswordContext<'_>) -> Result<(), PasswordRejection> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(PasswordRejection::TooShort);
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(PasswordRejection::TooLong);
    }
    let words = context.words();
    let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimated = estimated_part(password);
    let whole = estimated.len() == password.len();
    let entropy = zxcvbn::zxcvbn(estimated, &inputs);
    let last = estimated.chars().count().saturating_sub(1);
    // The dictionary type is not nameable outside the crate; its Debug name
    // is stable API of the derive.
    let dictionary = |m: &zxcvbn::matching::Match, name: &str| {
        matches!(&m.pattern, zxcvbn::matching::patterns::MatchPattern::Dictionary(d)
            if format!("{:?}", d.dictionary_name) == name)
    };
    let sequence = entropy.sequence();
    if whole
        && sequence
            .iter()
            .any(|m| m.i == 0 && m.j == last && dictionary(m, "Passwords"))
    {
        return Err(PasswordRejection::WellKnown {
            advice: advice(&entropy),
        });
    }
    let lower = password.to_lowercase();
    let uses_context = words.iter().any(|word| lower.contains(word.as_str()))
        || sequence.iter().any(|m| dictionary(m, "UserInputs"));
    if uses_context && entropy.guesses_log10() < CONTEXT_MIN_GUESSES_LOG10 {
        return Err(PasswordRejection::ContextSpecific);
    }
    if entropy.guesses() < MIN_GUESSES {
        return Err(PasswordRejection::Guessable {
            advice: advice(&entropy),
        });
    }
    Ok(())
}

/// What zxcvbn estimates: the first [`ESTIMATE_PREFIX_CHARS`] characters.
fn estimated_part(password: &str) -> &str {
    match password.char_indices().nth(ESTIMATE_PREFIX_CHARS) {
        Some((end, _)) => &password[..end],
        None => password,
    }
}

/// zxcvbn's warning and suggestions for a refused password, as sentences.
/// zxcvbn gives them for every estimate below its score 3; above it (a
/// listed password with many l33t or case variants) its first suggestion
/// stands in.
fn advice(entropy: &zxcvbn::Entropy) -> String {
    let advice = entropy.feedback().map(ToString::to_string).unwrap_or_default();
    let advice = advice.trim();
    if advice.is_empty() {
        zxcvbn::feedback::Suggestion::AddAnotherWordOrTwo.to_string()
    } else {
        advice.to_owned()
    }
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

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashing jobs are waiting; try again shortly.
    #[error("the password hashing queue is full")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
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

/// The hashing service: a bounded pool of threads.
#[derive(Clone)]
pub struct PasswordHasher {
    pool: Arc<rayon::ThreadPool>,
    queue: Arc<Semaphore>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("threads", &self.pool.current_num_threads())
            .finish()
    }
}

impl PasswordHasher {
    /// A pool with one thread per core.
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_limits(threads, QUEUE_PER_THREAD)
    }

    /// A pool of `threads` threads on which at most `queue_per_thread`
    /// jobs per thread may be in progress or waiting.
    pub fn with_limits(threads: usize, queue_per_thread: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("password-hash-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .expect("the hashing pool starts");
        Self {
            pool: Arc::new(pool),
            queue: Arc::new(Semaphore::new(threads * queue_per_thread)),
        }
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit: OwnedSemaphorePermit = self
            .queue
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let result = job();
            // Free the place before answering, so a caller that saw this
            // job finish finds the place free.
            drop(permit);
            let _ = done.send(result);
        });
        result
            .await
            .map_err(|_| HashError::Failed("the hashing job was lost".into()))
    }

    /// Checks a new password against the policy ([`check_policy`]) and
    /// hashes it with argon2id, as one job on the pool: the estimate is
    /// too slow for an async worker, and taking one place in the queue for
    /// both keeps a flood of password changes bounded like a login flood.
    pub async fn hash_new(
        &self,
        password: SecretString,
        username: String,
        issuer: String,
    ) -> Result<String, NewPasswordError> {
        self.run(move || {
            let context = PasswordContext {
                username: &username,
                issuer: &issuer,
            };
            check_policy(password.expose_secret(), context)?;
            hash_now(password.expose_secret()).map_err(|e| HashError::Failed(e).into())
        })
        .await?
    }

    /// Checks `password` against `stored`. With `stored = None` (no such
    /// user) it spends the same time against a dummy hash and answers
    /// `No`, so timing does not tell whether a user exists.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verified, HashError> {
        self.run(move || verify_now(password.expose_secret(), stored.as_deref()))
            .await
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the calling thread at the lowest scheduling priority, so that when
/// cores are scarce, hashing yields to the async workers serving requests:
/// a login flood slows logins, not every other route.
fn lower_priority() {
    // SAFETY: setpriority on the calling thread (Linux: `who` 0 is the
    // calling thread for PRIO_PROCESS) touches no memory.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if result != 0 {
        tracing::debug!("could not lower the priority of a password hashing thread");
    }
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
    let Some(stored) = stored else {
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

    /// A context that none of the passwords below is built from.
    const ALICE: PasswordContext<'static> = PasswordContext {
        username: "alice",
        issuer: "rampart",
    };

    fn check_policy(password: &str) -> Result<(), PasswordRejection> {
        super::check_policy(password, ALICE)
    }

    #[test]
    fn policy_refuses_short_long_and_well_known_passwords() {
        assert_eq!(check_policy("short"), Err(PasswordRejection::TooShort));
        assert_eq!(check_policy(&"x".repeat(1025)), Err(PasswordRejection::TooLong));
        for common in [
            "password",
            "password1",
            "Password1",
            "qwertyuiop",
            "iloveyou",
            "12345678",
            "p@ssw0rd",
        ] {
            let refused = check_policy(common);
            assert!(
                matches!(&refused, Err(PasswordRejection::WellKnown { advice }) if !advice.is_empty()),
                "{common}: {refused:?}"
            );
        }
        for fine in [
            "correct horse battery staple",
            "Zq8#mT2!vL9p",
            &"long-unusual-passphrase-".repeat(4),
        ] {
            assert_eq!(check_policy(fine), Ok(()), "{fine}");
        }
    }

    #[test]
    fn guessable_passwords_are_refused_with_zxcvbns_advice() {
        for (password, advice) in [
            ("00000000", "Repeats like"),
            ("11111111", "Repeats like"),
            ("aaaaaaaa", "Repeats like"),
            ("abcdefgh", "Sequences like abc"),
            ("Summer2024!", "Add another word or two"),
            ("qwertyuiop[]", "keyboard"),
            ("1990-12-31xx", "Add another word or two"),
        ] {
            let refused = check_policy(password);
            assert!(
                matches!(&refused, Err(PasswordRejection::Guessable { advice: a }) if a.contains(advice)),
                "{password}: {refused:?}"
            );
            let message = refused.unwrap_err().to_string();
            assert!(
                message.starts_with("Password is too easy to guess: "),
                "{message}"
            );
        }
        // 8 random characters (drawn once; zxcvbn estimates 8 characters
        // with no pattern at 10^8 guesses, the bar itself).
        for random in ["kR7#vQ2m", "Xw9$Lp3z", "t6H!qZ8c"] {
            assert_eq!(check_policy(random), Ok(()), "{random}");
        }
    }

    #[test]
    fn the_estimate_sees_a_bounded_prefix() {
        // A strong beginning vouches for the whole password, however long.
        let strong = format!("kR7#vQ2m-Xw9$Lp3z{}", "a".repeat(MAX_PASSWORD_CHARS - 17));
        assert_eq!(check_policy(&strong), Ok(()));
        // A guessable beginning is refused, whatever follows it.
        let weak = format!("{}kR7#vQ2m-Xw9$Lp3z", "a".repeat(ESTIMATE_PREFIX_CHARS));
        assert!(matches!(
            check_policy(&weak),
            Err(PasswordRejection::Guessable { .. })
        ));
        // The symbols zxcvbn reads as l33t make its matching costliest: the
        // longest password is estimated on its prefix alone, whatever its
        // characters' widths.
        let soup: String = "4@8({[<3691!|70$5+%2é"
            .chars()
            .cycle()
            .take(MAX_PASSWORD_CHARS)
            .collect();
        let part = estimated_part(&soup);
        assert_eq!(part.chars().count(), ESTIMATE_PREFIX_CHARS);
        assert!(soup.starts_with(part));
        assert_eq!(estimated_part("short"), "short");
    }

    #[test]
    fn passwords_built_from_the_username_or_the_product_name_are_refused() {
        let context = |username| PasswordContext {
            username,
            issuer: "rampart",
        };
        for (username, password) in [
            ("rampartuser", "rampartuser"),
            ("bob.smith", "bob.smith123"),
            ("bob.smith", "BOB.SMITH2024"),
            ("carol", "rampart-api-2024"),
            ("carol", "carol-1990"),
            ("carol", "Rampart2024!"),
            ("carol", "R4mp4rt!2024"),
            ("alice", "ecila-alice"),
        ] {
            assert_eq!(
                super::check_policy(password, context(username)),
                Err(PasswordRejection::ContextSpecific),
                "{username} / {password}"
            );
        }
        // The issuer counts too, when it is not the product's name.
        let acme = PasswordContext {
            username: "carol",
            issuer: "acme-corp",
        };
        assert_eq!(
            super::check_policy("acme-corp-2024", acme),
            Err(PasswordRejection::ContextSpecific)
        );
        // Strong passwords pass, even holding a context word.
        for (username, password) in [
            ("alice", "Alice-s3cure-passphrase"),
            ("alice", "Zq8#mT2!vL9p-alice"),
            ("newbie", "Newbie-s3cure-pass"),
            ("carol", "Carol-n3w-passphrase"),
            ("carol", "rampart-Zq8#mT2!vL9p"),
            ("carol", "correct horse battery staple"),
            ("carol", "Zq8#mT2!vL9p"),
        ] {
            assert_eq!(
                super::check_policy(password, context(username)),
                Ok(()),
                "{username} / {password}"
            );
        }
        // A short issuer is no context word: it would match everything.
        let short = PasswordContext {
            username: "carol",
            issuer: "a",
        };
        assert_eq!(super::check_policy("Zq8#mT2!vL9p", short), Ok(()));
    }

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

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once_instead_of_waiting() {
        let hasher = PasswordHasher::with_limits(1, 1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy_job = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.run(move || hold.recv().is_ok()).await })
        };
        // Wait until the job holds the one place.
        while hasher.queue.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = hasher.verify(SecretString::from("Zq8#mT2!vL9p"), None).await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        release.send(()).unwrap();
        assert!(busy_job.await.unwrap().unwrap());
        // With the place free again, work is accepted.
        assert_eq!(
            hasher
                .verify(SecretString::from("Zq8#mT2!vL9p"), None)
                .await
                .unwrap(),
            Verified::No
        );
    }

    #[test]
    fn unsupported_hashes_are_recognised() {
        assert!(!is_supported_hash("plaintext"));
        assert!(!is_supported_hash("$1$abc$def"));
        assert!(!is_supported_hash("$2b$12$short"));
    }
}
