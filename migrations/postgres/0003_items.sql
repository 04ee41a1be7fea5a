-- Items, owned by the user who created them. Times are unix milliseconds.
CREATE TABLE items (
    id           BIGSERIAL PRIMARY KEY,
    owner_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    description  TEXT,                      -- sanitized HTML, as stored
    price        DOUBLE PRECISION NOT NULL,
    tax          DOUBLE PRECISION,
    created_at   BIGINT NOT NULL
);
CREATE INDEX items_owner ON items (owner_id, id);
