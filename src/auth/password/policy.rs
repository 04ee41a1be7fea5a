//! The policy for new passwords (NIST SP 800-63B 3.1.1.2; OWASP ASVS 5.0
//! 6.2): their length, not a well-known password, not built from the
//! context's words, not guessable in fewer than 10^8 guesses by zxcvbn's
//! estimate; and zxcvbn's advice when one is refused.

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
}
