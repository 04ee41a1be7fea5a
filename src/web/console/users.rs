//! `GET /console/users` (search by name) and `POST /console/users` (create
//! a user, with a password that passes the policy and the roles given).

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    response::Response,
};
use http::StatusCode;
use minijinja::{Value, context};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ConsoleAdmin, Said, SaidQuery};
use crate::{
    auth::users::NewUserError,
    http::error::ApiError,
    names::{Role, Username},
    state::AppState,
    store::{UserRecord, rfc3339},
};

/// Users a search lists at most.
const SEARCH_LIMIT: i64 = 100;

#[derive(Default, Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

/// The create form, as the browser posts it.
#[derive(Default, Deserialize, ToSchema)]
pub struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    #[schema(format = Password)]
    password: String,
    /// Role names, separated by spaces or commas.
    #[serde(default)]
    roles: String,
}

/// Role names separated by spaces or commas; the first bad one is the
/// error.
pub(super) fn parse_roles(text: &str) -> Result<Vec<Role>, String> {
    let roles: Result<Vec<Role>, String> = text
        .split([' ', ',', '\t', '\n', '\r'])
        .filter(|name| !name.is_empty())
        .map(|name| Role::parse(name).map_err(|err| format!("Role {name:?}: {err}")))
        .collect();
    let mut roles = roles?;
    roles.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    roles.dedup_by(|a, b| a.as_str() == b.as_str());
    Ok(roles)
}

pub(super) fn user_row(user: &UserRecord) -> Value {
    context! {
        username => &user.username,
        roles => &user.roles,
        disabled => user.disabled,
        created_at => rfc3339(user.created_at),
    }
}

async fn users_page(
    state: &AppState,
    admin: &ConsoleAdmin,
    query: &str,
    (status, said): (StatusCode, Said),
    form: &NewUserForm,
) -> Result<Response, ApiError> {
    let users = state.store.search_users(query.trim(), SEARCH_LIMIT).await?;
    let rows: Vec<Value> = users.iter().map(user_row).collect();
    let context = context! {
        title => "Users",
        nav => "users",
        q => query,
        users => rows,
        limited => users.len() == usize::try_from(SEARCH_LIMIT).unwrap_or(usize::MAX),
        // The password is never sent back.
        form => context! { username => &form.username, roles => &form.roles },
    };
    admin.page(state, "console_users.html", status, said, context)
}

/// Users, searched by name.
#[utoipa::path(get, path = "/console/users", tag = "console",
    params(("q" = Option<String>, Query, description = "Part of the name, any case")),
    responses(
        (status = 200, description = "HTML page", content_type = "text/html"),
        (status = 303, description = "No session: to /login, returning here"),
        (status = 403, description = "Not an admin", content_type = "text/html")
    ))]
pub async fn console_users(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let search: Search = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let form = NewUserForm {
        roles: Role::USER.to_owned(),
        ..NewUserForm::default()
    };
    let said = SaidQuery::read(query.as_deref());
    users_page(&state, &admin, &search.q, (StatusCode::OK, said), &form).await
}

/// Create a user, then to their page.
#[utoipa::path(post, path = "/console/users", tag = "console",
    request_body(content = NewUserForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Created: to the user's page"),
        (status = 403, description = "CSRF token missing or invalid, or not an admin"),
        (status = 409, description = "The name is taken: the page again", content_type = "text/html"),
        (status = 422, description = "A bad name, password or role: the page again", content_type = "text/html")
    ))]
pub async fn console_create_user(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form: NewUserForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let refused = |status, error: String| (status, Said::error(error));
    let username = match Username::parse(form.username.trim()) {
        Ok(name) => name,
        Err(err) => {
            let said = refused(StatusCode::UNPROCESSABLE_ENTITY, format!("Name: {err}"));
            return users_page(&state, &admin, "", said, &form).await;
        }
    };
    let roles = match parse_roles(&form.roles) {
        Ok(roles) => roles,
        Err(err) => {
            let said = refused(StatusCode::UNPROCESSABLE_ENTITY, err);
            return users_page(&state, &admin, "", said, &form).await;
        }
    };
    let created = admin
        .operator(&state)
        .create_user(&username, SecretString::from(form.password.clone()), &roles)
        .await;
    let said = match created {
        Ok(user) => {
            let path = format!("/users/{}", percent(&user.username));
            return Ok(ConsoleAdmin::done(&state, &path, "created"));
        }
        Err(NewUserError::Taken) => refused(StatusCode::CONFLICT, "That name is taken".to_owned()),
        Err(NewUserError::Password(err)) => {
            refused(StatusCode::UNPROCESSABLE_ENTITY, format!("Password: {err}"))
        }
        Err(NewUserError::Hash(err)) => return Err(err.into()),
        Err(err) => return Err(ApiError::internal(err)),
    };
    users_page(&state, &admin, "", said, &form).await
}

/// A path segment, percent-encoded (names are `[A-Za-z0-9_.-]`, but the
/// path is built from stored text all the same).
pub(super) fn percent(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_a_line() {
        let names = |text| {
            parse_roles(text).map(|roles| roles.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(names("user"), Ok(vec!["user".to_owned()]));
        assert_eq!(
            names(" user, admin  auditor,user"),
            Ok(vec!["admin".to_owned(), "auditor".to_owned(), "user".to_owned()])
        );
        assert_eq!(names(""), Ok(vec![]));
        assert!(names("user Admin!").unwrap_err().contains("Admin!"));
    }
}
