//! `X-Request-ID`: the caller's, when it is 1-128 characters of
//! `[A-Za-z0-9._-]`, else a fresh one (SPEC section 3, "On every response").
//!
//! tower-http's request-id layer keeps whatever the caller sent; the
//! contract requires the value to be checked first, since it is echoed in
//! responses and written to logs (log injection, OWASP ASVS 5.0 V16.4.1).

use axum::{extract::Request, response::Response};
use http::{HeaderName, HeaderValue};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, handed to every layer and handler in the request's
/// context.
#[derive(Clone, Debug)]
pub struct RequestId(HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII (checked or generated), so this holds.
        self.0.to_str().unwrap_or_default()
    }

    fn generate() -> Self {
        let mut buffer = [0u8; uuid::fmt::Simple::LENGTH];
        uuid::Uuid::new_v4().simple().encode_lower(&mut buffer);
        // The buffer itself becomes the value's shared storage: one
        // allocation, and each clone (the context's, the response's) a
        // reference count. A copied slice would be copied again into
        // shared storage at its first clone.
        let bytes = bytes::Bytes::from_owner(buffer);
        Self(HeaderValue::from_maybe_shared(bytes).expect("hex is a valid header value"))
    }

    fn accept(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let valid = (1..=128).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid.then(|| Self(value.clone()))
    }
}

/// The request's id: the caller's, if acceptable, else a fresh one.
pub fn assign(request: &Request) -> RequestId {
    request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(RequestId::accept)
        .unwrap_or_else(RequestId::generate)
}

/// Names the request's id on its response.
pub fn stamp(response: &mut Response, id: &RequestId) {
    response.headers_mut().insert(X_REQUEST_ID.clone(), id.0.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_allowed_alphabet_and_length() {
        for ok in ["a", "abc-DEF_012.x", &"x".repeat(128)] {
            assert!(
                RequestId::accept(&HeaderValue::from_str(ok).unwrap()).is_some(),
                "{ok}"
            );
        }
        for bad in ["", "has space", "semi;colon", "<script>", &"x".repeat(129), "ü"] {
            let value = HeaderValue::from_bytes(bad.as_bytes()).unwrap();
            assert!(RequestId::accept(&value).is_none(), "{bad}");
        }
    }

    #[test]
    fn generated_ids_are_unique_and_valid() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert!(RequestId::accept(&a.0).is_some());
    }
}
