//! The console's pages (SPEC section 9), as a browser without JavaScript
//! uses them: who may see them, what the overview counts, and each form's
//! change, seen through the API and by the people it concerns.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Browser, PASSWORD, TestConfig, TestServer, hidden_token, wait_for_event};

/// The text of the element with `id` (up to its first tag).
fn text_of(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in\n{page}"));
    let start = at + page[at..].find('>').unwrap() + 1;
    let end = start + page[start..].find('<').unwrap();
    page[start..end].trim().to_owned()
}

/// A browser signed in as `username`.
async fn signed_in(server: &TestServer, username: &str) -> Browser {
    let mut browser = Browser::new(server);
    assert_eq!(browser.sign_in(username, PASSWORD).await.status(), 303);
    browser
}

/// `path`'s page, and the CSRF token its forms carry.
async fn page(browser: &mut Browser, path: &str) -> (u16, String, String) {
    let response = browser.get(path).await;
    let status = response.status().as_u16();
    let page = response.text().await.unwrap();
    let token = if page.contains("name=\"csrf_token\"") {
        hidden_token(&page)
    } else {
        String::new()
    };
    (status, page, token)
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()["location"].to_str().unwrap()
}

#[tokio::test]
async fn the_console_is_for_the_sessions_of_admins() {
    let server = TestServer::with_users().await;

    // Nobody signed in: to the sign-in page, which returns here.
    let anonymous = server.get("/console/users?q=al").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        location(&anonymous),
        "/login?return_to=%2Fconsole%2Fusers%3Fq%3Dal"
    );
    assert_eq!(anonymous.headers()["cache-control"], "no-store");
    // An admin's bearer token is no session.
    let root = server.login("root", PASSWORD).await;
    assert_eq!(server.get_as("/console", &root.access_token).await.status(), 303);

    // A plain user: the 403 page, audited as the API's refusal is.
    let mut alice = signed_in(&server, "alice").await;
    let refused = alice.get("/console").await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(refused.text().await.unwrap().contains("not an admin"));
    let denied =
        |e: &Value| e["action"] == "access_denied" && e["actor"] == "alice" && e["target"] == "/console";
    wait_for_event(&server, &root.access_token, "alice refused", denied).await;
    // Her form posts are refused too, whatever they carry.
    let token = alice.csrf_token().await;
    let post = alice
        .post_form("/console/users/bob/disable", &[("csrf_token", &token)])
        .await;
    assert_eq!(post.status(), 403);

    // The admin: every page, never cached, no inline script or style.
    let mut admin = signed_in(&server, "root").await;
    for path in [
        "/console",
        "/console/users",
        "/console/users/alice",
        "/console/keys",
        "/console/audit",
    ] {
        let response = admin.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let page = response.text().await.unwrap();
        assert!(!page.contains("style="), "{path}: inline style");
        assert!(!page.contains("<script>") && !page.contains("<style"), "{path}");
        assert!(
            page.contains("Signed in as <strong id=\"console-admin\">root</strong>"),
            "{path}"
        );
    }
    let (status, _, _) = page(&mut admin, "/console/users/nobody").await;
    assert_eq!(status, 404);
    let bob = rampart::names::Username::parse("bob").unwrap();
    let disabled_bob = server.store().await.find_user(&bob).await.unwrap().unwrap();
    assert!(!disabled_bob.disabled, "alice's post changed nothing");
}

#[tokio::test]
async fn under_a_second_factor_policy_an_admin_needs_one_for_the_console() {
    let config = TestConfig::default().env("RAMPART_AUTH__MFA", "admins");
    let server = TestServer::start_with(config).await;
    server.create_user("root", PASSWORD, &["admin"]);
    let mut admin = signed_in(&server, "root").await;
    let refused = admin.get("/console").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_overview_counts_the_last_day_in_numbers_a_chart_and_a_table() {
    let server = TestServer::with_users().await;
    for _ in 0..2 {
        assert_eq!(server.token("alice", "wrong password").await.status(), 401);
    }
    let _bob = server.login("bob", PASSWORD).await;
    let mut admin = signed_in(&server, "root").await;

    // Events are stored by a background writer: poll for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (status, page, _) = page(&mut admin, "/console").await;
        assert_eq!(status, 200);
        if text_of(&page, "logins-failed") == "2" && text_of(&page, "logins-succeeded") == "2" {
            break page;
        }
        assert!(Instant::now() < deadline, "the overview never counted\n{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(text_of(&page, "users-count"), "3");
    assert_eq!(text_of(&page, "sessions-count"), "1", "root's own");
    assert_eq!(text_of(&page, "rate-limited"), "0");
    assert_eq!(text_of(&page, "csrf-rejected"), "0");
    // The chart draws this hour's failures, and the table holds them.
    assert!(page.contains("<svg id=\"hourly-chart\""));
    assert!(page.contains(" UTC: 2 logins failed</title>"), "{page}");
    let table = &page[page.find("id=\"hourly-table\"").unwrap()..];
    assert_eq!(table.matches("<tr><th scope=\"row\">").count(), 24);
    let last_row = table[..table.find("</tbody>").unwrap()]
        .rsplit("<tr>")
        .next()
        .unwrap();
    assert!(
        last_row.contains("<td>2</td><td>2</td><td>0</td><td>0</td>"),
        "{last_row}"
    );
    // Keys and storage.
    let keys = &page[page.find("id=\"overview-keys\"").unwrap()..];
    assert!(keys.contains("active"));
    assert!(text_of(&page, "database-state").ends_with(": reachable"));
    assert!(text_of(&page, "redis-state").starts_with("not used"));
}

async fn create(
    admin: &mut Browser,
    token: &str,
    username: &str,
    password: &str,
    roles: &str,
) -> reqwest::Response {
    let form = [
        ("csrf_token", token),
        ("username", username),
        ("password", password),
        ("roles", roles),
    ];
    admin.post_form("/console/users", &form).await
}

#[tokio::test]
async fn users_are_searched_created_and_changed_from_the_console() {
    let server = TestServer::with_users().await;
    let mut admin = signed_in(&server, "root").await;

    let (_, found, _) = page(&mut admin, "/console/users?q=LI").await;
    assert!(
        found.contains(">alice</a>") && !found.contains(">bob</a>"),
        "{found}"
    );
    let (_, none, _) = page(&mut admin, "/console/users?q=%25").await;
    assert!(none.contains("id=\"no-users\""), "% is text, not a wildcard");

    // Create: a bad name, password or role is said, and nothing is made.
    let (_, _, token) = page(&mut admin, "/console/users").await;
    let weak = create(&mut admin, &token, "carol", "short", "user").await;
    assert_eq!(weak.status(), 422);
    let said = weak.text().await.unwrap();
    assert!(
        said.contains("Password:") && said.contains("value=\"carol\""),
        "{said}"
    );
    assert!(!said.contains("short"), "the password is not sent back");
    assert_eq!(
        create(&mut admin, &token, "carol", PASSWORD, "user Auditor!")
            .await
            .status(),
        422
    );
    assert_eq!(
        create(&mut admin, &token, "c", PASSWORD, "user").await.status(),
        422
    );
    assert_eq!(
        create(&mut admin, &token, "alice", PASSWORD, "user")
            .await
            .status(),
        409
    );
    let created = create(&mut admin, &token, "carol", PASSWORD, "user, auditor").await;
    assert_eq!(created.status(), 303);
    assert_eq!(location(&created), "/console/users/carol?said=created");
    let (_, carol_page, token) = page(&mut admin, "/console/users/carol?said=created").await;
    assert!(carol_page.contains("User created."));
    assert_eq!(text_of(&carol_page, "user-roles"), "auditor, user");
    let carol = server.login("carol", PASSWORD).await;

    // Roles: saved, and carol's earlier token stops working.
    let roles = admin
        .post_form(
            "/console/users/carol/roles",
            &[("csrf_token", &token), ("roles", "user")],
        )
        .await;
    assert_eq!(roles.status(), 303);
    assert_eq!(
        server.get_as("/users/me", &carol.access_token).await.status(),
        401
    );
    let (_, carol_page, _) = page(&mut admin, "/console/users/carol").await;
    assert_eq!(text_of(&carol_page, "user-roles"), "user");

    // Disable: carol cannot sign in; enable: she can again.
    let disable = admin
        .post_form("/console/users/carol/disable", &[("csrf_token", &token)])
        .await;
    assert_eq!(disable.status(), 303);
    assert_eq!(server.token("carol", PASSWORD).await.status(), 401);
    let (_, carol_page, _) = page(&mut admin, "/console/users/carol").await;
    assert_eq!(text_of(&carol_page, "user-state"), "Disabled");
    let enable = admin
        .post_form("/console/users/carol/enable", &[("csrf_token", &token)])
        .await;
    assert_eq!(enable.status(), 303);
    assert_eq!(server.token("carol", PASSWORD).await.status(), 200);

    // The last admin stays one; a form without its token changes nothing.
    let last = admin
        .post_form("/console/users/root/disable", &[("csrf_token", &token)])
        .await;
    assert_eq!(last.status(), 409);
    assert!(last.text().await.unwrap().contains("The last enabled admin"));
    let forged = admin.post_form("/console/users/carol/disable", &[]).await;
    assert_eq!(forged.status(), 403);
    assert_eq!(server.token("carol", PASSWORD).await.status(), 200);

    // Second-factor reset: audited with carol as its target.
    let reset = admin
        .post_form("/console/users/carol/mfa/reset", &[("csrf_token", &token)])
        .await;
    assert_eq!(reset.status(), 303);
    let root = server.login("root", PASSWORD).await;
    let event = |action: &'static str| {
        move |e: &Value| e["action"] == action && e["target"] == "carol" && e["actor"] == "root"
    };
    for action in [
        "user_created",
        "role_changed",
        "user_disabled",
        "user_enabled",
        "mfa_reset",
    ] {
        wait_for_event(&server, &root.access_token, action, event(action)).await;
    }
}

#[tokio::test]
async fn a_session_ended_from_the_users_page_is_over_for_its_browser() {
    let server = TestServer::with_users().await;
    let mut alice = signed_in(&server, "alice").await;
    let _tokens = server.login("alice", PASSWORD).await;
    assert_eq!(alice.get("/app").await.status(), 200);

    let mut admin = signed_in(&server, "root").await;
    let (_, user_page, token) = page(&mut admin, "/console/users/alice").await;
    assert_eq!(
        user_page.matches("class=\"credential\"").count(),
        2,
        "{user_page}"
    );
    let session = user_page[user_page.find("data-kind=\"session\"").unwrap()..]
        .split("name=\"id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(session.starts_with("s-"), "{session}");
    let ended = admin
        .post_form(
            "/console/users/alice/revoke",
            &[("csrf_token", &token), ("id", &session)],
        )
        .await;
    assert_eq!(ended.status(), 303);
    assert_eq!(location(&ended), "/console/users/alice?said=revoked");

    // Her browser is signed out; the page lists what is left.
    assert_eq!(alice.get("/app").await.status(), 303);
    let (_, user_page, _) = page(&mut admin, "/console/users/alice").await;
    assert_eq!(user_page.matches("class=\"credential\"").count(), 1);
    assert!(user_page.contains("data-kind=\"refresh_family\""));
    let again = admin
        .post_form(
            "/console/users/alice/revoke",
            &[("csrf_token", &token), ("id", &session)],
        )
        .await;
    assert_eq!(again.status(), 404);
    let root = server.login("root", PASSWORD).await;
    wait_for_event(&server, &root.access_token, "revoke of alice's session", |e| {
        e["action"] == "revoke" && e["actor"] == "root" && e["target"] == "alice"
    })
    .await;
}

async fn revoke_key(admin: &mut Browser, token: &str, kid: &str, confirm: &str) -> reqwest::Response {
    admin
        .post_form(
            "/console/keys/revoke",
            &[("csrf_token", token), ("kid", kid), ("confirm", confirm)],
        )
        .await
}

#[tokio::test]
async fn keys_rotate_and_a_revoke_needs_the_kid_typed() {
    let server = TestServer::with_users().await;
    let before = server.login("alice", PASSWORD).await;
    let mut admin = signed_in(&server, "root").await;
    let (_, keys_page, token) = page(&mut admin, "/console/keys").await;
    assert_eq!(keys_page.matches("class=\"key\"").count(), 1);
    let old_kid = keys_page
        .split("data-kid=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    let rotated = admin
        .post_form("/console/keys/rotate", &[("csrf_token", &token)])
        .await;
    assert_eq!(rotated.status(), 303);
    assert_eq!(location(&rotated), "/console/keys?said=rotated");
    let (_, keys_page, _) = page(&mut admin, "/console/keys").await;
    assert_eq!(keys_page.matches("class=\"key\"").count(), 2);
    assert_eq!(
        server.get_as("/users/me", &before.access_token).await.status(),
        200
    );

    // A kid typed wrong revokes nothing.
    let typo = revoke_key(&mut admin, &token, &old_kid, "not-the-kid").await;
    assert_eq!(typo.status(), 400);
    assert!(typo.text().await.unwrap().contains("Type the key"));
    assert_eq!(
        server.get_as("/users/me", &before.access_token).await.status(),
        200
    );

    // Typed right: every token the old key signed fails at once.
    let revoked = revoke_key(&mut admin, &token, &old_kid, &old_kid).await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(
        server.get_as("/users/me", &before.access_token).await.status(),
        401
    );
    let (_, keys_page, _) = page(&mut admin, "/console/keys").await;
    assert!(!keys_page.contains(&old_kid));
    let gone = revoke_key(&mut admin, &token, &old_kid, &old_kid).await;
    assert_eq!(gone.status(), 404, "already gone");

    // Revoking the key that signs makes a new one first: signing goes on.
    let active = keys_page
        .split("data-kid=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let after = server.login("alice", PASSWORD).await;
    let revoke_active = revoke_key(&mut admin, &token, &active, &active).await;
    assert_eq!(revoke_active.status(), 303);
    assert_eq!(
        server.get_as("/users/me", &after.access_token).await.status(),
        401
    );
    let fresh = server.login("alice", PASSWORD).await;
    assert_eq!(
        server.get_as("/users/me", &fresh.access_token).await.status(),
        200
    );
    let root = server.login("root", PASSWORD).await;
    wait_for_event(&server, &root.access_token, "key_revoked", |e| {
        e["action"] == "key_revoked" && e["target"] == old_kid.as_str()
    })
    .await;
}

#[tokio::test]
async fn the_audit_page_filters_and_pages_newest_first() {
    let server = TestServer::with_users().await;
    let alice = server.login("alice", PASSWORD).await;
    for _ in 0..55 {
        assert_eq!(
            server.get_as("/admin/users", &alice.access_token).await.status(),
            403
        );
    }
    let root = server.login("root", PASSWORD).await;
    let mut admin = signed_in(&server, "root").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let (status, page, _) = page(
            &mut admin,
            "/console/audit?actor=alice&action=access_denied&outcome=denied",
        )
        .await;
        assert_eq!(status, 200);
        if page.contains("id=\"older\"") {
            break page;
        }
        assert!(Instant::now() < deadline, "never 50 events\n{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rows = |page: &str| page.matches("<tr><td>").count();
    assert_eq!(rows(&first), 50);
    assert!(!first.contains("<td>login</td>"), "filtered by action");
    // The filters stay in the form and in the next page's link.
    assert!(first.contains("id=\"actor\" name=\"actor\" value=\"alice\""));
    assert!(first.contains("<option value=\"denied\" selected>"));
    let older = first
        .split("id=\"older\"")
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap();
    let older = older.split('"').next().unwrap().replace("&amp;", "&");
    assert!(
        older.starts_with("/console/audit?actor=alice&action=access_denied&outcome=denied"),
        "{older}"
    );
    let (_, second, _) = page(&mut admin, &older).await;
    assert_eq!(rows(&second), 5);
    assert!(!second.contains("id=\"older\"") && second.contains("id=\"newest\""));
    // Newest first, the pages disjoint.
    let ids = |page: &str| -> Vec<i64> {
        page.split("<tr><td>")
            .skip(1)
            .map(|row| row.split('<').next().unwrap().parse().unwrap())
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert!(a.windows(2).all(|w| w[0] > w[1]) && a.last() > b.first());

    // A bad filter is said, with nothing listed.
    let (status, bad, _) = page(&mut admin, "/console/audit?since=yesterday").await;
    assert_eq!(status, 400);
    assert!(bad.contains("Since: a date and time"));
    let (_, future, _) = page(&mut admin, "/console/audit?since=2999-01-01T00:00").await;
    assert!(future.contains("id=\"no-events\""));
    drop(root);
}

#[tokio::test]
async fn under_a_prefix_the_console_and_its_way_back_from_sign_in_are_the_prefixs() {
    let config =
        TestConfig::default().toml("[proxy]\ntrusted = [\"127.0.0.1\"]\n[gateway]\nown_prefix = \"/auth\"\n");
    let server = TestServer::start_with(config).await;
    server.create_user("root", PASSWORD, &["admin"]);
    let mut browser = Browser::new(&server);
    let asked = browser.get("/auth/console/keys").await;
    assert_eq!(asked.status(), 303);
    let login = location(&asked).to_owned();
    assert_eq!(login, "/auth/login?return_to=%2Fauth%2Fconsole%2Fkeys");
    let form = browser.get(&login).await.text().await.unwrap();
    let token = hidden_token(&form);
    let signed_in = browser
        .post_form(
            "/auth/login",
            &[
                ("username", "root"),
                ("password", PASSWORD),
                ("csrf_token", &token),
                ("return_to", "/auth/console/keys"),
            ],
        )
        .await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/auth/console/keys");
    let (status, keys_page, token) = page(&mut browser, "/auth/console/keys").await;
    assert_eq!(status, 200);
    // minijinja writes `/` in a value as `&#x2f;`, which a browser reads back.
    let keys_page = keys_page.replace("&#x2f;", "/");
    assert!(
        keys_page.contains("action=\"/auth/console/keys/rotate\""),
        "{keys_page}"
    );
    assert!(keys_page.contains("href=\"/auth/static/app.css\""));
    let rotated = browser
        .post_form("/auth/console/keys/rotate", &[("csrf_token", &token)])
        .await;
    assert_eq!(location(&rotated), "/auth/console/keys?said=rotated");
}
