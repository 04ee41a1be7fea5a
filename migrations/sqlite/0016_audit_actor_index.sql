-- One user's events, newest first (the console's user page, `GET
-- /admin/audit?actor=`): found through this index, however many events
-- other users have.
CREATE INDEX audit_events_actor_id ON audit_events (actor, id DESC);
