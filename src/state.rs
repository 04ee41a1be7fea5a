//! The application state: the services every handler may use, built once at
//! start and shared by reference.

use std::sync::Arc;

use crate::{
    audit::Auditor,
    auth::{keyring::KeyRing, service::AccountService, session::Sessions},
    config::Settings,
    http::csrf::CsrfGuard,
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
}

impl axum::extract::FromRef<AppState> for Auditor {
    fn from_ref(state: &AppState) -> Self {
        state.audit.clone()
    }
}
