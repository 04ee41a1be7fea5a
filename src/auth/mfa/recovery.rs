//! Recovery codes: ten of `xxxxx-xxxxx` over `[a-z2-9]` (about 51 bits
//! each), shown once, stored as keyed hashes (HMAC under a key of their
//! own: a stolen table cannot be searched without the server secret), each
//! spent by its use.

use crate::auth::mac::MacKey;

pub const COUNT: usize = 10;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz23456789";
const HALF: usize = 5;

/// A fresh set of codes, as the user is shown them.
pub fn generate() -> Vec<String> {
    (0..COUNT).map(|_| one()).collect()
}

fn one() -> String {
    let mut code = String::with_capacity(2 * HALF + 1);
    for at in 0..2 * HALF {
        if at == HALF {
            code.push('-');
        }
        // Rejection sampling: no symbol more likely than another.
        let symbol = loop {
            let mut byte = [0u8; 1];
            rand::fill(&mut byte);
            let limit = 256 - 256 % ALPHABET.len();
            if usize::from(byte[0]) < limit {
                break ALPHABET[usize::from(byte[0]) % ALPHABET.len()];
            }
        };
        code.push(char::from(symbol));
    }
    code
}

/// `input` as a code, if it can be one: case and spaces ignored, the dash
/// optional.
pub fn normalize(input: &str) -> Option<String> {
    let symbols: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = symbols.len() == 2 * HALF && symbols.bytes().all(|b| ALPHABET.contains(&b));
    valid.then(|| format!("{}-{}", &symbols[..HALF], &symbols[HALF..]))
}

/// The stored form of a user's code.
pub fn hash(key: &MacKey, user_id: i64, code: &str) -> Vec<u8> {
    key.sign(&[&user_id.to_be_bytes(), code.as_bytes()]).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_shape_and_read_back_however_typed() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert_eq!(normalize(code).as_deref(), Some(code.as_str()));
            let typed = code.to_uppercase().replace('-', " ");
            assert_eq!(normalize(&typed).as_deref(), Some(code.as_str()));
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), COUNT);
        assert_eq!(normalize("abcde-fghi1"), None, "1 is not in the alphabet");
        assert_eq!(normalize("abcde-fghij-k"), None);
        assert_eq!(normalize("123456"), None);
    }
}
