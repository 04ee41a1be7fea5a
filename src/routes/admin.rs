//! The admin API over users (role `admin`): list, show, set roles,
//! disable, enable; the changes are `admin::Operator`'s.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    admin::{LAST_ADMIN, Operator},
    audit::Provenance,
    http::{
        error::{ApiError, ErrorBody},
        extract::{Json, Path},
        identity::{Admin, RequireRole},
    },
    input::{Field, Fields, Model},
    names::{Role, Username},
    state::AppState,
    store::{UserChange, UserRecord},
};

#[derive(Serialize, ToSchema)]
pub struct UserView {
    username: String,
    roles: Vec<String>,
    disabled: bool,
    /// RFC 3339.
    created_at: String,
}

impl From<UserRecord> for UserView {
    fn from(user: UserRecord) -> Self {
        Self {
            created_at: crate::store::rfc3339(user.created_at),
            username: user.username,
            roles: user.roles,
            disabled: user.disabled,
        }
    }
}

#[derive(ToSchema)]
pub struct RolesBody {
    /// Role names: 1-32 of `[a-z0-9_-]`, starting with a letter.
    #[schema(inline, example = json!(["user", "admin"]))]
    roles: Vec<Role>,
}

impl Model for RolesBody {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            roles: fields.required("roles", Vec::<Role>::read)?,
        })
    }
}

pub(super) const USER_NOT_FOUND: &str = "User not found";

/// The answer to a change (audited by [`Operator`]).
fn answer(change: UserChange) -> Result<Json<UserView>, ApiError> {
    match change {
        UserChange::Done(user) => Ok(Json(UserView::from(user))),
        UserChange::LastAdmin => Err(ApiError::Conflict(LAST_ADMIN)),
        UserChange::NoSuchUser => Err(ApiError::NotFound(USER_NOT_FOUND)),
    }
}

/// Every user.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _: RequireRole<Admin>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// A user, with how many credentials of theirs are open.
#[derive(Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    user: UserView,
    /// Open browser sessions.
    sessions: i64,
    /// Open refresh-token families (one per login through `/token`).
    refresh_families: i64,
}

/// One user, with the counts of their open sessions and refresh families.
#[utoipa::path(get, path = "/admin/users/{username}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn user(
    State(state): State<AppState>,
    _: RequireRole<Admin>,
    Path(username): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let found = match Username::parse(&username) {
        Ok(name) => state.store.find_user(&name).await?,
        Err(_) => None,
    };
    let user = found.ok_or(ApiError::NotFound(USER_NOT_FOUND))?;
    let (sessions, refresh_families) = state.sessions.open_counts(user.id).await?;
    Ok(Json(UserDetail {
        user: UserView::from(user),
        sessions,
        refresh_families,
    }))
}

/// Replace a user's roles; their earlier tokens stop working.
#[utoipa::path(put, path = "/admin/users/{username}/roles", tag = "admin", security(("bearer" = [])),
    request_body = RolesBody,
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_roles(
    State(state): State<AppState>,
    RequireRole(admin, _): RequireRole<Admin>,
    provenance: Provenance,
    Path(username): Path<String>,
    Json(body): Json<RolesBody>,
) -> Result<Json<UserView>, ApiError> {
    let operator = Operator::new(&state, &admin, &provenance);
    answer(operator.set_roles(&username, &body.roles).await?)
}

/// Disable a user: they cannot log in, and their tokens stop working.
#[utoipa::path(post, path = "/admin/users/{username}/disable", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    RequireRole(admin, _): RequireRole<Admin>,
    provenance: Provenance,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let operator = Operator::new(&state, &admin, &provenance);
    answer(operator.set_disabled(&username, true).await?)
}

/// Enable a user again.
#[utoipa::path(post, path = "/admin/users/{username}/enable", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    RequireRole(admin, _): RequireRole<Admin>,
    provenance: Provenance,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let operator = Operator::new(&state, &admin, &provenance);
    answer(operator.set_disabled(&username, false).await?)
}
