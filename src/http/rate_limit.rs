//! The rate-limit step of the middleware stack: which budget a request
//! spends, and the refusal's audit; the decision's form in an answer is
//! [`super::limited`].

use std::sync::Arc;

use axum::response::Response;

use super::{
    client::ClientInfo,
    credentials::{Authentication, CurrentUser},
    limited::refused,
    request_id::RequestId,
};
use crate::{
    audit::Auditor,
    ratelimit::{Decision, PolicyName, RateLimits, Subject},
};

/// What the step needs, built once.
#[derive(Clone)]
pub struct RateLimitStep {
    pub limits: Arc<RateLimits>,
    pub audit: Auditor,
}

/// What the step decided.
pub enum Admission {
    /// The route is under no policy (the probes).
    Unlimited,
    /// Allowed; the budget's state goes into the response's headers.
    Allowed(Decision),
    /// Refused: the 429 to send.
    Refused(Response),
}

impl RateLimitStep {
    /// Spends the request's budget under its route's `policy` (`None`:
    /// unlimited). The budget is the authenticated user's, else the client
    /// IP's; logins are always per IP (the attempted name has its own
    /// policy, in the handlers).
    pub async fn admit(
        &self,
        policy: Option<PolicyName>,
        authentication: &Authentication,
        id: &RequestId,
        client: &ClientInfo,
    ) -> Admission {
        let Some(policy) = policy else {
            return Admission::Unlimited;
        };
        let user = if policy == PolicyName::Login {
            None
        } else {
            authentication.user()
        };
        let subject = user
            .as_ref()
            .map_or(Subject::ip(client.ip), |user| Subject::name(user.username()));
        match self.limits.check(policy, subject).await {
            Ok(decision) => Admission::Allowed(decision),
            Err(refusal) => {
                self.audit.rate_limited(
                    &refusal,
                    user.as_ref().map(CurrentUser::username),
                    &super::provenance::from(id, client),
                );
                Admission::Refused(refused(&refusal))
            }
        }
    }
}
