-- Security events (SPEC section 3, "Logging, audit, metrics").
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,              -- unix time, milliseconds
    actor       TEXT,                          -- username, when known
    action      TEXT    NOT NULL,              -- e.g. login_failed
    target      TEXT,                          -- what the action was on
    client_ip   TEXT,
    request_id  TEXT,
    outcome     TEXT    NOT NULL               -- success | failure | denied
);
CREATE INDEX audit_events_at ON audit_events (at DESC, id DESC);
