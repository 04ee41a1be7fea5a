//! What crosses the gateway in headers (SPEC section 6). Inbound, every
//! header a client could use to claim an identity is dropped whatever its
//! spelling, before anything else, and only what rampart computed is set:
//! oauth2-proxy (CVE-2025-64484: `X_Forwarded_User` past a strip of
//! `X-Forwarded-User`) and Caddy (GHSA-7r4p-vjf4-gxv4: a client's header
//! kept when the auth step set none) each shipped the other way. OWASP ASVS
//! 5.0 4.1.3: headers set by an intermediary cannot be overridden by the
//! end user. Outbound, the upstream cannot speak for rampart: no CORS, no
//! rampart cookies, no server banner.

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded either way.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Inbound headers dropped by prefix, after lower-casing and `_` -> `-`.
const IDENTITY_PREFIXES: [&str; 3] = ["x-rampart-", "x-forwarded-", "x-auth-request-"];
/// Inbound headers dropped by name, likewise normalized: identity claims,
/// rampart's credentials (every `Authorization` is rampart's: a valid
/// bearer token was verified here, anything else was refused), what
/// rampart sets itself, `Expect` (rampart's server already answered the
/// client's `100-continue`; the body it forwards is one it has), the
/// headers that make many frameworks run another method or path than the
/// one rampart's route admitted (Express method-override, ASP.NET Core
/// `UseHttpMethodOverride`, Symfony, IIS URL Rewrite: OWASP API5:2023,
/// CWE-650), and `Sec-WebSocket-Protocol`, which [`upgrade`] sets again
/// for an upgrade without the token protocol (SPEC section 11).
const DROPPED: [&str; 15] = [
    "forwarded",
    "x-real-ip",
    "authorization",
    "x-csrf-token",
    "x-request-id",
    "host",
    "expect",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "sec-websocket-protocol",
];

/// rampart's cookies, without the `__Host-` prefix (SPEC section 3).
const OWN_COOKIES: [&str; 6] = [
    "rampart_session",
    "rampart_csrf",
    "rampart_presession",
    "rampart_device",
    "rampart_mfa",
    "rampart_oidc",
];

pub const X_RAMPART_USER: HeaderName = HeaderName::from_static("x-rampart-user");
pub const X_RAMPART_ROLES: HeaderName = HeaderName::from_static("x-rampart-roles");
pub const X_RAMPART_ASSERTION: HeaderName = HeaderName::from_static("x-rampart-assertion");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An address as a header value (`X-Forwarded-For`). IPv4, the common
/// case, is written here: `Ipv4Addr`'s `Display` goes through the
/// formatting machinery, about 3,000 instructions for four numbers on
/// every forwarded request (callgrind, `scripts/perf-guard`'s `gateway`).
pub fn address(ip: std::net::IpAddr) -> HeaderValue {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut text = [0u8; 15];
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                let digits = [octet / 100, octet / 10 % 10, octet % 10];
                let first = if octet >= 100 {
                    0
                } else if octet >= 10 {
                    1
                } else {
                    2
                };
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                for digit in &digits[first..] {
                    text[len] = b'0' + digit;
                    len += 1;
                }
            }
            HeaderValue::from_bytes(&text[..len]).expect("digits and dots")
        }
        std::net::IpAddr::V6(_) => HeaderValue::from_str(&ip.to_string()).expect("an address is ASCII"),
    }
}

/// A header name lower-cased with `_` as `-`: how a server that folds
/// them (CGI, WSGI, many frameworks) would read it. Names arrive lower
/// case; most have no `_`, and are borrowed as they are.
fn normalized(name: &HeaderName) -> std::borrow::Cow<'_, str> {
    let name = name.as_str();
    if name.contains('_') {
        std::borrow::Cow::Owned(name.replace('_', "-"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The names the `Connection` headers list: hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn hop_by_hop(name: &str, listed: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || listed.iter().any(|l| l == name)
}

/// Whether a cookie name is one of rampart's, in any case or prefix.
pub fn is_own_cookie(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    let bare = name
        .strip_prefix("__host-")
        .or_else(|| name.strip_prefix("__secure-"))
        .unwrap_or(&name);
    OWN_COOKIES.contains(&bare)
}

/// The client's headers that may reach the upstream: without hop-by-hop
/// headers, identity claims in any spelling, rampart's credentials and
/// cookies. The `Cookie` headers become one, holding the other cookies.
pub fn inbound(headers: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(headers);
    let mut out = HeaderMap::with_capacity(headers.len() + 8);
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let normal = normalized(name);
        let dropped = hop_by_hop(&normal, &listed)
            || DROPPED.contains(&normal.as_ref())
            || IDENTITY_PREFIXES.iter().any(|prefix| normal.starts_with(prefix));
        if dropped {
            continue;
        }
        if name == header::COOKIE {
            let Ok(value) = value.to_str() else {
                continue;
            };
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|pair| !pair.is_empty())
                    .filter(|pair| !is_own_cookie(pair.split('=').next().unwrap_or_default()))
                    .map(str::to_owned),
            );
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if !cookies.is_empty()
        && let Ok(value) = HeaderValue::from_str(&cookies.join("; "))
    {
        out.insert(header::COOKIE, value);
    }
    out
}

/// Whether a request names its host ambiguously: two `Host` headers (RFC
/// 9112 section 3.2 answers 400), or HTTP/2's `:authority` and a `Host`
/// that differ (RFC 9113 section 8.3.1). Which one a server reads is its
/// own choice; the upstream's `X-Forwarded-Host` must not be (SPEC section
/// 11).
pub fn ambiguous_host<B>(request: &http::Request<B>) -> bool {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return true;
    }
    request.version() == http::Version::HTTP_2
        && matches!(
            (host, request.uri().authority()),
            (Some(host), Some(authority)) if host.as_bytes() != authority.as_str().as_bytes()
        )
}

/// Makes `headers` (already [`inbound`]) an upgrade to a WebSocket, from
/// the client's `original` ones: its key and version, and the
/// subprotocols it offered but a bearer token (which is rampart's, and
/// never echoed). No extension: the tunnel re-frames every message.
pub fn upgrade(headers: &mut HeaderMap, original: &HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    headers.remove(header::SEC_WEBSOCKET_PROTOCOL);
    let offered: Vec<&str> = original
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with(crate::http::credentials::TOKEN_PROTOCOL_PREFIX))
        .collect();
    if !offered.is_empty()
        && let Ok(value) = HeaderValue::from_str(&offered.join(", "))
    {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
}

/// Drops from an upstream's response what only rampart may say: hop-by-hop
/// headers, `Server` and `X-Powered-By`, CORS (rampart answers for its
/// origins), and `Set-Cookie` for rampart's cookies.
pub fn outbound(headers: &mut HeaderMap) {
    let listed = connection_listed(headers);
    let names: Vec<HeaderName> = headers.keys().cloned().collect();
    for name in names {
        let lower = name.as_str();
        if hop_by_hop(lower, &listed)
            || lower == "server"
            || lower == "x-powered-by"
            || lower.starts_with("access-control-")
        {
            headers.remove(&name);
        }
    }
    if headers.contains_key(header::SET_COOKIE) {
        let kept: Vec<HeaderValue> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter(|value| {
                let name = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.split('=').next())
                    .unwrap_or_default();
                !name.is_empty() && !is_own_cookie(name)
            })
            .cloned()
            .collect();
        headers.remove(header::SET_COOKIE);
        for value in kept {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_std_writes_them() {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        for octet in 0..=255u8 {
            for ip in [
                Ipv4Addr::new(octet, 0, 0, 1),
                Ipv4Addr::new(10, octet, 100, 9),
                Ipv4Addr::new(192, 168, octet, 99),
                Ipv4Addr::new(255, 1, 20, octet),
            ] {
                assert_eq!(address(IpAddr::V4(ip)), ip.to_string().as_str());
            }
        }
        let v6: Ipv6Addr = "2001:db8::8a2e:370:7334".parse().unwrap();
        assert_eq!(address(IpAddr::V6(v6)), "2001:db8::8a2e:370:7334");
    }

    #[test]
    fn two_hosts_or_a_host_beside_another_authority_are_ambiguous() {
        let request = |version, uri: &str, hosts: &[&str]| {
            let mut builder = http::Request::builder().version(version).uri(uri);
            for host in hosts {
                builder = builder.header(header::HOST, *host);
            }
            builder.body(()).unwrap()
        };
        use http::Version;
        assert!(!ambiguous_host(&request(Version::HTTP_11, "/", &["a.example"])));
        assert!(ambiguous_host(&request(
            Version::HTTP_11,
            "/",
            &["a.example", "b.example"]
        )));
        assert!(!ambiguous_host(&request(
            Version::HTTP_2,
            "https://a.example/",
            &[]
        )));
        assert!(!ambiguous_host(&request(
            Version::HTTP_2,
            "https://a.example/",
            &["a.example"]
        )));
        assert!(ambiguous_host(&request(
            Version::HTTP_2,
            "https://a.example/",
            &["b.example"]
        )));
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn identity_claims_are_dropped_in_every_spelling() {
        let headers = map(&[
            ("X-Rampart-User", "admin"),
            ("x_rampart_roles", "admin"),
            ("X-RAMPART-ASSERTION", "forged"),
            ("X_Forwarded_For", "1.2.3.4"),
            ("x-forwarded-user", "admin"),
            ("Forwarded", "for=1.2.3.4"),
            ("x_real_ip", "1.2.3.4"),
            ("X-Auth-Request-Email", "a@b"),
            ("authorization", "Bearer abc"),
            ("x-csrf-token", "t"),
            ("x-request-id", "mine"),
            ("host", "evil"),
            ("expect", "100-continue"),
            ("accept", "application/json"),
            ("x-custom", "kept"),
        ]);
        let out = inbound(&headers);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "x-custom"]);
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let headers = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("x-secret", "s"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("content-type", "text/plain"),
        ]);
        let out = inbound(&headers);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type"]);
    }

    #[test]
    fn rampart_cookies_stay_and_others_travel_in_one_header() {
        let headers = map(&[
            ("cookie", "rampart_session=s; theme=dark"),
            ("cookie", "__Host-rampart_csrf=c; lang=en; RAMPART_DEVICE=d"),
        ]);
        let out = inbound(&headers);
        assert_eq!(out.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(out[header::COOKIE], "theme=dark; lang=en");
        for own in ["rampart_presession", "rampart_mfa", "__Host-rampart_oidc"] {
            let only_ours = inbound(&map(&[("cookie", &format!("{own}=p"))]));
            assert!(!only_ours.contains_key(header::COOKIE), "{own}");
        }
    }

    #[test]
    fn the_upstream_cannot_speak_for_rampart() {
        let mut headers = map(&[
            ("server", "uvicorn"),
            ("x-powered-by", "FastAPI"),
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
            ("set-cookie", "rampart_session=planted; Path=/"),
            ("set-cookie", "__Host-rampart_session=planted; Path=/; Secure"),
            ("set-cookie", "app_pref=dark; Path=/"),
            ("set-cookie", "Rampart_Csrf=x"),
            ("connection", "close"),
            ("content-type", "application/json"),
            ("cache-control", "private"),
        ]);
        outbound(&mut headers);
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["cache-control", "content-type", "set-cookie"]);
        let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["app_pref=dark; Path=/"]);
    }
}
