//! The application state: the services every handler may use, built once at
//! start and shared by reference.

use std::sync::Arc;

use secrecy::SecretString;

use crate::{
    audit::{Action, Auditor, Outcome},
    auth::{
        first_run::FirstRun,
        keyring::KeyRing,
        login::{Budgets, Login, LoginError},
        mfa::{SecondFactors, Shown},
        oidc::Sso,
        service::AccountService,
        session::Sessions,
        users::{CheckError, Users},
    },
    config::Settings,
    gateway::Gateway,
    http::{caller::Requester, credentials::CurrentUser, csrf::CsrfGuard, error::ApiError, upgrade::Gate},
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
    pub factors: Arc<SecondFactors>,
    pub csrf: Arc<CsrfGuard>,
    pub items: Items,
    pub sockets: Arc<Hub>,
    /// The setup link's state, when the server started without an admin.
    pub first_run: Option<Arc<FirstRun>>,
    /// `[gateway]`: the API rampart protects, when there is one.
    pub gateway: Option<Arc<Gateway>>,
    /// The OpenID providers people may sign in with (SPEC section 8).
    pub sso: Arc<Sso>,
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
    fn login(&self) -> Login<'_> {
        Login {
            limits: &self.limits,
            users: &self.users,
            accounts: &self.accounts,
            audit: &self.audit,
        }
    }

    /// The one road to a password check (`auth::login`): the login budgets
    /// of the requester, with the device cookie it sent, then the check. A
    /// wrong name or password is audited here, as a failure of `action` by
    /// the name that was tried.
    pub async fn check_password(
        &self,
        action: Action,
        attempted: &str,
        password: SecretString,
        requester: Requester<'_>,
        budgets: Budgets,
    ) -> Result<UserRecord, LoginRefused> {
        self.login()
            .check_password(
                attempted,
                password,
                requester.login_client(),
                requester.provenance,
                budgets,
            )
            .await
            .map_err(|err| match err {
                LoginError::Throttled(refusal) => LoginRefused::Error(ApiError::RateLimited(refusal)),
                LoginError::Check(CheckError::InvalidCredentials) => {
                    self.audit.record(
                        action,
                        Outcome::Failure,
                        Some(Username::loggable(attempted)),
                        None,
                        requester.provenance,
                    );
                    LoginRefused::BadCredentials
                }
                LoginError::Check(CheckError::Hash(err)) => LoginRefused::Error(err.into()),
                LoginError::Check(CheckError::Store(err)) => LoginRefused::Error(err.into()),
            })
    }

    /// The stored account of the signed-in caller (404 when it has gone).
    pub async fn account_of(&self, user: &CurrentUser) -> Result<UserRecord, ApiError> {
        let not_found = || ApiError::NotFound("User not found");
        let name = Username::parse(user.username()).map_err(|_| not_found())?;
        self.store.find_user(&name).await?.ok_or_else(not_found)
    }

    /// The signed-in caller's `current_password`, checked before a change
    /// to their account (a password, a factor): a login attempt, spending
    /// the login budgets like one, or a stolen token or session becomes an
    /// unthrottled password oracle (ASVS 5.0 6.3.1; OWASP API2). A wrong
    /// one is 400 `Incorrect password`, audited as a failure of `action`.
    pub async fn reauthenticate(
        &self,
        action: Action,
        user: &CurrentUser,
        current_password: String,
        requester: Requester<'_>,
    ) -> Result<UserRecord, ApiError> {
        let checked = self
            .check_password(
                action,
                user.username(),
                SecretString::from(current_password),
                requester,
                Budgets::IpAndName,
            )
            .await;
        match checked {
            Ok(user) => Ok(user),
            Err(LoginRefused::BadCredentials) => Err(ApiError::BadRequest("Incorrect password")),
            Err(LoginRefused::Error(err)) => Err(err),
        }
    }

    /// Checks a second factor's code for `user`, the code spending a
    /// `login_per_username` attempt as a password does (given back when
    /// right): which code it was, `None` when wrong.
    pub async fn check_code(
        &self,
        user: &UserRecord,
        code: &str,
        requester: Requester<'_>,
    ) -> Result<Option<Shown>, ApiError> {
        let provenance = requester.provenance;
        let name = Username::parse(&user.username).map_err(ApiError::internal)?;
        let attempt = self
            .login()
            .attempt(&name, requester.login_client(), provenance, Budgets::Name)
            .await
            .map_err(|err| match err {
                LoginError::Throttled(refusal) => ApiError::RateLimited(refusal),
                LoginError::Check(CheckError::Hash(err)) => err.into(),
                LoginError::Check(CheckError::Store(err)) => err.into(),
                LoginError::Check(CheckError::InvalidCredentials) => ApiError::Unauthorized("Invalid code"),
            })?;
        let shown = self.factors.verify_code(user.id, code).await?;
        match shown {
            Some(shown) => {
                attempt.succeeded(&self.limits).await;
                let (action, factor) = match shown {
                    Shown::Totp => (Action::MfaPassed, "totp"),
                    Shown::RecoveryCode => (Action::RecoveryCodeUsed, "recovery_code"),
                };
                self.audit.record(
                    action,
                    Outcome::Success,
                    Some(&user.username),
                    Some(factor),
                    provenance,
                );
            }
            None => self.audit.record(
                Action::MfaFailed,
                Outcome::Failure,
                Some(&user.username),
                None,
                provenance,
            ),
        }
        Ok(shown)
    }
}
