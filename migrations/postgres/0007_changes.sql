-- The change log: every change that makes credentials fail (a user's token
-- state, a revoked access token, an ended session), in the order of a
-- sequence, so each instance reads what it has not seen yet by number,
-- never by wall-clock time. A transaction that commits late leaves a gap
-- that the reader waits for instead of skipping.
CREATE TABLE changes (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT  NOT NULL,   -- unix ms, for purging
    kind           TEXT    NOT NULL,   -- user | revoked | session
    subject        TEXT    NOT NULL,   -- username_key | jti | session digest (hex)
    token_version  BIGINT  NOT NULL DEFAULT 0,
    disabled       BIGINT  NOT NULL DEFAULT 0,
    until          BIGINT  NOT NULL DEFAULT 0    -- revoked: the token's expiry; session: when it would have ended
);
CREATE INDEX changes_at ON changes (at);
