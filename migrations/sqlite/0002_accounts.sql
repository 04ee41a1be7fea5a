-- Accounts, signing keys and tokens. Times are unix milliseconds.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    username_key   TEXT    NOT NULL UNIQUE,   -- lower case: names compare case-insensitively
    password_hash  TEXT    NOT NULL,          -- PHC string (argon2id) or imported bcrypt
    disabled       INTEGER NOT NULL DEFAULT 0,
    token_version  INTEGER NOT NULL DEFAULT 0, -- bumped to invalidate earlier tokens
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX users_updated_at ON users (updated_at);

CREATE TABLE user_roles (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT    NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE signing_keys (
    kid           TEXT    PRIMARY KEY,
    algorithm     TEXT    NOT NULL,
    private_key   BLOB    NOT NULL,           -- AEAD-sealed under a key derived from the secret
    public_jwk    TEXT    NOT NULL,           -- JSON; '{}' for HS256
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,                    -- no longer signs
    expires_at    INTEGER                     -- no longer verifies; deleted after
);

CREATE TABLE refresh_tokens (
    token_hash  BLOB    PRIMARY KEY,          -- SHA-256 of the token; the token is never stored
    family_id   TEXT    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE revoked_access_tokens (
    jti         TEXT    PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
);
CREATE INDEX revoked_access_tokens_revoked_at ON revoked_access_tokens (revoked_at);

CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);
