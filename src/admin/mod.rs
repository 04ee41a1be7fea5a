//! What an admin does, one way for the admin API (`routes`) and the
//! console (`web`) alike (SPEC sections 4 and 9): change a user's roles,
//! disable or enable them, reset their second factors, end one of their
//! sessions, rotate or revoke a signing key, create a user. Each change is
//! audited with the admin as its actor and what it changed as its target.
//!
//! The last enabled admin can neither be disabled nor lose the role, so the
//! server cannot be locked out of its own administration.

pub mod credentials;
pub mod stats;

use secrecy::SecretString;

use crate::{
    audit::{Action, Outcome, Provenance},
    auth::{keyring::Rotation, users::NewUserError},
    http::{credentials::CurrentUser, error::ApiError},
    names::{Role, Username},
    state::AppState,
    store::{UserChange, UserRecord, now_ms},
};
use credentials::CredentialId;

/// Why a change to the last enabled admin is refused.
pub const LAST_ADMIN: &str = "The last enabled admin cannot be disabled or lose the admin role";

/// An admin at work: who, from where.
pub struct Operator<'a> {
    state: &'a AppState,
    admin: &'a str,
    provenance: &'a Provenance,
}

impl<'a> Operator<'a> {
    pub fn new(state: &'a AppState, admin: &'a CurrentUser, provenance: &'a Provenance) -> Self {
        Self {
            state,
            admin: admin.username(),
            provenance,
        }
    }

    fn audit(&self, action: Action, outcome: Outcome, target: Option<&str>) {
        self.state
            .audit
            .record(action, outcome, Some(self.admin), target, self.provenance);
    }

    /// A change to a user, audited: a refusal as denied, a change as
    /// success (an unknown user is no event).
    fn audited(&self, action: Action, username: &str, change: UserChange) -> UserChange {
        let outcome = match &change {
            UserChange::Done(_) => Outcome::Success,
            UserChange::LastAdmin => Outcome::Denied,
            UserChange::NoSuchUser => return change,
        };
        self.audit(action, outcome, Some(Username::loggable(username)));
        change
    }

    /// Replaces `username`'s roles; their earlier tokens stop working.
    pub async fn set_roles(&self, username: &str, roles: &[Role]) -> Result<UserChange, ApiError> {
        // A name that cannot exist is no user, like an unknown one.
        let change = match Username::parse(username) {
            Ok(name) => self.state.users.set_roles(&name, roles).await?,
            Err(_) => UserChange::NoSuchUser,
        };
        Ok(self.audited(Action::RoleChanged, username, change))
    }

    /// Disables `username` (they cannot sign in, their credentials stop
    /// working) or enables them again.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<UserChange, ApiError> {
        let action = if disabled {
            Action::UserDisabled
        } else {
            Action::UserEnabled
        };
        let change = match Username::parse(username) {
            Ok(name) => self.state.users.set_disabled(&name, disabled).await?,
            Err(_) => UserChange::NoSuchUser,
        };
        Ok(self.audited(action, username, change))
    }

    /// Removes every second factor and recovery code of `username` and
    /// ends their sessions and refresh families: the user afterwards, or
    /// `None` for no such user.
    pub async fn reset_factors(&self, username: &str) -> Result<Option<UserRecord>, ApiError> {
        let Ok(name) = Username::parse(username) else {
            return Ok(None);
        };
        let Some(user) = self.state.store.find_user(&name).await? else {
            return Ok(None);
        };
        if !self.state.users.reset_factors(user.id).await? {
            return Ok(None);
        }
        self.audit(Action::MfaReset, Outcome::Success, Some(&user.username));
        Ok(self.state.store.find_user(&name).await?)
    }

    /// Ends the session, or revokes the refresh family, that `id` names
    /// ([`CredentialId`]): its owner's name, or `None` for no such one.
    pub async fn revoke_credential(&self, id: &str) -> Result<Option<String>, ApiError> {
        let owner = match CredentialId::parse(id) {
            Some(CredentialId::Session(digest)) => {
                let owner = self.state.store.session_owner(&digest).await?;
                if owner.is_some() {
                    self.state.sessions.end_digest(digest).await?;
                }
                owner
            }
            Some(CredentialId::RefreshFamily(family)) => {
                self.state.store.revoke_family_by_id(family, now_ms()).await?
            }
            None => None,
        };
        let Some(owner) = owner else {
            return Ok(None);
        };
        let username = self
            .state
            .store
            .find_user_by_id(owner)
            .await?
            .map_or_else(|| "<deleted>".to_owned(), |user| user.username);
        self.audit(Action::Revoke, Outcome::Success, Some(&username));
        Ok(Some(username))
    }

    /// A new signing key, signing at once; tokens of the old keys keep
    /// working. Its `kid`.
    pub async fn rotate_key(&self) -> Result<String, ApiError> {
        let kid = self
            .state
            .keys
            .rotate(Rotation::Now)
            .await
            .map_err(ApiError::internal)?;
        self.audit(Action::KeyRotated, Outcome::Success, Some(&kid));
        Ok(kid)
    }

    /// Revokes the key `kid`: whether there was one.
    pub async fn revoke_key(&self, kid: &str) -> Result<bool, ApiError> {
        let revoked = self.state.keys.revoke(kid).await.map_err(ApiError::internal)?;
        let Some(revoked) = revoked else {
            return Ok(false);
        };
        if let Some(new) = revoked.replaced_by {
            self.audit(Action::KeyRotated, Outcome::Success, Some(&new));
        }
        self.audit(Action::KeyRevoked, Outcome::Success, Some(kid));
        Ok(true)
    }

    /// A new user with `roles`, after the password policy.
    pub async fn create_user(
        &self,
        username: &Username,
        password: SecretString,
        roles: &[Role],
    ) -> Result<UserRecord, NewUserError> {
        let user = self.state.users.create_user(username, password, roles).await?;
        self.audit(Action::UserCreated, Outcome::Success, Some(&user.username));
        Ok(user)
    }
}
