-- The hourly counts of logins and refusals (SPEC section 9, `GET
-- /admin/stats`) read this index alone: the actions they count, then the
-- time range, with the outcome beside (a covering index: no scan of the
-- table, however many events it holds).
CREATE INDEX audit_events_action_at ON audit_events (action, at, outcome);
