-- How many items each user owns, kept exact by triggers on every insert and
-- delete of an item (cascades included), so a listing's `total` costs one
-- row read however many items there are. An item never changes owner.
CREATE TABLE item_counts (
    owner_id  INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    items     INTEGER NOT NULL
);
INSERT INTO item_counts (owner_id, items) SELECT owner_id, COUNT(*) FROM items GROUP BY owner_id;
CREATE TRIGGER items_counted_insert AFTER INSERT ON items BEGIN
    INSERT INTO item_counts (owner_id, items) VALUES (NEW.owner_id, 1)
        ON CONFLICT (owner_id) DO UPDATE SET items = items + 1;
END;
CREATE TRIGGER items_counted_delete AFTER DELETE ON items BEGIN
    UPDATE item_counts SET items = items - 1 WHERE owner_id = OLD.owner_id;
END;
