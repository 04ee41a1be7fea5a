//! A real OpenID provider for the single sign-on tests: panva's
//! `oidc-provider` (OpenID Certified), run by `tests/oidc/provider.mjs`,
//! and a person who signs in at its development login form.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::Digest;

/// The provider's directory, where `npm ci` put its packages.
fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// A running provider; stopped when dropped.
pub struct OpenIdProvider {
    child: Child,
    pub issuer: String,
    accounts: PathBuf,
    _dir: tempfile::TempDir,
}

impl OpenIdProvider {
    /// Starts the provider with these client registrations.
    pub fn start(clients: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let accounts = dir.path().join("accounts.json");
        std::fs::write(&accounts, "{}").unwrap();
        let mut child = Command::new("node")
            .arg(provider_dir().join("provider.mjs"))
            .current_dir(provider_dir())
            .env("OIDC_CLIENTS", clients.to_string())
            .env("OIDC_ACCOUNTS", &accounts)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/oidc/provider.mjs (npm ci in tests/oidc first)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|_| panic!("the provider did not start: {line:?}"))["issuer"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            child,
            issuer,
            accounts,
            _dir: dir,
        }
    }

    /// What the provider says of `login` from now on.
    pub fn set_account(&self, login: &str, claims: Value) {
        let mut all: Value = serde_json::from_str(&std::fs::read_to_string(&self.accounts).unwrap()).unwrap();
        all[login] = claims;
        std::fs::write(&self.accounts, all.to_string()).unwrap();
    }

    /// The provider's own address (its issuer names `localhost`, which
    /// this machine resolves to the loopback it listens on).
    pub fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A client of the provider's that keeps its cookies (the person's
    /// browser there) and follows no redirect.
    pub fn agent(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", ([127, 0, 0, 1], self.port()).into())
            .build()
            .unwrap()
    }

    /// Walks a person through the provider from `authorize` (its
    /// authorization URL): the login form as `login`, the consent form,
    /// until the provider sends them back to `redirect_prefix`. Answers
    /// that last address.
    pub async fn sign_in(
        &self,
        agent: &reqwest::Client,
        authorize: &str,
        login: &str,
        redirect_prefix: &str,
    ) -> String {
        let mut next = authorize.to_owned();
        for _ in 0..12 {
            if next.starts_with(redirect_prefix) {
                return next;
            }
            let response = agent.get(&next).send().await.unwrap();
            if response.status().is_redirection() {
                next = absolute(&self.issuer, response.headers()["location"].to_str().unwrap());
                continue;
            }
            let page = response.text().await.unwrap();
            let action = attribute(&page, "action").unwrap_or_else(|| panic!("no form on {next}: {page}"));
            let prompt = if page.contains(r#"name="login""#) {
                "login"
            } else {
                "consent"
            };
            let form = [("prompt", prompt), ("login", login), ("password", "any")];
            let posted = agent
                .post(absolute(&self.issuer, &action))
                .form(&form[..if prompt == "login" { 3 } else { 1 }])
                .send()
                .await
                .unwrap();
            assert!(
                posted.status().is_redirection(),
                "{}",
                posted.text().await.unwrap()
            );
            next = absolute(&self.issuer, posted.headers()["location"].to_str().unwrap());
        }
        panic!("the provider never sent the person back: {next}");
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("{base}{location}")
    }
}

/// The first value of `name="..."` in `page` (HTML-unescaped enough for
/// the provider's forms).
fn attribute(page: &str, name: &str) -> Option<String> {
    let start = page.find(&format!("{name}=\""))? + name.len() + 2;
    let end = page[start..].find('"')? + start;
    Some(
        page[start..end]
            .replace("&#x2F;", "/")
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

/// A PKCE pair (RFC 7636, S256): the verifier and its challenge.
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes
}

/// The registration of a confidential client of rampart's, called back at
/// `callbacks`.
pub fn client(id: &str, secret: &str, callbacks: &[String]) -> Value {
    json!({
        "client_id": id,
        "client_secret": secret,
        "redirect_uris": callbacks,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    })
}
