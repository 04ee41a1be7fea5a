//! The OpenAPI document: what each handler declares (utoipa, from its
//! types), completed here with the answers every operation shares, so that
//! no operation can forget one: 429 and 503 wherever a rate limit applies,
//! 401 and 403 wherever a caller is needed, 404 wherever a path names a
//! resource, 413, 415 and 422 wherever input is read.

use utoipa::{
    OpenApi,
    openapi::{
        Ref, RefOr,
        path::{Operation, PathItem},
        response::{Response, ResponseBuilder},
        schema::{AdditionalProperties, Schema},
        security::{Flow, OAuth2, Password, Scopes, SecurityScheme},
    },
};

use crate::{http::error::ErrorBody, input::ValidationErrorBody};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rampart",
        description = "A secure-by-default HTTP API server.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ErrorBody, ValidationErrorBody)),
    modifiers(&BearerScheme),
    tags(
        (name = "meta", description = "Service health and documentation"),
        (name = "auth", description = "OAuth2 password flow, tokens and keys"),
        (name = "users", description = "Accounts"),
        (name = "admin", description = "Administration (role admin)"),
        (name = "items", description = "Items, owned by their creator"),
        (name = "pages", description = "Browser pages, sessions and CSRF tokens"),
        (name = "console", description = "The console's pages (a session of role admin)")
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme: OAuth2 password flow at `/token`, so
/// Swagger UI's "Authorize" logs in as FastAPI's does.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/token",
                Scopes::new(),
            ))])),
        );
    }
}

/// Adds the shared answers to every operation that lacks them, and states
/// that JSON bodies refuse unknown fields (every JSON [`crate::input::Model`]
/// does: `extra_forbidden`).
pub fn complete(openapi: &mut utoipa::openapi::OpenApi) {
    let mut json_bodies = Vec::new();
    for (path, item) in &mut openapi.paths.paths {
        for (method, operation) in operations(item) {
            complete_operation(path, method, operation);
            if let Some(RefOr::T(body)) = &operation.request_body
                && let Some(RefOr::T(content)) = body.content.get("application/json")
                && let Some(RefOr::Ref(reference)) = &content.schema
            {
                json_bodies.push(
                    reference
                        .ref_location
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    }
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for name in json_bodies {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&name) {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

fn complete_operation(path: &str, method: &str, operation: &mut Operation) {
    let unsafe_method = method != "get";
    let secured = operation.security.as_ref().is_some_and(|requirements| {
        requirements
            .iter()
            .any(|requirement| serde_json::to_value(requirement).is_ok_and(|v| v != serde_json::json!({})))
    });
    let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let path_params = path.contains('{');
    let has_body = operation.request_body.is_some();
    // The pages read their forms leniently and answer a bad one with the
    // page again (each states its own answers): no 415, no JSON 422.
    let page = operation
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|tag| tag == "pages" || tag == "console"));
    // The probes are never rate limited (SPEC section 3, "Rate limits").
    let limited = !matches!(path, "/healthz" | "/readyz");

    let mut add = |status: &str, response: fn() -> Response| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(response()));
    };
    if secured {
        add("401", || {
            error("Not authenticated, or invalid authentication credentials (`WWW-Authenticate: Bearer`)")
        });
    }
    if secured && unsafe_method {
        add("403", || {
            error("A cookie-authenticated request without its CSRF token, or sent cross-site")
        });
    }
    if path_params {
        add("404", || error("Not found"));
    }
    if has_body {
        add("413", || error("Request body too large"));
    }
    if has_body && !page {
        add("415", || error("Wrong content type"));
    }
    if (has_body || has_params) && !page {
        add("422", || {
            described(
                "Validation error: every field that does not read",
                "ValidationErrorBody",
            )
        });
    }
    if limited {
        add("429", || {
            error("Rate limit exceeded (`Retry-After` says when to retry)")
        });
        add("503", || {
            error(
                "Temporarily unavailable: the shared rate limit store or the password hashing queue; retry after `Retry-After`",
            )
        });
    }
}

fn error(description: &str) -> Response {
    described(description, "ErrorBody")
}

fn described(description: &str, schema: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}
