//! The store: everything rampart keeps, behind methods that speak domain
//! types. Handlers never see SQL; the store never sees HTTP.
//!
//! SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is chosen
//! by `database_url`. Each backend has its own embedded migrations, run at
//! start. Queries use bound parameters only.

mod audit;
mod changes;
pub mod cursor;
mod factors;
mod federated;
mod item_events;
mod items;
mod keys;
mod known_clients;
mod leases;
mod passkeys;
mod sessions;
mod tokens;
mod users;

use std::{path::PathBuf, str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::config::DatabaseUrl;

pub use audit::{AuditFilter, AuditRecord, HourCount, STATS_QUERY, StoredAuditEvent};
pub use changes::{CHANNEL as CHANGES_CHANNEL, Change, Logged};
pub use factors::{FactorCounts, PendingSignIn, StoredTotp};
pub use federated::NO_PASSWORD;
pub use item_events::{ITEMS_CHANNEL, StoredItemEvent};
pub use items::{ItemFields, ItemRecord, ItemScope};
pub use keys::StoredKey;
pub use passkeys::{Ceremony, PasskeyAdded, StoredPasskey};
pub use sessions::{CredentialKind, OpenCredential, SessionRecord};
pub use tokens::RefreshUse;
pub use users::{FirstAdmin, NewUser, UserChange, UserRecord, UserState};

/// Runs `$body` with `$pool` bound to whichever pool the store has. The SQL
/// is the same text for both backends (`$1` placeholders, BIGINT times).
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The current time in unix milliseconds, as the store keeps times.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored time (unix milliseconds) as RFC 3339 in UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How long a query waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database schema could not be migrated: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot create the database file {path}: {source}")]
    Create {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

/// The file an SQLite URL names, or `None` for an in-memory database.
/// Read as sqlx reads it: `sqlite:` or `sqlite://`, the path (percent-decoded),
/// then `?` and parameters, of which `mode=memory` means no file.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = database == ":memory:"
        || form_urlencoded::parse(params.as_bytes()).any(|(key, value)| key == "mode" && value == "memory");
    if in_memory || database.is_empty() {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(database)
        .decode_utf8()
        .ok()?;
    Some(PathBuf::from(decoded.as_ref()))
}

/// Creates the SQLite database file, if it does not exist yet, readable and
/// writable by its owner only (0600): it holds password hashes, sealed
/// signing keys, token hashes and the audit trail, which no other local
/// user needs (ASVS 5.0 V14, data protection; least privilege). SQLite gives the `-wal` and `-shm` files it creates
/// beside it the database file's permissions, so they are 0600 too
/// (`findCreateFileMode` in SQLite's unix VFS).
fn create_owner_only(path: PathBuf) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match created {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(metadata) = std::fs::metadata(&path)
                && metadata.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", metadata.permissions().mode() & 0o777),
                    "the database file is readable by other users than its owner; chmod 600 it and its -wal and -shm files"
                );
            }
            Ok(())
        }
        Err(source) => Err(StoreError::Create { path, source }),
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens the database (creating an SQLite file if needed) and migrates it.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        let db = match url {
            DatabaseUrl::Sqlite(url) => {
                if let Some(path) = sqlite_file(url) {
                    create_owner_only(path)?;
                }
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // WAL makes NORMAL durable against application crashes;
                    // only an OS crash may lose the last transactions.
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                Db::Sqlite(pool)
            }
            DatabaseUrl::Postgres(url) => {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?;
                // sqlx takes an advisory lock, so instances starting together
                // migrate once.
                sqlx::migrate!("migrations/postgres").run(&pool).await?;
                Db::Postgres(pool)
            }
        };
        Ok(Self { db })
    }

    /// The database's kind, as the console names it.
    pub fn backend(&self) -> &'static str {
        match &self.db {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Db::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes every connection, waiting for queries in progress.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        for (url, file) in [
            ("sqlite://rampart.db", Some("rampart.db")),
            ("sqlite:rampart.db", Some("rampart.db")),
            ("sqlite:///var/lib/rampart/r.db", Some("/var/lib/rampart/r.db")),
            ("sqlite://data/my%20db.sqlite?mode=rwc", Some("data/my db.sqlite")),
            ("sqlite://a+b.db", Some("a+b.db")),
            ("sqlite::memory:", None),
            ("sqlite://:memory:", None),
            ("sqlite://shared.db?mode=memory&cache=shared", None),
        ] {
            assert_eq!(sqlite_file(url), file.map(PathBuf::from), "{url}");
        }
    }
}
