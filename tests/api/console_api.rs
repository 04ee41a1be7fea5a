//! The console's API (SPEC section 9): what an operator reads of a user
//! before acting on their credentials.

use serde_json::Value;

use crate::helpers::{Browser, PASSWORD, TestServer};

#[tokio::test]
async fn a_user_is_shown_with_the_counts_of_their_open_sessions_and_refresh_families() {
    let server = TestServer::with_users().await;
    let root = server.login("root", PASSWORD).await;
    let detail = |username: &'static str| {
        let server = &server;
        let token = root.access_token.clone();
        async move { server.get_as(&format!("/admin/users/{username}"), &token).await }
    };

    let none: Value = detail("alice").await.json().await.unwrap();
    assert_eq!(none["username"], "alice");
    assert_eq!(none["roles"], serde_json::json!(["user"]));
    assert_eq!(
        (none["sessions"].as_i64(), none["refresh_families"].as_i64()),
        (Some(0), Some(0))
    );

    let first = server.login("alice", PASSWORD).await;
    let _second = server.login("alice", PASSWORD).await;
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    let open: Value = detail("alice").await.json().await.unwrap();
    assert_eq!(
        (open["sessions"].as_i64(), open["refresh_families"].as_i64()),
        (Some(1), Some(2))
    );

    // A revoked family and an ended session are no longer open.
    let revoked = server
        .client
        .post(server.url("/token/revoke"))
        .form(&[("token", first.refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(browser.log_out().await.status(), 303);
    let after: Value = detail("alice").await.json().await.unwrap();
    assert_eq!(
        (after["sessions"].as_i64(), after["refresh_families"].as_i64()),
        (Some(0), Some(1))
    );

    assert_eq!(detail("nobody").await.status(), 404);
    assert_eq!(detail("No Such").await.status(), 404);
    let alice = server.login("alice", PASSWORD).await;
    assert_eq!(
        server
            .get_as("/admin/users/bob", &alice.access_token)
            .await
            .status(),
        403
    );
    assert_eq!(server.get("/admin/users/bob").await.status(), 401);
}

#[tokio::test]
async fn an_admin_lists_a_users_sessions_and_families_and_ends_each() {
    let server = TestServer::with_users().await;
    let root = server.login("root", PASSWORD).await;
    let list = || async {
        let response = server
            .get_as("/admin/users/alice/sessions", &root.access_token)
            .await;
        assert_eq!(response.status(), 200);
        response.json::<Vec<Value>>().await.unwrap()
    };
    let revoke = |id: String| {
        let server = &server;
        let token = root.access_token.clone();
        async move {
            server
                .client
                .post(server.url(&format!("/admin/sessions/{id}/revoke")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let api = server.login("alice", PASSWORD).await;
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    assert_eq!(browser.get("/users/me").await.status(), 200);

    let open = list().await;
    assert_eq!(open.len(), 2, "{open:?}");
    let kinds: Vec<&str> = open.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["session", "refresh_family"], "newest first");
    for credential in &open {
        assert_eq!(credential["client_ip"], "127.0.0.1");
        assert!(credential["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(credential["last_seen_at"].is_string());
    }

    // The session ends: the browser's next request is anonymous.
    let session = open[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(revoke(session.clone()).await, 204);
    assert_eq!(browser.get("/users/me").await.status(), 401);
    assert_eq!(revoke(session).await, 404, "already ended");

    // The family ends: its refresh token is refused.
    let family = open[1]["id"].as_str().unwrap().to_owned();
    assert_eq!(revoke(family).await, 204);
    let refreshed = server.refresh(&api.refresh_token).await;
    assert_eq!(
        refreshed.status(),
        401,
        "as any refresh token that is no longer good"
    );
    assert!(list().await.is_empty());

    for unknown in ["s-00", "f-nope", "x-1", &format!("s-{}", "ab".repeat(32))] {
        assert_eq!(revoke(unknown.to_owned()).await, 404, "{unknown}");
    }
    let alice = server.login("alice", PASSWORD).await;
    let refused = server
        .client
        .post(server.url("/admin/sessions/s-00/revoke"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        server
            .get_as("/admin/users/nobody/sessions", &root.access_token)
            .await
            .status(),
        404
    );
}
