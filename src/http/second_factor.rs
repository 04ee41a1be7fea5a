//! The second-factor policy, at the door (SPEC section 7). `auth.mfa`
//! names whom it covers; a credential of a covered user that shows no
//! second factor was issued while they had none, and is good for enrolling
//! one only: on any other route it is 403 `Second factor enrollment
//! required`. Routes in an `mfa` area (`/admin`) need `mfa` of a covered
//! caller: 403 `Second factor required`.
//!
//! A credential is judged by what it shows (its `amr`), not by the user's
//! factors now: a request with a bearer token reads no database. A user who
//! enrolled with such a credential signs in again for a full one.

use axum::response::Response;
use http::StatusCode;

use super::{credentials::CurrentUser, detail::detail_response, route::Properties};
use crate::{auth::amr::Method, config::MfaPolicy, names::Role};

const ENROLMENT_REQUIRED: &str = "Second factor enrollment required";
const FACTOR_REQUIRED: &str = "Second factor required";

/// `auth.mfa`, applied to a request's route and caller.
#[derive(Clone, Copy, Debug)]
pub struct FactorPolicy(MfaPolicy);

impl FactorPolicy {
    pub fn new(policy: MfaPolicy) -> Self {
        Self(policy)
    }

    /// Whether the policy covers `user`.
    fn covers(self, user: &CurrentUser) -> bool {
        self.0 != MfaPolicy::Optional && self.0.covers(user.has_role(Role::ADMIN))
    }

    /// Whether `user`'s credential is good for enrolling a second factor
    /// only. A provider's sign-in (`fed`) never is: its factors are the
    /// provider's, and an account it made has no password to enrol one
    /// with here; `/admin/*` still needs the provider to say `mfa`.
    pub fn enrolment_only(self, user: &CurrentUser) -> bool {
        let amr = user.amr();
        let second_factor = amr.has(Method::Otp) || amr.has(Method::Hwk) || amr.is_multi_factor();
        self.covers(user) && !second_factor && !amr.has(Method::Fed)
    }

    /// The 403 for a caller the policy stops on this route, if it does.
    pub fn refusal(self, route: &Properties, user: Option<&CurrentUser>) -> Option<Response> {
        let user = user.filter(|user| self.covers(user))?;
        let detail = if !route.enrolment && self.enrolment_only(user) {
            ENROLMENT_REQUIRED
        } else if route.needs_mfa && !user.amr().is_multi_factor() {
            FACTOR_REQUIRED
        } else {
            return None;
        };
        Some(detail_response(StatusCode::FORBIDDEN, detail))
    }
}
