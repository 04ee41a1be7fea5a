//! What a provider's verified claims make of a person (SPEC section 8):
//! whether they may come in (`allowed_email_domains`), the username their
//! account is created with, the roles each sign-in sets, and the `amr` of
//! their session. Pure: the claims are verified before they get here.

use serde_json::{Map, Value};

use crate::{
    auth::amr::{Amr, Method},
    config::oidc::OidcProvider,
    names::{Role, Username},
};

/// A person as a provider's claims describe them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// The name a new account gets (a later sign-in keeps the account's).
    pub username: Username,
    /// `user` and the mapped roles, set anew at each sign-in.
    pub roles: Vec<Role>,
    /// `fed`, with what the ID token's own `amr` says rampart knows.
    pub amr: Amr,
}

/// Why a person may not come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `allowed_email_domains` is set and the email is missing, unverified
    /// or outside it.
    #[error("the email is not in an allowed domain, or not verified")]
    Domain,
    /// The claims name no subject.
    #[error("the claims name no subject")]
    NoSubject,
}

fn text<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

/// The values of a claim that holds one string or a list of them.
fn values<'a>(claims: &'a Map<String, Value>, name: &str) -> Vec<&'a str> {
    match claims.get(name) {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Reads `claims` (the ID token's, with userinfo's for what it lacks) as
/// `provider` says to.
pub fn identify(
    provider: &OidcProvider,
    issuer: &str,
    claims: &Map<String, Value>,
) -> Result<Identity, Refusal> {
    let subject = text(claims, "sub").ok_or(Refusal::NoSubject)?;
    if !provider.allowed_email_domains.is_empty() && !in_allowed_domain(provider, claims) {
        return Err(Refusal::Domain);
    }
    let username = [provider.username_claim.as_str(), "email", "sub"]
        .iter()
        .filter_map(|claim| text(claims, claim))
        .find_map(Username::made_from)
        .unwrap_or_else(|| Username::parse("user").expect("a valid name"));
    Ok(Identity {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        username,
        roles: roles(provider, claims),
        amr: amr(claims),
    })
}

/// `email` in one of the allowed domains (compared without case), and
/// `email_verified` true.
fn in_allowed_domain(provider: &OidcProvider, claims: &Map<String, Value>) -> bool {
    let verified = claims.get("email_verified").and_then(Value::as_bool) == Some(true);
    let domain = text(claims, "email")
        .and_then(|email| email.rsplit_once('@'))
        .map(|(_, domain)| domain);
    verified
        && domain.is_some_and(|domain| {
            provider
                .allowed_email_domains
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(domain))
        })
}

/// `user`, and each role `role_map` gives a value of `role_claim`.
pub fn roles(provider: &OidcProvider, claims: &Map<String, Value>) -> Vec<Role> {
    let mut roles = vec![Role::parse(Role::USER).expect("a valid role")];
    if let Some(claim) = &provider.role_claim {
        for value in values(claims, claim) {
            let mapped = provider
                .role_map
                .get(value)
                .and_then(|role| Role::parse(role).ok());
            if let Some(role) = mapped.filter(|role| !roles.contains(role)) {
                roles.push(role);
            }
        }
    }
    roles.sort();
    roles
}

/// `fed`, and the methods of the ID token's `amr` that rampart knows.
fn amr(claims: &Map<String, Value>) -> Amr {
    values(claims, "amr")
        .into_iter()
        .filter_map(Method::named)
        .fold(Amr::of(&[Method::Fed]), Amr::with)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn provider(extra: &str) -> OidcProvider {
        figment::Figment::from(<figment::providers::Toml as figment::providers::Format>::string(
            &format!(
                "name = \"corp\"\nissuer = \"https://idp.example.com\"\nclient_id = \"rampart\"\n{extra}"
            ),
        ))
        .extract()
        .unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_username_comes_from_the_claim_then_email_then_sub() {
        let corp = provider("");
        let named = |value| {
            identify(&corp, "iss", &claims(value))
                .unwrap()
                .username
                .as_str()
                .to_owned()
        };
        assert_eq!(named(json!({"sub": "1", "preferred_username": "alice"})), "alice");
        assert_eq!(
            named(json!({"sub": "1", "email": "al@example.com"})),
            "al_example.com"
        );
        assert_eq!(named(json!({"sub": "248289761001"})), "248289761001");
        assert_eq!(
            named(json!({"sub": "1", "preferred_username": "Ann Lee"})),
            "Ann_Lee"
        );
        assert_eq!(
            identify(&corp, "iss", &claims(json!({"email": "a@b.c"}))),
            Err(Refusal::NoSubject)
        );
    }

    #[test]
    fn domains_need_a_verified_email_in_the_list() {
        let corp = provider("allowed_email_domains = [\"example.com\"]\n");
        let check = |value| identify(&corp, "iss", &claims(value)).map(|_| ());
        assert_eq!(
            check(json!({"sub": "1", "email": "a@EXAMPLE.com", "email_verified": true})),
            Ok(())
        );
        assert_eq!(
            check(json!({"sub": "1", "email": "a@example.com", "email_verified": false})),
            Err(Refusal::Domain)
        );
        assert_eq!(
            check(json!({"sub": "1", "email": "a@example.com"})),
            Err(Refusal::Domain)
        );
        assert_eq!(
            check(json!({"sub": "1", "email": "a@example.com.evil", "email_verified": true})),
            Err(Refusal::Domain)
        );
        assert_eq!(
            check(json!({"sub": "1", "email_verified": true})),
            Err(Refusal::Domain)
        );
        assert_eq!(
            check(json!({"sub": "1", "email": "a@sub.example.com", "email_verified": true})),
            Err(Refusal::Domain)
        );
    }

    #[test]
    fn roles_are_user_and_the_mapped_ones() {
        let corp = provider(
            "role_claim = \"groups\"\nrole_map = { \"platform-admins\" = \"admin\", \"ops\" = \"operator\" }\n",
        );
        let roles = |value| {
            identify(&corp, "iss", &claims(value))
                .unwrap()
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(roles(json!({"sub": "1"})), ["user"]);
        assert_eq!(
            roles(json!({"sub": "1", "groups": ["platform-admins", "other"]})),
            ["admin", "user"]
        );
        assert_eq!(roles(json!({"sub": "1", "groups": "ops"})), ["operator", "user"]);
    }

    #[test]
    fn amr_is_fed_and_what_the_provider_said() {
        let corp = provider("");
        let amr = |value| identify(&corp, "iss", &claims(value)).unwrap().amr.to_text();
        assert_eq!(amr(json!({"sub": "1"})), "fed");
        assert_eq!(
            amr(json!({"sub": "1", "amr": ["pwd", "otp", "mfa", "sms"]})),
            Amr::of(&[Method::Pwd, Method::Otp, Method::Fed, Method::Mfa]).to_text()
        );
    }
}
