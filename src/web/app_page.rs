//! The app page: the caller's items and a form to add one (`GET /app`,
//! `POST /app/items`).

use axum::{
    body::Bytes,
    extract::{FromRequestParts, OptionalFromRequestParts, State},
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use minijinja::context;

use super::{no_store, templates::render};
use crate::{
    auth::csrf::Binding,
    http::{client::ClientInfo, credentials::CurrentUser, error::ApiError, second_factor::FactorPolicy},
    items::fields::ItemForm,
    state::AppState,
};

/// Items shown on `/app`, newest first.
const APP_PAGE_ITEMS: i64 = 100;

/// The app page for `session`, with `form` and its `errors` shown.
async fn app_page(
    state: &AppState,
    user: &CurrentUser,
    (token, cookie): (String, HeaderValue),
    status: StatusCode,
    form: &ItemForm,
    errors: &[(&'static str, String)],
) -> Result<Response, ApiError> {
    let (items, total) = state.items.list(user, None, APP_PAGE_ITEMS, 0).await?;
    let items: Vec<_> = items
        .iter()
        .map(|item| {
            context! {
                id => item.id,
                name => &item.name,
                price => item.price,
                tax => item.tax,
                description => &item.description,
            }
        })
        .collect();
    let errors: Vec<_> = errors
        .iter()
        .map(|(field, message)| context! { field => *field, message })
        .collect();
    let page = render(
        "app.html",
        context! {
            title => "Items",
            username => user.username(),
            csrf_token => token,
            items,
            total,
            form => context! {
                name => &form.name,
                description => &form.description,
                price => &form.price,
                tax => &form.tax,
            },
            errors,
        },
    )?;
    Ok(no_store(
        (status, [(header::SET_COOKIE, cookie)], page).into_response(),
    ))
}

/// The signed-in user and their session's binding; without a session the
/// way to `/login`, answered before the request's body is read (SPEC
/// section 11).
pub struct SignedIn {
    pub user: CurrentUser,
    pub binding: Binding,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let user = <CurrentUser as OptionalFromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .ok()
            .flatten();
        match user {
            Some(CurrentUser::Session(session)) => {
                let binding = Binding::session(&session.id);
                Ok(Self {
                    user: CurrentUser::Session(session),
                    binding,
                })
            }
            _ => Err(no_store(Redirect::to("/login").into_response())),
        }
    }
}

/// The caller's items, with a form to add one. Without a session: to /login.
#[utoipa::path(get, path = "/app", tag = "pages",
    responses(
        (status = 200, description = "HTML page; sets the CSRF cookie", content_type = "text/html"),
        (status = 303, description = "No session: to /login")
    ))]
pub async fn app(
    State(state): State<AppState>,
    client: ClientInfo,
    SignedIn { user, binding }: SignedIn,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // A credential for second-factor enrolment only: to the account page,
    // where that is done (SPEC section 7).
    if FactorPolicy::new(state.settings.auth.mfa).enrolment_only(&user) {
        let account = format!("{}/account", state.settings.own_prefix());
        return Ok(no_store(Redirect::to(&account).into_response()));
    }
    app_page(
        &state,
        &user,
        state.csrf.token(&headers, binding, client.https),
        StatusCode::OK,
        &ItemForm::default(),
        &[],
    )
    .await
}

/// Add an item from the app page's form, then back to the page.
#[utoipa::path(post, path = "/app/items", tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "name, description, price, tax, csrf_token"),
    responses(
        (status = 303, description = "Added: back to /app"),
        (status = 403, description = "CSRF token missing or invalid", body = crate::http::error::ErrorBody),
        (status = 422, description = "The page again, with what to correct", content_type = "text/html")
    ))]
pub async fn add_item(
    State(state): State<AppState>,
    client: ClientInfo,
    SignedIn { user, binding }: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form: ItemForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match form.parse() {
        Ok(fields) => {
            state
                .items
                .create(&user, &fields)
                .await?
                .ok_or(ApiError::NotFound("User not found"))?;
            Ok(no_store(Redirect::to("/app").into_response()))
        }
        Err(errors) => {
            app_page(
                &state,
                &user,
                state.csrf.token(&headers, binding, client.https),
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
            )
            .await
        }
    }
}
