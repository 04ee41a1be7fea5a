//! The page templates (minijinja), compiled into the binary and loaded
//! once. Names ending in `.html` are escaped automatically: a value is text
//! unless a template marks it `safe` (only item descriptions, which are
//! sanitized by `items::sanitize` before they are stored).

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::Environment;

use crate::http::error::ApiError;

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("login.html", include_str!("../../templates/login.html")),
            ("login_mfa.html", include_str!("../../templates/login_mfa.html")),
            ("setup.html", include_str!("../../templates/setup.html")),
            ("app.html", include_str!("../../templates/app.html")),
            ("account.html", include_str!("../../templates/account.html")),
            ("sso_failed.html", include_str!("../../templates/sso_failed.html")),
            ("console.html", include_str!("../../templates/console.html")),
            (
                "console_overview.html",
                include_str!("../../templates/console_overview.html"),
            ),
            (
                "console_users.html",
                include_str!("../../templates/console_users.html"),
            ),
            (
                "console_user.html",
                include_str!("../../templates/console_user.html"),
            ),
            (
                "console_events.html",
                include_str!("../../templates/console_events.html"),
            ),
            (
                "console_keys.html",
                include_str!("../../templates/console_keys.html"),
            ),
            (
                "console_audit.html",
                include_str!("../../templates/console_audit.html"),
            ),
            (
                "console_forbidden.html",
                include_str!("../../templates/console_forbidden.html"),
            ),
        ] {
            env.add_template(name, source).expect("the page templates parse");
        }
        env
    })
}

/// Renders template `name` with `context`.
pub fn render(name: &str, context: minijinja::Value) -> Result<Html<String>, ApiError> {
    environment()
        .get_template(name)
        .and_then(|template| template.render(context))
        .map(Html)
        .map_err(|err| ApiError::internal(anyhow::anyhow!("rendering {name}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_only_descriptions_are_trusted() {
        let html = render(
            "app.html",
            minijinja::context! {
                title => "Items",
                username => "<script>alert(1)</script>",
                csrf_token => r#"t"><script>"#,
                total => 1,
                items => vec![minijinja::context! {
                    name => "<img src=x onerror=alert(1)>",
                    price => 1.5,
                    tax => (),
                    description => "<b>bold</b>",
                }],
                form => minijinja::context! {},
                errors => Vec::<()>::new(),
            },
        )
        .unwrap()
        .0;
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("<b>bold</b>"));
        assert!(!html.contains("style="), "no inline style");
        // One script, from `self`, and nothing inline.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(r#"<script src="static/app.js" defer></script>"#));
    }
}
