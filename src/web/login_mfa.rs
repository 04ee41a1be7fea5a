//! The sign-in's second step (SPEC section 7). After a right password, a
//! user with a second factor gets this form instead of a session; `POST
//! /login/mfa` takes a TOTP code or a recovery code. The pending sign-in
//! is the `rampart_mfa` cookie (5 minutes), bound to the browser's
//! pre-session: a cookie carried to another browser is worth nothing.

use std::time::Duration;

use axum::{body::Bytes, extract::State, response::Response};
use http::{HeaderMap, StatusCode, header};
use minijinja::context;
use serde::Deserialize;
use sha2::Digest;
use utoipa::ToSchema;

use super::{
    PreLoginPost,
    sign_in::{PreLoginPage, ReturnTo, login_page, signed_in},
};
use crate::{
    auth::{
        amr::{Amr, Method},
        mfa::PENDING_LIFETIME_MS,
    },
    http::{cookies, credentials::SessionCookie, error::ApiError},
    state::AppState,
    store::UserRecord,
};

/// The second step's form as the browser posts it.
#[derive(Default, Deserialize, ToSchema)]
pub struct CodeForm {
    /// A TOTP code or a recovery code.
    #[serde(default)]
    code: String,
    csrf_token: Option<String>,
    /// Where to go once signed in, carried from the password form.
    #[serde(default)]
    return_to: Option<String>,
}

/// What a pending sign-in of this browser is bound to: its pre-session.
pub(super) fn binding(headers: &HeaderMap, https: bool) -> Option<Vec<u8>> {
    cookies::get(headers, cookies::names(https).presession)
        .map(|presession| sha2::Sha256::digest(presession.as_bytes()).to_vec())
}

#[expect(clippy::too_many_arguments, reason = "the form's parts, each its own")]
fn page(
    state: &AppState,
    session: Option<&SessionCookie>,
    headers: &HeaderMap,
    https: bool,
    status: StatusCode,
    error: Option<&str>,
    passkeys: bool,
    back: &ReturnTo,
) -> Result<Response, ApiError> {
    let action = format!("{}/login/mfa", state.settings.own_prefix());
    let page = PreLoginPage {
        template: "login_mfa.html",
        status,
        context: context! {
            title => "Second factor", error, action, passkeys,
            return_to => back.path(), back_query => back.query()
        },
    };
    page.render(state, session, headers, https)
}

/// The second step begins for `user`, whose password was right.
pub(super) async fn begin(
    state: &AppState,
    post: &PreLoginPost,
    user: &UserRecord,
    passkeys: bool,
    back: &ReturnTo,
) -> Result<Response, ApiError> {
    let https = post.client.https;
    // The password form's CSRF check passed: the pre-session is there.
    let binding =
        binding(&post.headers, https).ok_or(ApiError::Forbidden("CSRF token missing or invalid"))?;
    let token = state.factors.begin_sign_in(user, Some(&binding)).await?;
    let mut response = page(
        state,
        post.session.as_ref(),
        &post.headers,
        https,
        StatusCode::OK,
        None,
        passkeys,
        back,
    )?;
    let lifetime = Duration::from_millis(u64::try_from(PENDING_LIFETIME_MS).unwrap_or_default());
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set_lasting(cookies::names(https).mfa, &token, https, lifetime),
    );
    Ok(response)
}

/// A sign-in of this browser's that waits for its second factor.
pub(super) struct Waiting {
    /// The `rampart_mfa` cookie's token.
    pub token: String,
    pub user: UserRecord,
}

/// This browser's live pending sign-in, if any. One whose user changed
/// since the password was checked (a new password, a disable) ends here.
pub(super) async fn waiting(state: &AppState, post: &PreLoginPost) -> Result<Option<Waiting>, ApiError> {
    let https = post.client.https;
    let Some(token) = cookies::get(&post.headers, cookies::names(https).mfa) else {
        return Ok(None);
    };
    let Some(pending) = state.factors.pending(token).await? else {
        return Ok(None);
    };
    if pending.binding.is_none() || pending.binding != binding(&post.headers, https) {
        return Ok(None);
    }
    let user = state
        .store
        .find_user_by_id(pending.user_id)
        .await?
        .filter(|user| !user.disabled && user.token_version == pending.token_version);
    let Some(user) = user else {
        state.factors.complete(token).await?;
        return Ok(None);
    };
    Ok(Some(Waiting {
        token: token.to_owned(),
        user,
    }))
}

/// Sign in with the second factor: a session, then the app page.
#[utoipa::path(post, path = "/login/mfa", tag = "pages",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: as `POST /login` signs in"),
        (status = 401, description = "A wrong code: the form again; no pending sign-in: the sign-in form", content_type = "text/html"),
        (status = 403, description = "CSRF token missing or invalid, or a cross-site request", body = crate::http::error::ErrorBody),
        (status = 429, description = "Too many attempts", body = crate::http::error::ErrorBody)
    ))]
pub async fn login_mfa(
    State(state): State<AppState>,
    post: PreLoginPost,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form: CodeForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refusal) = post.refusal(&state, form.csrf_token.as_deref(), "/login/mfa") {
        return Ok(refusal);
    }
    let back = ReturnTo::new(form.return_to.clone());
    let https = post.client.https;
    let names = cookies::names(https);
    // No live sign-in of this browser's: it starts over.
    let start_over = || {
        let mut response = login_page(
            &state,
            post.session.as_ref(),
            &post.headers,
            https,
            StatusCode::UNAUTHORIZED,
            Some("The sign-in expired: sign in again"),
            "",
            &back,
        )?;
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookies::clear(names.mfa, https));
        Ok(response)
    };
    let Some(Waiting { token, user }) = waiting(&state, &post).await? else {
        return start_over();
    };
    let shown = state.check_code(&user, &form.code, post.requester()).await?;
    if shown.is_none() {
        if state.factors.failed(&token).await? {
            let session = post.session.as_ref();
            let passkeys = state.factors.counts(user.id).await?.passkeys > 0;
            return page(
                &state,
                session,
                &post.headers,
                https,
                StatusCode::UNAUTHORIZED,
                Some("Invalid code"),
                passkeys,
                &back,
            );
        }
        return start_over();
    }
    if !state.factors.complete(&token).await? {
        return start_over();
    }
    let amr = Amr::of(&[Method::Pwd, Method::Otp, Method::Mfa]);
    match signed_in(&state, &post, &user, amr, back.landing(&state)).await? {
        Some(response) => Ok(response),
        None => start_over(),
    }
}
