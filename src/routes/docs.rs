//! `/openapi.json` and `/docs` (Swagger UI). Every asset is served by rampart
//! itself from the copy of Swagger UI compiled into the binary
//! (utoipa-swagger-ui, `vendored`), so the page works offline and under the
//! HTML CSP, which allows scripts from 'self' only and no inline script.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::Path,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use http::{HeaderValue, header};
use utoipa_swagger_ui::Config;

use super::Routed;
use crate::{gateway::Gateway, http::error::ApiError};

/// What a missing asset answers.
const NOT_FOUND: &str = "Not Found";

const INDEX: &str = include_str!("../../templates/docs.html");

/// The page's CSP: the HTML one, extended with exactly what the vendored
/// Swagger UI needs and SPEC section 3 allows `/docs` alone: its `data:`
/// icons, and the one `<style>` element it injects, by hash (the browser
/// test of `/docs` fails when a Swagger UI update changes it).
const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'",
);

/// Where the document comes from.
enum Document {
    /// rampart's own, fixed at start.
    Own(Bytes),
    /// rampart's own with the gateway's upstream operations, as the
    /// gateway's routes stand now (they change at a reload).
    Gateway {
        own: serde_json::Value,
        own_prefix: String,
        gateway: Arc<Gateway>,
    },
}

impl Document {
    fn bytes(&self) -> Bytes {
        match self {
            Self::Own(bytes) => bytes.clone(),
            Self::Gateway {
                own,
                own_prefix,
                gateway,
            } => gateway.document(own, own_prefix),
        }
    }
}

/// Routes for the OpenAPI document and Swagger UI.
pub fn router<S: Clone + Send + Sync + 'static>(
    openapi: &utoipa::openapi::OpenApi,
    gateway: Option<(Arc<Gateway>, &str)>,
) -> Routed<S> {
    let document = Arc::new(match gateway {
        None => Document::Own(Bytes::from(
            openapi.to_json().expect("the OpenAPI document serializes"),
        )),
        Some((gateway, own_prefix)) => Document::Gateway {
            own: serde_json::to_value(openapi).expect("the OpenAPI document serializes"),
            own_prefix: own_prefix.to_owned(),
            gateway,
        },
    });
    // Relative to the page (`/docs`, or under `gateway.own_prefix`).
    let config = Arc::new(Config::new(["openapi.json"]).try_it_out_enabled(true));
    Routed::default()
        .route(
            "/openapi.json",
            get(move || {
                let document = document.bytes();
                async move {
                    (
                        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                        document,
                    )
                }
            }),
        )
        .route(
            "/docs",
            get(|| async { ([(header::CONTENT_SECURITY_POLICY, DOCS_CSP)], Html(INDEX)) }),
        )
        .route(
            "/docs/{file}",
            get(move |Path(file): Path<String>| {
                let config = config.clone();
                async move { asset(&file, config) }
            }),
        )
}

fn asset(file: &str, config: Arc<Config<'static>>) -> Result<Response, ApiError> {
    // The dist's own index.html uses relative paths that do not resolve
    // under `/docs`; ours is served at `/docs` instead.
    if file == "index.html" {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(asset)) => {
            let content_type = HeaderValue::from_str(&asset.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            Ok((
                [
                    (header::CONTENT_TYPE, content_type),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=3600"),
                    ),
                ],
                asset.bytes.into_owned(),
            )
                .into_response())
        }
        Ok(None) => Err(ApiError::NotFound(NOT_FOUND)),
        Err(err) => Err(ApiError::internal(anyhow::anyhow!("swagger asset {file}: {err}"))),
    }
}
