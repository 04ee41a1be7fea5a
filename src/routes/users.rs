//! `POST /users`, `GET /users/me`, `POST /users/me/password`, `GET /protected`,
//! `GET /protected_route`.

use axum::{
    extract::{FromRequestParts, State},
    response::{IntoResponse, Response},
};
use http::{StatusCode, request::Parts};
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    audit::{Action, Outcome, Provenance},
    auth::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS},
    auth::users::NewUserError,
    http::{
        caller::Caller,
        context::RequestContext,
        credentials::{Authentication, CurrentUser},
        error::{ApiError, ErrorBody},
        extract::Json,
        identity::{Admin, AuthRejection, RequireRole},
    },
    input::{Field, Fields, Invalid, Model, Problem, Raw, bounded_text},
    names::{Role, Username},
    state::AppState,
};

#[derive(ToSchema)]
pub struct NewUserBody {
    #[schema(inline)]
    username: Username,
    /// Not a well-known password, and not built from the username or the
    /// product's name.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024)]
    password: String,
}

impl Model for NewUserBody {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let username = fields.required("username", Username::read);
        let password = fields.required("password", new_password);
        Some(Self {
            username: username?,
            password: password?,
        })
    }
}

/// A new password: its length here; the rest of the policy when it is set.
fn new_password(raw: Raw<'_>) -> Result<String, Invalid> {
    bounded_text(raw, MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS)
}

#[derive(Serialize, ToSchema)]
pub struct UserCreated {
    username: String,
    roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    username: String,
    roles: Vec<String>,
    /// RFC 3339.
    created_at: String,
}

#[derive(ToSchema)]
pub struct PasswordChange {
    #[schema(format = Password)]
    current_password: String,
    /// Not a well-known password, and not built from the username or the
    /// product's name.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024)]
    new_password: String,
}

impl Model for PasswordChange {
    fn read(fields: &mut Fields<'_>) -> Option<Self> {
        let current_password = fields.required("current_password", String::read);
        let new_password = fields.required("new_password", new_password);
        Some(Self {
            current_password: current_password?,
            new_password: new_password?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    message: String,
}

fn password_issue(field: &'static str, err: impl std::fmt::Display) -> ApiError {
    ApiError::body_field(field, Problem::value_error(err))
}

/// Who is creating a user: anyone when `public_registration`, else an
/// admin. An extractor ahead of the body's, so a caller who may not is
/// answered 401 or 403 before a byte of the body is read (SPEC section 11;
/// OWASP API4:2023).
pub struct Registrar(Option<CurrentUser>);

impl FromRequestParts<AppState> for Registrar {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let RequestContext { authentication, .. } = RequestContext::from_request_parts(parts, state).await?;
        if matches!(authentication, Authentication::Invalid(_)) {
            return Err(AuthRejection::Invalid.into_response());
        }
        let caller = authentication.user();
        if state.settings.public_registration {
            return Ok(Self(caller));
        }
        match caller {
            Some(claims) if claims.has_role(Role::ADMIN) => Ok(Self(Some(claims))),
            Some(claims) => {
                let provenance = Provenance::from_request_parts(parts, state)
                    .await
                    .unwrap_or_else(|never| match never {});
                state.audit.record(
                    Action::AccessDenied,
                    Outcome::Denied,
                    Some(claims.username()),
                    Some("/users"),
                    &provenance,
                );
                Err(AuthRejection::Forbidden.into_response())
            }
            None => Err(AuthRejection::Missing.into_response()),
        }
    }
}

/// Create a user (anyone when `public_registration`, else admins).
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = NewUserBody,
    security((), ("bearer" = [])),
    responses(
        (status = 201, body = UserCreated),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, body = crate::input::ValidationErrorBody)
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    Registrar(caller): Registrar,
    provenance: Provenance,
    Json(body): Json<NewUserBody>,
) -> Result<Response, ApiError> {
    let created = state
        .users
        .create_user(&body.username, SecretString::from(body.password), &[Role::user()])
        .await;
    match created {
        Ok(user) => {
            let actor = caller.as_ref().map_or(user.username.as_str(), |c| c.username());
            state.audit.record(
                Action::UserCreated,
                Outcome::Success,
                Some(actor),
                Some(&user.username),
                &provenance,
            );
            Ok((
                StatusCode::CREATED,
                Json(UserCreated {
                    username: user.username,
                    roles: user.roles,
                }),
            )
                .into_response())
        }
        Err(NewUserError::Taken) => Err(ApiError::Conflict("Username already registered")),
        Err(NewUserError::Password(err)) => Err(password_issue("password", err)),
        Err(NewUserError::Hash(err)) => Err(err.into()),
        Err(err) => Err(ApiError::internal(err)),
    }
}

/// The caller's account.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<Json<Me>, ApiError> {
    let record = state.account_of(&user).await?;
    Ok(Json(Me {
        username: record.username,
        roles: record.roles,
        created_at: crate::store::rfc3339(record.created_at),
    }))
}

/// Change the caller's password; earlier tokens stop working.
#[utoipa::path(post, path = "/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    caller: Caller,
    Json(body): Json<PasswordChange>,
) -> Result<Response, ApiError> {
    let account = state
        .reauthenticate(
            Action::PasswordChanged,
            &user,
            body.current_password,
            caller.requester(),
        )
        .await?;
    match state
        .users
        .set_password(&account, SecretString::from(body.new_password))
        .await
    {
        Ok(()) => {
            state.audit.record(
                Action::PasswordChanged,
                Outcome::Success,
                Some(user.username()),
                None,
                &caller.provenance,
            );
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(NewUserError::Password(err)) => Err(password_issue("new_password", err)),
        Err(NewUserError::Hash(err)) => Err(err.into()),
        Err(err) => Err(ApiError::internal(err)),
    }
}

/// Any authenticated caller.
#[utoipa::path(get, path = "/protected", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody)))]
pub async fn protected(user: CurrentUser) -> Json<Message> {
    Json(Message {
        message: format!("Beware, {}. This is a protected route.", user.username()),
    })
}

/// Admins only.
#[utoipa::path(get, path = "/protected_route", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn protected_route(_: RequireRole<Admin>) -> Json<Message> {
    Json(Message {
        message: "You have access to this protected route!".to_owned(),
    })
}
