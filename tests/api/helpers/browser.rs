//! A browser, as the black-box tests need one: it keeps the cookies the
//! server sets and sends them back, follows no redirect, and signs in
//! through the form as a person would.

use std::collections::BTreeMap;

use reqwest::{Method, Response, header::HeaderMap};
use serde_json::{Value, json};

use super::TestServer;

/// A browser, reduced to what matters here: it keeps the cookies the
/// server sets, sends them back, and does not follow redirects.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    /// A browser on `server`, over the server's own client.
    pub fn new(server: &TestServer) -> Self {
        Self::with(server.url(""), server.client.clone())
    }

    /// A browser on `base` (the server's URL) over `client`: another
    /// address, HTTPS, or HTTP/2.
    pub fn with(base: String, client: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            cookies: BTreeMap::new(),
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        request = self.with_cookies(request);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.unwrap();
        self.keep_cookies(&response);
        response
    }

    fn keep_cookies(&mut self, response: &Response) {
        for (name, value) in set_cookies(response.headers()) {
            if value.is_empty() {
                self.cookies.remove(&name);
            } else {
                self.cookies.insert(name, value);
            }
        }
    }

    /// `request` with the kept cookies, as a browser sends them.
    fn with_cookies(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.cookies.is_empty() {
            return request;
        }
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        request.header("cookie", cookie)
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        self.send(Method::POST, path, &[], Some(form)).await
    }

    /// `POST /login` as the form sends it.
    pub async fn post_login(&mut self, username: &str, password: &str, csrf_token: &str) -> Response {
        self.post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", csrf_token),
            ],
        )
        .await
    }

    /// A CSRF token from `GET /csrftoken/` (its cookie is kept).
    pub async fn csrf_token(&mut self) -> String {
        self.csrf_token_at("/csrftoken/").await
    }

    /// A CSRF token from `path` (rampart's `/csrftoken/` under a prefix).
    pub async fn csrf_token_at(&mut self, path: &str) -> String {
        let body: Value = self.get(path).await.json().await.unwrap();
        body["csrf_token"].as_str().unwrap().to_owned()
    }

    /// Signs in through the form, as a person would.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Response {
        let page = self.get("/login").await.text().await.unwrap();
        let token = hidden_token(&page);
        self.post_login(username, password, &token).await
    }

    /// Signs out with the button of `/app`, as a person would.
    pub async fn log_out(&mut self) -> Response {
        let page = self.get("/app").await.text().await.unwrap();
        self.post_form("/logout", &[("csrf_token", &hidden_token(&page))])
            .await
    }

    /// `POST /items/` with a JSON body and extra headers.
    pub async fn create_item(&mut self, name: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = self
            .client
            .post(format!("{}/items/", self.base))
            .json(&json!({"name": name, "price": 1.5}));
        request = self.with_cookies(request);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// A script's JSON `POST` (the passkey calls), with extra headers.
    pub async fn post_json(&mut self, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        request = self.with_cookies(request);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.keep_cookies(&response);
        response
    }

    /// Puts a cookie in the jar, as another site or a copied profile might.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }

    pub fn cookie(&self, name: &str) -> String {
        self.cookies
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no cookie {name}: {:?}", self.cookies.keys()))
    }
}

/// `(name, value)` of every `Set-Cookie`.
fn set_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let first = v.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// The whole `Set-Cookie` line for `name`.
pub fn set_cookie_line(response: &Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|line| line.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}"))
}

/// The value of the form's hidden `csrf_token` field.
pub fn hidden_token(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = page.find(marker).expect("a csrf_token field") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}
