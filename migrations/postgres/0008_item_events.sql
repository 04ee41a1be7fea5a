-- Item events of every instance, for the WebSockets of every other: each
-- instance reads the rows numbered above the last it read (at once when
-- `NOTIFY rampart_items` announces them, and every second), skips its own,
-- and sends the rest to its sockets. Kept a few minutes.
CREATE TABLE item_events (
    seq      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       BIGINT  NOT NULL,   -- unix ms, for purging
    origin   TEXT    NOT NULL,   -- the instance that made the write
    owner    TEXT    NOT NULL,   -- the item's owner, for the object rule
    message  TEXT    NOT NULL    -- the event as sockets receive it
);
CREATE INDEX item_events_at ON item_events (at);
