//! `X-Rampart-Assertion` (SPEC section 6): the identity rampart hands an
//! upstream it protects, as a JWT the upstream verifies with
//! `/.well-known/jwks.json` and trusts instead of anything else on the wire.
//!
//! Bound to one request: `htm` and `htu` name its method and its path and
//! query as forwarded, as DPoP (RFC 9449) binds a proof to a request, so a
//! captured assertion is worth nothing on another path or method; it lives
//! `gateway.assertion_ttl` (60 s by default) and carries a `jti` for
//! upstreams that keep a replay cache. Signed with the current signing key
//! under its own `typ`, so it can never pass for an access token
//! (`at+jwt`) or the other way round (RFC 8725 section 3.11).

use std::{sync::Arc, time::Duration};

use serde::Serialize;

use super::{
    amr::Amr,
    keyring::{KeyRing, TokenType},
};

/// Signs assertions for one upstream.
pub struct Assertions {
    keys: Arc<KeyRing>,
    issuer: String,
    audience: String,
    ttl: i64,
}

impl std::fmt::Debug for Assertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertions")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Who is calling, as the assertion states it.
pub struct Caller<'a> {
    pub username: &'a str,
    pub roles: &'a [String],
    /// How the caller signed in (RFC 8176).
    pub amr: Amr,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<Amr>,
    iat: i64,
    exp: i64,
    jti: &'a str,
    htm: &'a str,
    htu: &'a str,
}

impl Assertions {
    /// `audience`: the upstream's origin.
    pub fn new(keys: Arc<KeyRing>, issuer: &str, audience: &str, ttl: Duration) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        }
    }

    /// Whom its assertions are addressed to (`aud`).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The assertion for one request: `method`, and `path_and_query`
    /// exactly as forwarded; `caller` is `None` for an anonymous one.
    pub fn sign(
        &self,
        caller: Option<Caller<'_>>,
        method: &str,
        path_and_query: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let mut jti = [0; uuid::fmt::Simple::LENGTH];
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: caller.as_ref().map(|c| c.username),
            roles: caller.as_ref().map(|c| c.roles),
            amr: caller.as_ref().map(|c| c.amr),
            iat: now,
            exp: now + self.ttl,
            jti: uuid::Uuid::new_v4().simple().encode_lower(&mut jti),
            htm: method,
            htu: path_and_query,
        };
        self.keys.signer().sign(TokenType::Assertion, &claims)
    }
}
