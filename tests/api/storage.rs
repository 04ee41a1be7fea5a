//! The database: SQLite by default, PostgreSQL by URL.

use crate::helpers::{TestConfig, TestServer, in_dir};

#[tokio::test]
async fn sqlite_database_is_created_migrated_and_in_wal_mode() {
    let server = TestServer::start_with(TestConfig::default().sqlite()).await;
    assert_eq!(server.get("/readyz").await.status(), 200);
    let path = in_dir(&server, "rampart.db");
    assert!(path.exists());

    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true);
    let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.0.to_lowercase(), "wal");
    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(applied.0 >= 1, "migrations ran at start");
}

/// A fresh PostgreSQL database on the local server, dropped afterwards.
pub(crate) struct PgDatabase {
    name: String,
    admin: sqlx::PgPool,
}

impl PgDatabase {
    pub(crate) async fn create() -> Self {
        let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/test")
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (started by .ci/run)");
        let name = format!("rampart_test_{}", &crate::helpers::strong_secret()[..16]);
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        Self { name, admin }
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    pub(crate) async fn drop_now(&self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn postgres_is_migrated_and_readyz_follows_the_database() {
    let db = PgDatabase::create().await;
    let server = TestServer::start_with(TestConfig::default().env("RAMPART_DATABASE_URL", &db.url())).await;
    assert_eq!(server.get("/readyz").await.status(), 200);

    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(applied.0 >= 1);
    pool.close().await;

    // When the database goes away, readiness says so, with the spec body.
    db.drop_now().await;
    let response = server.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"detail": "Database unavailable"}));
    assert_eq!(
        server.get("/healthz").await.status(),
        200,
        "liveness does not depend on the database"
    );
}

#[tokio::test]
async fn accounts_and_tokens_work_the_same_on_postgres() {
    let db = PgDatabase::create().await;
    let server = TestServer::start_with(TestConfig::default().env("RAMPART_DATABASE_URL", &db.url())).await;
    server.create_user("alice", "Alice-s3cure-passphrase", &["admin", "user"]);
    let tokens = server.login("ALICE", "Alice-s3cure-passphrase").await;
    assert_eq!(
        server.get_as("/protected", &tokens.access_token).await.status(),
        200
    );

    let refreshed = server.refresh(&tokens.refresh_token).await;
    assert_eq!(refreshed.status(), 200);
    let reuse = server.refresh(&tokens.refresh_token).await;
    assert_eq!(reuse.status(), 401);

    let rotated = server
        .client
        .post(server.url("/admin/keys/rotate"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    assert_eq!(
        server.get_as("/protected", &tokens.access_token).await.status(),
        200
    );
    let users: serde_json::Value = server
        .get_as("/admin/users", &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users[0]["username"], "alice");
    drop(server);
    db.drop_now().await;
}
