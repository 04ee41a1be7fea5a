//! The error model: every failure answers with the spec's body.

use serde_json::{Value, json};

use crate::helpers::{TestConfig, TestServer, raw_exchange};

async fn body(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn unknown_route_is_404_not_found() {
    let server = TestServer::start().await;
    let response = server.get("/no/such/route?token=abc").await;
    assert_eq!(response.status(), 404);
    assert_eq!(body(response).await, json!({"detail": "Not Found"}));
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let server = TestServer::start().await;
    let response = server.client.delete(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers()["allow"].to_str().unwrap().contains("GET"));
    assert_eq!(body(response).await, json!({"detail": "Method Not Allowed"}));
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_LIMITS__MAX_BODY_BYTES", "1024")).await;
    let big = json!({"name": "x".repeat(2000), "price": 1.0});
    let response = server.post_json("/__test/echo/1", &big).await;
    assert_eq!(response.status(), 413);
    assert_eq!(body(response).await, json!({"detail": "Payload Too Large"}));

    // Without Content-Length (chunked), the limit holds while reading. A raw
    // socket sends the whole request before reading, so the early answer
    // cannot race the upload.
    let payload = format!(r#"{{"name":"{}","price":1}}"#, "y".repeat(4000));
    let request = format!(
        "POST /__test/echo/1 HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{payload}\r\n0\r\n\r\n",
        payload.len()
    );
    let answer = raw_exchange(server.addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.ends_with(r#"{"detail":"Payload Too Large"}"#), "{answer}");

    // Under the limit, the same route works.
    let response = server
        .post_json("/__test/echo/1", &json!({"name": "ok", "price": 2.5}))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_limit_above_axums_own_two_mib_is_the_limit() {
    let server = TestServer::start_with(
        TestConfig::default().env("RAMPART_LIMITS__MAX_BODY_BYTES", &(4 * 1024 * 1024).to_string()),
    )
    .await;
    // 3 MiB: over axum's default cap, under the configured limit.
    let big = json!({"name": "x".repeat(3 * 1024 * 1024), "price": 1.0});
    let response = server.post_json("/__test/echo/1", &big).await;
    assert_eq!(response.status(), 200);
    // 5 MiB declared: over the configured limit, refused before a byte of
    // the body is read. (Headers only: a client still uploading 5 MiB when
    // the early answer closes the connection may see the reset first.)
    let request = format!(
        "POST /__test/echo/1 HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        5 * 1024 * 1024
    );
    let answer = raw_exchange(server.addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("/__test/echo/1"))
        .header("content-type", "text/plain")
        .body(r#"{"name":"a","price":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(body(response).await, json!({"detail": "Unsupported Media Type"}));
}

#[tokio::test]
async fn malformed_json_is_422_json_invalid() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("/__test/echo/1"))
        .header("content-type", "application/json")
        .body(r#"{"name": "a", "price": }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let detail = &body(response).await["detail"][0];
    assert_eq!(detail["type"], "json_invalid");
    assert_eq!(detail["loc"], json!(["body", 23]));
    assert_eq!(detail["msg"], "JSON decode error");
}

#[tokio::test]
async fn missing_wrong_and_unknown_fields_are_422_with_loc() {
    let server = TestServer::start().await;
    let cases = [
        (json!({"name": "a"}), json!(["body", "price"]), "missing"),
        (
            json!({"name": "a", "price": "cheap"}),
            json!(["body", "price"]),
            "float_type",
        ),
        (
            json!({"name": "a", "price": 1, "owner": "mallory"}),
            json!(["body", "owner"]),
            "extra_forbidden",
        ),
        (
            json!({"name": "a", "price": 1, "tags": [1, "two"]}),
            json!(["body", "tags", 1]),
            "int_type",
        ),
        (
            json!(["not", "an", "object"]),
            json!(["body"]),
            "model_attributes_type",
        ),
    ];
    for (input, loc, kind) in cases {
        let response = server.post_json("/__test/echo/1", &input).await;
        assert_eq!(response.status(), 422, "{input}");
        let detail = body(response).await;
        assert_eq!(detail["detail"][0]["loc"], loc, "{input}: {detail}");
        assert_eq!(detail["detail"][0]["type"], kind, "{input}: {detail}");
        assert!(detail["detail"][0]["msg"].is_string());
        assert!(
            detail["detail"][0].get("input").is_none(),
            "input is never echoed"
        );
    }
}

#[tokio::test]
async fn empty_json_body_is_422_missing_body() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("/__test/echo/1"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required"}]})
    );
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_422_with_loc() {
    let server = TestServer::start().await;
    let valid = json!({"name": "a", "price": 1});
    let response = server.post_json("/__test/echo/abc", &valid).await;
    assert_eq!(response.status(), 422);
    let detail = body(response).await;
    assert_eq!(detail["detail"][0]["loc"], json!(["path", "id"]), "{detail}");
    assert_eq!(detail["detail"][0]["type"], "int_parsing");

    let response = server.post_json("/__test/echo/1?limit=ten", &valid).await;
    assert_eq!(response.status(), 422);
    let detail = body(response).await;
    assert_eq!(detail["detail"][0]["loc"], json!(["query", "limit"]), "{detail}");
    assert_eq!(detail["detail"][0]["type"], "int_parsing");

    let response = server.post_json("/__test/echo/7?limit=3", &valid).await;
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["id"], 7);
    assert_eq!(echo["query"]["limit"], 3);
}

#[tokio::test]
async fn bad_form_fields_are_422_with_loc() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("/__test/form"))
        .form(&[("username", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(body(response).await["detail"][0]["loc"], json!(["body", "count"]));
    let response = server
        .client
        .post(server.url("/__test/form"))
        .form(&[("username", "alice"), ("count", "many")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(body(response).await["detail"][0]["loc"], json!(["body", "count"]));
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_lives_on() {
    let server = TestServer::start().await;
    let response = server.get("/__test/panic").await;
    assert_eq!(response.status(), 500);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body,
        json!({"detail": "Internal Server Error", "request_id": request_id})
    );
    for leak in ["panicked", "/srv", "secret.rs", "SELECT", "users"] {
        assert!(!text.contains(leak), "the 500 body leaks {leak}: {text}");
    }
    // The cause is logged under the request id, for operators.
    let event = server
        .wait_for_log("the panic's cause", |v| v["message"] == "request failed")
        .await;
    assert_eq!(event["request_id"], request_id.as_str());

    let response = server.get("/healthz").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_request_past_the_time_out_is_503() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_LIMITS__REQUEST_TIMEOUT", "1s")).await;
    let response = server.get("/__test/sleep?ms=60000").await;
    assert_eq!(response.status(), 503);
    assert_eq!(body(response).await, json!({"detail": "Service Unavailable"}));
}
