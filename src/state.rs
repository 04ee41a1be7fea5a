//! The application state: the services every handler may use, built once at
//! start and shared by reference.

use std::sync::Arc;

use http::HeaderMap;
use secrecy::SecretString;

use crate::{
    audit::{Action, Auditor, Outcome, Provenance},
    auth::{
        first_run::FirstRun,
        keyring::KeyRing,
        login::{Budgets, Client, Login, LoginError},
        service::AccountService,
        session::Sessions,
        users::{CheckError, Users},
    },
    config::Settings,
    gateway::Gateway,
    http::{client::ClientInfo, cookies, csrf::CsrfGuard, error::ApiError, upgrade::Gate},
    items::Items,
    names::Username,
    ratelimit::RateLimits,
    realtime::Hub,
    store::{Store, UserRecord},
};

/// The services, behind one `Arc`: axum clones the state for every
/// request, and one reference count is cheaper than one per service.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

#[derive(Debug)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub accounts: Arc<AccountService>,
    pub users: Arc<Users>,
    pub keys: Arc<KeyRing>,
    pub audit: Auditor,
    pub limits: Arc<RateLimits>,
    pub sessions: Sessions,
    pub csrf: Arc<CsrfGuard>,
    pub items: Items,
    pub sockets: Arc<Hub>,
    /// The setup link's state, when the server started without an admin.
    pub first_run: Option<Arc<FirstRun>>,
    /// `[gateway]`: the API rampart protects, when there is one.
    pub gateway: Option<Arc<Gateway>>,
}

impl Services {
    /// The WebSocket upgrade gate.
    pub fn gate(&self) -> Gate {
        Gate {
            csrf: self.csrf.clone(),
            audit: self.audit.clone(),
            sockets: self.sockets.clone(),
        }
    }

    /// Where a browser lands after signing in: the app page, or with a
    /// gateway (whose upstream owns the resources) `/`.
    pub fn home(&self) -> &'static str {
        if self.gateway.is_some() { "/" } else { "/app" }
    }
}

impl axum::extract::FromRef<AppState> for Auditor {
    fn from_ref(state: &AppState) -> Self {
        state.audit.clone()
    }
}

/// Why a password check did not find the user.
#[derive(Debug)]
pub enum LoginRefused {
    /// Wrong name or password: each route answers in its own words.
    BadCredentials,
    /// Throttled (429), a full hashing queue (503) or a failure (500).
    Error(ApiError),
}

impl AppState {
    /// The one road to a password check (`auth::login`): the login budgets
    /// of the request's client, with the device cookie it sent, then the
    /// check. A wrong name or password is audited here, as a failure of
    /// `action` by the name that was tried.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a different fact of the attempt"
    )]
    pub async fn check_password(
        &self,
        action: Action,
        attempted: &str,
        password: SecretString,
        client: &ClientInfo,
        headers: &HeaderMap,
        provenance: &Provenance,
        budgets: Budgets,
    ) -> Result<UserRecord, LoginRefused> {
        let login = Login {
            limits: &self.limits,
            users: &self.users,
            accounts: &self.accounts,
            audit: &self.audit,
        };
        let client = Client {
            ip: client.ip,
            device_cookie: cookies::get(headers, cookies::names(client.https).device),
        };
        login
            .check_password(attempted, password, client, provenance, budgets)
            .await
            .map_err(|err| match err {
                LoginError::Throttled(refusal) => LoginRefused::Error(ApiError::RateLimited(refusal)),
                LoginError::Check(CheckError::InvalidCredentials) => {
                    self.audit.record(
                        action,
                        Outcome::Failure,
                        Some(Username::loggable(attempted)),
                        None,
                        provenance,
                    );
                    LoginRefused::BadCredentials
                }
                LoginError::Check(CheckError::Hash(err)) => LoginRefused::Error(err.into()),
                LoginError::Check(CheckError::Store(err)) => LoginRefused::Error(err.into()),
            })
    }
}
