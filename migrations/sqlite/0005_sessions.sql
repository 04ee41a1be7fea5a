-- Browser sessions. The cookie's value is never stored, only its SHA-256.
CREATE TABLE sessions (
    id_hash     BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,             -- unix ms; the absolute time-out counts from here
    seen_at     INTEGER NOT NULL              -- unix ms; the idle time-out counts from here
);
CREATE INDEX sessions_user ON sessions (user_id);
