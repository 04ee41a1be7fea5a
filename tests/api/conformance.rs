//! Conformance with the clients people already use (SPEC section 3):
//! FastAPI-exact validation errors listing every field, OAuth2 error fields
//! on `/token`, an OpenAPI document that states every answer and rule, and
//! the first run's setup link.

use serde_json::{Value, json};

use crate::helpers::{Browser, PASSWORD, TestConfig, TestServer, hidden_token, strong_secret};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn post_item(server: &TestServer, token: &str, item: &Value) -> reqwest::Response {
    server
        .client
        .post(server.url("/items/"))
        .bearer_auth(token)
        .json(item)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_failing_field_is_listed_as_pydantic_words_it() {
    let server = TestServer::with_users().await;
    let token = server.login("alice", PASSWORD).await.access_token;
    let response = post_item(
        &server,
        &token,
        &json!({"owner": "mallory", "name": "", "price": 0, "tax": -1, "description": "x".repeat(10_001)}),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "string_too_short", "loc": ["body", "name"], "msg": "String should have at least 1 character", "ctx": {"min_length": 1}},
            {"type": "string_too_long", "loc": ["body", "description"], "msg": "String should have at most 10000 characters", "ctx": {"max_length": 10000}},
            {"type": "greater_than", "loc": ["body", "price"], "msg": "Input should be greater than 0", "ctx": {"gt": 0}},
            {"type": "greater_than_equal", "loc": ["body", "tax"], "msg": "Input should be greater than or equal to 0", "ctx": {"ge": 0}},
            {"type": "extra_forbidden", "loc": ["body", "owner"], "msg": "Extra inputs are not permitted"},
        ]})
    );

    // Types, and a field missing beside a wrong one.
    let response = post_item(&server, &token, &json!({"name": 7, "tax": "1"})).await;
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string"},
            {"type": "missing", "loc": ["body", "price"], "msg": "Field required"},
            {"type": "float_type", "loc": ["body", "tax"], "msg": "Input should be a valid number"},
        ]})
    );

    // Query parameters: each one, with its bound.
    let response = server.get_as("/items/?limit=0&offset=-1&q=x", &token).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "ctx": {"ge": 1}},
            {"type": "greater_than_equal", "loc": ["query", "offset"], "msg": "Input should be greater than or equal to 0", "ctx": {"ge": 0}},
        ]})
    );
    let response = server.get_as("/items/?limit=101", &token).await;
    assert_eq!(body(response).await["detail"][0]["type"], "less_than_equal");
    let response = server.get_as("/items/?limit=ten", &token).await;
    assert_eq!(
        body(response).await,
        json!({"detail": [{"type": "int_parsing", "loc": ["query", "limit"], "msg": "Input should be a valid integer, unable to parse string as an integer"}]})
    );

    // A new user: a name that breaks the pattern and a short password.
    let admin = server.login("root", PASSWORD).await.access_token;
    let response = server
        .client
        .post(server.url("/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "a b", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body(response).await,
        json!({"detail": [
            {"type": "string_pattern_mismatch", "loc": ["body", "username"], "msg": "String should match pattern '^[A-Za-z0-9_.-]+$'", "ctx": {"pattern": "^[A-Za-z0-9_.-]+$"}},
            {"type": "string_too_short", "loc": ["body", "password"], "msg": "String should have at least 8 characters", "ctx": {"min_length": 8}},
        ]})
    );
    // The policy's own rules are pydantic's `value_error`.
    let response = server
        .client
        .post(server.url("/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "carol", "password": "password123"}))
        .send()
        .await
        .unwrap();
    let detail = body(response).await;
    assert_eq!(detail["detail"][0]["type"], "value_error", "{detail}");
    assert!(
        detail["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .starts_with("Value error, "),
        "{detail}"
    );
    assert!(
        detail["detail"][0].get("input").is_none(),
        "input is never echoed"
    );

    // A list reports each bad element at its index.
    let response = server
        .client
        .put(server.url("/admin/users/alice/roles"))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["user", "Admin", 3]}))
        .send()
        .await
        .unwrap();
    let detail = body(response).await;
    assert_eq!(
        detail["detail"][0]["loc"],
        json!(["body", "roles", 1]),
        "{detail}"
    );
    assert_eq!(detail["detail"][0]["type"], "string_pattern_mismatch");
    assert_eq!(detail["detail"][1]["loc"], json!(["body", "roles", 2]));
    assert_eq!(detail["detail"][1]["type"], "string_type");
}

#[tokio::test]
async fn price_with_tax_is_always_a_number() {
    let server = TestServer::with_users().await;
    let token = server.login("alice", PASSWORD).await.access_token;
    let response = post_item(
        &server,
        &token,
        &json!({"name": "big", "price": 1e308, "tax": 1e308}),
    )
    .await;
    assert_eq!(response.status(), 422);
    let detail = body(response).await;
    assert_eq!(detail["detail"][0]["type"], "less_than_equal", "{detail}");
    assert_eq!(detail["detail"][1]["type"], "less_than_equal", "{detail}");
    let response = post_item(
        &server,
        &token,
        &json!({"name": "top", "price": 1e15, "tax": 1e15}),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(body(response).await["price_with_tax"], json!(2e15));
}

async fn token_form(server: &TestServer, form: &[(&str, &str)]) -> reqwest::Response {
    server
        .client
        .post(server.url("/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn token_errors_carry_oauth2_error_fields() {
    let server = TestServer::with_users().await;
    // A missing field: `invalid_request`, and the issues in `detail`.
    let response = token_form(&server, &[("username", "alice")]).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await,
        json!({
            "detail": [{"type": "missing", "loc": ["body", "password"], "msg": "Field required"}],
            "error": "invalid_request",
            "error_description": "password: Field required"
        })
    );
    // An unknown grant type: `unsupported_grant_type`.
    let response = token_form(&server, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), 422);
    let answer = body(response).await;
    assert_eq!(answer["error"], "unsupported_grant_type", "{answer}");
    assert_eq!(answer["detail"][0]["type"], "literal_error");
    assert_eq!(
        answer["detail"][0]["ctx"],
        json!({"expected": "'password', 'refresh_token' or 'urn:rampart:grant-type:mfa'"})
    );
    // A wrong content type is a malformed request too.
    let response = server
        .client
        .post(server.url("/token"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(body(response).await["error"], "invalid_request");

    // A revoked refresh token: 401 `invalid_grant`.
    let tokens = server.login("alice", PASSWORD).await;
    let revoked = server
        .client
        .post(server.url("/token/revoke"))
        .form(&[("token", tokens.refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let response = server.refresh(&tokens.refresh_token).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        body(response).await,
        json!({"detail": "Invalid refresh token", "error": "invalid_grant", "error_description": "Invalid refresh token"})
    );
    // Revocation without a token is `invalid_request`.
    let response = server
        .client
        .post(server.url("/token/revoke"))
        .form(&[("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(body(response).await["error"], "invalid_request");
}

#[tokio::test]
async fn a_throttled_token_request_keeps_the_plain_body() {
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__LOGIN", "1/minute")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    assert_eq!(server.token("alice", "wrong-password-1").await.status(), 401);
    let response = server.token("alice", "wrong-password-2").await;
    assert_eq!(response.status(), 429);
    let answer = body(response).await;
    assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit exceeded")
    );
}

fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    found
}

#[tokio::test]
async fn the_openapi_document_states_every_answer_and_every_rule() {
    let server = TestServer::start().await;
    let document = body(server.get("/openapi.json").await).await;
    for (path, method, operation) in operations(&document) {
        let statuses: Vec<&str> = operation["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let name = format!("{method} {path}");
        let secured = operation["security"]
            .as_array()
            .is_some_and(|requirements| requirements.iter().any(|r| r != &json!({})));
        let has_body = operation.get("requestBody").is_some();
        let has_params = operation["parameters"].as_array().is_some_and(|p| !p.is_empty());
        if !matches!(path.as_str(), "/healthz" | "/readyz") {
            assert!(statuses.contains(&"429"), "{name}: {statuses:?}");
            assert!(statuses.contains(&"503"), "{name}: {statuses:?}");
        }
        if secured {
            assert!(statuses.contains(&"401"), "{name}: {statuses:?}");
        }
        // The pages (the console's too) read their forms leniently: a bad
        // form is the page again (`/app/items` says so itself), never a
        // JSON 415 or 422.
        let page = operation["tags"] == json!(["pages"]) || operation["tags"] == json!(["console"]);
        if has_body {
            assert!(statuses.contains(&"413"), "{name}: {statuses:?}");
        }
        if has_body && !page {
            assert!(statuses.contains(&"415"), "{name}: {statuses:?}");
        }
        if (has_body || has_params) && !page {
            assert!(statuses.contains(&"422"), "{name}: {statuses:?}");
        }
        if page {
            assert!(!statuses.contains(&"415"), "{name}: {statuses:?}");
        }
        if matches!(
            (method.as_str(), path.as_str()),
            ("get", "/setup") | ("post", "/login")
        ) {
            assert!(!statuses.contains(&"422"), "{name}: {statuses:?}");
        }
        if path.contains('{') {
            assert!(statuses.contains(&"404"), "{name}: {statuses:?}");
        }
        if path.starts_with("/admin") || path == "/protected_route" {
            assert!(statuses.contains(&"403"), "{name}: {statuses:?}");
        }
    }

    // Rules are schema, not prose.
    let schemas = &document["components"]["schemas"];
    let item = &schemas["ItemBody"]["properties"];
    assert_eq!(item["name"]["minLength"], 1);
    assert_eq!(item["name"]["maxLength"], 100);
    assert_eq!(item["description"]["maxLength"], 10000);
    assert_eq!(item["price"]["exclusiveMinimum"], 0);
    assert_eq!(item["tax"]["minimum"], 0);
    let new_user = &schemas["NewUserBody"]["properties"];
    assert_eq!(new_user["password"]["minLength"], 8);
    assert_eq!(new_user["password"]["maxLength"], 1024);
    assert_eq!(new_user["username"]["pattern"], "^[A-Za-z0-9_.-]+$");
    assert_eq!(new_user["username"]["minLength"], 3);
    let list = &document["paths"]["/items/"]["get"]["parameters"];
    let param = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["schema"]
            .clone()
    };
    assert_eq!(param("limit")["minimum"], 1);
    assert_eq!(param("limit")["maximum"], 100);
    assert_eq!(param("offset")["minimum"], 0);
    assert_eq!(param("q")["maxLength"], 100);
    assert_eq!(schemas["TokenForm"]["oneOf"].as_array().unwrap().len(), 3);
    let second = &schemas["MfaGrant"];
    assert_eq!(
        second["properties"]["grant_type"]["pattern"],
        "^urn:rampart:grant-type:mfa$"
    );
    assert_eq!(second["required"], json!(["grant_type", "mfa_token", "otp"]));
    let password = &schemas["PasswordGrant"];
    assert_eq!(password["properties"]["grant_type"]["pattern"], "^password$");
    assert_eq!(password["required"], json!(["username", "password"]));
    let refresh = &schemas["RefreshGrant"];
    assert_eq!(refresh["properties"]["grant_type"]["pattern"], "^refresh_token$");
    assert_eq!(refresh["required"], json!(["grant_type", "refresh_token"]));
    // JSON bodies refuse unknown fields, and say so.
    for body in ["ItemBody", "NewUserBody", "PasswordChange", "RolesBody"] {
        assert_eq!(schemas[body]["additionalProperties"], false, "{body}");
    }
    assert!(schemas["OAuthErrorBody"]["properties"]["error"].is_object());
}

#[tokio::test]
async fn the_first_run_names_a_one_time_setup_link_that_creates_the_first_admin() {
    let server = TestServer::start().await;
    let link = server.setup_link().await;
    assert!(
        !server.logs().iter().any(|line| line.contains("/setup?token")),
        "the link is a credential: never in the JSON log"
    );
    // A wrong token is 404, as is no token.
    assert_eq!(server.get("/setup?token=wrong").await.status(), 404);
    assert_eq!(server.get("/setup").await.status(), 404);

    let mut browser = Browser::new(&server);
    let page = browser.get(&link).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let page = page.text().await.unwrap();
    let csrf = hidden_token(&page);
    let token = link.split("token=").nth(1).unwrap().to_owned();

    // Without its CSRF token the form is refused; the link still works.
    let refused = browser
        .post_form(
            "/setup",
            &[("username", "founder"), ("password", PASSWORD), ("token", &token)],
        )
        .await;
    assert_eq!(refused.status(), 403);
    // The password policy applies: the form again, the link still open.
    let weak = browser
        .post_form(
            "/setup",
            &[
                ("username", "founder"),
                ("password", "password"),
                ("token", &token),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(weak.status(), 422);
    let page = weak.text().await.unwrap();
    let csrf = hidden_token(&page);
    // A password zxcvbn guesses quickly is refused with its advice.
    let guessable = browser
        .post_form(
            "/setup",
            &[
                ("username", "founder"),
                ("password", "Summer2024!"),
                ("token", &token),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(guessable.status(), 422);
    let page = guessable.text().await.unwrap();
    assert!(page.contains("too easy to guess"), "{page}");
    assert!(page.contains("Add another word or two"), "{page}");
    let csrf = hidden_token(&page);

    let created = browser
        .post_form(
            "/setup",
            &[
                ("username", "founder"),
                ("password", PASSWORD),
                ("token", &token),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    assert_eq!(created.headers()["location"], "/login");
    let me = body(
        server
            .get_as("/users/me", &server.login("founder", PASSWORD).await.access_token)
            .await,
    )
    .await;
    let mut roles: Vec<String> = serde_json::from_value(me["roles"].clone()).unwrap();
    roles.sort();
    assert_eq!(roles, ["admin", "user"]);

    // Used once: 404 from now on, the form and its post alike.
    assert_eq!(browser.get(&link).await.status(), 404);
    let again = browser
        .post_form(
            "/setup",
            &[
                ("username", "second"),
                ("password", PASSWORD),
                ("token", &token),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(again.status(), 404);
}

/// An instance's setup form, opened in a browser of its own: the browser,
/// the link's token and the form's CSRF token.
async fn setup_form(server: &TestServer) -> (Browser, String, String) {
    let link = server.setup_link().await;
    let mut browser = Browser::new(server);
    let page = browser.get(&link).await;
    assert_eq!(page.status(), 200);
    let csrf = hidden_token(&page.text().await.unwrap());
    let token = link.split("token=").nth(1).unwrap().to_owned();
    (browser, token, csrf)
}

#[tokio::test]
async fn two_instances_on_one_database_create_exactly_one_first_admin() {
    let secret = strong_secret();
    let a = TestServer::start_with(TestConfig::default().env("RAMPART_SECRET_KEY", &secret)).await;
    let b = TestServer::start_with(
        TestConfig::default()
            .env("RAMPART_SECRET_KEY", &secret)
            .env("RAMPART_DATABASE_URL", &a.database_url()),
    )
    .await;
    // Each instance names a link of its own.
    let (mut browser_a, token_a, csrf_a) = setup_form(&a).await;
    let (mut browser_b, token_b, csrf_b) = setup_form(&b).await;

    let form = |name, token, csrf| {
        [
            ("username", name),
            ("password", PASSWORD),
            ("token", token),
            ("csrf_token", csrf),
        ]
    };
    let fields_a = form("firstA", &token_a, &csrf_a);
    let fields_b = form("firstB", &token_b, &csrf_b);
    // Both forms at once.
    let (posted_a, posted_b) = tokio::join!(
        browser_a.post_form("/setup", &fields_a),
        browser_b.post_form("/setup", &fields_b)
    );
    let mut statuses = [posted_a.status().as_u16(), posted_b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 404], "exactly one setup succeeds");

    let admins: Vec<String> = a
        .store()
        .await
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|user| user.roles.iter().any(|role| role == "admin"))
        .map(|user| user.username)
        .collect();
    let winner = if posted_a.status() == 303 {
        "firstA"
    } else {
        "firstB"
    };
    assert_eq!(admins, [winner], "one first admin, the one whose setup succeeded");
}

#[tokio::test]
async fn once_an_admin_exists_the_setup_link_is_404() {
    let server = TestServer::start().await;
    let link = server.setup_link().await;
    assert_eq!(server.get(&link).await.status(), 200);
    server.create_user("root", PASSWORD, &["admin"]);
    assert_eq!(server.get(&link).await.status(), 404);
}
