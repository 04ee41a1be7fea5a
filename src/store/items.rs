//! Items and their owners.

use sqlx::Row;

use crate::names::Username;

use super::{Store, StoreError, now_ms, with_pool};

/// An item as stored, with its owner's username.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemRecord {
    pub id: i64,
    pub owner: String,
    pub name: String,
    pub description: Option<String>,
    pub price: f64,
    pub tax: Option<f64>,
    pub created_at: i64,
}

/// The fields a caller may set. There is no owner or id here: those come
/// from the authenticated caller and the store (no mass assignment).
#[derive(Clone, Debug)]
pub struct ItemFields {
    pub name: String,
    pub description: Option<String>,
    pub price: f64,
    pub tax: Option<f64>,
}

/// Which items a listing covers.
#[derive(Clone, Copy, Debug)]
pub enum ItemScope<'a> {
    OwnedBy(&'a Username),
    All,
}

/// The item columns `record` reads, as a literal so that every query is
/// one `&'static str` (no SQL formatted per request).
macro_rules! select_item {
    ($($rest:literal),*) => {
        concat!(
            "SELECT items.id, users.username, items.name, items.description, items.price, ",
            "items.tax, items.created_at FROM items JOIN users ON users.id = items.owner_id",
            $(" ", $rest),*
        )
    };
}

/// The listing's page and count queries, by scope and `q`. Parameters in
/// order: the owner's key (when owned), the pattern (when `q`), limit,
/// offset. A page is read by index (the `(owner_id, id)` one for one
/// user's items) and the count without `q` is `item_counts`' (kept by
/// triggers): neither grows with the table. `q` (a substring,
/// `LIKE '%q%'`, which no index serves) reads every item in scope, twice.
fn listing(owned: bool, named: bool) -> (&'static str, &'static str) {
    match (owned, named) {
        (true, true) => (
            select_item!(
                "WHERE items.owner_id = (SELECT id FROM users WHERE username_key = $1)",
                "AND LOWER(items.name) LIKE $2 ESCAPE '\\' ORDER BY items.id DESC LIMIT $3 OFFSET $4"
            ),
            "SELECT COUNT(*) FROM items WHERE items.owner_id = (SELECT id FROM users WHERE username_key = $1) \
             AND LOWER(items.name) LIKE $2 ESCAPE '\\'",
        ),
        (true, false) => (
            select_item!(
                "WHERE items.owner_id = (SELECT id FROM users WHERE username_key = $1)",
                "ORDER BY items.id DESC LIMIT $2 OFFSET $3"
            ),
            "SELECT COALESCE((SELECT items FROM item_counts WHERE owner_id = \
             (SELECT id FROM users WHERE username_key = $1)), 0)",
        ),
        (false, true) => (
            select_item!(
                "WHERE LOWER(items.name) LIKE $1 ESCAPE '\\' ORDER BY items.id DESC LIMIT $2 OFFSET $3"
            ),
            "SELECT COUNT(*) FROM items WHERE LOWER(items.name) LIKE $1 ESCAPE '\\'",
        ),
        (false, false) => (
            select_item!("ORDER BY items.id DESC LIMIT $1 OFFSET $2"),
            "SELECT CAST(COALESCE(SUM(items), 0) AS BIGINT) FROM item_counts",
        ),
    }
}

fn record<R: Row>(row: &R) -> Result<ItemRecord, sqlx::Error>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(ItemRecord {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        name: row.try_get(2)?,
        description: row.try_get(3)?,
        price: row.try_get(4)?,
        tax: row.try_get(5)?,
        created_at: row.try_get(6)?,
    })
}

/// `q` as a LIKE pattern matching it anywhere, with `%`, `_` and the escape
/// character itself escaped, so user input is always a literal substring.
fn contains_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// Creates an item owned by `owner`; `None` if there is no such user.
    pub async fn create_item(
        &self,
        owner: &Username,
        fields: &ItemFields,
    ) -> Result<Option<ItemRecord>, StoreError> {
        let id: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO items (owner_id, name, description, price, tax, created_at) \
                 SELECT id, $2, $3, $4, $5, $6 FROM users WHERE username_key = $1 RETURNING id",
            )
            .bind(owner.key())
            .bind(&fields.name)
            .bind(&fields.description)
            .bind(fields.price)
            .bind(fields.tax)
            .bind(now_ms())
            .fetch_optional(pool)
            .await?
        });
        match id {
            Some((id,)) => self.find_item(id).await,
            None => Ok(None),
        }
    }

    pub async fn find_item(&self, id: i64) -> Result<Option<ItemRecord>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(select_item!("WHERE items.id = $1")).bind(id).fetch_optional(pool).await?;
            Ok(row.as_ref().map(record).transpose()?)
        })
    }

    /// A page of items, newest first, and how many match in all.
    pub async fn list_items(
        &self,
        scope: ItemScope<'_>,
        q: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ItemRecord>, i64), StoreError> {
        let owner = match scope {
            ItemScope::OwnedBy(name) => Some(name.key()),
            ItemScope::All => None,
        };
        let pattern = q.map(contains_pattern);
        let (page, count) = listing(owner.is_some(), pattern.is_some());
        with_pool!(self, pool => {
            let mut rows = sqlx::query(page);
            let mut total = sqlx::query_as::<_, (i64,)>(count);
            if let Some(owner) = &owner {
                rows = rows.bind(owner);
                total = total.bind(owner);
            }
            if let Some(pattern) = &pattern {
                rows = rows.bind(pattern);
                total = total.bind(pattern);
            }
            let rows = rows.bind(limit).bind(offset).fetch_all(pool).await?;
            let items = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
            let (total,) = total.fetch_one(pool).await?;
            Ok((items, total))
        })
    }

    /// Replaces an item's fields; `None` if it does not exist.
    pub async fn update_item(&self, id: i64, fields: &ItemFields) -> Result<Option<ItemRecord>, StoreError> {
        let affected = with_pool!(self, pool => {
            sqlx::query("UPDATE items SET name = $2, description = $3, price = $4, tax = $5 WHERE id = $1")
                .bind(id)
                .bind(&fields.name)
                .bind(&fields.description)
                .bind(fields.price)
                .bind(fields.tax)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            Ok(None)
        } else {
            self.find_item(id).await
        }
    }

    /// Deletes an item; false if it did not exist.
    pub async fn delete_item(&self, id: i64) -> Result<bool, StoreError> {
        let affected = with_pool!(self, pool => {
            sqlx::query("DELETE FROM items WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        Ok(affected > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_the_query_are_literal() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("Plain"), "%plain%");
    }
}
