-- Where each session and refresh family came from, and when a family last
-- rotated (SPEC section 9), for an operator deciding which one to end.
-- Credentials from before this migration show none.
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE refresh_families ADD COLUMN client_ip TEXT;
ALTER TABLE refresh_families ADD COLUMN seen_at INTEGER;
