-- Listing newest first reads by id; time alone can tie.
CREATE INDEX audit_events_id ON audit_events (id DESC);
