-- When a key starts signing. A scheduled rotation stores the next key ahead
-- of time: it is published in the JWKS (and verifies) from its creation but
-- signs only from `signs_from`, so clients that cache the JWKS know it
-- before its first token reaches them. NULL: from its creation.
ALTER TABLE signing_keys ADD COLUMN signs_from BIGINT;
