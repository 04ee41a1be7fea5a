//! CORS: an exact-origin allowlist, with credentials, and preflights.

use serde_json::Value;

use crate::helpers::{TestConfig, TestServer};

const ALLOWED: &str = "https://app.example.com";
const FOREIGN: &str = "https://evil.example.net";

async fn server() -> TestServer {
    TestServer::start_with(TestConfig::default().env("RAMPART_CORS__ALLOW_ORIGINS", ALLOWED)).await
}

fn allow_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-allow-"))
        .collect()
}

fn varies_on_origin(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

#[tokio::test]
async fn an_allowed_origin_is_echoed_with_credentials_and_vary() {
    let server = server().await;
    let response = server
        .client
        .get(server.url("/"))
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(response.headers()["access-control-allow-credentials"], "true");
    assert!(varies_on_origin(&response));
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for name in ["x-request-id", "ratelimit-remaining", "retry-after"] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

#[tokio::test]
async fn another_origin_gets_no_allow_headers() {
    let server = server().await;
    for origin in [
        FOREIGN,
        "https://app.example.com.evil.example.net",
        "http://app.example.com",
        "null",
    ] {
        let response = server
            .client
            .get(server.url("/"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            allow_headers(&response).is_empty(),
            "{origin}: {:?}",
            allow_headers(&response)
        );
        assert!(varies_on_origin(&response));
    }
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_and_cached() {
    let server = server().await;
    let response = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/items/"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-csrf-token",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], ALLOWED);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert_eq!(headers["access-control-max-age"], "600");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in ["authorization", "content-type", "x-csrf-token"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn a_preflight_from_another_origin_is_forbidden() {
    let server = server().await;
    let response = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/items/"))
        .header("origin", FOREIGN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(allow_headers(&response).is_empty());
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"], "Origin not allowed");
}

#[tokio::test]
async fn a_refusal_is_readable_by_an_allowed_origin() {
    let server = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_CORS__ALLOW_ORIGINS", ALLOWED)
            .env("RAMPART_RATE_LIMIT__DEFAULT", "1/minute"),
    )
    .await;
    let get = || {
        server
            .client
            .get(server.url("/"))
            .header("origin", ALLOWED)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["access-control-allow-origin"], ALLOWED);
}

#[tokio::test]
async fn options_is_only_for_preflights_from_allowed_origins() {
    let server = server().await;
    let options = |origin: Option<&str>| {
        let request = server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/items/"));
        match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        }
        .send()
    };
    let foreign = options(Some(FOREIGN)).await.unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(allow_headers(&foreign).is_empty());
    // Not a preflight (no Access-Control-Request-Method): 405, and no
    // preflight answer (an allowed origin may read the 405, as any response).
    for (origin, response) in [
        (None, options(None).await.unwrap()),
        (Some(ALLOWED), options(Some(ALLOWED)).await.unwrap()),
    ] {
        assert_eq!(response.status(), 405);
        let names = allow_headers(&response);
        assert!(
            !names.iter().any(|n| n == "access-control-allow-methods"),
            "{names:?}"
        );
        assert_eq!(names.is_empty(), origin.is_none(), "{names:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], "Method Not Allowed");
    }
}
