//! The checks of a bearer token (SPEC section 10): what it says of itself
//! (`jwt-no-expiry`), its HS256 secret tried offline against well-known and
//! common ones (`jwt-weak-secret`), and the copies the API must refuse: one
//! signed with `alg: none`, one whose payload changed under the old
//! signature, and (with the secret found) one expired.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use super::catalog::{Finding, Severity, masked};

/// The secrets tried: `config check`'s well-known ones, then the common
/// ones of `secrets.txt`.
fn candidates() -> impl Iterator<Item = &'static str> {
    crate::config::secret::WELL_KNOWN.iter().copied().chain(
        include_str!("secrets.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#')),
    )
}

/// A token's parts, decoded.
pub struct Token {
    raw: String,
    pub header: Value,
    pub claims: Value,
    signature: String,
}

impl Token {
    /// `None` for what is no JWS in compact form.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        Some(Self {
            raw: raw.to_owned(),
            header: decode(header)?,
            claims: decode(claims)?,
            signature: signature.to_owned(),
        })
    }

    fn algorithm(&self) -> Option<Algorithm> {
        self.header.get("alg")?.as_str()?.parse().ok()
    }

    /// `jwt-no-expiry`, when the token has no `exp`.
    pub fn no_expiry(&self) -> Option<Finding> {
        self.claims.get("exp").is_none().then(|| {
            let evidence = format!("the token's claims are {}: no `exp`", self.claim_names());
            Finding::new("jwt-no-expiry", Severity::Medium, evidence)
        })
    }

    fn claim_names(&self) -> String {
        let names: Vec<&str> = self
            .claims
            .as_object()
            .map(|claims| claims.keys().map(String::as_str).collect())
            .unwrap_or_default();
        format!("[{}]", names.join(", "))
    }

    /// The HMAC secret the token was signed with, if it is one of the
    /// candidates.
    pub fn crack(&self) -> Option<&'static str> {
        let algorithm = self
            .algorithm()
            .filter(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))?;
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        candidates().find(|secret| {
            jsonwebtoken::decode::<Value>(
                &self.raw,
                &DecodingKey::from_secret(secret.as_bytes()),
                &validation,
            )
            .is_ok()
        })
    }

    /// `jwt-weak-secret`: the secret shown by its first three characters.
    pub fn weak_secret(&self, secret: &str) -> Finding {
        let alg = self.header.get("alg").and_then(Value::as_str).unwrap_or("?");
        let evidence = format!(
            "the token's {alg} signature verifies with a well-known secret: {}",
            masked(secret, 3)
        );
        Finding::new("jwt-weak-secret", Severity::High, evidence)
    }

    /// The same claims, `alg: none`, no signature.
    pub fn with_alg_none(&self) -> String {
        let mut header = self.header.clone();
        header["alg"] = json!("none");
        format!("{}.{}.", encode(&header), encode(&self.claims))
    }

    /// The claims changed (one claim added), the old signature kept.
    pub fn with_changed_payload(&self) -> String {
        let mut claims = self.claims.clone();
        if let Some(object) = claims.as_object_mut() {
            object.insert("rampart_scan".to_owned(), json!(true));
        }
        format!("{}.{}.{}", encode(&self.header), encode(&claims), self.signature)
    }

    /// The claims expired an hour ago, signed again with `secret`.
    pub fn expired_copy(&self, secret: &str) -> Option<String> {
        let algorithm = self.algorithm()?;
        let mut claims = self.claims.clone();
        let hour_ago = chrono::Utc::now().timestamp() - 3600;
        claims["exp"] = json!(hour_ago);
        if claims.get("iat").is_some() {
            claims["iat"] = json!(hour_ago - 900);
        }
        if claims.get("nbf").is_some() {
            claims["nbf"] = json!(hour_ago - 900);
        }
        let mut header = Header::new(algorithm);
        header.typ = self.header.get("typ").and_then(Value::as_str).map(str::to_owned);
        header.kid = self.header.get("kid").and_then(Value::as_str).map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).ok()
    }
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUTORIAL_KEY: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";

    fn signed(secret: &str, claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn a_tutorial_secret_is_found_and_shown_by_three_characters() {
        let token = Token::parse(&signed(
            TUTORIAL_KEY,
            &json!({"sub": "alice", "exp": 4_000_000_000u64}),
        ))
        .unwrap();
        assert_eq!(token.crack(), Some(TUTORIAL_KEY));
        let finding = token.weak_secret(TUTORIAL_KEY);
        assert!(finding.evidence.contains("09d...") && !finding.evidence.contains("09d25"));
        assert!(token.no_expiry().is_none());
        let common = Token::parse(&signed("your-256-bit-secret", &json!({"sub": "a"}))).unwrap();
        assert_eq!(common.crack(), Some("your-256-bit-secret"));
        assert_eq!(common.no_expiry().unwrap().id, "jwt-no-expiry");
        let strong = Token::parse(&signed(
            "k3Q9v!x2-a-random-key-nobody-lists-7f1c",
            &json!({"sub": "a"}),
        ))
        .unwrap();
        assert_eq!(strong.crack(), None);
    }

    #[test]
    fn the_copies_are_what_they_say() {
        let raw = signed(TUTORIAL_KEY, &json!({"sub": "alice", "exp": 4_000_000_000u64}));
        let token = Token::parse(&raw).unwrap();
        let none = Token::parse(&token.with_alg_none()).unwrap();
        assert_eq!(none.header["alg"], "none");
        assert!(token.with_alg_none().ends_with('.'));
        let changed = token.with_changed_payload();
        assert_eq!(
            changed.rsplit('.').next(),
            raw.rsplit('.').next(),
            "the old signature"
        );
        assert_ne!(changed, raw);
        let expired = Token::parse(&token.expired_copy(TUTORIAL_KEY).unwrap()).unwrap();
        assert!(expired.claims["exp"].as_i64().unwrap() < chrono::Utc::now().timestamp());
        assert_eq!(expired.crack(), Some(TUTORIAL_KEY), "validly signed");
        assert!(Token::parse("not.a-token").is_none());
    }
}
