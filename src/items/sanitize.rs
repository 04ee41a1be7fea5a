//! The HTML policy for item descriptions (stored XSS, OWASP XSS prevention
//! cheat sheet), applied with ammonia before anything is stored.
//!
//! Kept: text formatting and structure (`b strong i em u p br ul ol li
//! blockquote code pre`) and links. Links keep only `href`, only with
//! `http`, `https` or `mailto`, and get `rel="noopener noreferrer"` so a
//! linked page can neither reach back into ours nor learn where it came
//! from. Everything else goes: scripts and styles with their content, event
//! handler attributes, `javascript:`/`data:` URLs, SVG/MathML, iframes,
//! forms, images (tracking pixels) and comments.

use std::{collections::HashSet, sync::OnceLock};

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
            .add_tag_attributes("a", ["href"])
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
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
}
