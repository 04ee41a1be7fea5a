//! The admin API over users (role `admin`): list, set roles, disable, enable.
//! The last enabled admin can neither be disabled nor lose the role, so the
//! server cannot be locked out of its own administration.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    audit::{Action, Outcome, Provenance},
    http::{
        credentials::CurrentUser,
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
const LAST_ADMIN: &str = "The last enabled admin cannot be disabled or lose the admin role";

/// The answer to a change, audited: refusals as denied, changes as success.
fn answer(change: UserChange, audit: impl Fn(Outcome)) -> Result<Json<UserView>, ApiError> {
    match change {
        UserChange::Done(user) => {
            audit(Outcome::Success);
            Ok(Json(UserView::from(user)))
        }
        UserChange::LastAdmin => {
            audit(Outcome::Denied);
            Err(ApiError::Conflict(LAST_ADMIN))
        }
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
    // A name that cannot exist is no user, like an unknown one.
    let change = match Username::parse(&username) {
        Ok(name) => state.users.set_roles(&name, &body.roles).await?,
        Err(_) => UserChange::NoSuchUser,
    };
    answer(change, |outcome| {
        state.audit.record(
            Action::RoleChanged,
            outcome,
            Some(admin.username()),
            Some(Username::loggable(&username)),
            &provenance,
        )
    })
}

async fn set_disabled(
    state: &AppState,
    admin: &CurrentUser,
    provenance: &Provenance,
    username: &str,
    disabled: bool,
) -> Result<Json<UserView>, ApiError> {
    let action = if disabled {
        Action::UserDisabled
    } else {
        Action::UserEnabled
    };
    let change = match Username::parse(username) {
        Ok(name) => state.users.set_disabled(&name, disabled).await?,
        Err(_) => UserChange::NoSuchUser,
    };
    answer(change, |outcome| {
        state.audit.record(
            action,
            outcome,
            Some(admin.username()),
            Some(Username::loggable(username)),
            provenance,
        )
    })
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
    set_disabled(&state, &admin, &provenance, &username, true).await
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
    set_disabled(&state, &admin, &provenance, &username, false).await
}
