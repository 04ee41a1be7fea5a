//! Second factors (SPEC section 7): TOTP enrolment, recovery codes, the
//! two-step sign-in at `/token` and at `/login`, `amr`, the `auth.mfa`
//! policy and the admin's reset. TOTP codes come from `oathtool` (OATH
//! Toolkit), an implementation of RFC 6238 that is not ours.

use std::process::Command;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::helpers::{Browser, TestConfig, TestServer, hidden_token, wait_for_event};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// The codes of `secret` (base32) for the current time step and the next
/// (both accepted: one step of drift either way).
pub(crate) fn codes(secret: &str) -> (String, String) {
    let output = Command::new("oathtool")
        .args(["--totp", "-b", "-w", "1", secret])
        .output()
        .expect("oathtool (OATH Toolkit) runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines().map(str::to_owned);
    (lines.next().unwrap(), lines.next().unwrap())
}

/// A code of `secret` from long ago: right in shape, wrong in time.
fn stale_code(secret: &str) -> String {
    let output = Command::new("oathtool")
        .args(["--totp", "-b", "--now", "2001-01-01 00:00:00 UTC", secret])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn post_as(server: &TestServer, path: &str, token: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The `amr` claim of an access token.
pub(crate) fn amr(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["amr"].clone()
}

pub(crate) async fn mfa_grant(server: &TestServer, mfa_token: &str, otp: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "urn:rampart:grant-type:mfa"),
            ("mfa_token", mfa_token),
            ("otp", otp),
        ])
        .send()
        .await
        .unwrap()
}

/// Turns TOTP on for the holder of `token`: its secret, and the recovery
/// codes. The current step's code is spent by the confirmation.
pub(crate) async fn enroll(server: &TestServer, token: &str) -> (String, Vec<String>) {
    let begun = post_as(
        server,
        "/users/me/mfa/totp",
        token,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(begun.status(), 200);
    let secret = begun.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (now, _) = codes(&secret);
    let confirmed = post_as(server, "/users/me/mfa/totp/confirm", token, &json!({"code": now})).await;
    assert_eq!(confirmed.status(), 200);
    let body: Value = confirmed.json().await.unwrap();
    let recovery = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    (secret, recovery)
}

/// `POST /token` with the password: the `mfa_token` of a `mfa_required`.
pub(crate) async fn mfa_token(server: &TestServer, username: &str) -> String {
    let first = server.token(username, PASSWORD).await;
    assert_eq!(first.status(), 403);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required");
    body["mfa_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_user_turns_totp_on_and_then_signs_in_with_password_and_code() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let before = server.login("alice", PASSWORD).await;
    assert_eq!(amr(&before.access_token), json!(["pwd"]));
    let factors: Value = server
        .get_as("/users/me/mfa", &before.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        factors,
        json!({"totp": false, "passkeys": [], "recovery_codes_left": 0})
    );

    // The current password first: a wrong one is a failed login.
    let wrong = post_as(
        &server,
        "/users/me/mfa/totp",
        &before.access_token,
        &json!({"current_password": "nope"}),
    )
    .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({"detail": "Incorrect password"})
    );

    let begun = post_as(
        &server,
        "/users/me/mfa/totp",
        &before.access_token,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(begun.status(), 200);
    let begun: Value = begun.json().await.unwrap();
    let secret = begun["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        begun["otpauth_uri"],
        format!("otpauth://totp/rampart:alice?secret={secret}&issuer=rampart")
    );
    // Pending: a password still signs in alone.
    assert_eq!(server.token("alice", PASSWORD).await.status(), 200);
    let confirm = |code: String| {
        let token = before.access_token.clone();
        let server = &server;
        async move {
            post_as(
                server,
                "/users/me/mfa/totp/confirm",
                &token,
                &json!({"code": code}),
            )
            .await
        }
    };
    let refused = confirm(stale_code(&secret)).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid code"})
    );
    let (now, next) = codes(&secret);
    let confirmed = confirm(now.clone()).await;
    assert_eq!(confirmed.status(), 200);
    let recovery = confirmed.json::<Value>().await.unwrap()["recovery_codes"].clone();
    let recovery = recovery.as_array().unwrap();
    assert_eq!(recovery.len(), 10);
    for code in recovery {
        let code = code.as_str().unwrap();
        assert_eq!(code.len(), 11, "{code}");
        assert!(code.bytes().enumerate().all(|(at, b)| if at == 5 {
            b == b'-'
        } else {
            b.is_ascii_lowercase() || (b'2'..=b'9').contains(&b)
        }));
    }
    let factors: Value = server
        .get_as("/users/me/mfa", &before.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(factors["totp"], true);
    assert_eq!(factors["recovery_codes_left"], 10);
    let again = post_as(
        &server,
        "/users/me/mfa/totp",
        &before.access_token,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(again.status(), 409);

    // The password alone no longer signs in: 403 mfa_required, not stored.
    let first = server.token("alice", PASSWORD).await;
    assert_eq!(first.status(), 403);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["detail"], "Second factor required");
    assert_eq!(body["error_description"], "Second factor required");
    let mfa_token = body["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(URL_SAFE_NO_PAD.decode(&mfa_token).unwrap().len(), 32);

    // A wrong code, and the code the confirmation spent: invalid_grant.
    for otp in [stale_code(&secret), now] {
        let refused = mfa_grant(&server, &mfa_token, &otp).await;
        assert_eq!(refused.status(), 401);
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
    let signed_in = mfa_grant(&server, &mfa_token, &next).await;
    assert_eq!(signed_in.status(), 200);
    let pair: Value = signed_in.json().await.unwrap();
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(amr(access), json!(["pwd", "otp", "mfa"]));
    assert_eq!(server.get_as("/users/me", access).await.status(), 200);
    // The mfa_token was single use.
    assert_eq!(mfa_grant(&server, &mfa_token, &next).await.status(), 401);
    // A refreshed token keeps its sign-in's amr.
    let refreshed: Value = server
        .refresh(pair["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        amr(refreshed["access_token"].as_str().unwrap()),
        json!(["pwd", "otp", "mfa"])
    );
}

#[tokio::test]
async fn a_wrong_password_answers_the_same_whatever_the_factors() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    server.create_user("bob", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await;
    enroll(&server, &alice.access_token).await;
    let with = server.token("alice", "wrong password").await;
    let without = server.token("bob", "wrong password").await;
    assert_eq!(with.status(), without.status());
    assert_eq!(
        with.json::<Value>().await.unwrap(),
        without.json::<Value>().await.unwrap()
    );
}

#[tokio::test]
async fn recovery_codes_work_once_and_a_renewal_voids_the_old_set() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await;
    let (_, recovery) = enroll(&server, &alice.access_token).await;
    // Typed in capitals, without its dash: still the code.
    let typed = recovery[0].to_uppercase().replace('-', "");
    let signed_in = mfa_grant(&server, &mfa_token(&server, "alice").await, &typed).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        amr(signed_in.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()),
        json!(["pwd", "otp", "mfa"])
    );
    let spent = mfa_grant(&server, &mfa_token(&server, "alice").await, &recovery[0]).await;
    assert_eq!(spent.status(), 401);
    let factors: Value = server
        .get_as("/users/me/mfa", &alice.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(factors["recovery_codes_left"], 9);

    let renewed = post_as(
        &server,
        "/users/me/mfa/recovery-codes",
        &alice.access_token,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    assert_eq!(renewed["recovery_codes"].as_array().unwrap().len(), 10);
    let old = mfa_grant(&server, &mfa_token(&server, "alice").await, &recovery[1]).await;
    assert_eq!(old.status(), 401, "the old set is void");
    let new = mfa_grant(
        &server,
        &mfa_token(&server, "alice").await,
        renewed["recovery_codes"][0].as_str().unwrap(),
    )
    .await;
    assert_eq!(new.status(), 200);

    // Removing the last factor voids the codes; renewal needs a factor.
    let removed = post_as(
        &server,
        "/users/me/mfa/totp/remove",
        &alice.access_token,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(removed.status(), 204);
    let factors: Value = server
        .get_as("/users/me/mfa", &alice.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        factors,
        json!({"totp": false, "passkeys": [], "recovery_codes_left": 0})
    );
    let none = post_as(
        &server,
        "/users/me/mfa/recovery-codes",
        &alice.access_token,
        &json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(none.status(), 409);
    assert_eq!(server.token("alice", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn five_wrong_codes_end_the_mfa_token() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await;
    let (secret, _) = enroll(&server, &alice.access_token).await;
    let mfa_token = mfa_token(&server, "alice").await;
    for _ in 0..5 {
        assert_eq!(
            mfa_grant(&server, &mfa_token, &stale_code(&secret))
                .await
                .status(),
            401
        );
    }
    let (_, next) = codes(&secret);
    assert_eq!(
        mfa_grant(&server, &mfa_token, &next).await.status(),
        401,
        "the sign-in ended"
    );
    // Each wrong code is audited, and each spent a login attempt.
    server.create_user("root", PASSWORD, &["admin"]);
    let root = server.login("root", PASSWORD).await;
    wait_for_event(&server, &root.access_token, "mfa_failed", |event| {
        event["action"] == "mfa_failed"
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events: Value = server
            .get_as("/admin/audit?limit=1000", &root.access_token)
            .await
            .json()
            .await
            .unwrap();
        let failed = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "mfa_failed")
            .count();
        if failed >= 6 || std::time::Instant::now() > deadline {
            // Five wrong codes and the dead token's attempt.
            assert_eq!(failed, 6);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_person_signs_in_through_the_form_in_two_steps() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await;
    let (secret, _) = enroll(&server, &alice.access_token).await;
    let mut browser = Browser::new(&server);
    let first = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(first.status(), 200, "the second step's form, no session yet");
    assert!(!browser.has_cookie("rampart_session"));
    assert!(browser.has_cookie("rampart_mfa"));
    let page = first.text().await.unwrap();
    // (The page escapes `/` in attributes, as HTML allows.)
    assert!(
        page.replace("&#x2f;", "/").contains(r#"action="/login/mfa""#),
        "{page}"
    );
    let csrf = hidden_token(&page);

    // The pending sign-in is this browser's: another one, with the same
    // cookie and a right code, starts over.
    let (_, next) = codes(&secret);
    let mut other = Browser::new(&server);
    let other_page = other.get("/login").await.text().await.unwrap();
    other.set_cookie("rampart_mfa", &browser.cookie("rampart_mfa"));
    let stolen = other
        .post_form(
            "/login/mfa",
            &[("code", &next), ("csrf_token", &hidden_token(&other_page))],
        )
        .await;
    assert_eq!(stolen.status(), 401);
    assert!(stolen.text().await.unwrap().contains("sign in again"));
    assert!(!other.has_cookie("rampart_session"));

    let wrong = browser
        .post_form(
            "/login/mfa",
            &[("code", &stale_code(&secret)), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let page = wrong.text().await.unwrap();
    assert!(page.contains("Invalid code"));
    let signed_in = browser
        .post_form(
            "/login/mfa",
            &[("code", &next), ("csrf_token", &hidden_token(&page))],
        )
        .await;
    assert_eq!(signed_in.status(), 303);
    assert!(
        !browser.has_cookie("rampart_mfa"),
        "the pending sign-in's cookie is cleared"
    );
    assert_eq!(browser.get("/users/me").await.status(), 200);
}

#[tokio::test]
async fn under_the_admins_policy_an_admin_without_a_factor_may_only_enroll() {
    let config = TestConfig::default().env("RAMPART_AUTH__MFA", "admins");
    let server = TestServer::start_with(config).await;
    server.create_user("root", PASSWORD, &["admin"]);
    server.create_user("alice", PASSWORD, &["user"]);
    let root = server.login("root", PASSWORD).await;
    let refused = server.get_as("/admin/users", &root.access_token).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Second factor enrollment required"})
    );
    assert_eq!(server.get_as("/items/", &root.access_token).await.status(), 403);
    assert_eq!(server.get_as("/users/me", &root.access_token).await.status(), 200);
    // A user the policy does not cover is not stopped.
    let alice = server.login("alice", PASSWORD).await;
    assert_eq!(server.get_as("/items/", &alice.access_token).await.status(), 200);

    let (secret, _) = enroll(&server, &root.access_token).await;
    // The credential stays what it was; a new sign-in shows the factor.
    assert_eq!(
        server.get_as("/admin/users", &root.access_token).await.status(),
        403
    );
    let (_, next) = codes(&secret);
    let signed_in = mfa_grant(&server, &mfa_token(&server, "root").await, &next).await;
    assert_eq!(signed_in.status(), 200);
    let full = signed_in.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.get_as("/admin/users", &full).await.status(), 200);
    assert_eq!(server.get_as("/items/", &full).await.status(), 200);
}

#[tokio::test]
async fn an_admin_resets_the_factors_of_a_user_who_lost_their_phone() {
    let server = TestServer::start().await;
    server.create_user("root", PASSWORD, &["admin"]);
    server.create_user("alice", PASSWORD, &["user"]);
    let root = server.login("root", PASSWORD).await;
    let alice = server.login("alice", PASSWORD).await;
    enroll(&server, &alice.access_token).await;
    assert_eq!(server.token("alice", PASSWORD).await.status(), 403);

    let plain = post_as(
        &server,
        "/admin/users/alice/mfa/reset",
        &alice.access_token,
        &json!({}),
    )
    .await;
    assert_eq!(plain.status(), 403);
    let unknown = post_as(
        &server,
        "/admin/users/nobody/mfa/reset",
        &root.access_token,
        &json!({}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    let reset = post_as(
        &server,
        "/admin/users/alice/mfa/reset",
        &root.access_token,
        &json!({}),
    )
    .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(reset.json::<Value>().await.unwrap()["username"], "alice");
    // Her credentials ended; the password alone signs in again.
    assert_eq!(
        server.get_as("/users/me", &alice.access_token).await.status(),
        401
    );
    assert_eq!(server.refresh(&alice.refresh_token).await.status(), 401);
    let again = server.login("alice", PASSWORD).await;
    let factors: Value = server
        .get_as("/users/me/mfa", &again.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        factors,
        json!({"totp": false, "passkeys": [], "recovery_codes_left": 0})
    );
    wait_for_event(&server, &root.access_token, "mfa_reset", |event| {
        event["action"] == "mfa_reset" && event["actor"] == "root" && event["target"] == "alice"
    })
    .await;
    wait_for_event(&server, &root.access_token, "mfa_enrolled", |event| {
        event["action"] == "mfa_enrolled" && event["actor"] == "alice"
    })
    .await;
}

/// The text between `start` and the next `<` in `page`.
fn text_after<'a>(page: &'a str, start: &str) -> &'a str {
    let at = page.find(start).unwrap_or_else(|| panic!("no {start} in {page}")) + start.len();
    &page[at..at + page[at..].find('<').unwrap()]
}

#[tokio::test]
async fn a_person_turns_totp_on_from_the_account_page_without_javascript() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    let page = browser.get("/account").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"<p id="totp-state">Off.</p>"#), "{page}");
    // No inline script: the one script is the passkeys', and TOTP below
    // works without it.
    let scripts: Vec<&str> = page.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 1, "{page}");
    assert!(
        scripts[0].starts_with(r#" src="&#x2f;static&#x2f;mfa.js" defer></script>"#)
            || scripts[0].starts_with(r#" src="/static/mfa.js" defer></script>"#),
        "{page}"
    );

    let wrong = browser
        .post_form(
            "/account/totp",
            &[("current_password", "nope"), ("csrf_token", &hidden_token(&page))],
        )
        .await;
    assert_eq!(wrong.status(), 400);
    let page = wrong.text().await.unwrap();
    assert!(page.contains("Incorrect password"));
    let begun = browser
        .post_form(
            "/account/totp",
            &[
                ("current_password", PASSWORD),
                ("csrf_token", &hidden_token(&page)),
            ],
        )
        .await;
    assert_eq!(begun.status(), 200);
    let page = begun.text().await.unwrap();
    assert!(page.contains("<svg"), "the QR code, drawn on the server");
    assert!(!page.contains("<?xml"));
    let secret = text_after(&page, r#"<code id="totp-secret">"#).to_owned();
    let (now, _) = codes(&secret);
    let confirmed = browser
        .post_form(
            "/account/totp/confirm",
            &[("code", &now), ("csrf_token", &hidden_token(&page))],
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let page = confirmed.text().await.unwrap();
    assert!(page.contains(r#"<p id="totp-state">On.</p>"#), "{page}");
    let shown = page.matches("<li><code>").count();
    assert_eq!(shown, 10, "the recovery codes, shown once");
    assert!(page.contains(r#"<p id="codes-left">10 left.</p>"#));
    assert!(
        !browser
            .get("/account")
            .await
            .text()
            .await
            .unwrap()
            .contains("<li><code>")
    );

    // The next sign-in asks for the second factor.
    browser.log_out().await;
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 200);
    assert!(browser.has_cookie("rampart_mfa"));
}

#[tokio::test]
async fn an_enrolment_only_session_is_sent_from_the_app_to_the_account_page() {
    let config = TestConfig::default().env("RAMPART_AUTH__MFA", "all");
    let server = TestServer::start_with(config).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 303);
    let app = browser.get("/app").await;
    assert_eq!(app.status(), 303);
    assert_eq!(app.headers()["location"], "/account");
    let account = browser.get("/account").await;
    assert_eq!(account.status(), 200);
    assert!(account.text().await.unwrap().contains("needs a second factor"));
    assert_eq!(browser.get("/items/").await.status(), 403);
}

#[tokio::test]
async fn a_password_changed_on_the_account_page_ends_the_session() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let mut browser = Browser::new(&server);
    browser.sign_in("alice", PASSWORD).await;
    let page = browser.get("/account").await.text().await.unwrap();
    let weak = browser
        .post_form(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "password"),
                ("csrf_token", &hidden_token(&page)),
            ],
        )
        .await;
    assert_eq!(weak.status(), 422);
    let page = weak.text().await.unwrap();
    let changed = browser
        .post_form(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase for alice"),
                ("csrf_token", &hidden_token(&page)),
            ],
        )
        .await;
    assert_eq!(changed.status(), 303);
    assert_eq!(changed.headers()["location"], "/login");
    assert_eq!(browser.get("/users/me").await.status(), 401);
    assert_eq!(
        server
            .token("alice", "a brand new passphrase for alice")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_password_sent_again_and_again_keeps_at_most_five_pending_sign_ins() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let alice = server.login("alice", PASSWORD).await;
    let (secret, _) = enroll(&server, &alice.access_token).await;
    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(mfa_token(&server, "alice").await);
    }
    let store = server.store().await;
    let id = store
        .find_user(&rampart::names::Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(store.pending_sign_ins_of(id).await.unwrap(), 5);
    // The newest still signs in; the oldest was replaced.
    let (_, next) = codes(&secret);
    assert_eq!(mfa_grant(&server, &tokens[0], &next).await.status(), 401);
    assert_eq!(
        mfa_grant(&server, tokens.last().unwrap(), &next).await.status(),
        200
    );
}
