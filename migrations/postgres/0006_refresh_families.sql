-- Refresh-token families: one per login. A family ends `refresh_token_ttl`
-- after the login that started it, however often it rotates; revoking it
-- (reuse, a password change, a disable, RFC 7009) ends every token in it,
-- including one issued concurrently. It also dies when its user's token
-- version moves past the one it was started under.
CREATE TABLE refresh_families (
    family_id      TEXT    PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version  BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

-- Refresh tokens issued before families existed may have outlived a
-- password change or a disable: they end here, and their holders log in
-- again once.
DELETE FROM refresh_tokens;

-- Clients where a user signed in successfully: they keep their own
-- `login_per_username` budget (OWASP "Slow Down Online Guessing Attacks
-- with Device Cookies"; API clients by address).
CREATE TABLE known_clients (
    user_id  BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client   TEXT    NOT NULL,                -- the address (IPv6: its /64)
    seen_at  BIGINT  NOT NULL,                -- unix ms of the last successful login
    PRIMARY KEY (user_id, client)
);
CREATE INDEX known_clients_seen_at ON known_clients (seen_at);
