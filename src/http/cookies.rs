//! The cookies rampart sets (SPEC section 3, "Cookies"): the session, the
//! CSRF token, the pre-session nonce that binds login-form CSRF tokens, and
//! the device cookie of the login throttle; their names, their attributes,
//! and reading them back.
//!
//! All are `HttpOnly` (no script reads them; the CSRF token reaches pages
//! in the HTML and `GET /csrftoken/`), `SameSite=Lax` and `Path=/`. Over
//! HTTPS they are also `Secure` and carry the `__Host-` prefix, which a
//! browser accepts only from the host itself over HTTPS with `Path=/` and
//! no `Domain`, so a sibling subdomain cannot plant or overwrite them
//! (RFC 6265bis section 4.1.3.2; OWASP Session Management cheat sheet).

use http::{HeaderMap, HeaderValue, header};

/// The cookie names for a request's transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
    pub presession: &'static str,
    pub device: &'static str,
    /// A sign-in waiting for its second factor.
    pub mfa: &'static str,
    /// A sign-in under way at an OpenID provider (sealed).
    pub oidc: &'static str,
}

pub fn names(https: bool) -> CookieNames {
    if https {
        CookieNames {
            session: "__Host-rampart_session",
            csrf: "__Host-rampart_csrf",
            presession: "__Host-rampart_presession",
            device: "__Host-rampart_device",
            mfa: "__Host-rampart_mfa",
            oidc: "__Host-rampart_oidc",
        }
    } else {
        CookieNames {
            session: "rampart_session",
            csrf: "rampart_csrf",
            presession: "rampart_presession",
            device: "rampart_device",
            mfa: "rampart_mfa",
            oidc: "rampart_oidc",
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for `name=value`, for the browser's session only.
pub fn set(name: &str, value: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"))
        .expect("cookie names and values are visible ASCII")
}

/// `Set-Cookie` for `name=value`, kept for `max_age`.
pub fn set_lasting(name: &str, value: &str, https: bool, max_age: std::time::Duration) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        max_age.as_secs()
    ))
    .expect("cookie names and values are visible ASCII")
}

/// `Set-Cookie` that deletes cookie `name`.
pub fn clear(name: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie names are visible ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; rampart_session=abc".parse().unwrap());
        headers.append(header::COOKIE, "rampart_csrf=x.y".parse().unwrap());
        assert_eq!(get(&headers, "rampart_session"), Some("abc"));
        assert_eq!(get(&headers, "rampart_csrf"), Some("x.y"));
        assert_eq!(get(&headers, "rampart"), None);
        headers.insert(header::COOKIE, "rampart_session=".parse().unwrap());
        assert_eq!(get(&headers, "rampart_session"), None);
    }

    #[test]
    fn https_cookies_are_secure_and_host_prefixed() {
        let names = names(true);
        assert!(names.session.starts_with("__Host-"));
        let cookie = set(names.session, "v", true);
        assert_eq!(
            cookie,
            "__Host-rampart_session=v; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            set("rampart_session", "v", false),
            "rampart_session=v; Path=/; HttpOnly; SameSite=Lax"
        );
    }
}
