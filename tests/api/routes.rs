//! The public seed routes of the foundation: greeting, health, docs.

use serde_json::{Value, json};

use crate::helpers::TestServer;

#[tokio::test]
async fn root_greets() {
    let server = TestServer::start().await;
    let response = server.get("/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message": "Hello World"})
    );
}

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let server = TestServer::start().await;
    let response = server.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let response = server.get("/readyz").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_the_routes() {
    let server = TestServer::start().await;
    let response = server.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/",
        "/healthz",
        "/readyz",
        "/token",
        "/token/revoke",
        "/.well-known/jwks.json",
        "/users",
        "/users/me",
        "/users/me/password",
        "/protected",
        "/protected_route",
        "/admin/users",
        "/admin/users/{username}/roles",
        "/admin/users/{username}/disable",
        "/admin/users/{username}/enable",
        "/admin/keys/rotate",
        "/admin/audit",
        "/items/",
        "/items/{item_id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| !p.starts_with("/__test"))
    );
    assert!(doc["components"]["schemas"].get("ValidationErrorBody").is_some());
    // Swagger UI's "Authorize" logs in with the OAuth2 password flow.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["flows"]["password"]["tokenUrl"],
        "/token"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_by_rampart_itself() {
    let server = TestServer::start().await;
    let response = server.get("/docs").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    // Every asset the page names is served here, never from a CDN (named
    // relative to the page, so a prefix moves them along).
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("docs/") || part.contains("//"))
        .collect();
    assert!(assets.len() >= 4, "{assets:?}");
    for asset in assets {
        assert!(asset.starts_with("docs/"), "external asset {asset}");
        let response = server.get(&format!("/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
    }
    let initializer = server
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(r#""openapi.json""#),
        "the UI loads rampart's document, relative to the page: {initializer}"
    );
    assert_eq!(server.get("/docs/no-such-file.js").await.status(), 404);
}
