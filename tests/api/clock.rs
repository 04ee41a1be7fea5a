//! Errors that name their cause (SPEC section 11, "Clock and key errors"):
//! a host whose clock is behind the newest signing key says so, at start
//! and in `keys rotate`, and replaces no key.

use crate::helpers::{PATIENCE, TestConfig, TestServer};

/// The SQLite database of `server`, opened for writing as another instance
/// would.
async fn open(server: &TestServer) -> sqlx::SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(server.database());
    sqlx::ConnectOptions::connect(&options).await.unwrap()
}

#[tokio::test]
async fn a_clock_behind_the_newest_signing_key_is_named_by_serve_and_keys_rotate() {
    let mut server = TestServer::start_with(TestConfig::default().sqlite()).await;
    server.terminate();
    assert!(server.wait_exit().success());

    // The only key, as an instance whose clock is a day ahead made it.
    let ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let mut db = open(&server).await;
    let changed = sqlx::query("UPDATE signing_keys SET created_at = $1, signs_from = $1")
        .bind(ahead.timestamp_millis())
        .execute(&mut db)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    let expected = format!(
        "rampart: the newest signing key is active from {}, after this host's clock: is the clock right?",
        ahead.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );

    for args in [&["keys", "rotate"][..], &["serve"]] {
        let output = server.cli_within(args, PATIENCE);
        assert_eq!(output.code, Some(1), "{args:?}: {output:?}");
        assert_eq!(output.stderr.trim(), expected, "{args:?}");
    }
    // Neither replaced the key: that would end the tokens it signs.
    let (keys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM signing_keys")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(keys, 1);
}

#[tokio::test]
async fn a_key_that_starts_within_seconds_is_waited_for() {
    let mut server = TestServer::start_with(TestConfig::default().sqlite()).await;
    server.terminate();
    assert!(server.wait_exit().success());
    // Made by an instance whose clock is two seconds ahead: clocks differ
    // that much, and that is no error.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let mut db = open(&server).await;
    sqlx::query("UPDATE signing_keys SET created_at = $1, signs_from = $1")
        .bind(soon.timestamp_millis())
        .execute(&mut db)
        .await
        .unwrap();
    let output = server.cli_within(&["keys", "rotate"], PATIENCE);
    assert_eq!(output.code, Some(0), "{output:?}");
}
