//! `/items/`: each user's items; admins see and act on all.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    http::{
        credentials::CurrentUser,
        error::{ApiError, ErrorBody},
        extract::{Json, Path, Query},
    },
    input::{Fields, Model, bounded_int, bounded_text},
    items::{Item, fields::ItemBody},
    state::AppState,
};

const NOT_FOUND: &str = "Item not found";

#[derive(Serialize, ToSchema)]
pub struct ItemPage {
    items: Vec<Item>,
    total: i64,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many items (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// How many to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only items whose name contains this text (case-insensitive).
    #[param(max_length = 100)]
    q: Option<String>,
}

impl Model for ListQuery {
    const FORBID_EXTRA: bool = false;

    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let limit = fields.optional("limit", |raw| bounded_int(raw, 1, 100));
        let offset = fields.optional("offset", |raw| bounded_int(raw, 0, i64::MAX));
        let q = fields.optional("q", |raw| bounded_text(raw, 0, 100));
        Some(Self {
            limit: limit?,
            offset: offset?,
            q: q?,
        })
    }
}

/// Create an item owned by the caller.
#[utoipa::path(post, path = "/items/", tag = "items", security(("bearer" = [])), request_body = ItemBody,
    responses((status = 201, body = Item), (status = 401, body = ErrorBody),
              (status = 422, body = crate::input::ValidationErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<ItemBody>,
) -> Result<Response, ApiError> {
    let item = state
        .items
        .create(&user, &body.into())
        .await?
        .ok_or(ApiError::NotFound("User not found"))?;
    Ok((StatusCode::CREATED, Json(Item::from(item))).into_response())
}

/// The caller's items (all items for admins), newest first.
#[utoipa::path(get, path = "/items/", tag = "items", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = ItemPage), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<ItemPage>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    let offset = query.offset.unwrap_or(0);
    let (items, total) = state
        .items
        .list(&user, query.q.as_deref().filter(|q| !q.is_empty()), limit, offset)
        .await?;
    Ok(Json(ItemPage {
        items: items.into_iter().map(Item::from).collect(),
        total,
    }))
}

/// One item.
#[utoipa::path(get, path = "/items/{item_id}", tag = "items", security(("bearer" = [])),
    params(("item_id" = i64, Path)),
    responses((status = 200, body = Item), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(item_id): Path<i64>,
) -> Result<Json<Item>, ApiError> {
    let item = state
        .items
        .get(&user, item_id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(Json(item.into()))
}

/// Replace an item's fields.
#[utoipa::path(put, path = "/items/{item_id}", tag = "items", security(("bearer" = [])),
    params(("item_id" = i64, Path)), request_body = ItemBody,
    responses((status = 200, body = Item), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(item_id): Path<i64>,
    Json(body): Json<ItemBody>,
) -> Result<Json<Item>, ApiError> {
    let item = state
        .items
        .update(&user, item_id, &body.into())
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(Json(item.into()))
}

/// Delete an item.
#[utoipa::path(delete, path = "/items/{item_id}", tag = "items", security(("bearer" = [])),
    params(("item_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(item_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.items.delete(&user, item_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(NOT_FOUND))
    }
}
