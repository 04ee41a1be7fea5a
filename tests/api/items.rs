//! Items: object-level authorization, mass assignment, function-level
//! authorization, validation and sanitization (OWASP API Top 10 2023).

use serde_json::{Value, json};

use crate::helpers::{TestServer, Tokens};

struct World {
    server: TestServer,
    alice: Tokens,
    bob: Tokens,
    admin: Tokens,
}

async fn world() -> World {
    let server = TestServer::start().await;
    server.create_user("alice", "Alice-s3cure-passphrase", &[]);
    server.create_user("bob", "Bob-s3cure-passphrase", &[]);
    server.create_user("root", "Root-s3cure-passphrase", &["admin", "user"]);
    let alice = server.login("alice", "Alice-s3cure-passphrase").await;
    let bob = server.login("bob", "Bob-s3cure-passphrase").await;
    let admin = server.login("root", "Root-s3cure-passphrase").await;
    World {
        server,
        alice,
        bob,
        admin,
    }
}

impl World {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &Tokens,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .server
            .client
            .request(method, self.server.url(path))
            .bearer_auth(&token.access_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn create(&self, token: &Tokens, body: Value) -> Value {
        let response = self
            .send(reqwest::Method::POST, "/items/", token, Some(body))
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn items_are_created_with_price_with_tax_and_owner() {
    let w = world().await;
    let item = w
        .create(
            &w.alice,
            json!({"name": "Foo", "description": "<b>ok</b>", "price": 35.4, "tax": 3.2}),
        )
        .await;
    assert_eq!(item["name"], "Foo");
    assert_eq!(item["owner"], "alice");
    assert_eq!(item["description"], "<b>ok</b>");
    assert!((item["price_with_tax"].as_f64().unwrap() - 38.6).abs() < 1e-9);
    for field in ["id", "price", "tax", "created_at"] {
        assert!(item.get(field).is_some(), "{field}");
    }
    let fetched: Value = w
        .send(
            reqwest::Method::GET,
            &format!("/items/{}", item["id"]),
            &w.alice,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, item);
}

#[tokio::test]
async fn another_users_item_is_404_and_an_admin_may_act_on_it() {
    let w = world().await;
    let item = w.create(&w.alice, json!({"name": "Private", "price": 1})).await;
    let path = format!("/items/{}", item["id"]);
    let body = json!({"name": "Stolen", "price": 2});
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = w
            .send(
                method.clone(),
                &path,
                &w.bob,
                Some(body.clone()).filter(|_| method == reqwest::Method::PUT),
            )
            .await;
        assert_eq!(response.status(), 404, "{method}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"detail": "Item not found"})
        );
    }
    // A missing id looks the same.
    assert_eq!(
        w.send(reqwest::Method::GET, "/items/999999", &w.bob, None)
            .await
            .status(),
        404
    );
    // Nothing changed for the owner.
    let still: Value = w
        .send(reqwest::Method::GET, &path, &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["name"], "Private");

    // Admins may.
    let updated = w
        .send(
            reqwest::Method::PUT,
            &path,
            &w.admin,
            Some(json!({"name": "Renamed", "price": 3})),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["owner"], "alice", "the owner does not change");
    assert_eq!(
        w.send(reqwest::Method::DELETE, &path, &w.admin, None)
            .await
            .status(),
        204
    );
    assert_eq!(
        w.send(reqwest::Method::GET, &path, &w.alice, None).await.status(),
        404
    );
}

#[tokio::test]
async fn listings_show_own_items_and_admins_see_all() {
    let w = world().await;
    for i in 0..3 {
        w.create(&w.alice, json!({"name": format!("alice-{i}"), "price": 1}))
            .await;
    }
    w.create(&w.bob, json!({"name": "bob-0", "price": 1})).await;
    let page: Value = w
        .send(reqwest::Method::GET, "/items/", &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["owner"] == "alice")
    );
    let page: Value = w
        .send(reqwest::Method::GET, "/items/", &w.admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 4);
    let page: Value = w
        .send(reqwest::Method::GET, "/items/?limit=2&offset=1", &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["total"], 3);
    // Totals follow deletions too, for the owner and for admins.
    let first = page["items"][0]["id"].as_i64().unwrap();
    let deleted = w
        .send(
            reqwest::Method::DELETE,
            &format!("/items/{first}"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    for (token, total) in [(&w.alice, 2), (&w.bob, 1), (&w.admin, 3)] {
        let page: Value = w
            .send(reqwest::Method::GET, "/items/", token, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], total, "{page}");
        assert_eq!(page["items"].as_array().unwrap().len(), total);
    }
    for bad in ["limit=0", "limit=101", "limit=x", "offset=-1"] {
        let response = w
            .send(reqwest::Method::GET, &format!("/items/?{bad}"), &w.alice, None)
            .await;
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"][0], "query", "{bad}");
    }
}

#[tokio::test]
async fn search_is_a_literal_substring_match() {
    let w = world().await;
    for name in ["50% off", "500 off", "a_b", "axb", "Widget"] {
        w.create(&w.alice, json!({"name": name, "price": 1})).await;
    }
    let names = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = w
        .send(reqwest::Method::GET, "/items/?q=50%25", &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(page), vec!["50% off"], "% is literal");
    let page = w
        .send(reqwest::Method::GET, "/items/?q=a_b", &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(page), vec!["a_b"], "_ is literal");
    let page = w
        .send(reqwest::Method::GET, "/items/?q=widg", &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(page), vec!["Widget"], "case-insensitive");
    let page: Value = w
        .send(
            reqwest::Method::GET,
            "/items/?q=%27%20OR%201%3D1%20--",
            &w.alice,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0, "SQL in q is just text");
}

#[tokio::test]
async fn mass_assignment_is_refused_and_changes_nothing() {
    let w = world().await;
    let item = w.create(&w.alice, json!({"name": "Mine", "price": 1})).await;
    let path = format!("/items/{}", item["id"]);
    for extra in [
        json!({"owner": "bob"}),
        json!({"id": 999}),
        json!({"price_with_tax": 0}),
        json!({"is_admin": true}),
    ] {
        let mut body = json!({"name": "Changed", "price": 2});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = w
            .send(reqwest::Method::PUT, &path, &w.alice, Some(body.clone()))
            .await;
        assert_eq!(response.status(), 422, "{body}");
        let detail: Value = response.json().await.unwrap();
        assert_eq!(detail["detail"][0]["type"], "extra_forbidden", "{detail}");
        let response = w
            .send(reqwest::Method::POST, "/items/", &w.alice, Some(body))
            .await;
        assert_eq!(response.status(), 422);
    }
    let page: Value = w
        .send(reqwest::Method::GET, "/items/", &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["name"], "Mine");
    assert_eq!(page["items"][0]["owner"], "alice");
}

#[tokio::test]
async fn every_field_rule_is_a_422_naming_the_field() {
    let w = world().await;
    let cases = [
        (json!({"price": 1}), "name"),
        (json!({"name": "", "price": 1}), "name"),
        (json!({"name": "x".repeat(101), "price": 1}), "name"),
        (json!({"name": 5, "price": 1}), "name"),
        (json!({"name": "a"}), "price"),
        (json!({"name": "a", "price": 0}), "price"),
        (json!({"name": "a", "price": -1}), "price"),
        (json!({"name": "a", "price": "cheap"}), "price"),
        (json!({"name": "a", "price": 1, "tax": -0.5}), "tax"),
        (json!({"name": "a", "price": 1, "tax": "none"}), "tax"),
        (
            json!({"name": "a", "price": 1, "description": "x".repeat(10_001)}),
            "description",
        ),
        (json!({"name": "a", "price": 1, "description": 7}), "description"),
    ];
    for (body, field) in cases {
        let response = w
            .send(reqwest::Method::POST, "/items/", &w.alice, Some(body.clone()))
            .await;
        assert_eq!(response.status(), 422, "{body}");
        let detail: Value = response.json().await.unwrap();
        assert_eq!(
            detail["detail"][0]["loc"],
            json!(["body", field]),
            "{body}: {detail}"
        );
    }
    assert_eq!(
        w.send(reqwest::Method::GET, "/items/abc", &w.alice, None)
            .await
            .status(),
        422
    );
    let page: Value = w
        .send(reqwest::Method::GET, "/items/", &w.alice, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0, "nothing was stored");
}

#[tokio::test]
async fn item_routes_need_a_token_and_admin_routes_need_the_role() {
    let w = world().await;
    for (method, path) in [
        ("GET", "/items/"),
        ("POST", "/items/"),
        ("GET", "/items/1"),
        ("PUT", "/items/1"),
        ("DELETE", "/items/1"),
    ] {
        let response = w
            .server
            .client
            .request(method.parse().unwrap(), w.server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    let admin_routes = [
        ("GET", "/admin/users"),
        ("PUT", "/admin/users/alice/roles"),
        ("POST", "/admin/users/alice/disable"),
        ("POST", "/admin/users/alice/enable"),
        ("POST", "/admin/keys/rotate"),
        ("GET", "/admin/audit"),
        ("GET", "/protected_route"),
    ];
    for (method, path) in admin_routes {
        let request = || {
            w.server
                .client
                .request(method.parse().unwrap(), w.server.url(path))
                .json(&json!({"roles": ["user"]}))
        };
        let anonymous = request().send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        assert_eq!(
            anonymous.json::<Value>().await.unwrap(),
            json!({"detail": "Not authenticated"})
        );
        let user = request().bearer_auth(&w.alice.access_token).send().await.unwrap();
        assert_eq!(user.status(), 403, "{method} {path}");
        assert_eq!(
            user.json::<Value>().await.unwrap(),
            json!({"detail": "Not enough permissions"})
        );
    }
    let _ = &w.bob;
}

/// Payloads from the OWASP XSS filter evasion cheat sheet and friends.
const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<b onmouseover=alert(1)>x</b>",
    "<p onclick=\"alert(1)\">x</p>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<form action=\"javascript:alert(1)\"><button>x</button></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=stylesheet href=\"javascript:alert(1)\">",
    "<style>@import 'javascript:alert(1)';</style>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>alert(1)//<</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<img src=\"x\" onerror=\"&#97;&#108;&#101;&#114;&#116;(1)\">",
    "<video><source onerror=alert(1)></video>",
    "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
    "<base href=\"javascript:alert(1)//\">",
    "<table background=\"javascript:alert(1)\"></table>",
];

/// The first script-capable construct left in `html`, if any.
fn script_capable(html: &str) -> Option<&'static str> {
    const NEEDLES: &[&str] = &[
        "<script",
        "<img",
        "<svg",
        "<iframe",
        "<object",
        "<embed",
        "<style",
        "<link",
        "<meta",
        "<base",
        "<form",
        "<input",
        "<body",
        "<math",
        "<video",
        "<source",
        "<details",
        "<table",
        "javascript:",
        "vbscript:",
        "data:",
        " on",
        "style=",
    ];
    let lower = html.to_lowercase();
    NEEDLES.iter().copied().find(|needle| lower.contains(needle))
}

#[tokio::test]
async fn stored_descriptions_keep_nothing_script_capable() {
    let w = world().await;
    assert!(XSS.len() >= 30);
    for payload in XSS {
        let item = w
            .create(
                &w.alice,
                json!({"name": "xss", "price": 1, "description": payload}),
            )
            .await;
        let stored = item["description"].as_str().unwrap();
        assert!(
            script_capable(stored).is_none(),
            "{payload:?} stored as {stored:?}"
        );
        // What is read back is what was stored.
        let fetched: Value = w
            .send(
                reqwest::Method::GET,
                &format!("/items/{}", item["id"]),
                &w.alice,
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(fetched["description"], item["description"]);
    }
    let kept = w
        .create(
            &w.alice,
            json!({"name": "ok", "price": 1, "description": "<b>b</b><i>i</i><p>p</p><a href=\"https://example.com/x\">l</a>"}),
        )
        .await;
    assert_eq!(
        kept["description"],
        "<b>b</b><i>i</i><p>p</p><a href=\"https://example.com/x\" rel=\"noopener noreferrer\">l</a>"
    );
}
