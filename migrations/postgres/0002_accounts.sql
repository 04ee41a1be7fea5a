-- Accounts, signing keys and tokens. Times are unix milliseconds.
CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    username       TEXT    NOT NULL,
    username_key   TEXT    NOT NULL UNIQUE,   -- lower case: names compare case-insensitively
    password_hash  TEXT    NOT NULL,          -- PHC string (argon2id) or imported bcrypt
    disabled       BIGINT NOT NULL DEFAULT 0,
    token_version  BIGINT NOT NULL DEFAULT 0, -- bumped to invalidate earlier tokens
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX users_updated_at ON users (updated_at);

CREATE TABLE user_roles (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT    NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE signing_keys (
    kid           TEXT    PRIMARY KEY,
    algorithm     TEXT    NOT NULL,
    private_key   BYTEA    NOT NULL,           -- AEAD-sealed under a key derived from the secret
    public_jwk    TEXT    NOT NULL,           -- JSON; '{}' for HS256
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,                    -- no longer signs
    expires_at    BIGINT                     -- no longer verifies; deleted after
);

CREATE TABLE refresh_tokens (
    token_hash  BYTEA    PRIMARY KEY,          -- SHA-256 of the token; the token is never stored
    family_id   TEXT    NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE revoked_access_tokens (
    jti         TEXT    PRIMARY KEY,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_revoked_at ON revoked_access_tokens (revoked_at);

CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  BIGINT NOT NULL
);
