//! Which request paths may be forwarded: only those already in normal form
//! (SPEC section 6). A gateway that matches one spelling of a path and
//! forwards another lets a request past its rules: `/%72eports` is not
//! `/reports` to a rule, but the upstream decodes it into one; `/a/../admin`
//! is `/admin` to many servers. Rather than normalizing (and then having to
//! forward exactly what was matched), paths that are not normal are
//! refused, and what is matched is what is forwarded, byte for byte.
//!
//! Not normal: a `.` or `..` segment, written or percent-encoded; an empty
//! segment (`//`; a trailing `/` is a segment of its own, kept); a
//! percent-encoded unreserved character (RFC 3986 section 2.3: letters,
//! digits, `-._~`, which section 6.2.2.2 says to decode); an encoded `/`
//! or `\`, which some servers decode into separators; a `\` or a broken
//! escape; a `;`, written or encoded, which Tomcat and Spring read as the
//! start of path parameters (`/admin;x/panel` is `/admin/panel` to them);
//! a segment that ends in `.` or a space, which IIS and Windows drop
//! (`/admin./panel`). SPEC section 11; CWE-436, an interpretation conflict.

/// Why a path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotNormal {
    DotSegment,
    EmptySegment,
    EncodedUnreserved,
    EncodedSeparator,
    PathParameter,
    TrailingDotOrSpace,
    Malformed,
}

/// Checks a request path as sent (no query).
pub fn check(path: &str) -> Result<(), NotNormal> {
    let rest = path.strip_prefix('/').ok_or(NotNormal::Malformed)?;
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        if segment.is_empty() && segments.peek().is_some() {
            return Err(NotNormal::EmptySegment);
        }
        escapes(segment)?;
        // An encoded dot was refused above, so a dot segment is written.
        if segment == "." || segment == ".." {
            return Err(NotNormal::DotSegment);
        }
        if segment.ends_with('.') || segment.ends_with("%20") {
            return Err(NotNormal::TrailingDotOrSpace);
        }
    }
    Ok(())
}

/// Refuses a segment's escapes of unreserved characters or separators,
/// broken escapes, and a written `\`.
fn escapes(segment: &str) -> Result<(), NotNormal> {
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(NotNormal::Malformed)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(NotNormal::Malformed);
                }
                let hex = std::str::from_utf8(hex).map_err(|_| NotNormal::Malformed)?;
                let byte = u8::from_str_radix(hex, 16).map_err(|_| NotNormal::Malformed)?;
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    return Err(NotNormal::EncodedUnreserved);
                }
                if byte == b'/' || byte == b'\\' {
                    return Err(NotNormal::EncodedSeparator);
                }
                if byte == b';' {
                    return Err(NotNormal::PathParameter);
                }
                i += 3;
            }
            b'\\' => return Err(NotNormal::EncodedSeparator),
            b';' => return Err(NotNormal::PathParameter),
            _ => i += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_pass() {
        for ok in [
            "/",
            "/reports",
            "/items/",
            "/items/42",
            "/a%20b",
            "/caf%C3%A9",
            "/x%3Ay",
            "/..a",
            "/a.b",
            "/a%20b/c",
            "/.well-known/x",
            "/a/b/c/",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn paths_that_are_not_normal_are_refused() {
        use NotNormal::*;
        for (bad, why) in [
            ("/a/../admin", DotSegment),
            ("/a/./b", DotSegment),
            ("/..", DotSegment),
            ("/.", DotSegment),
            ("/a/%2e%2e/admin", EncodedUnreserved),
            ("/a/.%2E/admin", EncodedUnreserved),
            ("/%72eports", EncodedUnreserved),
            ("/reports%2Dx", EncodedUnreserved),
            ("/a%7e", EncodedUnreserved),
            ("/a%2Fb", EncodedSeparator),
            ("/a%2fb", EncodedSeparator),
            ("/a%5Cb", EncodedSeparator),
            ("/a\\b", EncodedSeparator),
            ("//admin", EmptySegment),
            ("/a//b", EmptySegment),
            ("/a%", Malformed),
            ("/a%2", Malformed),
            ("/a%zz", Malformed),
            ("/a%+1", Malformed),
            ("a", Malformed),
            ("/admin;x/panel", PathParameter),
            ("/admin%3bx/panel", PathParameter),
            ("/admin%3B", PathParameter),
            ("/a;", PathParameter),
            ("/admin./panel", TrailingDotOrSpace),
            ("/admin.", TrailingDotOrSpace),
            ("/a..", TrailingDotOrSpace),
            ("/admin%20/panel", TrailingDotOrSpace),
            ("/admin%20", TrailingDotOrSpace),
        ] {
            assert_eq!(check(bad), Err(why), "{bad}");
        }
    }
}
