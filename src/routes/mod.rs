//! The public routes. Each route's OpenAPI description is derived from its
//! handler's types (utoipa), so `/openapi.json` cannot drift from the code.

mod admin;
mod audit;
mod credentials;
mod docs;
mod forward_auth;
mod health;
pub mod https_redirect;
mod items;
mod keys;
mod mfa;
mod openapi;
mod passkeys;
#[cfg(feature = "test-hooks")]
mod test_hooks;
pub(crate) mod token;
mod users;
mod ws;

use axum::{Router, routing::MethodRouter};
use http::Method;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    http::route::{OwnRules, Templates},
    ratelimit::PolicyName,
    state::AppState,
    web::pages,
};

/// A router and the templates of its routes, added together: the stack
/// matches requests against the same templates before the router runs
/// (`http::route`).
pub struct Routed<S = ()> {
    pub router: Router<S>,
    pub templates: Templates,
}

impl<S: Clone + Send + Sync + 'static> Default for Routed<S> {
    fn default() -> Self {
        Self {
            router: Router::new(),
            templates: Templates::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routed<S> {
    pub fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        self.templates.add(path);
        self.router = self.router.route(path, method_router);
        self
    }

    pub fn merge(mut self, other: Routed<S>) -> Self {
        self.templates.extend(other.templates);
        self.router = self.router.merge(other.router);
        self
    }
}

/// Every public route, with its state, before the middleware stack.
pub fn router(state: AppState) -> Routed {
    let shared = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(token::token))
        .routes(routes!(token::revoke))
        .routes(routes!(keys::jwks))
        .routes(routes!(keys::rotate))
        .routes(routes!(users::create_user))
        .routes(routes!(users::me))
        .routes(routes!(users::change_password))
        .routes(routes!(users::protected))
        .routes(routes!(users::protected_route))
        .routes(routes!(mfa::factors))
        .routes(routes!(mfa::begin_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(mfa::remove_totp))
        .routes(routes!(mfa::renew_recovery_codes))
        .routes(routes!(mfa::reset))
        .routes(routes!(passkeys::options))
        .routes(routes!(passkeys::register))
        .routes(routes!(passkeys::remove))
        .routes(routes!(admin::list))
        .routes(routes!(admin::user))
        .routes(routes!(credentials::sessions))
        .routes(routes!(credentials::revoke))
        .routes(routes!(admin::set_roles))
        .routes(routes!(admin::disable))
        .routes(routes!(admin::enable))
        .routes(routes!(audit::audit))
        .routes(routes!(audit::stats))
        .routes(routes!(pages::login_form, pages::login))
        .routes(routes!(pages::login_mfa))
        .routes(routes!(pages::second_step_options))
        .routes(routes!(pages::second_step))
        .routes(routes!(pages::passwordless_options))
        .routes(routes!(pages::passwordless))
        .routes(routes!(pages::sso_begin))
        .routes(routes!(pages::sso_callback))
        .routes(routes!(pages::logout))
        .routes(routes!(pages::csrf_token))
        .routes(routes!(pages::setup_form, pages::setup))
        .routes(routes!(pages::account))
        .routes(routes!(pages::account_totp))
        .routes(routes!(pages::account_totp_confirm))
        .routes(routes!(pages::account_totp_remove))
        .routes(routes!(pages::account_passkey_remove))
        .routes(routes!(pages::account_recovery_codes))
        .routes(routes!(pages::account_password))
        .routes(routes!(pages::console))
        .routes(routes!(pages::console_users, pages::console_create_user))
        .routes(routes!(pages::console_user))
        .routes(routes!(pages::console_set_roles))
        .routes(routes!(pages::console_disable))
        .routes(routes!(pages::console_enable))
        .routes(routes!(pages::console_reset_factors))
        .routes(routes!(pages::console_revoke))
        .routes(routes!(pages::console_keys))
        .routes(routes!(pages::console_rotate_key))
        .routes(routes!(pages::console_revoke_key))
        .routes(routes!(pages::console_audit));
    // With a gateway the upstream owns `/` and the resources: rampart's
    // demo resource, its page and its socket are off (SPEC section 6), and
    // a proxy in front may ask `/forward-auth`.
    let own = if state.gateway.is_some() {
        shared.routes(routes!(forward_auth::forward_auth))
    } else {
        shared
            .routes(routes!(health::root))
            .routes(routes!(items::create, items::list))
            .routes(routes!(items::get, items::update, items::delete))
            .routes(routes!(pages::app))
            .routes(routes!(pages::add_item))
            .routes(routes!(ws::items))
    };
    let (routes, mut openapi) = own.split_for_parts();
    // utoipa-axum routes each handler at its documented path.
    let mut templates = Templates::new();
    templates.extend(openapi.paths.paths.keys().cloned());
    let routes = Routed {
        router: routes,
        templates,
    };
    openapi::complete(&mut openapi);
    let prefix = state.settings.own_prefix().to_owned();
    if !prefix.is_empty() {
        // Paths stay as they are; the server they are relative to moves.
        openapi.servers = Some(vec![utoipa::openapi::Server::new(prefix.clone())]);
    }
    // Without `docs`, the document and its viewer are not routed at all:
    // they answer the same 404 as any unknown path.
    let routes = if state.settings.docs {
        let gateway = state.gateway.clone().map(|gateway| (gateway, prefix.as_str()));
        routes.merge(docs::router(&openapi, gateway))
    } else {
        routes
    };
    let routes = routes
        .route("/static/app.css", axum::routing::get(pages::stylesheet))
        .route("/static/mfa.js", axum::routing::get(pages::passkey_script));
    #[cfg(feature = "test-hooks")]
    let routes = routes.merge(test_hooks::router());
    let routes = if prefix.is_empty() {
        routes
    } else {
        Routed {
            router: Router::new().nest(&prefix, routes.router),
            templates: routes.templates.nested(&prefix),
        }
    };
    let routes = match &state.gateway {
        // What no route of rampart's matches is the gateway's to forward,
        // or to refuse.
        Some(gateway) => {
            let gateway = gateway.clone();
            Routed {
                router: routes
                    .router
                    .fallback(move |request| crate::gateway::proxy::forward(gateway.clone(), request)),
                templates: routes.templates,
            }
        }
        None => routes.route("/static/app.js", axum::routing::get(pages::script)),
    };
    Routed {
        router: routes.router.with_state(state),
        templates: routes.templates,
    }
}

/// What the stack needs to know of these routes (`http::route`).
pub const RULES: OwnRules = OwnRules {
    policy_for,
    // The account routes: every answer private, whoever asks, errors
    // included (ASVS 5.0 14.3.2; RFC 6749 section 5.1 for /token).
    private_areas: &["/token", "/users", "/admin", "/console"],
    // What a credential for second-factor enrolment only may call (SPEC
    // section 7): the account's own routes, signing out, and what needs no
    // credential at all (signing in again among them).
    enrolment_areas: &[
        "/users/me",
        "/token",
        "/logout",
        "/csrftoken",
        "/static",
        "/account",
        "/login",
        "/setup",
        "/healthz",
        "/readyz",
        "/.well-known",
        "/docs",
        "/openapi.json",
    ],
    // `/app` sends such a credential to `/account`.
    enrolment_routes: &["/app"],
    // The console acts as the admin API does (SPEC section 9).
    mfa_areas: &["/admin", "/console"],
};

/// The per-client policy of a route, by method and route template; `None`
/// for the probes, which load balancers call and must always answer.
/// (`login_per_username` is applied by the login handlers, which know the
/// attempted name.)
pub fn policy_for(method: &Method, route: Option<&str>) -> Option<PolicyName> {
    match route {
        // Forward-auth spends the budget of the route it is asked about.
        Some("/healthz" | "/readyz" | "/forward-auth") => None,
        Some(
            "/token"
            | "/login"
            | "/login/mfa"
            | "/login/mfa/passkey/options"
            | "/login/mfa/passkey"
            | "/login/passkey/options"
            | "/login/passkey",
        ) if method == Method::POST => Some(PolicyName::Login),
        Some("/docs" | "/docs/{file}" | "/openapi.json") => Some(PolicyName::Docs),
        _ => Some(PolicyName::Default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_their_policies() {
        assert_eq!(policy_for(&Method::GET, Some("/healthz")), None);
        assert_eq!(policy_for(&Method::GET, Some("/readyz")), None);
        assert_eq!(policy_for(&Method::GET, Some("/forward-auth")), None);
        assert_eq!(policy_for(&Method::POST, Some("/token")), Some(PolicyName::Login));
        assert_eq!(policy_for(&Method::POST, Some("/login")), Some(PolicyName::Login));
        assert_eq!(
            policy_for(&Method::GET, Some("/login")),
            Some(PolicyName::Default)
        );
        assert_eq!(policy_for(&Method::GET, Some("/docs")), Some(PolicyName::Docs));
        assert_eq!(
            policy_for(&Method::GET, Some("/openapi.json")),
            Some(PolicyName::Docs)
        );
        assert_eq!(
            policy_for(&Method::GET, Some("/items/")),
            Some(PolicyName::Default)
        );
        assert_eq!(policy_for(&Method::GET, None), Some(PolicyName::Default));
    }
}
