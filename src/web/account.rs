//! The account page (`GET /account`, SPEC section 7): where a person turns
//! TOTP on (its key and a QR code drawn on the server as SVG, then a code
//! from the app) or off, renews recovery codes and changes their password,
//! all without JavaScript. Its forms post to `/account/...` (CSRF-checked
//! as every session request is), and each answers the page again with what
//! happened; a change of password ends every session, this one too.

use axum::{
    body::Bytes,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use minijinja::{Value, context};
use qrcode::{EcLevel, QrCode, render::svg};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{app_page::SignedIn, no_store, templates::render};
use crate::{
    audit::{Action, Outcome, Provenance},
    auth::{
        mfa::{Confirmed, TotpEnrolment},
        users::NewUserError,
    },
    http::{
        caller::Requester, client::ClientInfo, credentials::CurrentUser, error::ApiError,
        second_factor::FactorPolicy,
    },
    state::AppState,
    store::rfc3339,
};

/// What the page says besides the account's state.
#[derive(Default)]
struct Said<'a> {
    status: Option<StatusCode>,
    notice: Option<&'a str>,
    error: Option<String>,
    /// A TOTP enrolment under way: its key and QR code.
    pending: Option<TotpEnrolment>,
    /// Recovery codes, shown this once.
    codes: Vec<String>,
}

/// The account's forms, as the browser posts them.
#[derive(Default, Deserialize, ToSchema)]
pub struct AccountForm {
    #[serde(default)]
    #[schema(format = Password)]
    current_password: String,
    #[serde(default)]
    #[schema(format = Password)]
    new_password: String,
    #[serde(default)]
    code: String,
    /// The passkey to remove.
    #[serde(default)]
    passkey: String,
}

/// The otpauth URI as a QR code, an `<svg>` element to inline (its XML
/// declaration dropped; the colours are constants).
fn qr_svg(uri: &str) -> Result<String, ApiError> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).map_err(ApiError::internal)?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].to_owned())
}

async fn page(
    state: &AppState,
    SignedIn { user, binding }: &SignedIn,
    headers: &HeaderMap,
    https: bool,
    said: Said<'_>,
) -> Result<Response, ApiError> {
    let record = state.account_of(user).await?;
    let counts = state.factors.counts(record.id).await?;
    let passkeys: Vec<_> = state
        .factors
        .passkeys(record.id)
        .await?
        .iter()
        .map(|passkey| {
            context! {
                id => &passkey.id,
                name => &passkey.name,
                created_at => rfc3339(passkey.created_at),
                last_used_at => passkey.last_used_at.map(rfc3339),
            }
        })
        .collect();
    let (csrf_token, cookie): (String, HeaderValue) = state.csrf.token(headers, *binding, https);
    let pending = match &said.pending {
        Some(enrolment) => Some(context! {
            secret => &enrolment.secret,
            svg => Value::from_safe_string(qr_svg(&enrolment.otpauth_uri)?),
        }),
        None => None,
    };
    let page = render(
        "account.html",
        context! {
            title => "Account",
            prefix => state.settings.own_prefix(),
            // The page answers at /account/... too: the stylesheet's path
            // from the root.
            root => format!("{}/", state.settings.own_prefix()),
            username => &record.username,
            csrf_token,
            totp => counts.totp,
            passkeys,
            codes_left => counts.recovery_codes,
            enrolment_required => FactorPolicy::new(state.settings.auth.mfa).enrolment_only(user),
            notice => said.notice,
            error => said.error,
            pending,
            codes => said.codes,
        },
    )?;
    let status = said.status.unwrap_or(StatusCode::OK);
    Ok(no_store(
        (status, [(header::SET_COOKIE, cookie)], page).into_response(),
    ))
}

/// The person's account: password, second factors, recovery codes.
#[utoipa::path(get, path = "/account", tag = "pages",
    responses(
        (status = 200, description = "HTML page; sets the CSRF cookie", content_type = "text/html"),
        (status = 303, description = "No session: to /login")
    ))]
pub async fn account(
    State(state): State<AppState>,
    client: ClientInfo,
    signed_in: SignedIn,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    page(&state, &signed_in, &headers, client.https, Said::default()).await
}

/// What every form of the page needs.
struct Post {
    signed_in: SignedIn,
    client: ClientInfo,
    provenance: Provenance,
    headers: HeaderMap,
    form: AccountForm,
}

impl Post {
    fn new(
        signed_in: SignedIn,
        client: ClientInfo,
        provenance: Provenance,
        headers: HeaderMap,
        body: &[u8],
    ) -> Self {
        Self {
            signed_in,
            client,
            provenance,
            headers,
            form: serde_urlencoded::from_bytes(body).unwrap_or_default(),
        }
    }

    fn user(&self) -> &CurrentUser {
        &self.signed_in.user
    }

    async fn answer(&self, state: &AppState, said: Said<'_>) -> Result<Response, ApiError> {
        page(state, &self.signed_in, &self.headers, self.client.https, said).await
    }

    /// The form's current password checked (a login attempt); a wrong one
    /// answers the page with 400.
    async fn reauthenticate(
        &self,
        state: &AppState,
        action: Action,
    ) -> Result<Result<crate::store::UserRecord, Response>, ApiError> {
        let checked = state
            .reauthenticate(
                action,
                self.user(),
                self.form.current_password.clone(),
                Requester {
                    client: &self.client,
                    headers: &self.headers,
                    provenance: &self.provenance,
                },
            )
            .await;
        match checked {
            Ok(user) => Ok(Ok(user)),
            Err(ApiError::BadRequest(detail)) => {
                let said = Said {
                    status: Some(StatusCode::BAD_REQUEST),
                    error: Some(detail.to_owned()),
                    ..Said::default()
                };
                Ok(Err(self.answer(state, said).await?))
            }
            Err(err) => Err(err),
        }
    }
}

macro_rules! post_handler {
    ($(#[$doc:meta])* $name:ident, $path:literal, $body:ident) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "pages",
            request_body(content = AccountForm, content_type = "application/x-www-form-urlencoded"),
            responses(
                (status = 200, description = "The page again, saying what happened", content_type = "text/html"),
                (status = 400, description = "A wrong current password or code: the page again", content_type = "text/html"),
                (status = 403, description = "CSRF token missing or invalid", body = crate::http::error::ErrorBody)
            ))]
        pub async fn $name(
            State(state): State<AppState>,
            client: ClientInfo,
            signed_in: SignedIn,
            provenance: Provenance,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            let post = Post::new(signed_in, client, provenance, headers, &body);
            $body(&state, &post).await
        }
    };
}

post_handler!(
    /// Begin TOTP from the page: its key and QR code, and a form for the
    /// first code.
    account_totp, "/account/totp", begin_totp
);
post_handler!(
    /// Turn TOTP on with the app's first code: the recovery codes.
    account_totp_confirm, "/account/totp/confirm", confirm_totp
);
post_handler!(
    /// Turn TOTP off.
    account_totp_remove, "/account/totp/remove", remove_totp
);
post_handler!(
    /// Remove a passkey.
    account_passkey_remove, "/account/passkeys/remove", remove_passkey
);
post_handler!(
    /// A new set of recovery codes.
    account_recovery_codes, "/account/recovery-codes", renew_codes
);
post_handler!(
    /// Change the password: every session ends, this one too.
    account_password, "/account/password", change_password
);

async fn begin_totp(state: &AppState, post: &Post) -> Result<Response, ApiError> {
    let account = match post.reauthenticate(state, Action::MfaEnrolled).await? {
        Ok(account) => account,
        Err(answer) => return Ok(answer),
    };
    let said = match state.factors.begin_totp(&account).await? {
        Some(enrolment) => Said {
            pending: Some(enrolment),
            ..Said::default()
        },
        None => Said {
            status: Some(StatusCode::CONFLICT),
            error: Some("TOTP is already on".to_owned()),
            ..Said::default()
        },
    };
    post.answer(state, said).await
}

async fn confirm_totp(state: &AppState, post: &Post) -> Result<Response, ApiError> {
    let record = state.account_of(post.user()).await?;
    let said = match state.factors.confirm_totp(record.id, &post.form.code).await? {
        Confirmed::On(codes) => {
            state.audit.record(
                Action::MfaEnrolled,
                Outcome::Success,
                Some(&record.username),
                Some("totp"),
                &post.provenance,
            );
            Said {
                notice: Some("TOTP is on. Sign in again to use it."),
                codes,
                ..Said::default()
            }
        }
        Confirmed::WrongCode => Said {
            status: Some(StatusCode::BAD_REQUEST),
            error: Some("Invalid code: set up again and type the app's current code".to_owned()),
            ..Said::default()
        },
        Confirmed::NothingPending => Said {
            status: Some(StatusCode::CONFLICT),
            error: Some("No TOTP set-up is under way".to_owned()),
            ..Said::default()
        },
    };
    post.answer(state, said).await
}

async fn remove_totp(state: &AppState, post: &Post) -> Result<Response, ApiError> {
    let account = match post.reauthenticate(state, Action::MfaRemoved).await? {
        Ok(account) => account,
        Err(answer) => return Ok(answer),
    };
    if state.factors.remove_totp(account.id).await? {
        state.audit.record(
            Action::MfaRemoved,
            Outcome::Success,
            Some(&account.username),
            Some("totp"),
            &post.provenance,
        );
    }
    let said = Said {
        notice: Some("TOTP is off."),
        ..Said::default()
    };
    post.answer(state, said).await
}

async fn remove_passkey(state: &AppState, post: &Post) -> Result<Response, ApiError> {
    let account = match post.reauthenticate(state, Action::MfaRemoved).await? {
        Ok(account) => account,
        Err(answer) => return Ok(answer),
    };
    let said = if state
        .factors
        .remove_passkey(account.id, &post.form.passkey)
        .await?
    {
        state.audit.record(
            Action::MfaRemoved,
            Outcome::Success,
            Some(&account.username),
            Some("passkey"),
            &post.provenance,
        );
        Said {
            notice: Some("The passkey is removed."),
            ..Said::default()
        }
    } else {
        Said {
            status: Some(StatusCode::NOT_FOUND),
            error: Some("No such passkey".to_owned()),
            ..Said::default()
        }
    };
    post.answer(state, said).await
}

async fn renew_codes(state: &AppState, post: &Post) -> Result<Response, ApiError> {
    let account = match post.reauthenticate(state, Action::MfaEnrolled).await? {
        Ok(account) => account,
        Err(answer) => return Ok(answer),
    };
    let said = match state.factors.renew_recovery_codes(account.id).await? {
        Some(codes) => {
            state.audit.record(
                Action::MfaEnrolled,
                Outcome::Success,
                Some(&account.username),
                Some("recovery_codes"),
                &post.provenance,
            );
            Said {
                notice: Some("New recovery codes; the old ones no longer work."),
                codes,
                ..Said::default()
            }
        }
        None => Said {
            status: Some(StatusCode::CONFLICT),
            error: Some("No second factor to recover".to_owned()),
            ..Said::default()
        },
    };
    post.answer(state, said).await
}

async fn change_password(state: &AppState, post: &Post) -> Result<Response, ApiError> {
    let account = match post.reauthenticate(state, Action::PasswordChanged).await? {
        Ok(account) => account,
        Err(answer) => return Ok(answer),
    };
    let changed = state
        .users
        .set_password(&account, SecretString::from(post.form.new_password.clone()))
        .await;
    match changed {
        Ok(()) => {
            state.audit.record(
                Action::PasswordChanged,
                Outcome::Success,
                Some(&account.username),
                None,
                &post.provenance,
            );
            let login = format!("{}/login", state.settings.own_prefix());
            Ok(no_store(Redirect::to(&login).into_response()))
        }
        Err(NewUserError::Password(err)) => {
            let said = Said {
                status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                error: Some(format!("New password: {err}")),
                ..Said::default()
            };
            post.answer(state, said).await
        }
        Err(NewUserError::Hash(err)) => Err(err.into()),
        Err(err) => Err(ApiError::internal(err)),
    }
}
