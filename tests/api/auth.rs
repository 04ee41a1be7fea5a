//! Accounts and tokens: the OAuth2 password flow, JWT verification rules,
//! key rotation, refresh rotation and reuse, revocation, invalidation.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};

use crate::helpers::{TestConfig, TestServer, Tokens};

const ALICE_PASSWORD: &str = "Zq8#mT2!vL9p-alice";
const ADMIN_PASSWORD: &str = "Vw3$kR7@pN1x-admin";

async fn server_with_users() -> TestServer {
    let server = TestServer::start().await;
    server.create_user("alice", ALICE_PASSWORD, &[]);
    server.create_user("root", ADMIN_PASSWORD, &["admin", "user"]);
    server
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&B64.decode(part).expect("base64url")).expect("JSON")
}

/// Signs `claims` with the server's current signing key, read from its
/// database the way only the server can (the key is sealed under its
/// secret): tokens that are correctly signed but wrong in some other way.
async fn sign_with_server_key(server: &TestServer, header_extra: Value, claims: &Value) -> String {
    use rampart::{auth::keys::KeySealer, config::secret::SecretKey};
    let store = server.store().await;
    let keys = store.live_keys(rampart::store::now_ms()).await.unwrap();
    store.close().await;
    let key = keys
        .iter()
        .find(|k| k.retired_at.is_none())
        .expect("a signing key");
    let sealer = KeySealer::new(&SecretKey::new(server.secret.as_bytes().to_vec()));
    let private = sealer.open(&key.kid, &key.sealed_private_key).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    header.typ = Some("at+jwt".into());
    let mut header_json = serde_json::to_value(&header).unwrap();
    for (k, v) in header_extra.as_object().unwrap() {
        header_json[k] = v.clone();
    }
    let header: jsonwebtoken::Header = serde_json::from_value(header_json).unwrap();
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ed_der(&private)).unwrap()
}

fn good_claims(now: i64) -> Value {
    json!({
        "sub": "alice", "roles": ["user"], "iat": now, "nbf": now, "exp": now + 600,
        "jti": "forged-0001", "iss": "rampart", "aud": "rampart-api", "ver": 0
    })
}

async fn assert_invalid(server: &TestServer, token: &str, why: &str) {
    let response = server.get_as("/protected", token).await;
    assert_eq!(response.status(), 401, "{why}");
    assert_eq!(response.headers()["www-authenticate"], "Bearer", "{why}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Invalid authentication credentials"}),
        "{why}"
    );
}

#[tokio::test]
async fn password_login_issues_a_bearer_pair_that_is_not_cached() {
    let server = server_with_users().await;
    let response = server.token("alice", ALICE_PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Tokens = response.json().await.unwrap();
    assert_eq!(tokens.token_type, "bearer");
    assert_eq!(tokens.expires_in, 900);
    assert!(
        B64.decode(&tokens.refresh_token).unwrap().len() >= 32,
        "at least 256 random bits"
    );

    let header = decode_part(&tokens.access_token, 0);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    let claims = decode_part(&tokens.access_token, 1);
    for claim in ["sub", "roles", "iat", "nbf", "exp", "jti", "iss", "aud"] {
        assert!(claims.get(claim).is_some(), "claim {claim}");
    }
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(claims["iss"], "rampart");
    assert_eq!(claims["aud"], "rampart-api");

    let response = server.get_as("/protected", &tokens.access_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Beware, alice. This is a protected route."})
    );
    let me: Value = server
        .get_as("/users/me", &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["roles"], json!(["user"]));
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn usernames_compare_case_insensitively_at_login() {
    let server = server_with_users().await;
    let tokens = server.login("ALICE", ALICE_PASSWORD).await;
    assert_eq!(decode_part(&tokens.access_token, 1)["sub"], "alice");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let server = server_with_users().await;
    for (user, password) in [
        ("alice", "wrong-password-123"),
        ("nobody", ALICE_PASSWORD),
        ("x", "y"),
    ] {
        let response = server.token(user, password).await;
        assert_eq!(response.status(), 401, "{user}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "detail": "Incorrect username or password",
                "error": "invalid_grant",
                "error_description": "Incorrect username or password"
            })
        );
    }
    let response = server
        .client
        .post(server.url("/token"))
        .form(&[("username", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "a missing password is a validation error");
    let response = server
        .client
        .post(server.url("/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

/// The argon2id verifications the server has run, from `/metrics`.
async fn verifications(server: &TestServer) -> u64 {
    let metrics = server.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("password_verifications_total "))
        .map_or(0, |count| count.trim().parse().unwrap())
}

/// An unknown user costs one full argon2id verification (against a dummy
/// hash with the same parameters), exactly as a known user with a wrong
/// password does, so response time does not tell whether a user exists.
/// Counted rather than timed: the proof holds on a busy machine.
#[tokio::test]
async fn unknown_user_and_wrong_password_cost_the_same_hashing_work() {
    let server = server_with_users().await;
    for (username, label) in [
        ("ghost", "unknown user"),
        ("alice", "wrong password"),
        ("ALICE", "wrong password, other case"),
    ] {
        let before = verifications(&server).await;
        let response = server.token(username, "wrong-password-123").await;
        assert_eq!(response.status(), 401);
        assert_eq!(verifications(&server).await - before, 1, "{label}");
    }
    let before = verifications(&server).await;
    let response = server.token("not a valid name!", "wrong-password-123").await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        verifications(&server).await - before,
        1,
        "an impossible user name"
    );
}

#[tokio::test]
async fn missing_and_misplaced_tokens_are_not_authenticated() {
    let server = server_with_users().await;
    let tokens = server.login("alice", ALICE_PASSWORD).await;
    for response in [
        server.get("/protected").await,
        // RFC 6750 section 2.3 / RFC 8725: never read from the query string.
        server
            .get(&format!("/protected?access_token={}", tokens.access_token))
            .await,
    ] {
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"detail": "Not authenticated"}));
    }
    assert_invalid(&server, "not-a-jwt", "garbage").await;
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_refused() {
    let server = server_with_users().await;
    let tokens = server.login("alice", ALICE_PASSWORD).await;
    let now = chrono::Utc::now().timestamp();
    let header = decode_part(&tokens.access_token, 0);
    let claims = decode_part(&tokens.access_token, 1);
    let signature = tokens.access_token.split('.').nth(2).unwrap();

    // alg: none, no signature.
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "at+jwt", "kid": header["kid"]}).to_string()),
        B64.encode(claims.to_string())
    );
    assert_invalid(&server, &none, "alg none").await;

    // HS256 signed with the public key as the HMAC secret.
    let jwks: Value = server.get("/.well-known/jwks.json").await.json().await.unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    hs_header.typ = Some("at+jwt".into());
    for secret in [x.as_bytes().to_vec(), B64.decode(x).unwrap()] {
        let forged = jsonwebtoken::encode(
            &hs_header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_invalid(&server, &forged, "HS256 with the public key").await;
    }

    // A tampered claim with the original signature.
    let mut tampered = claims.clone();
    tampered["roles"] = json!(["admin", "user"]);
    let tampered = format!(
        "{}.{}.{signature}",
        tokens.access_token.split('.').next().unwrap(),
        B64.encode(tampered.to_string())
    );
    assert_invalid(&server, &tampered, "tampered roles").await;

    // Correctly signed, wrong in one respect each.
    let cases = [
        (
            json!({}),
            json!({"exp": now - 120, "iat": now - 1000, "nbf": now - 1000}),
            "expired beyond leeway",
        ),
        (
            json!({}),
            json!({"nbf": now + 120}),
            "not yet valid beyond leeway",
        ),
        (json!({}), json!({"iss": "someone-else"}), "wrong issuer"),
        (json!({}), json!({"aud": "another-api"}), "wrong audience"),
        (json!({"kid": "no-such-kid"}), json!({}), "unknown kid"),
        (json!({"kid": null}), json!({}), "missing kid"),
        (json!({"typ": "JWT"}), json!({}), "wrong typ"),
    ];
    for (header_extra, overrides, why) in cases {
        let mut claims = good_claims(now);
        for (k, v) in overrides.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let token = sign_with_server_key(&server, header_extra, &claims).await;
        assert_invalid(&server, &token, why).await;
    }
    // Within the 30 s leeway, and the control: the same forging path with
    // good claims is accepted, so each refusal above is for its reason.
    let mut lenient = good_claims(now);
    lenient["exp"] = json!(now - 5);
    let token = sign_with_server_key(&server, json!({}), &lenient).await;
    assert_eq!(server.get_as("/protected", &token).await.status(), 200, "leeway");
    let token = sign_with_server_key(&server, json!({}), &good_claims(now)).await;
    assert_eq!(server.get_as("/protected", &token).await.status(), 200, "control");
    let mut missing_exp = good_claims(now);
    missing_exp.as_object_mut().unwrap().remove("exp");
    let token = sign_with_server_key(&server, json!({}), &missing_exp).await;
    assert_invalid(&server, &token, "missing exp").await;
}

#[tokio::test]
async fn rotation_keeps_old_tokens_working_and_publishes_both_keys() {
    let server = server_with_users().await;
    let admin = server.login("root", ADMIN_PASSWORD).await;
    let before = server.login("alice", ALICE_PASSWORD).await;
    let old_kid = decode_part(&before.access_token, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    let response = server
        .client
        .post(server.url("/admin/keys/rotate"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let new_kid = response.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_kid, old_kid);

    assert_eq!(
        server.get_as("/protected", &before.access_token).await.status(),
        200,
        "old token still works"
    );
    let after = server.login("alice", ALICE_PASSWORD).await;
    assert_eq!(decode_part(&after.access_token, 0)["kid"], new_kid.as_str());
    let jwks: Value = server.get("/.well-known/jwks.json").await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{jwks}"
    );
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "no private material in JWKS");
    }

    // Rotation from the command line (another process) reaches the server.
    let output = server.cli(&["keys", "rotate"], "");
    assert_eq!(output.code, Some(0), "{output:?}");
    let cli_kid = output.stdout.trim().to_owned();
    let listed = server.cli(&["keys", "list"], "");
    assert!(
        listed.stdout.contains(&cli_kid) && listed.stdout.contains(&new_kid),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains("retired"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tokens = server.login("alice", ALICE_PASSWORD).await;
        if decode_part(&tokens.access_token, 0)["kid"] == cli_kid.as_str() {
            assert_eq!(
                server.get_as("/protected", &tokens.access_token).await.status(),
                200
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never signed with the rotated key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        server.get_as("/protected", &before.access_token).await.status(),
        200
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let server = server_with_users().await;
    let first = server.login("alice", ALICE_PASSWORD).await;
    let response = server.refresh(&first.refresh_token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Tokens = response.json().await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        server.get_as("/protected", &second.access_token).await.status(),
        200
    );

    // Presenting the used one again: refused, and the whole family dies.
    let reuse = server.refresh(&first.refresh_token).await;
    assert_eq!(reuse.status(), 401);
    assert_eq!(reuse.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        server.refresh(&second.refresh_token).await.status(),
        401,
        "the family is revoked"
    );

    // Another login starts a new, unaffected family.
    let other = server.login("alice", ALICE_PASSWORD).await;
    assert_eq!(server.refresh(&other.refresh_token).await.status(), 200);
    assert_eq!(server.refresh("made-up-token").await.status(), 401);
}

#[tokio::test]
async fn revocation_ends_refresh_families_and_access_tokens() {
    let server = server_with_users().await;
    let tokens = server.login("alice", ALICE_PASSWORD).await;
    let revoke = |token: String| {
        let client = server.client.clone();
        let url = server.url("/token/revoke");
        async move {
            client
                .post(url)
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(revoke(tokens.refresh_token.clone()).await, 200);
    assert_eq!(server.refresh(&tokens.refresh_token).await.status(), 401);

    assert_eq!(
        server.get_as("/protected", &tokens.access_token).await.status(),
        200
    );
    assert_eq!(revoke(tokens.access_token.clone()).await, 200);
    assert_invalid(&server, &tokens.access_token, "revoked access token").await;

    assert_eq!(revoke("unknown-token".into()).await, 200, "always 200 (RFC 7009)");
}

#[tokio::test]
async fn revocation_without_a_token_is_an_invalid_request_and_with_any_token_200() {
    let server = TestServer::start().await;
    let revoke = |form: &'static [(&'static str, &'static str)]| {
        server.client.post(server.url("/token/revoke")).form(form).send()
    };
    // RFC 7009 section 2.1: `token` is required.
    for form in [&[][..], &[("token_type_hint", "refresh_token")]] {
        let response = revoke(form).await.unwrap();
        assert_eq!(response.status(), 422, "{form:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{form:?}: {body}");
        assert!(body["error_description"].is_string(), "{form:?}: {body}");
        // Beside FastAPI's list of problems, which names the field.
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", "token"]),
            "{form:?}: {body}"
        );
    }
    // Any token, valid or not: 200.
    for form in [
        &[("token", "not-a-token")][..],
        &[("token", "x"), ("token_type_hint", "access_token")],
    ] {
        assert_eq!(revoke(form).await.unwrap().status(), 200, "{form:?}");
    }
}

/// Polls until `token` stops working; the contract allows 5 s.
async fn assert_stops_working_within_5s(server: &TestServer, token: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = server.get_as("/protected", token).await.status();
        if status == 401 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{why}: the token still works after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn disabling_changing_roles_or_password_ends_earlier_tokens() {
    let server = server_with_users().await;
    server.create_user("bob", "Bob-s3cure-passphrase", &[]);
    server.create_user("carol", "Carol-s3cure-passphrase", &[]);
    let admin = server.login("root", ADMIN_PASSWORD).await;

    // Disabled by an admin: the token fails, login fails.
    let alice = server.login("alice", ALICE_PASSWORD).await;
    let response = server
        .client
        .post(server.url("/admin/users/alice/disable"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_stops_working_within_5s(&server, &alice.access_token, "disabled").await;
    assert_eq!(server.token("alice", ALICE_PASSWORD).await.status(), 401);
    assert_eq!(server.refresh(&alice.refresh_token).await.status(), 401);

    // Roles changed from another process (the command line).
    let bob = server.login("bob", "Bob-s3cure-passphrase").await;
    let output = server.cli(
        &[
            "user",
            "set-roles",
            "--username",
            "bob",
            "--role",
            "user",
            "--role",
            "editor",
        ],
        "",
    );
    assert_eq!(output.code, Some(0), "{output:?}");
    assert_stops_working_within_5s(&server, &bob.access_token, "roles changed").await;
    let bob = server.login("bob", "Bob-s3cure-passphrase").await;
    assert_eq!(
        decode_part(&bob.access_token, 1)["roles"],
        json!(["editor", "user"])
    );

    // Password changed by the user.
    let carol = server.login("carol", "Carol-s3cure-passphrase").await;
    let response = server
        .client
        .post(server.url("/users/me/password"))
        .bearer_auth(&carol.access_token)
        .json(&json!({"current_password": "wrong-one-123", "new_password": "Carol-n3w-passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = server
        .client
        .post(server.url("/users/me/password"))
        .bearer_auth(&carol.access_token)
        .json(&json!({"current_password": "Carol-s3cure-passphrase", "new_password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "the new password follows the policy");
    let response = server
        .client
        .post(server.url("/users/me/password"))
        .bearer_auth(&carol.access_token)
        .json(&json!({"current_password": "Carol-s3cure-passphrase", "new_password": "Carol-n3w-passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_stops_working_within_5s(&server, &carol.access_token, "password changed").await;
    assert_eq!(
        server.token("carol", "Carol-s3cure-passphrase").await.status(),
        401
    );
    server.login("carol", "Carol-n3w-passphrase").await;
}

#[tokio::test]
async fn bcrypt_hashes_from_a_fastapi_app_import_and_upgrade_to_argon2id() {
    let server = TestServer::start().await;
    // Made with passlib 1.7.4 `CryptContext(schemes=["bcrypt"]).hash("password1")`
    // and Python bcrypt 4.0.1 (`gensalt(prefix=b"2a")`; `$2y$` is the same
    // hash under PHP's prefix).
    let lines = [
        json!({"username": "fastapi_user", "password_hash": "$2b$12$QVVSOOxhTGh6aBUhCRc0seXSg3ktKXpKdAs4t6vETr.Yu5tXmf1HO", "roles": ["user"]}),
        json!({"username": "legacy_a", "password_hash": "$2a$10$Agw/eamPgQxfaBlxn6H4nuFvifZ6/Tl/8PyicPqXAAgQrNC6/vtsa", "roles": ["user", "admin"]}),
        json!({"username": "legacy_y", "password_hash": "$2y$10$rh2Nrvlb6edztYwcqebfnubUKiPVX7tGxDpM7KNPejDOljfmgk/pi"}),
    ];
    let file = server.dir.path().join("users.jsonl");
    std::fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let output = server.cli(&["user", "import", file.to_str().unwrap()], "");
    assert_eq!(output.code, Some(0), "{output:?}");

    for (user, password) in [
        ("fastapi_user", "password1"),
        ("legacy_a", "Tr0ub4dor&3-alpha"),
        ("legacy_y", "Tr0ub4dor&3-gamma"),
    ] {
        assert_eq!(
            server.token(user, "not-the-password").await.status(),
            401,
            "{user}"
        );
        server.login(user, password).await;
        let hash = stored_hash(&server, user).await;
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{user}: {hash}"
        );
        server.login(user, password).await;
        assert_eq!(
            server.token(user, "not-the-password").await.status(),
            401,
            "{user}"
        );
    }
}

async fn stored_hash(server: &TestServer, user: &str) -> String {
    let store = server.store().await;
    let name = rampart::names::Username::parse(user).unwrap();
    let hash = store.find_user(&name).await.unwrap().unwrap().password_hash;
    store.close().await;
    hash
}

#[tokio::test]
async fn import_is_all_or_nothing_and_names_the_bad_line() {
    let server = TestServer::start().await;
    server.create_user("taken", "Taken-s3cure-passphrase", &[]);
    let good = json!({"username": "new_one", "password_hash": "$2b$12$QVVSOOxhTGh6aBUhCRc0seXSg3ktKXpKdAs4t6vETr.Yu5tXmf1HO"});
    let cases = [
        (
            json!({"username": "new_two", "password_hash": "plaintext-password"}),
            "line 2",
        ),
        (
            json!({"username": "x", "password_hash": "$2b$12$QVVSOOxhTGh6aBUhCRc0seXSg3ktKXpKdAs4t6vETr.Yu5tXmf1HO"}),
            "line 2",
        ),
        (
            json!({"username": "TAKEN", "password_hash": "$2b$12$QVVSOOxhTGh6aBUhCRc0seXSg3ktKXpKdAs4t6vETr.Yu5tXmf1HO"}),
            "line 2",
        ),
    ];
    for (bad, expected) in cases {
        let file = server.dir.path().join("bad.jsonl");
        std::fs::write(&file, format!("{good}\n{bad}\n")).unwrap();
        let output = server.cli(&["user", "import", file.to_str().unwrap()], "");
        assert_ne!(output.code, Some(0), "{bad}");
        assert!(output.stderr.contains(expected), "{bad}: {}", output.stderr);
        assert_eq!(
            server.token("new_one", "password1").await.status(),
            401,
            "nothing was imported"
        );
    }
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_applies_the_policy() {
    let server = TestServer::start().await;
    let output = server.cli(&["user", "create", "--username", "weak"], "password\n");
    assert_eq!(output.code, Some(2), "{output:?}");
    assert!(output.stderr.contains("too common"), "{}", output.stderr);
    let output = server.cli(
        &["user", "create", "--username", "no spaces"],
        "Fine-passphrase-1\n",
    );
    assert_eq!(output.code, Some(2));
    server.create_user("dave", "Dave-s3cure-passphrase", &[]);
    let output = server.cli(
        &["user", "create", "--username", "DAVE"],
        "Dave-s3cure-passphrase\n",
    );
    assert_eq!(output.code, Some(1), "taken, in any case: {output:?}");
    assert!(
        !output.stderr.contains("Dave-s3cure"),
        "the password is never printed"
    );
}

#[tokio::test]
async fn registration_is_admin_only_unless_public() {
    let server = server_with_users().await;
    let body = json!({"username": "newbie", "password": "Newbie-s3cure-pass"});
    assert_eq!(server.post_json("/users", &body).await.status(), 401);
    let alice = server.login("alice", ALICE_PASSWORD).await;
    let response = server
        .client
        .post(server.url("/users"))
        .bearer_auth(&alice.access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Not enough permissions"})
    );
    let admin = server.login("root", ADMIN_PASSWORD).await;
    let response = server
        .client
        .post(server.url("/users"))
        .bearer_auth(&admin.access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"username": "newbie", "roles": ["user"]})
    );
    server.login("newbie", "Newbie-s3cure-pass").await;

    let open = TestServer::start_with(TestConfig::default().env("RAMPART_PUBLIC_REGISTRATION", "true")).await;
    assert_eq!(open.post_json("/users", &body).await.status(), 201);
    let taken = json!({"username": "NEWBIE", "password": "Another-s3cure-pass"});
    assert_eq!(open.post_json("/users", &taken).await.status(), 409);
    let cases = [
        (
            json!({"username": "ab", "password": "Fine-passphrase-1"}),
            json!(["body", "username"]),
        ),
        (
            json!({"username": "bad name", "password": "Fine-passphrase-1"}),
            json!(["body", "username"]),
        ),
        (
            json!({"username": "okname", "password": "short"}),
            json!(["body", "password"]),
        ),
        (
            json!({"username": "okname", "password": "iloveyou"}),
            json!(["body", "password"]),
        ),
        (
            json!({"username": "okname", "password": "x".repeat(1025)}),
            json!(["body", "password"]),
        ),
        (
            json!({"username": "okname", "password": "Fine-passphrase-1", "roles": ["admin"]}),
            json!(["body", "roles"]),
        ),
    ];
    for (input, loc) in cases {
        let response = open.post_json("/users", &input).await;
        assert_eq!(response.status(), 422, "{input}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], loc, "{input}: {body}");
    }
}

#[tokio::test]
async fn hs256_publishes_no_keys_and_its_tokens_work() {
    let server = TestServer::start_with(TestConfig::default().env("RAMPART_AUTH__ALGORITHM", "HS256")).await;
    server.create_user("alice", ALICE_PASSWORD, &[]);
    let jwks: Value = server.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks, json!({"keys": []}));
    let tokens = server.login("alice", ALICE_PASSWORD).await;
    assert_eq!(decode_part(&tokens.access_token, 0)["alg"], "HS256");
    assert_eq!(
        server.get_as("/protected", &tokens.access_token).await.status(),
        200
    );
}

#[tokio::test]
async fn es256_and_rs256_sign_verifiable_tokens() {
    for (alg, kty) in [("ES256", "EC"), ("RS256", "RSA")] {
        let server = TestServer::start_with(TestConfig::default().env("RAMPART_AUTH__ALGORITHM", alg)).await;
        server.create_user("alice", ALICE_PASSWORD, &[]);
        let tokens = server.login("alice", ALICE_PASSWORD).await;
        assert_eq!(decode_part(&tokens.access_token, 0)["alg"], alg);
        assert_eq!(
            server.get_as("/protected", &tokens.access_token).await.status(),
            200,
            "{alg}"
        );
        let jwks: Value = server.get("/.well-known/jwks.json").await.json().await.unwrap();
        assert_eq!(jwks["keys"][0]["kty"], kty);
        assert_eq!(jwks["keys"][0]["alg"], alg);
    }
}

#[tokio::test]
async fn admin_only_routes_refuse_users_and_anonymous_callers() {
    let server = server_with_users().await;
    let alice = server.login("alice", ALICE_PASSWORD).await;
    let admin = server.login("root", ADMIN_PASSWORD).await;
    assert_eq!(server.get("/protected_route").await.status(), 401);
    let response = server.get_as("/protected_route", &alice.access_token).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Not enough permissions"})
    );
    let response = server.get_as("/protected_route", &admin.access_token).await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message": "You have access to this protected route!"})
    );
    let response = server
        .client
        .post(server.url("/admin/keys/rotate"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn the_last_admin_cannot_be_disabled_or_demoted() {
    let server = server_with_users().await;
    let admin = server.login("root", ADMIN_PASSWORD).await;
    let response = server
        .client
        .post(server.url("/admin/users/root/disable"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let response = server.set_roles(&admin.access_token, "root", &["user"]).await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        server
            .get_as("/protected_route", &admin.access_token)
            .await
            .status(),
        200,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_log_names_the_user_and_never_the_token() {
    let server = server_with_users().await;
    let tokens = server.login("alice", ALICE_PASSWORD).await;
    let response = server.get_as("/protected", &tokens.access_token).await;
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = server.access_log(&id).await;
    assert_eq!(line["user"], "alice");
    let logs = server.logs().join("\n");
    assert!(!logs.contains(&tokens.access_token) && !logs.contains(&tokens.refresh_token));
    assert!(!logs.contains(ALICE_PASSWORD));
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_scheduled_rotation_publishes_the_next_key_before_it_signs() {
    // Due 5 s after start: 125 s minus the 120 s of publication.
    let server =
        TestServer::start_with(TestConfig::default().env("RAMPART_AUTH__KEY_ROTATION_INTERVAL", "125s"))
            .await;
    server.create_user("alice", ALICE_PASSWORD, &[]);
    let signing = decode_part(&server.login("alice", ALICE_PASSWORD).await.access_token, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let kids = loop {
        let jwks: Value = server.get("/.well-known/jwks.json").await.json().await.unwrap();
        let kids = jwks_kids(&jwks);
        if kids.len() == 2 {
            break kids;
        }
        assert!(Instant::now() < deadline, "no key was scheduled: {jwks}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(kids.contains(&signing), "{kids:?}");
    // Published, but not signing for two minutes: tokens still carry the
    // key clients already know.
    let token = server.login("alice", ALICE_PASSWORD).await.access_token;
    assert_eq!(decode_part(&token, 0)["kid"], signing.as_str());
    let listed = server.cli(&["keys", "list"], "");
    assert!(listed.stdout.contains("scheduled"), "{}", listed.stdout);
}

#[tokio::test]
async fn keys_rotate_revoke_retires_every_older_key_at_once() {
    use crate::helpers::{close_code, open_ws_bearer};

    let server = server_with_users().await;
    let before = server.login("alice", ALICE_PASSWORD).await.access_token;
    assert_eq!(server.get_as("/protected", &before).await.status(), 200);
    let mut socket = open_ws_bearer(&server, &before).await;

    let output = server.cli(&["keys", "rotate", "--revoke"], "");
    assert_eq!(output.code, Some(0), "{output:?}");
    let new_kid = output.stdout.trim().to_owned();
    // The server reloads its keys within seconds: the old token, verified
    // and cached before, stops working, and its socket closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get_as("/protected", &before).await.status() != 401 {
        assert!(Instant::now() < deadline, "the revoked key still verifies");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(close_code(&mut socket).await.0, 1008);
    let jwks: Value = server.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks_kids(&jwks), std::slice::from_ref(&new_kid));
    let after = server.login("alice", ALICE_PASSWORD).await.access_token;
    assert_eq!(decode_part(&after, 0)["kid"], new_kid.as_str());
    assert_eq!(server.get_as("/protected", &after).await.status(), 200);
}
