//! Authentication and accounts: passwords, tokens, keys, sessions, CSRF
//! tokens, device cookies, and the one road to a password check (`login`). The HTTP side (reading
//! credentials from a request, the extractors) is `http::identity`.

pub mod amr;
pub mod assertion;
pub mod claims;
pub mod csrf;
pub mod device;
pub mod first_run;
pub mod invalidation;
pub mod keyring;
pub mod keys;
pub mod login;
pub mod mac;
pub mod mfa;
pub mod oidc;
pub mod password;
pub mod service;
pub mod session;
pub mod tokens;
pub mod users;

/// Who a request acts for, however it was authenticated: a user name and
/// roles. The domain rules (which items a caller may see) ask only this.
pub trait Principal {
    fn username(&self) -> &str;
    fn has_role(&self, role: &str) -> bool;
}
