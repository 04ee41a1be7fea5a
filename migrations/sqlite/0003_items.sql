-- Items, owned by the user who created them. Times are unix milliseconds.
CREATE TABLE items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    description  TEXT,                      -- sanitized HTML, as stored
    price        DOUBLE PRECISION NOT NULL,
    tax          DOUBLE PRECISION,
    created_at   INTEGER NOT NULL
);
CREATE INDEX items_owner ON items (owner_id, id);
