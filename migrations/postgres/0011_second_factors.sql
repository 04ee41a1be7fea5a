-- Second factors (SPEC section 7).

-- TOTP (RFC 6238): at most one per user, pending until a code confirms it.
-- The secret is sealed like the signing keys. `last_step` is the last time
-- step a code was accepted for: a code works once.
CREATE TABLE totp_factors (
    user_id       BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret        BYTEA   NOT NULL,
    created_at    BIGINT  NOT NULL,
    confirmed_at  BIGINT,
    last_step     BIGINT  NOT NULL DEFAULT 0
);

-- Recovery codes: keyed hashes only; a code is deleted when used.
CREATE TABLE recovery_codes (
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA   NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Passkeys (WebAuthn): the credential as the WebAuthn library keeps it
-- (JSON), its id unique across every account.
CREATE TABLE passkeys (
    id             TEXT    PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  BYTEA   NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    credential     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A user's WebAuthn user handle (16 random bytes), made at the first
-- passkey.
ALTER TABLE users ADD COLUMN user_handle BYTEA;

-- Sign-ins waiting for their second factor (`mfa_token`, `rampart_mfa`), by
-- the SHA-256 of the token: 5 minutes, dead after 5 wrong codes. `binding`
-- is the pre-session a browser's pending sign-in belongs to.
CREATE TABLE pending_sign_ins (
    token_hash     BYTEA   PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version  BIGINT  NOT NULL,
    binding        BYTEA,
    failures       BIGINT  NOT NULL DEFAULT 0,
    expires_at     BIGINT  NOT NULL
);
CREATE INDEX pending_sign_ins_expires_at ON pending_sign_ins (expires_at);

-- WebAuthn ceremonies under way (single use, 5 minutes), by the SHA-256 of
-- the handle the client holds.
CREATE TABLE webauthn_ceremonies (
    id_hash     BYTEA   PRIMARY KEY,
    user_id     BIGINT  REFERENCES users (id) ON DELETE CASCADE,
    state       TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);

-- How each session and refresh family was signed in (RFC 8176 names).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
