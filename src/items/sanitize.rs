//! The HTML policy for item descriptions (stored XSS, OWASP XSS prevention
//! cheat sheet), applied with ammonia before anything is stored.
//!
//! Kept: text formatting and structure (`b strong i em u p br ul ol li
//! blockquote code pre`) and links. Links keep only `href`, only an
//! absolute URL with `http`, `https` or `mailto`, and get
//! `rel="noopener noreferrer"` so a linked page can neither reach back into
//! ours nor learn where it came from. Relative hrefs go too: a description
//! is shown on more than one page, and browsers read `//host` and `\\host`
//! as links to another site, so a "relative" link can leave the site while
//! looking local (OWASP Unvalidated Redirects and Forwards cheat sheet: links
//! to other sites are explicit). No other attribute is kept, not even
//! ammonia's defaults (`title`, `lang`, `hreflang`, `cite`, `start`): an
//! allowlist says what is allowed, not what a library happens to add (OWASP
//! XSS prevention cheat sheet, rule for HTML sanitization). Everything else
//! goes: scripts and styles with their content, event handler attributes,
//! `javascript:`/`data:` URLs, SVG/MathML, iframes, forms, images (tracking
//! pixels) and comments.

use std::{
    collections::{HashMap, HashSet},
    sync::OnceLock,
};

use ammonia::UrlRelative;

fn policy() -> &'static ammonia::Builder<'static> {
    static POLICY: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    POLICY.get_or_init(|| {
        let mut builder = ammonia::Builder::empty();
        builder
            .tags(HashSet::from([
                "a",
                "b",
                "blockquote",
                "br",
                "code",
                "em",
                "i",
                "li",
                "ol",
                "p",
                "pre",
                "strong",
                "u",
                "ul",
            ]))
            .clean_content_tags(HashSet::from(["script", "style"]))
            // Exactly these attributes: `empty()` keeps ammonia's default
            // attribute lists, which `add_*` would only extend.
            .generic_attributes(HashSet::new())
            .tag_attributes(HashMap::from([("a", HashSet::from(["href"]))]))
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
            .url_relative(UrlRelative::Deny)
            .link_rel(Some("noopener noreferrer"))
            .strip_comments(true);
        builder
    })
}

/// The description as it will be stored and shown.
pub fn clean(html: &str) -> String {
    policy().clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn formatting_survives_and_links_get_rel() {
        assert_eq!(
            clean("<b>ok</b> <i>x</i> <p>y</p>"),
            "<b>ok</b> <i>x</i> <p>y</p>"
        );
        assert_eq!(
            clean(r#"<a href="https://example.com">l</a>"#),
            r#"<a href="https://example.com" rel="noopener noreferrer">l</a>"#
        );
    }

    #[test]
    fn script_capable_markup_is_removed() {
        assert_eq!(clean("<script>alert(1)</script>hi"), "hi");
        assert_eq!(clean(r#"<b onclick="alert(1)">x</b>"#), "<b>x</b>");
        assert_eq!(
            clean(r#"<a href="javascript:alert(1)">x</a>"#),
            r#"<a rel="noopener noreferrer">x</a>"#
        );
        assert!(!clean("<svg onload=alert(1)>").contains("svg"));
    }

    #[test]
    fn links_keep_only_absolute_http_https_and_mailto_hrefs() {
        for kept in [
            "https://example.com/a?b=c",
            "http://example.com/",
            "mailto:someone@example.com",
        ] {
            assert_eq!(
                clean(&format!(r#"<a href="{kept}">l</a>"#)),
                format!(r#"<a href="{kept}" rel="noopener noreferrer">l</a>"#),
                "{kept}"
            );
        }
        for removed in [
            "//evil.example/phish",
            r"\\evil.example/x",
            r"/\evil.example/x",
            "/local/path",
            "relative/path",
            "?q=1",
            "#top",
            "ftp://example.com/file",
            "data:text/html,<b>x</b>",
        ] {
            assert_eq!(
                clean(&format!(r#"<a href="{removed}">l</a>"#)),
                r#"<a rel="noopener noreferrer">l</a>"#,
                "{removed}"
            );
        }
    }

    #[test]
    fn no_attribute_but_href_survives() {
        assert_eq!(
            clean(
                r#"<a href="https://example.com" title="t" hreflang="en" lang="en" target="_blank" class="c" id="i">l</a>"#
            ),
            r#"<a href="https://example.com" rel="noopener noreferrer">l</a>"#
        );
        assert_eq!(
            clean(
                r#"<p title="t" lang="en">x</p><blockquote cite="https://example.com">q</blockquote><ol start="3"><li>a</li></ol>"#
            ),
            "<p>x</p><blockquote>q</blockquote><ol><li>a</li></ol>"
        );
    }
}
