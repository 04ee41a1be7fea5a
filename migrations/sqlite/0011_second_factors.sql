-- Second factors (SPEC section 7).

-- TOTP (RFC 6238): at most one per user, pending until a code confirms it.
-- The secret is sealed like the signing keys. `last_step` is the last time
-- step a code was accepted for: a code works once.
CREATE TABLE totp_factors (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret        BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0
);

-- Recovery codes: keyed hashes only; a code is deleted when used.
CREATE TABLE recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Passkeys (WebAuthn): the credential as the WebAuthn library keeps it
-- (JSON), its id unique across every account.
CREATE TABLE passkeys (
    id             TEXT    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  BLOB    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    credential     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A user's WebAuthn user handle (16 random bytes), made at the first
-- passkey.
ALTER TABLE users ADD COLUMN user_handle BLOB;

-- Sign-ins waiting for their second factor (`mfa_token`, `rampart_mfa`), by
-- the SHA-256 of the token: 5 minutes, dead after 5 wrong codes. `binding`
-- is the pre-session a browser's pending sign-in belongs to.
CREATE TABLE pending_sign_ins (
    token_hash     BLOB    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version  INTEGER NOT NULL,
    binding        BLOB,
    failures       INTEGER NOT NULL DEFAULT 0,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX pending_sign_ins_expires_at ON pending_sign_ins (expires_at);

-- WebAuthn ceremonies under way (single use, 5 minutes), by the SHA-256 of
-- the handle the client holds.
CREATE TABLE webauthn_ceremonies (
    id_hash     BLOB    PRIMARY KEY,
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    state       TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);

-- How each session and refresh family was signed in (RFC 8176 names).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
