-- The change log: every change that makes credentials fail (a user's token
-- state, a revoked access token, an ended session), in the order of a
-- sequence, so each instance reads what it has not seen yet by number,
-- never by wall-clock time. (SQLite serializes writers: its sequence has
-- no gaps; PostgreSQL's may, and the reader handles them.)
CREATE TABLE changes (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,   -- unix ms, for purging
    kind           TEXT    NOT NULL,   -- user | revoked | session
    subject        TEXT    NOT NULL,   -- username_key | jti | session digest (hex)
    token_version  INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    until          INTEGER NOT NULL DEFAULT 0    -- revoked: the token's expiry; session: when it would have ended
);
CREATE INDEX changes_at ON changes (at);
