//! Passkeys: `auth.webauthn_rp_id`, when set, is a domain name (WebAuthn's
//! relying party id is a registrable domain or a host: no scheme, port or
//! path, and never an IP address).

use super::Finding;

pub(super) fn findings(rp_id: &str) -> Option<Finding> {
    if rp_id.is_empty() || is_domain(rp_id) {
        return None;
    }
    Some(
        Finding::error(
            "auth.webauthn_rp_id",
            format!("{rp_id:?} is not a domain name (such as example.com: no scheme, port or path, not an IP address); passkeys would fail"),
        )
        .everywhere(),
    )
}

fn is_domain(rp_id: &str) -> bool {
    matches!(url::Host::parse(rp_id), Ok(url::Host::Domain(domain)) if domain == rp_id)
        && !rp_id.contains([':', '/', '@', '?', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relying_party_id_is_a_domain() {
        for good in ["", "example.com", "localhost", "auth.example.co.uk"] {
            assert_eq!(findings(good), None, "{good}");
        }
        for bad in [
            "https://example.com",
            "example.com:443",
            "example.com/x",
            "192.0.2.1",
            "[::1]",
            "Example.com",
        ] {
            assert!(findings(bad).is_some(), "{bad}");
        }
    }
}
