//! CORS origins as configured: an exact `scheme://host[:port]`, or `*`.

use std::{fmt, str::FromStr};

use url::Url;

/// One entry of `cors.allow_origins`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedOrigin {
    /// `*`: refused with credentials and in production (see `config check`).
    Any,
    /// An exact origin in its serialized form (RFC 6454 section 6.2), e.g.
    /// `https://app.example.com`, compared byte for byte with `Origin`.
    Exact(String),
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an origin: write scheme://host[:port] with no path, e.g. `https://app.example.com`")]
pub struct OriginError(String);

impl FromStr for AllowedOrigin {
    type Err = OriginError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "*" {
            return Ok(Self::Any);
        }
        let bad = || OriginError(text.to_owned());
        let url = Url::parse(text).map_err(|_| bad())?;
        let only_origin = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            // `Url` normalizes `https://a.example/` and `https://a.example` alike;
            // only the latter is an origin.
            && !text.ends_with('/');
        if !only_origin {
            return Err(bad());
        }
        Ok(Self::Exact(url.origin().ascii_serialization()))
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(origin) => f.write_str(origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_origins_and_normalizes_case_and_default_ports() {
        let parsed: AllowedOrigin = "https://App.Example.com:443".parse().unwrap();
        assert_eq!(parsed, AllowedOrigin::Exact("https://app.example.com".into()));
        let parsed: AllowedOrigin = "http://127.0.0.1:3000".parse().unwrap();
        assert_eq!(parsed.to_string(), "http://127.0.0.1:3000");
        assert_eq!("*".parse::<AllowedOrigin>().unwrap(), AllowedOrigin::Any);
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?q=1",
            "ftp://app.example.com",
            "https://user@app.example.com",
            "null",
            "",
        ] {
            assert!(bad.parse::<AllowedOrigin>().is_err(), "{bad:?} was accepted");
        }
    }
}
