-- Accounts signed in through an OpenID Connect provider (SPEC section 8),
-- linked by the provider's issuer and the subject it names: never by
-- email.
CREATE TABLE federated_identities (
    issuer      TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX federated_identities_user ON federated_identities (user_id);
