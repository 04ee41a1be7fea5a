//! The application state: the services every handler may use, built once at
//! start and shared by reference.

use std::sync::Arc;

use http::HeaderMap;

use crate::{
    audit::{Auditor, Origin},
    auth::{
        keyring::KeyRing,
        service::AccountService,
        session::Sessions,
        throttle::{Budgets, Client, LoginAttempt, LoginThrottle, Throttled},
    },
    config::Settings,
    http::{client::ClientInfo, cookies, csrf::CsrfGuard, error::ApiError},
    items::Items,
    names::Username,
    ratelimit::RateLimits,
    store::Store,
};

#[derive(Clone, Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub accounts: Arc<AccountService>,
    pub keys: Arc<KeyRing>,
    pub audit: Auditor,
    pub limits: Arc<RateLimits>,
    pub sessions: Sessions,
    pub csrf: Arc<CsrfGuard>,
    pub items: Items,
}

impl axum::extract::FromRef<AppState> for Auditor {
    fn from_ref(state: &AppState) -> Self {
        state.audit.clone()
    }
}

impl AppState {
    /// Spends one password check's share of the login budgets (see
    /// `auth::throttle`), or the 429 to answer. The client is the request's,
    /// with the device cookie it sent.
    pub async fn login_attempt(
        &self,
        username: &Username,
        client: &ClientInfo,
        headers: &HeaderMap,
        origin: &Origin,
        budgets: Budgets,
    ) -> Result<LoginAttempt, ApiError> {
        let throttle = LoginThrottle {
            limits: &self.limits,
            accounts: &self.accounts,
            audit: &self.audit,
        };
        let client = Client {
            ip: client.ip,
            device_cookie: cookies::get(headers, cookies::names(client.https).device),
        };
        throttle
            .attempt(username, client, origin, budgets)
            .await
            .map_err(|throttled| match throttled {
                Throttled::Refused(refusal) => ApiError::RateLimited(refusal),
                Throttled::Store(err) => ApiError::internal(err),
            })
    }
}
