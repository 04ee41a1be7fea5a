//! The token endpoints' error bodies: RFC 6749 section 5.2's `error` and
//! `error_description` beside the spec's `detail`, so OAuth2 client
//! libraries raise instead of storing an error as a token (SPEC section 3,
//! "Tokens"). Only `/token` and `/token/revoke` answer this way.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    http::error::ApiError,
    input::{LocPart, ValidationIssue},
};

/// RFC 6749 section 5.2's error codes that `/token` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthError {
    InvalidRequest,
    InvalidGrant,
    UnsupportedGrantType,
}

/// A `/token` error (401): `detail`, and RFC 6749 section 5.2's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    #[schema(example = "Incorrect username or password")]
    pub detail: String,
    pub error: OAuthError,
    pub error_description: String,
}

/// A `/token` validation error (422): the issues, and RFC 6749 section
/// 5.2's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthValidationErrorBody {
    pub detail: Vec<ValidationIssue>,
    pub error: OAuthError,
    pub error_description: String,
}

/// A grant this server knows but has switched off (`auth.password_login =
/// false` and the password grant): 400 `unsupported_grant_type`, as RFC
/// 6749 section 5.2 has it.
pub fn grant_switched_off(detail: &'static str) -> Response {
    let body = json!({
        "detail": detail,
        "error": OAuthError::UnsupportedGrantType,
        "error_description": detail,
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// An error as the token endpoints answer it: 4xx bodies also carry
/// RFC 6749 section 5.2's `error` and `error_description`, so OAuth2
/// client libraries raise instead of storing an error as a token (SPEC
/// section 3, "Tokens"). Statuses are unchanged; 429 and 5xx keep the
/// plain body.
pub fn answer(error: ApiError) -> Response {
    let (status, code, detail, description) = match &error {
        ApiError::Unauthorized(detail) => (
            StatusCode::UNAUTHORIZED,
            OAuthError::InvalidGrant,
            json!(detail),
            (*detail).to_owned(),
        ),
        ApiError::Validation(issues) => {
            let grant_type = issues
                .iter()
                .any(|issue| issue.loc.get(1) == Some(&LocPart::from("grant_type")));
            let code = if grant_type {
                OAuthError::UnsupportedGrantType
            } else {
                OAuthError::InvalidRequest
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                json!(issues),
                describe(issues),
            )
        }
        ApiError::PayloadTooLarge | ApiError::UnsupportedMediaType | ApiError::BadRequest(_) => {
            let status = match &error {
                ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            let detail = match &error {
                ApiError::BadRequest(detail) => detail,
                _ => status.canonical_reason().unwrap_or("Bad Request"),
            };
            (
                status,
                OAuthError::InvalidRequest,
                json!(detail),
                detail.to_owned(),
            )
        }
        _ => return error.into_response(),
    };
    let body = json!({ "detail": detail, "error": code, "error_description": description });
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// One sentence for a list of issues: `username: Field required; ...`.
fn describe(issues: &[ValidationIssue]) -> String {
    let field = |issue: &ValidationIssue| {
        issue
            .loc
            .iter()
            .skip(1)
            .map(|part| match part {
                LocPart::Key(key) => key.to_string(),
                LocPart::Index(index) => index.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".")
    };
    issues
        .iter()
        .map(|issue| match field(issue) {
            name if name.is_empty() => issue.msg.to_string(),
            name => format!("{name}: {}", issue.msg),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first step's answer for a user with a second factor (403, the
/// convention of Auth0's `mfa_required`): the `mfa_token` of the second.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredBody {
    #[schema(example = "Second factor required")]
    pub detail: &'static str,
    #[schema(example = "mfa_required")]
    pub error: &'static str,
    pub error_description: &'static str,
    /// For `grant_type=urn:rampart:grant-type:mfa`: single use, 5 minutes.
    pub mfa_token: String,
}

/// 403 `mfa_required` with the second step's token.
pub fn mfa_required(mfa_token: String) -> Response {
    const REQUIRED: &str = "Second factor required";
    let body = MfaRequiredBody {
        detail: REQUIRED,
        error: "mfa_required",
        error_description: REQUIRED,
        mfa_token,
    };
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}
