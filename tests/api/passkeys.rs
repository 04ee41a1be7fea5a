//! Passkeys (SPEC section 7): registration, the sign-in's second step and
//! the passwordless sign-in, spoken as a browser speaks WebAuthn, with the
//! webauthn-rs project's software authenticator (`SoftPasskey` of
//! webauthn-authenticator-rs): it signs real ES256 assertions over the
//! challenge and the origin it is given, and verifies its user.
//!
//! A passkey is bound to its relying party id, a domain: these tests reach
//! the server as `localhost` (and `app.localhost`), resolved to its socket.

use serde_json::{Value, json};
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse, Url};

use crate::helpers::{Browser, TestConfig, TestServer, hidden_token, wait_for_event};

const PASSWORD: &str = "correct horse battery staple";

/// The server as a browser reaches it by a name: its base URL, and a
/// client that resolves the name to the server's socket.
struct Named {
    base: String,
    client: reqwest::Client,
}

impl Named {
    fn new(server: &TestServer, host: &str) -> Self {
        let client = reqwest::Client::builder()
            .resolve(host, server.addr)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base: format!("http://{host}:{}", server.addr.port()),
            client,
        }
    }

    fn origin(&self) -> Url {
        Url::parse(&self.base).unwrap()
    }

    fn browser(&self) -> Browser {
        Browser::with(self.base.clone(), self.client.clone())
    }

    async fn token(&self, username: &str) -> String {
        let response = self
            .client
            .post(format!("{}/token", self.base))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Creation options for a new passkey of the token's holder.
    async fn creation_options(&self, token: &str) -> Value {
        let response = self
            .post(
                "/users/me/passkeys/options",
                token,
                &json!({"current_password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Registers a passkey of `authenticator`'s named `name`.
    async fn register(&self, authenticator: &mut SoftPasskey, token: &str, name: &str) -> Registration {
        let options = self.creation_options(token).await;
        let credential = create(authenticator, &self.origin(), &options);
        let response = self
            .post(
                "/users/me/passkeys",
                token,
                &json!({"name": name, "credential": credential}),
            )
            .await;
        Registration {
            response,
            user_handle: options["user"]["id"].as_str().unwrap().to_owned(),
            credential_id: credential["rawId"].as_str().unwrap().to_owned(),
        }
    }
}

/// A registration's answer, and what the authenticator keeps of it.
struct Registration {
    response: reqwest::Response,
    /// The account's WebAuthn user handle (base64url), as the creation
    /// options gave it.
    user_handle: String,
    /// The credential's id (base64url).
    credential_id: String,
}

/// The authenticator's answer to creation options, as `toJSON()` gives it.
fn create(authenticator: &mut SoftPasskey, origin: &Url, options: &Value) -> Value {
    let options: CreationChallengeResponse = serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential = authenticator.do_registration(origin.clone(), options).unwrap();
    serde_json::to_value(credential).unwrap()
}

/// The authenticator's answer to request options.
fn assert_with(authenticator: &mut SoftPasskey, origin: &Url, options: &Value) -> PublicKeyCredential {
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": options, "mediation": null})).unwrap();
    authenticator.do_authentication(origin.clone(), options).unwrap()
}

fn authenticator() -> SoftPasskey {
    // `true`: it reports that it verified its user (a PIN, a fingerprint).
    SoftPasskey::new(true)
}

#[tokio::test]
async fn a_passkey_is_registered_after_the_current_password_and_listed() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let local = Named::new(&server, "localhost");
    let token = local.token("alice").await;

    let wrong = local
        .post(
            "/users/me/passkeys/options",
            &token,
            &json!({"current_password": "not it"}),
        )
        .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({"detail": "Incorrect password"})
    );

    let options = local.creation_options(&token).await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "alice");
    assert!(
        options["challenge"].as_str().is_some_and(|c| c.len() >= 43),
        "{options}"
    );
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "preferred");
    let algorithms: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert!(
        algorithms.contains(&-7) && algorithms.contains(&-257),
        "ES256 and RS256: {algorithms:?}"
    );

    let mut key = authenticator();
    let credential = create(&mut key, &local.origin(), &options);
    let added = local
        .post(
            "/users/me/passkeys",
            &token,
            &json!({"name": "Laptop", "credential": credential}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["name"], "Laptop");
    let codes = added["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10, "the first factor brings the recovery codes");

    // The challenge was single use: the same answer again is refused.
    let again = local
        .post(
            "/users/me/passkeys",
            &token,
            &json!({"name": "Laptop", "credential": credential}),
        )
        .await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid passkey"})
    );

    // A second passkey brings no new codes.
    let second = local
        .register(&mut authenticator(), &token, "Phone")
        .await
        .response;
    assert_eq!(second.status(), 201);
    assert_eq!(second.json::<Value>().await.unwrap()["recovery_codes"], json!([]));

    let factors = local.get("/users/me/mfa", &token).await;
    assert_eq!(factors["totp"], false);
    assert_eq!(factors["recovery_codes_left"], 10);
    let passkeys = factors["passkeys"].as_array().unwrap();
    let names: Vec<&str> = passkeys.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Laptop", "Phone"]);
    assert_eq!(passkeys[0]["id"], added["id"]);
    assert!(passkeys[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(passkeys[0]["last_used_at"], Value::Null);

    // A name is 1 to 64 characters; the credential an object.
    let options = local.creation_options(&token).await;
    let credential = create(&mut authenticator(), &local.origin(), &options);
    let unnamed = local
        .post(
            "/users/me/passkeys",
            &token,
            &json!({"name": "", "credential": credential}),
        )
        .await;
    assert_eq!(unnamed.status(), 422);
    let not_an_object = local
        .post(
            "/users/me/passkeys",
            &token,
            &json!({"name": "x", "credential": "abc"}),
        )
        .await;
    assert_eq!(not_an_object.status(), 422);
    let body: Value = not_an_object.json().await.unwrap();
    assert_eq!(body["detail"][0]["type"], "dict_type");
}

#[tokio::test]
async fn a_registration_for_another_origin_or_challenge_is_refused() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let local = Named::new(&server, "localhost");
    let token = local.token("alice").await;

    // Signed for another origin (another port of the same host).
    let options = local.creation_options(&token).await;
    let elsewhere = Url::parse("http://localhost:1").unwrap();
    let credential = create(&mut authenticator(), &elsewhere, &options);
    let refused = local
        .post(
            "/users/me/passkeys",
            &token,
            &json!({"name": "x", "credential": credential}),
        )
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid passkey"})
    );

    // Options asked for again replace the first: its challenge is dead.
    let first = local.creation_options(&token).await;
    let _second = local.creation_options(&token).await;
    let credential = create(&mut authenticator(), &local.origin(), &first);
    let stale = local
        .post(
            "/users/me/passkeys",
            &token,
            &json!({"name": "x", "credential": credential}),
        )
        .await;
    assert_eq!(stale.status(), 400);

    // A credential of the wrong shape is an invalid passkey too.
    let _ = local.creation_options(&token).await;
    let garbled = local
        .post(
            "/users/me/passkeys",
            &token,
            &json!({"name": "x", "credential": {"id": "abc"}}),
        )
        .await;
    assert_eq!(garbled.status(), 400);

    let factors = local.get("/users/me/mfa", &token).await;
    assert_eq!(factors["passkeys"], json!([]));
}

#[tokio::test]
async fn a_passkey_is_the_second_step_of_a_sign_in() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let local = Named::new(&server, "localhost");
    let token = local.token("alice").await;
    let mut key = authenticator();
    let added = local.register(&mut key, &token, "Laptop").await;
    assert_eq!(added.response.status(), 201);
    // Another person's passkey.
    server.create_user("bob", PASSWORD, &["user"]);
    let mut stranger = authenticator();
    let bobs = local
        .register(&mut stranger, &local.token("bob").await, "Bob's")
        .await;

    let mut browser = local.browser();
    let first = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(first.status(), 200, "the second step, no session yet");
    let page = first.text().await.unwrap();
    assert!(page.contains(r#"id="passkey-verify""#), "{page}");
    assert!(
        page.contains("static&#x2f;mfa.js") || page.contains("static/mfa.js"),
        "{page}"
    );
    let csrf = hidden_token(&page);

    // Without the form's token in X-CSRF-Token: 403.
    let unsigned = browser
        .post_json("/login/mfa/passkey/options", &[], &json!({}))
        .await;
    assert_eq!(unsigned.status(), 403);

    let options = browser
        .post_json(
            "/login/mfa/passkey/options",
            &[("x-csrf-token", &csrf)],
            &json!({}),
        )
        .await;
    assert_eq!(options.status(), 200);
    let options: Value = options.json().await.unwrap();
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);

    // An assertion by another account's passkey is refused, and the
    // sign-in goes on.
    let mut widened = options.clone();
    widened["allowCredentials"] = descriptors(&bobs.credential_id);
    let foreign = assert_with(&mut stranger, &local.origin(), &widened);
    let refused = send_credential(&mut browser, "/login/mfa/passkey", &csrf, &foreign).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid passkey"})
    );
    assert!(!browser.has_cookie("rampart_session"));

    let options: Value = browser
        .post_json(
            "/login/mfa/passkey/options",
            &[("x-csrf-token", &csrf)],
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let assertion = assert_with(&mut key, &local.origin(), &options);
    let signed_in = send_credential(&mut browser, "/login/mfa/passkey", &csrf, &assertion).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        signed_in.json::<Value>().await.unwrap(),
        json!({"location": "/app"})
    );
    assert!(browser.has_cookie("rampart_session"));
    assert!(!browser.has_cookie("rampart_mfa"));
    assert_eq!(browser.get("/users/me").await.status(), 200);

    // The same assertion again: the sign-in form's token was spent with
    // the sign-in it finished.
    let replayed = send_credential(&mut browser, "/login/mfa/passkey", &csrf, &assertion).await;
    assert_eq!(replayed.status(), 403);

    let factors = local.get("/users/me/mfa", &token).await;
    assert!(factors["passkeys"][0]["last_used_at"].is_string(), "{factors}");

    // Each step is audited and counted.
    server.create_user("root", PASSWORD, &["admin"]);
    let root = local.token("root").await;
    for (action, outcome) in [
        ("mfa_enrolled", "success"),
        ("mfa_failed", "failure"),
        ("mfa_passed", "success"),
    ] {
        wait_for_event(&server, &root, action, |event| {
            event["action"] == action
                && event["outcome"] == outcome
                && event["actor"] == "alice"
                && event["target"] == "passkey"
        })
        .await;
    }
    let metrics = server.metrics().await;
    for event in ["mfa_enrolled", "mfa_failed", "mfa_passed"] {
        let line = format!(r#"second_factor_events_total{{event="{event}",factor="passkey"}}"#);
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
}

/// Request options' `allowCredentials` naming one credential.
fn descriptors(credential_id: &str) -> Value {
    json!([{"type": "public-key", "id": credential_id}])
}

/// A discoverable credential's answer: SoftPasskey keeps no resident
/// credentials, so it is told which credential to use (the list a
/// resident-key authenticator would search itself) and its answer carries
/// the user handle such an authenticator stores with the credential.
fn discoverable(
    key: &mut SoftPasskey,
    origin: &Url,
    options: &Value,
    registered: &Registration,
    user_handle: &str,
) -> Value {
    let named = options["allowCredentials"].as_array().map_or(0, Vec::len);
    assert_eq!(named, 0, "the server names no credential: {options}");
    assert_eq!(options["userVerification"], "required");
    let mut told = options.clone();
    told["allowCredentials"] = descriptors(&registered.credential_id);
    let assertion = assert_with(key, origin, &told);
    let mut answer = serde_json::to_value(assertion).unwrap();
    answer["response"]["userHandle"] = Value::from(user_handle);
    answer
}

/// An authenticator's answer posted as the sign-in page's script posts it.
async fn send_credential(
    browser: &mut Browser,
    path: &str,
    csrf: &str,
    credential: &impl serde::Serialize,
) -> reqwest::Response {
    browser
        .post_json(
            path,
            &[("x-csrf-token", csrf)],
            &json!({ "credential": credential }),
        )
        .await
}

/// `POST /login/passkey/options` as the sign-in page's script calls it.
async fn passwordless_options(browser: &mut Browser, csrf: &str) -> Value {
    let response = browser
        .post_json("/login/passkey/options", &[("x-csrf-token", csrf)], &json!({}))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_discoverable_passkey_signs_in_alone() {
    let server = TestServer::start_with(TestConfig::default().toml("[auth]\nmfa = \"admins\"\n")).await;
    server.create_user("root", PASSWORD, &["admin"]);
    server.create_user("bob", PASSWORD, &["user"]);
    let local = Named::new(&server, "localhost");
    let mut key = authenticator();
    // An admin with no factor may enrol one (an enrolment-only credential).
    let root = local.token("root").await;
    let roots = local.register(&mut key, &root, "Key").await;
    assert_eq!(roots.response.status(), 201);
    let handle = roots.user_handle.clone();
    let bob = local.token("bob").await;
    let bob_handle = local
        .register(&mut authenticator(), &bob, "Bob's")
        .await
        .user_handle;
    assert_ne!(handle, bob_handle);

    let mut browser = local.browser();
    let page = browser.get("/login").await.text().await.unwrap();
    assert!(page.contains(r#"id="passkey-login""#), "{page}");
    let csrf = hidden_token(&page);
    let unsigned = browser.post_json("/login/passkey/options", &[], &json!({})).await;
    assert_eq!(unsigned.status(), 403);

    // Root's credential, claiming to be Bob's account: refused.
    let asked = passwordless_options(&mut browser, &csrf).await;
    let claimed = discoverable(&mut key, &local.origin(), &asked, &roots, &bob_handle);
    let refused = send_credential(&mut browser, "/login/passkey", &csrf, &claimed).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid passkey"})
    );

    // No user handle: not a discoverable credential's answer.
    let asked = passwordless_options(&mut browser, &csrf).await;
    let mut anonymous = discoverable(&mut key, &local.origin(), &asked, &roots, &handle);
    anonymous["response"]["userHandle"] = Value::Null;
    let refused = send_credential(&mut browser, "/login/passkey", &csrf, &anonymous).await;
    assert_eq!(refused.status(), 401);

    let asked = passwordless_options(&mut browser, &csrf).await;
    let answer = discoverable(&mut key, &local.origin(), &asked, &roots, &handle);
    let signed_in = send_credential(&mut browser, "/login/passkey", &csrf, &answer).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        signed_in.json::<Value>().await.unwrap(),
        json!({"location": "/app"})
    );
    assert!(browser.has_cookie("rampart_session"));

    // A verified passkey is `mfa`: the admin routes, which need it under
    // `admins`, open to this session.
    let admin = browser.get("/admin/users").await;
    assert_eq!(admin.status(), 200);

    // The answer is single use.
    let mut other = local.browser();
    let other_page = other.get("/login").await.text().await.unwrap();
    let replayed = other
        .post_json(
            "/login/passkey",
            &[("x-csrf-token", &hidden_token(&other_page))],
            &json!({"credential": answer}),
        )
        .await;
    assert_eq!(replayed.status(), 401);
}

#[tokio::test]
async fn passkeys_are_removed_by_their_owner_and_reset_by_an_admin() {
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    server.create_user("bob", PASSWORD, &["user"]);
    server.create_user("root", PASSWORD, &["admin"]);
    let local = Named::new(&server, "localhost");
    let alice = local.token("alice").await;
    let added = local
        .register(&mut authenticator(), &alice, "Laptop")
        .await
        .response;
    let id = added.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let remove = format!("/users/me/passkeys/{id}/remove");

    let wrong = local
        .post(&remove, &alice, &json!({"current_password": "nope"}))
        .await;
    assert_eq!(wrong.status(), 400);
    let bob = local.token("bob").await;
    let not_bobs = local
        .post(&remove, &bob, &json!({"current_password": PASSWORD}))
        .await;
    assert_eq!(not_bobs.status(), 404);
    let unknown = local
        .post(
            "/users/me/passkeys/nothing/remove",
            &alice,
            &json!({"current_password": PASSWORD}),
        )
        .await;
    assert_eq!(unknown.status(), 404);

    let removed = local
        .post(&remove, &alice, &json!({"current_password": PASSWORD}))
        .await;
    assert_eq!(removed.status(), 204);
    let factors = local.get("/users/me/mfa", &alice).await;
    assert_eq!(factors["passkeys"], json!([]));
    assert_eq!(
        factors["recovery_codes_left"], 0,
        "the last factor takes the codes with it"
    );

    // The admin's reset removes passkeys too.
    let again = local.register(&mut authenticator(), &alice, "Again").await;
    assert_eq!(again.response.status(), 201);
    let root = local.token("root").await;
    let reset = local
        .post("/admin/users/alice/mfa/reset", &root, &json!({}))
        .await;
    assert_eq!(reset.status(), 200);
    let alice = local.token("alice").await;
    assert_eq!(local.get("/users/me/mfa", &alice).await["passkeys"], json!([]));
}

#[tokio::test]
async fn the_relying_party_is_the_configured_domain_or_the_host() {
    // Reached by an IP address, with no relying party id set: passkeys
    // cannot work there, and the answer says why.
    let server = TestServer::start().await;
    server.create_user("alice", PASSWORD, &["user"]);
    let token = server.login("alice", PASSWORD).await.access_token;
    let by_address = reqwest::Client::new()
        .post(server.url("/users/me/passkeys/options"))
        .bearer_auth(&token)
        .json(&json!({"current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_address.status(), 400);
    let detail = by_address.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("auth.webauthn_rp_id"), "{detail}");

    // `auth.webauthn_rp_id` is the relying party, whatever the host: a
    // page on a host outside it cannot use passkeys ...
    let server =
        TestServer::start_with(TestConfig::default().toml("[auth]\nwebauthn_rp_id = \"example.com\"\n"))
            .await;
    server.create_user("alice", PASSWORD, &["user"]);
    let local = Named::new(&server, "localhost");
    let token = local.token("alice").await;
    let outside = local
        .post(
            "/users/me/passkeys/options",
            &token,
            &json!({"current_password": PASSWORD}),
        )
        .await;
    assert_eq!(outside.status(), 400);

    // ... and one within it registers under it.
    let server =
        TestServer::start_with(TestConfig::default().toml("[auth]\nwebauthn_rp_id = \"localhost\"\n")).await;
    server.create_user("alice", PASSWORD, &["user"]);
    let local = Named::new(&server, "localhost");
    let token = local.token("alice").await;
    let options = local.creation_options(&token).await;
    assert_eq!(options["rp"]["id"], "localhost");
    let added = local.register(&mut authenticator(), &token, "Laptop").await;
    assert_eq!(added.response.status(), 201);
}

#[tokio::test]
async fn passwordless_challenges_are_bounded_by_the_login_budget() {
    // A challenge is a stored row (one per pre-session, 5 minutes): asking
    // for them spends the client's `login` budget, so one client cannot
    // fill the table.
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_RATE_LIMIT__LOGIN", "3/minute")).await;
    let local = Named::new(&server, "localhost");
    let mut browser = local.browser();
    let page = browser.get("/login").await.text().await.unwrap();
    let csrf = hidden_token(&page);
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let answer = browser
                .post_json("/login/passkey/options", &[("x-csrf-token", &csrf)], &json!({}))
                .await;
            statuses.push(answer.status().as_u16());
        }
        statuses
    };
    assert_eq!(statuses, [200, 200, 200, 429]);
}
