//! The one road to a password check, for `POST /token`, `POST /login` and
//! the current password of a change: the login throttle, then the check.
//!
//! The throttle (SPEC section 3, "Tokens"): guessing is throttled without
//! handing strangers a lockout.
//!
//! Every password check (`POST /token`, `POST /login`, the current password
//! of a change) spends the attempted name's `login_per_username` budget
//! before any hashing, so a flood costs no CPU, and gives it back when the
//! password is right, so the budget counts failures. A client where the
//! user signed in successfully in the last 30 days (by device cookie, else
//! by address) spends a budget of its own instead of the one strangers
//! share, so guessing from elsewhere cannot lock the owner out (OWASP
//! Authentication cheat sheet, "Account lockout"; OWASP "Slow Down Online
//! Guessing Attacks with Device Cookies").

use std::net::IpAddr;

use secrecy::SecretString;

use super::{
    service::AccountService,
    users::{CheckError, Users},
};
use crate::{
    audit::{Auditor, Provenance},
    names::Username,
    ratelimit::{KnownClient, PolicyName, RateLimits, Refusal, Subject},
    store::{StoreError, UserRecord},
};

/// What a password sign-in answers when `auth.password_login` is off
/// (SPEC section 8): the providers are the only way in.
pub const PASSWORD_LOGIN_OFF: &str =
    "Password sign-in is turned off: sign in through your organisation's provider";

/// Which login budgets a password check spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budgets {
    /// The name's (on the login routes, whose `login` policy the
    /// middleware applied to the client IP already).
    Name,
    /// The client IP's `login` budget and the name's: a password check
    /// outside the login routes (the current password at a change).
    IpAndName,
}

/// Why a password check failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// A login budget is spent: the check did not run.
    #[error("rate limited")]
    Throttled(Refusal),
    /// The check found no user, or could not run.
    #[error(transparent)]
    Check(#[from] CheckError),
}

impl From<StoreError> for LoginError {
    fn from(err: StoreError) -> Self {
        Self::Check(CheckError::Store(err))
    }
}

/// The client a password check comes from.
#[derive(Clone, Copy, Debug)]
pub struct Client<'a> {
    pub ip: IpAddr,
    /// The value of the browser's device cookie, if it sent one.
    pub device_cookie: Option<&'a str>,
}

/// Password checks, over this instance's accounts and rate limits.
pub struct Login<'a> {
    pub limits: &'a RateLimits,
    pub users: &'a Users,
    /// Knows the user's known clients.
    pub accounts: &'a AccountService,
    pub audit: &'a Auditor,
}

impl Login<'_> {
    /// The enabled user whose password this is, if the login budgets allow
    /// the check. A name that cannot exist spends no budget (it cannot be
    /// guessed at) and is checked like an unknown user, with the same
    /// hashing work.
    pub async fn check_password(
        &self,
        attempted: &str,
        password: SecretString,
        client: Client<'_>,
        provenance: &Provenance,
        budgets: Budgets,
    ) -> Result<UserRecord, LoginError> {
        let attempt = match Username::parse(attempted) {
            Ok(name) => Some(self.attempt(&name, client, provenance, budgets).await?),
            Err(_) => None,
        };
        let user = self.users.check_password(attempted, password).await?;
        if let Some(attempt) = attempt {
            attempt.succeeded(self.limits).await;
        }
        Ok(user)
    }

    /// Spends one attempt of the login budgets, or says which refused
    /// (audited as a refusal of the name that was tried). A second
    /// factor's code spends one as a password does.
    pub async fn attempt(
        &self,
        username: &Username,
        client: Client<'_>,
        provenance: &Provenance,
        budgets: Budgets,
    ) -> Result<LoginAttempt, LoginError> {
        if budgets == Budgets::IpAndName {
            self.spend(PolicyName::Login, Subject::ip(client.ip), None, provenance)
                .await?;
        }
        let known = self
            .accounts
            .known_client(username, Some(client.ip), client.device_cookie)
            .await?;
        let attempt = LoginAttempt {
            username: username.clone(),
            known,
            ip: (budgets == Budgets::IpAndName).then_some(client.ip),
        };
        self.spend(
            PolicyName::LoginPerUsername,
            attempt.name_subject(),
            Some(username.as_str()),
            provenance,
        )
        .await?;
        Ok(attempt)
    }

    async fn spend(
        &self,
        policy: PolicyName,
        subject: Subject<'_>,
        actor: Option<&str>,
        provenance: &Provenance,
    ) -> Result<(), LoginError> {
        let refusal = match self.limits.check(policy, subject).await {
            Ok(_) => return Ok(()),
            Err(refusal) => refusal,
        };
        self.audit.rate_limited(&refusal, actor, provenance);
        Err(LoginError::Throttled(refusal))
    }
}

/// The login budgets one password check spent.
#[must_use = "a successful check gives its budget back"]
pub struct LoginAttempt {
    username: Username,
    known: Option<KnownClient>,
    /// The client IP whose `login` budget was spent here, if it was.
    ip: Option<IpAddr>,
}

impl LoginAttempt {
    fn name_subject(&self) -> Subject<'_> {
        match self.known {
            Some(client) => Subject::Known(self.username.as_str(), client),
            None => Subject::name(self.username.as_str()),
        }
    }

    /// The password (or code) was right: the budgets get this attempt
    /// back.
    pub async fn succeeded(self, limits: &RateLimits) {
        limits
            .refund(PolicyName::LoginPerUsername, self.name_subject())
            .await;
        if let Some(ip) = self.ip {
            limits.refund(PolicyName::Login, Subject::ip(ip)).await;
        }
    }
}
