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
