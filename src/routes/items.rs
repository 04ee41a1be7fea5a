//! `/items/`: each user's items; admins see and act on all.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    http::{
        error::{ApiError, ErrorBody},
        extract::{Json, Path, Query},
        identity::CurrentUser,
    },
    items::{Item, fields::ItemBody},
    state::AppState,
};

const NOT_FOUND: &str = "Item not found";

#[derive(Serialize, ToSchema)]
pub struct ItemPage {
    items: Vec<Item>,
    total: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100 (default 20).
    limit: Option<i64>,
    /// 0 or more (default 0).
    offset: Option<i64>,
    /// Only items whose name contains this text (case-insensitive).
    q: Option<String>,
}

fn query_issue(field: &'static str, msg: &str) -> ApiError {
    ApiError::query_field("value_error", field, msg)
}

/// Create an item owned by the caller.
#[utoipa::path(post, path = "/items/", tag = "items", security(("bearer" = [])), request_body = ItemBody,
    responses((status = 201, body = Item), (status = 401, body = ErrorBody),
              (status = 422, body = crate::http::validation::ValidationErrorBody)))]
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
    if !(1..=100).contains(&limit) {
        return Err(query_issue("limit", "Input should be between 1 and 100"));
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(query_issue(
            "offset",
            "Input should be greater than or equal to 0",
        ));
    }
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(query_issue("q", "String should have at most 100 characters"));
    }
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
