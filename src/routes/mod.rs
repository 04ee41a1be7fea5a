//! The public routes. Each route's OpenAPI description is derived from its
//! handler's types (utoipa), so `/openapi.json` cannot drift from the code.

mod docs;
mod health;
#[cfg(feature = "test-hooks")]
mod test_hooks;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{http::error::ErrorBody, http::validation::ValidationErrorBody, state::AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rampart",
        description = "A secure-by-default HTTP API server.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ErrorBody, ValidationErrorBody)),
    tags((name = "meta", description = "Service health and documentation"))
)]
struct ApiDoc;

/// Every public route, with its state, before the middleware stack.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::root))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    let routes = routes.merge(docs::router(&openapi));
    #[cfg(feature = "test-hooks")]
    let routes = routes.merge(test_hooks::router());
    routes.with_state(state)
}
