//! Typed calls on the items API.

use serde_json::Value;

use super::TestServer;

/// The names of the items `token`'s user sees (up to 100), newest first.
pub async fn item_names(server: &TestServer, token: &str) -> Vec<String> {
    let items: Value = server
        .get_as("/items/?limit=100", token)
        .await
        .json()
        .await
        .unwrap();
    items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}
