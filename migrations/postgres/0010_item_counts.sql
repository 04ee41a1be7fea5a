-- How many items each user owns, kept exact by a trigger on every insert and
-- delete of an item (cascades included), so a listing's `total` costs one
-- row read however many items there are. An item never changes owner.
CREATE TABLE item_counts (
    owner_id  BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    items     BIGINT NOT NULL
);
INSERT INTO item_counts (owner_id, items) SELECT owner_id, COUNT(*) FROM items GROUP BY owner_id;
CREATE FUNCTION item_counts_follow() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO item_counts (owner_id, items) VALUES (NEW.owner_id, 1)
            ON CONFLICT (owner_id) DO UPDATE SET items = item_counts.items + 1;
    ELSE
        UPDATE item_counts SET items = items - 1 WHERE owner_id = OLD.owner_id;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER items_counted AFTER INSERT OR DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION item_counts_follow();
