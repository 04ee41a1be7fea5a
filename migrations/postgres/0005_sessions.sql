-- Browser sessions. The cookie's value is never stored, only its SHA-256.
CREATE TABLE sessions (
    id_hash     BYTEA  PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,              -- unix ms; the absolute time-out counts from here
    seen_at     BIGINT NOT NULL               -- unix ms; the idle time-out counts from here
);
CREATE INDEX sessions_user ON sessions (user_id);
