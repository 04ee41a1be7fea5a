//! `[gateway]` (SPEC section 6): the upstream rampart protects, and the
//! routes it forwards there. Templates, methods, access rules and rates are
//! parsed here, at load, so a bad one is a configuration error that names
//! its key; matching requests against them is the gateway's.

use std::{fmt, num::NonZeroUsize, str::FromStr};

use serde::{Deserialize, Deserializer};
use url::Url;

use super::{ConfigDuration, HttpMethod, RatePolicy, list};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The upstream named `default`, if any.
    #[serde(default)]
    pub upstream: Option<Upstream>,
    /// The path of the `default` upstream's OpenAPI document, read at start.
    #[serde(default)]
    pub openapi: Option<UpstreamPath>,
    /// More upstreams, each named (SPEC section 6, "Gateway, continued").
    #[serde(default)]
    pub upstreams: Vec<UpstreamSettings>,
    /// The `aud` of the assertions forward-auth answers with.
    #[serde(default = "GatewaySettings::default_forward_auth_audience")]
    pub forward_auth_audience: String,
    /// No response headers from the upstream by then: 504.
    #[serde(default = "GatewaySettings::default_timeout")]
    pub timeout: ConfigDuration,
    /// The lifetime of `X-Rampart-Assertion`.
    #[serde(default = "GatewaySettings::default_assertion_ttl")]
    pub assertion_ttl: ConfigDuration,
    /// Where rampart's own routes go when the upstream needs their paths.
    #[serde(default)]
    pub own_prefix: Option<OwnPrefix>,
    /// Forwarded requests of one client (its user, else its IP; IPv6 by
    /// /64) in flight at once; more: 429.
    #[serde(default = "GatewaySettings::default_max_in_flight_per_client")]
    pub max_in_flight_per_client: NonZeroUsize,
    /// In order; the first whose path and method match wins.
    #[serde(default)]
    pub routes: Vec<RouteSettings>,
}

impl GatewaySettings {
    fn default_timeout() -> ConfigDuration {
        ConfigDuration::from_secs(30)
    }

    fn default_assertion_ttl() -> ConfigDuration {
        ConfigDuration::from_secs(60)
    }

    fn default_max_in_flight_per_client() -> NonZeroUsize {
        NonZeroUsize::new(32).expect("non-zero")
    }

    fn default_forward_auth_audience() -> String {
        "forward-auth".to_owned()
    }

    /// Every upstream: `gateway.upstream` as `default` (with
    /// `gateway.openapi`), then `[[gateway.upstreams]]` in order. A name
    /// given twice is an error that names it.
    pub fn all_upstreams(&self) -> Result<Vec<UpstreamSettings>, String> {
        let mut all = Vec::with_capacity(self.upstreams.len() + 1);
        if let Some(url) = &self.upstream {
            all.push(UpstreamSettings {
                name: UpstreamName(DEFAULT_UPSTREAM.to_owned()),
                url: url.clone(),
                openapi: self.openapi.clone(),
                hosts: Vec::new(),
            });
        } else if self.openapi.is_some() {
            return Err(
                "gateway.openapi names a document of gateway.upstream, which is not set: give it to the upstream it belongs to in [[gateway.upstreams]]".to_owned(),
            );
        }
        for upstream in &self.upstreams {
            if all
                .iter()
                .any(|seen: &UpstreamSettings| seen.name == upstream.name)
            {
                return Err(format!(
                    "gateway.upstreams: the name `{}` is given twice (gateway.upstream is `default`)",
                    upstream.name.as_str()
                ));
            }
            all.push(upstream.clone());
        }
        Ok(all)
    }

    /// The upstream a route forwards to: its own `upstream`, else
    /// `default`; `None` for a forward-auth-only route (no upstream at all
    /// is configured). A name no upstream has is an error.
    pub fn route_upstream<'a>(
        &self,
        route: &RouteSettings,
        upstreams: &'a [UpstreamSettings],
    ) -> Result<Option<&'a UpstreamSettings>, String> {
        let wanted = route
            .upstream
            .as_ref()
            .map_or(DEFAULT_UPSTREAM, UpstreamName::as_str);
        match upstreams.iter().find(|upstream| upstream.name.as_str() == wanted) {
            Some(upstream) => Ok(Some(upstream)),
            None if upstreams.is_empty() && route.upstream.is_none() => Ok(None),
            None => Err(format!(
                "gateway.routes path {}: no upstream is named `{wanted}`",
                route.path
            )),
        }
    }
}

/// The name of `gateway.upstream`.
pub const DEFAULT_UPSTREAM: &str = "default";

/// One `[[gateway.upstreams]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    pub name: UpstreamName,
    pub url: Upstream,
    /// The path of its OpenAPI document, read at start.
    #[serde(default)]
    pub openapi: Option<UpstreamPath>,
    /// Its routes match only requests for these hosts; empty: any host.
    #[serde(default, deserialize_with = "list::deserialize")]
    pub hosts: Vec<HostName>,
}

/// An upstream's name: a lower-case letter, then letters, digits, `_` or
/// `-` (it labels metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamName(String);

impl UpstreamName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for UpstreamName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let ok = text.len() <= 64
            && text.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not an upstream name: a lower-case letter, then lower-case letters, digits, _ or -, e.g. `billing`"
            )))
        }
    }
}

/// A host an upstream's routes answer for: a DNS name or an IP address,
/// without a port, compared without ASCII case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostName(String);

impl HostName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HostName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let host = url::Host::parse(text)
            .ok()
            .filter(|_| !text.contains(':') || text.starts_with('['));
        match host {
            Some(url::Host::Domain(_)) | Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_)) => {
                Ok(Self(text.to_ascii_lowercase()))
            }
            None => Err(format!(
                "`{text}` is not a host: write a name or an address without a port, e.g. `billing.example.com`"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for HostName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One `[[gateway.routes]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    pub path: RouteTemplate,
    /// Empty: every method. HEAD goes with GET.
    #[serde(default, deserialize_with = "list::deserialize")]
    pub methods: Vec<HttpMethod>,
    pub access: Access,
    /// The route's own policy (per user, else per client IP); none:
    /// `rate_limit.default`.
    #[serde(default)]
    pub rate_limit: Option<RatePolicy>,
    /// The upstream it forwards to; none: `default`.
    #[serde(default)]
    pub upstream: Option<UpstreamName>,
    /// A caller needs a second factor (`amr`) on it.
    #[serde(default)]
    pub mfa: bool,
}

/// Who may pass a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    Authenticated,
    /// Callers holding every role of at least one of these sets (the
    /// configuration's list is one set of one role each: any of them).
    Roles(Vec<Vec<String>>),
}

impl<'de> Deserialize<'de> for Access {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Word(String),
            Roles(Vec<String>),
        }
        let bad = || {
            serde::de::Error::custom(
                "write \"public\", \"authenticated\", or the roles that may pass, e.g. [\"admin\"]",
            )
        };
        match Written::deserialize(deserializer).map_err(|_: D::Error| bad())? {
            Written::Word(word) if word == "public" => Ok(Self::Public),
            Written::Word(word) if word == "authenticated" => Ok(Self::Authenticated),
            Written::Word(_) => Err(bad()),
            Written::Roles(roles) if roles.is_empty() => Err(serde::de::Error::custom(
                "an empty role list admits nobody: write \"authenticated\" or name the roles",
            )),
            Written::Roles(roles) => Ok(Self::Roles(roles.into_iter().map(|r| vec![r]).collect())),
        }
    }
}

/// `gateway.upstream`: `http(s)://host[:port]`, nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    url: Url,
    /// `scheme://host[:port]`, as the assertion's `aud` names it.
    origin: String,
}

impl Upstream {
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub fn host(&self) -> Option<url::Host<&str>> {
        self.url.host()
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not an upstream: write http://host:port or https://host:port, with no path, e.g. `http://127.0.0.1:8001`"
)]
pub struct UpstreamError(String);

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || UpstreamError(text.to_owned());
        let url = Url::parse(text).map_err(|_| bad())?;
        let ok = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none();
        if !ok {
            return Err(bad());
        }
        let origin = url.origin().ascii_serialization();
        Ok(Self { url, origin })
    }
}

impl<'de> Deserialize<'de> for Upstream {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A path on the upstream (`gateway.openapi`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamPath(String);

impl UpstreamPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for UpstreamPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let ok = text.starts_with('/')
            && !text.starts_with("//")
            && text.parse::<http::uri::PathAndQuery>().is_ok()
            && !text.contains('#');
        if ok {
            Ok(Self(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not a path on the upstream: write one starting with /, e.g. `/openapi.json`"
            )))
        }
    }
}

/// `gateway.own_prefix`: one or more segments, `/auth` or `/_rampart/v1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnPrefix(String);

impl OwnPrefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for OwnPrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        };
        match text.strip_prefix('/') {
            Some(rest) if rest.split('/').all(segment_ok) => Ok(Self(text)),
            _ => Err(serde::de::Error::custom(format!(
                "`{text}` is not a prefix: write / and one or more segments of letters, digits, -._~, e.g. `/auth`"
            ))),
        }
    }
}

/// A route's path: segments separated by `/`, each a literal, `{name}`
/// (exactly one segment) or, last, `{*name}` (the rest of the path,
/// possibly empty). The same syntax as OpenAPI's paths, plus the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTemplate {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Compared byte for byte with the request's segment as sent.
    Literal(String),
    /// Any one non-empty segment.
    Param,
    /// Everything after the preceding `/`, possibly empty.
    Rest,
}

impl RouteTemplate {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "`{text}` is not a route template: {why} (write segments after /, each a literal, {{name}}, or last {{*name}}, e.g. `/items/{{item_id}}`)"
)]
pub struct TemplateError {
    text: String,
    why: &'static str,
}

impl FromStr for RouteTemplate {
    type Err = TemplateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why| TemplateError {
            text: text.to_owned(),
            why,
        };
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| bad("it must start with /"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let segment = if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let (rest, name) = match inner.strip_prefix('*') {
                    Some(name) => (true, name),
                    None => (false, inner),
                };
                let name_ok = name
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !name_ok {
                    return Err(bad("a parameter is named with letters, digits and _"));
                }
                if rest && !last {
                    return Err(bad("{*name} can only be the last segment"));
                }
                if rest { Segment::Rest } else { Segment::Param }
            } else {
                if part.contains(['{', '}']) {
                    return Err(bad("a parameter must be a whole segment"));
                }
                if part.is_empty() && !last {
                    return Err(bad("it has an empty segment (//)"));
                }
                if *part == "." || *part == ".." {
                    return Err(bad("it has a dot segment"));
                }
                let pchar = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b);
                if !part.bytes().all(pchar) {
                    return Err(bad(
                        "a literal segment holds a character a path cannot carry unencoded",
                    ));
                }
                Segment::Literal((*part).to_owned())
            };
            segments.push(segment);
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }
}

impl<'de> Deserialize<'de> for RouteTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RouteTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_segments() {
        let t: RouteTemplate = "/items/{item_id}".parse().unwrap();
        assert_eq!(t.segments(), [Segment::Literal("items".into()), Segment::Param]);
        let t: RouteTemplate = "/static/{*rest}".parse().unwrap();
        assert_eq!(t.segments(), [Segment::Literal("static".into()), Segment::Rest]);
        let t: RouteTemplate = "/items/".parse().unwrap();
        assert_eq!(
            t.segments(),
            [Segment::Literal("items".into()), Segment::Literal(String::new())]
        );
        let t: RouteTemplate = "/".parse().unwrap();
        assert_eq!(t.segments(), [Segment::Literal(String::new())]);
        for bad in [
            "items",
            "/a//b",
            "/{*rest}/x",
            "/files/{name}.json",
            "/{}",
            "/{1x}",
            "/a/../b",
            "/a b",
            "/a/{id",
        ] {
            assert!(bad.parse::<RouteTemplate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn upstreams_are_origins() {
        let up: Upstream = "http://127.0.0.1:8001".parse().unwrap();
        assert_eq!(up.origin(), "http://127.0.0.1:8001");
        let up: Upstream = "https://api.internal".parse().unwrap();
        assert_eq!(up.origin(), "https://api.internal");
        assert!(up.is_https());
        for bad in [
            "ftp://x",
            "http://u:p@x",
            "http://x/api",
            "http://x?q",
            "127.0.0.1:8001",
        ] {
            assert!(bad.parse::<Upstream>().is_err(), "{bad}");
        }
    }
}
