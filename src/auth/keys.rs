//! Signing keys: generation for each algorithm, their public JWK, and
//! sealing of the private half for storage.
//!
//! Private keys are stored sealed with XChaCha20-Poly1305 under a key derived
//! from the server secret with HKDF-SHA256 (RFC 5869), the `kid` bound as
//! associated data so a sealed key cannot be swapped onto another `kid`.
//! A database dump alone yields no signing key.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};

use crate::config::{SigningAlgorithm, secret::SecretKey};

/// HKDF `info` for the key that seals signing keys. Changing it makes every
/// stored key unreadable.
const SEALING_INFO: &[u8] = b"rampart/v1/signing-key-sealing";

/// Seals and opens private keys.
pub struct KeySealer(XChaCha20Poly1305);

impl std::fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySealer([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "a stored signing key cannot be opened: the secret differs from the one it was sealed with, or the key is damaged"
)]
pub struct OpenError;

impl KeySealer {
    /// The sealer of signing keys.
    pub fn new(secret: &SecretKey) -> Self {
        Self::for_purpose(secret, SEALING_INFO)
    }

    /// A sealer under a key of its own (`info`, an HKDF label): what one
    /// sealed never opens under another.
    pub fn for_purpose(secret: &SecretKey, info: &[u8]) -> Self {
        let mut key = secret.derive(info);
        let cipher = XChaCha20Poly1305::new_from_slice(&key).expect("32-byte key");
        key.fill(0);
        Self(cipher)
    }

    /// `nonce || ciphertext` of `plaintext`, bound to `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::fill(&mut nonce);
        let nonce_array = XNonce::try_from(&nonce[..]).expect("24 bytes");
        let sealed = self
            .0
            .encrypt(
                &nonce_array,
                Payload {
                    msg: plaintext,
                    aad: kid.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any key-sized message");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError)?;
        self.0
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

/// A freshly generated key.
pub struct GeneratedKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    /// PKCS#8 DER (EdDSA, ES256), PKCS#1 DER (RS256) or the raw HMAC key.
    pub private: Vec<u8>,
    /// The public JWK (RFC 7517), `{}` for HS256 whose key is secret.
    pub public_jwk: Value,
}

pub fn algorithm_name(algorithm: SigningAlgorithm) -> &'static str {
    match algorithm {
        SigningAlgorithm::EdDSA => "EdDSA",
        SigningAlgorithm::ES256 => "ES256",
        SigningAlgorithm::RS256 => "RS256",
        SigningAlgorithm::HS256 => "HS256",
    }
}

pub fn parse_algorithm(name: &str) -> Option<SigningAlgorithm> {
    match name {
        "EdDSA" => Some(SigningAlgorithm::EdDSA),
        "ES256" => Some(SigningAlgorithm::ES256),
        "RS256" => Some(SigningAlgorithm::RS256),
        "HS256" => Some(SigningAlgorithm::HS256),
        _ => None,
    }
}

pub fn jwt_algorithm(algorithm: SigningAlgorithm) -> Algorithm {
    match algorithm {
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::RS256 => Algorithm::RS256,
        SigningAlgorithm::HS256 => Algorithm::HS256,
    }
}

fn new_kid() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    B64.encode(bytes)
}

/// Generates a key for `algorithm`. RSA generation takes a moment: call it
/// off the async workers.
pub fn generate(algorithm: SigningAlgorithm) -> GeneratedKey {
    let kid = new_kid();
    let (private, mut jwk) = match algorithm {
        SigningAlgorithm::EdDSA => {
            use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
            let der = Ed25519KeyPair::generate_pkcs8v1(&aws_lc_rs::rand::SystemRandom::new())
                .expect("Ed25519 key generation");
            let key = Ed25519KeyPair::from_pkcs8(der.as_ref()).expect("a key just made parses");
            let x = B64.encode(key.public_key().as_ref());
            (
                der.as_ref().to_vec(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            )
        }
        SigningAlgorithm::ES256 => {
            use p256::{elliptic_curve::sec1::ToEncodedPoint, pkcs8::EncodePrivateKey};
            let key = loop {
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes);
                // A random 32-byte string is a valid scalar but for a
                // negligible fraction of values; draw again then.
                if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
                    break key;
                }
            };
            let der = key.to_pkcs8_der().expect("P-256 keys encode").as_bytes().to_vec();
            let point = key.public_key().to_encoded_point(false);
            let x = B64.encode(point.x().expect("uncompressed point"));
            let y = B64.encode(point.y().expect("uncompressed point"));
            (der, json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}))
        }
        SigningAlgorithm::RS256 => {
            use rsa::{pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
            let key = rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048).expect("RSA key generation");
            let der = key.to_pkcs1_der().expect("RSA keys encode").as_bytes().to_vec();
            let n = B64.encode(key.n().to_bytes_be());
            let e = B64.encode(key.e().to_bytes_be());
            (der, json!({"kty": "RSA", "n": n, "e": e}))
        }
        SigningAlgorithm::HS256 => {
            let mut secret = vec![0u8; 32];
            rand::fill(&mut secret[..]);
            (secret, json!({}))
        }
    };
    if algorithm != SigningAlgorithm::HS256 {
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(algorithm_name(algorithm));
        jwk["use"] = json!("sig");
    }
    GeneratedKey {
        kid,
        algorithm,
        private,
        public_jwk: jwk,
    }
}

/// A private key, ready to sign JWTs.
pub enum SigningKey {
    /// Expanded once, and signed by aws-lc-rs. jsonwebtoken parses an
    /// Ed25519 key and derives its public half (a base point
    /// multiplication, as dear as the signature itself) for every token it
    /// signs: twice the work for each access token and each gateway
    /// assertion. aws-lc's base point multiplication (s2n-bignum's
    /// formally verified x86-64 and AArch64 code) signs in about half the
    /// time of ed25519-dalek's and less than half ring's (benches/README.md,
    /// "The gateway against nginx"); Ed25519 signatures are deterministic
    /// (RFC 8032 section 5.1.6), so the bytes are the same whichever signs.
    Ed25519(Box<aws_lc_rs::signature::Ed25519KeyPair>),
    /// Signed through jsonwebtoken.
    Jose(EncodingKey, Algorithm),
}

impl SigningKey {
    /// The key stored for `algorithm`; `None` for an Ed25519 key that does
    /// not parse.
    pub fn new(algorithm: SigningAlgorithm, private: &[u8]) -> Option<Self> {
        Some(match algorithm {
            // The stored PKCS#8 document (RFC 8410 section 7): v1 as
            // `generate` writes it, or v2 (the public key inside) as
            // earlier versions did.
            SigningAlgorithm::EdDSA => Self::Ed25519(Box::new(
                aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(private).ok()?,
            )),
            SigningAlgorithm::ES256 => {
                Self::Jose(EncodingKey::from_ec_der(private), jwt_algorithm(algorithm))
            }
            SigningAlgorithm::RS256 => {
                Self::Jose(EncodingKey::from_rsa_der(private), jwt_algorithm(algorithm))
            }
            SigningAlgorithm::HS256 => {
                Self::Jose(EncodingKey::from_secret(private), jwt_algorithm(algorithm))
            }
        })
    }

    /// The compact JWS of `claims` (RFC 7515 section 7.1) under a JOSE
    /// header already encoded ([`encoded_header`]): BASE64URL of the
    /// header, `.`, of the claims, `.`, of the signature over the two.
    pub fn sign<T: serde::Serialize>(
        &self,
        encoded_header: &str,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = serde_json::to_vec(claims)?;
        let mut token = String::with_capacity(encoded_header.len() + claims.len() * 4 / 3 + 92);
        token.push_str(encoded_header);
        token.push('.');
        B64.encode_string(&claims, &mut token);
        let signature = match self {
            Self::Ed25519(key) => B64.encode(key.sign(token.as_bytes())),
            Self::Jose(key, algorithm) => jsonwebtoken::crypto::sign(token.as_bytes(), key, *algorithm)?,
        };
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }
}

/// BASE64URL of the JOSE header `{"typ", "alg", "kid"}` (RFC 7515 section
/// 4.1), as jsonwebtoken writes it: the same for every token a key signs
/// of one type, so a key makes it once per type.
pub fn encoded_header(algorithm: SigningAlgorithm, kid: &str, typ: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jwt_algorithm(algorithm));
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    B64.encode(serde_json::to_vec(&header).expect("a JOSE header serializes"))
}

/// The verifying key, from the public JWK (or the HMAC key for HS256).
pub fn decoding_key(algorithm: SigningAlgorithm, private: &[u8], jwk: &Value) -> Option<DecodingKey> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    match algorithm {
        SigningAlgorithm::EdDSA => DecodingKey::from_ed_components(field("x")?).ok(),
        SigningAlgorithm::ES256 => DecodingKey::from_ec_components(field("x")?, field("y")?).ok(),
        SigningAlgorithm::RS256 => DecodingKey::from_rsa_components(field("n")?, field("e")?).ok(),
        SigningAlgorithm::HS256 => Some(DecodingKey::from_secret(private)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> KeySealer {
        KeySealer::new(&SecretKey::new(b"0123456789abcdef0123456789abcdef-test".to_vec()))
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_secret_and_kid() {
        let sealed = sealer().seal("kid-1", b"private key bytes");
        assert_eq!(sealer().open("kid-1", &sealed).unwrap(), b"private key bytes");
        assert!(sealer().open("kid-2", &sealed).is_err(), "bound to the kid");
        let other = KeySealer::new(&SecretKey::new(b"another-secret-0123456789abcdef-xyz".to_vec()));
        assert!(other.open("kid-1", &sealed).is_err(), "bound to the secret");
        assert!(
            !sealed.windows(17).any(|w| w == b"private key bytes"),
            "not in the clear"
        );
    }

    #[test]
    fn ed25519_tokens_are_the_bytes_jsonwebtoken_makes() {
        let key = generate(SigningAlgorithm::EdDSA);
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        let claims = json!({"sub": "alice", "roles": ["user"], "exp": 4_000_000_000u64});
        let ours = SigningKey::new(SigningAlgorithm::EdDSA, &key.private)
            .unwrap()
            .sign(
                &encoded_header(SigningAlgorithm::EdDSA, &key.kid, "at+jwt"),
                &claims,
            )
            .unwrap();
        let theirs = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&key.private)).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn ed25519_keys_stored_as_pkcs8_v2_still_sign() {
        // Keys stored by earlier versions are PKCS#8 v2 documents (the
        // public key inside), written by ed25519-dalek.
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let der = key.to_pkcs8_der().unwrap();
        let header = encoded_header(SigningAlgorithm::EdDSA, "old", "at+jwt");
        let token = SigningKey::new(SigningAlgorithm::EdDSA, der.as_bytes())
            .unwrap()
            .sign(&header, &json!({"sub": "alice", "exp": 4_000_000_000u64}))
            .unwrap();
        let x = B64.encode(key.verifying_key().to_bytes());
        let decoding = decoding_key(SigningAlgorithm::EdDSA, &[], &json!({"x": x})).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.validate_aud = false;
        assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_ok());
    }

    #[test]
    fn every_algorithm_signs_and_verifies_with_its_public_jwk() {
        for algorithm in [
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::ES256,
            SigningAlgorithm::RS256,
            SigningAlgorithm::HS256,
        ] {
            let key = generate(algorithm);
            let alg = jwt_algorithm(algorithm);
            let claims = json!({"sub": "alice", "exp": 4_000_000_000u64});
            let token = SigningKey::new(algorithm, &key.private)
                .unwrap()
                .sign(&encoded_header(algorithm, &key.kid, "JWT"), &claims)
                .unwrap();
            let decoding = decoding_key(algorithm, &key.private, &key.public_jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.validate_aud = false;
            let decoded = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
            assert_eq!(decoded.claims["sub"], "alice", "{algorithm:?}");
            if algorithm != SigningAlgorithm::HS256 {
                assert_eq!(key.public_jwk["kid"], key.kid.as_str());
                assert!(key.public_jwk.get("d").is_none(), "no private member in the JWK");
            }
        }
    }
}
