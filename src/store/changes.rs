//! The change log (`changes`): what makes credentials fail, numbered by a
//! sequence (security review S-1: reading by wall-clock time missed a
//! transaction that committed late). Each change is written in the same
//! transaction as what it records, with, on PostgreSQL, a `NOTIFY` on
//! [`CHANNEL`] that commits with it, so other instances hear of it at once.

use super::{Db, Store, StoreError, UserState, with_pool};

/// The PostgreSQL channel that announces new changes.
pub const CHANNEL: &str = "rampart_changes";
const NOTIFY: &str = "NOTIFY rampart_changes";

/// Writes the user's token state as it is now; `$1` the user id, `$2` the
/// time (unix ms). Run after the update, in its transaction.
pub(super) const LOG_USER: &str = "INSERT INTO changes (at, kind, subject, token_version, disabled) \
     SELECT $2, 'user', username_key, token_version, disabled FROM users WHERE id = $1";

/// Writes a change that matters until a time: `$1` now, `$2` the kind
/// (`revoked`, `session`), `$3` the subject, `$4` until when (unix ms).
pub(super) const LOG_ENDING: &str = "INSERT INTO changes (at, kind, subject, until) VALUES ($1, $2, $3, $4)";

/// Announces, in transaction `$tx`, the change it logged: on PostgreSQL
/// (`$notify`, from `Store::notify_sql`) a `NOTIFY` delivered at commit, or
/// never; on SQLite nothing.
macro_rules! announce {
    ($tx:expr, $notify:expr) => {
        if let Some(notify) = $notify {
            sqlx::query(notify).execute(&mut *$tx).await?;
        }
    };
}
pub(super) use announce;

/// One change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A user's token state moved (password, roles, enabled state).
    User { key: String, state: UserState },
    /// An access token was revoked; it expires at `expires_at` (unix ms).
    Revoked { jti: String, expires_at: i64 },
    /// A session ended (logout); it would have timed out by `until`.
    SessionEnded { digest: [u8; 32], until: i64 },
}

/// A change and its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub seq: i64,
    pub change: Change,
}

type Row = (i64, String, String, i64, i64, i64);

fn parse((seq, kind, subject, token_version, disabled, until): Row) -> Option<Logged> {
    let change = match kind.as_str() {
        "user" => Change::User {
            key: subject,
            state: UserState {
                token_version,
                disabled: disabled != 0,
            },
        },
        "revoked" => Change::Revoked {
            jti: subject,
            expires_at: until,
        },
        "session" => {
            let mut digest = [0u8; 32];
            if subject.len() != 64 {
                return None;
            }
            for (i, byte) in digest.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&subject[2 * i..2 * i + 2], 16).ok()?;
            }
            Change::SessionEnded { digest, until }
        }
        _ => return None,
    };
    Some(Logged { seq, change })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Whether this store is PostgreSQL (which has `NOTIFY`).
    fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// The statement that announces a change on PostgreSQL, to run in the
    /// change's transaction (it is delivered at commit, or never).
    pub(super) fn notify_sql(&self) -> Option<&'static str> {
        self.is_postgres().then_some(NOTIFY)
    }

    /// Changes numbered above `seq`, in order, at most `limit`.
    pub async fn changes_after(&self, seq: i64, limit: i64) -> Result<Vec<Logged>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, kind, subject, token_version, disabled, until FROM changes \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(seq)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().filter_map(parse).collect())
    }

    /// The highest number among changes written before `before` (unix ms),
    /// and the lowest number still in the log (0 for none).
    pub async fn change_bounds(&self, before: i64) -> Result<(i64, i64), StoreError> {
        let row: (Option<i64>, Option<i64>) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT (SELECT MAX(seq) FROM changes WHERE at < $1), (SELECT MIN(seq) FROM changes)",
            )
            .bind(before)
            .fetch_one(pool)
            .await?
        });
        Ok((row.0.unwrap_or(0), row.1.unwrap_or(0)))
    }

    /// Forgets changes written before `before` (unix ms).
    pub async fn purge_changes(&self, before: i64) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM changes WHERE at < $1").bind(before).execute(pool).await?;
        });
        Ok(())
    }

    /// Ends a session (logout) and logs it, in one transaction.
    pub async fn end_session(&self, id_hash: &[u8; 32], until: i64, now: i64) -> Result<(), StoreError> {
        let notify = self.notify_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(&id_hash[..]).execute(&mut *tx).await?;
            sqlx::query(LOG_ENDING)
                .bind(now)
                .bind("session")
                .bind(hex(id_hash))
                .bind(until)
                .execute(&mut *tx)
                .await?;
            announce!(tx, notify);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Listens for [`CHANNEL`] and [`super::ITEMS_CHANNEL`] on PostgreSQL;
    /// `None` on SQLite, where one process is the only writer.
    pub async fn listen_for_changes(&self) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen_all([CHANNEL, super::ITEMS_CHANNEL]).await?;
        Ok(Some(listener))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_the_changes_they_record() {
        let digest = [0xab; 32];
        let session = parse((3, "session".into(), hex(&digest), 0, 0, 99)).unwrap();
        assert_eq!(session.change, Change::SessionEnded { digest, until: 99 });
        let user = parse((4, "user".into(), "alice".into(), 2, 1, 0)).unwrap();
        assert_eq!(
            user.change,
            Change::User {
                key: "alice".into(),
                state: UserState {
                    token_version: 2,
                    disabled: true
                }
            }
        );
        assert!(parse((5, "session".into(), "zz".into(), 0, 0, 0)).is_none());
        assert!(parse((6, "other".into(), String::new(), 0, 0, 0)).is_none());
    }
}
