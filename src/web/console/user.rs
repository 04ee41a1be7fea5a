//! `GET /console/users/{username}`: one user, their roles and state, their
//! open sessions and refresh families (each revocable), their recent audit
//! events; and the page's forms: roles, disable, enable, second-factor
//! reset, and ending one of their credentials.

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    response::Response,
};
use http::StatusCode;
use minijinja::{Value, context, value::Serde};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    ConsoleAdmin, Said, SaidQuery,
    users::{parse_roles, percent, user_row},
};
use crate::{
    admin::{LAST_ADMIN, credentials::CredentialView},
    http::{error::ApiError, extract::Path},
    names::Username,
    state::AppState,
    store::{AuditFilter, UserChange, rfc3339},
};

/// Audit events the page shows, newest first.
const RECENT_EVENTS: i64 = 20;

/// The page's forms, as the browser posts them.
#[derive(Default, Deserialize, ToSchema)]
pub struct UserForm {
    /// Role names, separated by spaces or commas.
    #[serde(default)]
    roles: String,
    /// The credential to end, as `GET /admin/users/{username}/sessions`
    /// names it.
    #[serde(default)]
    id: String,
}

/// The audit events `filter` finds, as the pages list them.
pub(super) async fn event_rows(state: &AppState, filter: &AuditFilter<'_>) -> Result<Vec<Value>, ApiError> {
    let events = state.store.list_audit_events(filter).await?;
    Ok(events
        .into_iter()
        .map(|event| {
            let record = event.record;
            context! {
                id => event.id,
                at => rfc3339(record.at),
                actor => record.actor,
                action => record.action,
                target => record.target,
                outcome => record.outcome,
                client_ip => record.client_ip,
                request_id => record.request_id,
            }
        })
        .collect())
}

async fn user_page(
    state: &AppState,
    admin: &ConsoleAdmin,
    username: &str,
    (status, said): (StatusCode, Said),
) -> Result<Response, ApiError> {
    let found = match Username::parse(username) {
        Ok(name) => state.store.find_user(&name).await?,
        Err(_) => None,
    };
    let Some(user) = found else {
        let context = context! { title => "No such user", nav => "users", missing => username };
        return admin.page(state, "console_user.html", StatusCode::NOT_FOUND, said, context);
    };
    let credentials: Vec<CredentialView> = state
        .sessions
        .open_credentials(user.id)
        .await?
        .into_iter()
        .map(CredentialView::from)
        .collect();
    let filter = AuditFilter {
        actor: Some(&user.username),
        limit: RECENT_EVENTS,
        ..AuditFilter::default()
    };
    let context = context! {
        title => format!("User {}", user.username),
        nav => "users",
        user => user_row(&user),
        path => percent(&user.username),
        roles_line => user.roles.join(" "),
        credentials => Value::from(Serde(&credentials)),
        events => event_rows(state, &filter).await?,
    };
    admin.page(state, "console_user.html", status, said, context)
}

/// One user.
#[utoipa::path(get, path = "/console/users/{username}", tag = "console",
    responses(
        (status = 200, description = "HTML page", content_type = "text/html"),
        (status = 303, description = "No session: to /login, returning here"),
        (status = 403, description = "Not an admin", content_type = "text/html"),
        (status = 404, description = "No such user", content_type = "text/html")
    ))]
pub async fn console_user(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(username): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let said = SaidQuery::read(query.as_deref());
    user_page(&state, &admin, &username, (StatusCode::OK, said)).await
}

/// What a change to a user does: back to their page, saying `said`, or
/// the page again with why not.
async fn answer(
    state: &AppState,
    admin: &ConsoleAdmin,
    username: &str,
    change: UserChange,
    said: &str,
) -> Result<Response, ApiError> {
    let refused = match change {
        UserChange::Done(user) => {
            return Ok(ConsoleAdmin::done(
                state,
                &format!("/users/{}", percent(&user.username)),
                said,
            ));
        }
        UserChange::LastAdmin => (StatusCode::CONFLICT, Said::error(LAST_ADMIN)),
        UserChange::NoSuchUser => (StatusCode::NOT_FOUND, Said::default()),
    };
    user_page(state, admin, username, refused).await
}

macro_rules! user_form {
    ($(#[$doc:meta])* $name:ident, $path:literal, |$state:ident, $admin:ident, $username:ident, $form:ident| $body:expr) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "console",
            request_body(content = UserForm, content_type = "application/x-www-form-urlencoded"),
            responses(
                (status = 303, description = "Done: back to the user's page"),
                (status = 403, description = "CSRF token missing or invalid, or not an admin"),
                (status = 404, description = "No such user", content_type = "text/html"),
                (status = 409, description = "The last enabled admin: the page again", content_type = "text/html"),
                (status = 422, description = "A bad role: the page again", content_type = "text/html")
            ))]
        pub async fn $name(
            State($state): State<AppState>,
            $admin: ConsoleAdmin,
            Path($username): Path<String>,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            let $form: UserForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
            let ($state, $admin, $username) = (&$state, &$admin, $username.as_str());
            $body
        }
    };
}

user_form!(
    /// Replace the user's roles; their earlier tokens stop working.
    console_set_roles, "/console/users/{username}/roles", |state, admin, username, form| {
        match parse_roles(&form.roles) {
            Ok(roles) => {
                let change = admin.operator(state).set_roles(username, &roles).await?;
                answer(state, admin, username, change, "roles").await
            }
            Err(err) => {
                let said = (StatusCode::UNPROCESSABLE_ENTITY, Said::error(err));
                user_page(state, admin, username, said).await
            }
        }
    }
);
user_form!(
    /// Disable the user: they cannot sign in, their credentials stop working.
    console_disable, "/console/users/{username}/disable", |state, admin, username, _form| {
        let change = admin.operator(state).set_disabled(username, true).await?;
        answer(state, admin, username, change, "disabled").await
    }
);
user_form!(
    /// Enable the user again.
    console_enable, "/console/users/{username}/enable", |state, admin, username, _form| {
        let change = admin.operator(state).set_disabled(username, false).await?;
        answer(state, admin, username, change, "enabled").await
    }
);
user_form!(
    /// Remove every second factor and recovery code of the user, and end
    /// their sessions and refresh families.
    console_reset_factors, "/console/users/{username}/mfa/reset", |state, admin, username, _form| {
        match admin.operator(state).reset_factors(username).await? {
            Some(user) => answer(state, admin, username, UserChange::Done(user), "reset").await,
            None => answer(state, admin, username, UserChange::NoSuchUser, "").await,
        }
    }
);
user_form!(
    /// End one of the user's sessions, or revoke one of their refresh
    /// families (`id`).
    console_revoke, "/console/users/{username}/revoke", |state, admin, username, form| {
        match admin.operator(state).revoke_credential(&form.id).await? {
            Some(owner) => Ok(ConsoleAdmin::done(state, &format!("/users/{}", percent(&owner)), "revoked")),
            None => {
                let said = (StatusCode::NOT_FOUND, Said::error("No such session: it may have ended already"));
                user_page(state, admin, username, said).await
            }
        }
    }
);
