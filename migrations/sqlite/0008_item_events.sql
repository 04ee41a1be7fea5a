-- Item events, for the WebSockets of other instances. With SQLite there is
-- one instance: the table stays empty; it exists so both schemas match.
CREATE TABLE item_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    origin   TEXT    NOT NULL,
    owner    TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX item_events_at ON item_events (at);
