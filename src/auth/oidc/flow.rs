//! The authorization-code flow with PKCE (OpenID Connect Core 3.1; RFC
//! 7636; RFC 9700 section 2.1.1), by the `openidconnect` crate: the
//! request to the provider, and the callback's checks. What the browser
//! must bring back (`state`, `nonce`, the PKCE verifier, the return path)
//! rides in the sealed `rampart_oidc` cookie, so no server state is kept
//! for a sign-in under way.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SubjectIdentifier,
    core::{CoreClient, CoreResponseType},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::{discovery::Discovered, error::SsoError, http::ProviderHttp};
use crate::{auth::claims::LEEWAY_SECS, config::oidc::OidcProvider, store::now_ms};

/// How long a sign-in at the provider may take.
pub const FLOW_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// A sign-in under way, as the sealed cookie holds it.
#[derive(Serialize, Deserialize)]
pub struct FlowState {
    /// The provider's name.
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub return_to: String,
    pub expires_at: i64,
}

/// The crate's client for one provider, its secret included when it has
/// one (then HTTP Basic authentication at the token endpoint).
macro_rules! client {
    ($settings:expr, $discovered:expr, $redirect_uri:expr) => {
        CoreClient::from_provider_metadata(
            $discovered.metadata.clone(),
            ClientId::new($settings.client_id.clone()),
            $settings
                .client_secret
                .as_ref()
                .map(|secret| ClientSecret::new(secret.0.expose_secret().to_owned())),
        )
        .set_redirect_uri(RedirectUrl::from_url($redirect_uri.clone()))
    };
}

/// The provider's authorization URL, and what the cookie must hold.
pub fn begin(
    settings: &OidcProvider,
    discovered: &Discovered,
    redirect_uri: &Url,
    return_to: &str,
) -> (Url, FlowState) {
    let client = client!(settings, discovered, redirect_uri);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in settings.scopes.iter().filter(|scope| *scope != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let flow = FlowState {
        provider: settings.name.as_str().to_owned(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        return_to: return_to.to_owned(),
        expires_at: now_ms() + FLOW_LIFETIME_MS,
    };
    (url, flow)
}

/// The claims of a sign-in the provider sent back with `code`: the code
/// exchanged (with the PKCE verifier), the ID token verified (the
/// provider's keys and advertised public-key algorithms; `iss`, `aud`,
/// `azp`, `exp`, `iat` with 30 seconds' leeway, `nonce`), then userinfo's
/// claims for what the ID token lacks.
pub async fn finish(
    http: &ProviderHttp,
    settings: &OidcProvider,
    discovered: &Discovered,
    redirect_uri: &Url,
    flow: &FlowState,
    code: &str,
) -> Result<Map<String, Value>, SsoError> {
    let client = client!(settings, discovered, redirect_uri);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|err| SsoError::Exchange(err.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
        .request_async(http)
        .await
        .map_err(|err| SsoError::Exchange(err.to_string()))?;
    let id_token = tokens
        .extra_fields()
        .id_token()
        .ok_or_else(|| SsoError::IdToken("the token answer holds no ID token".into()))?;
    let leeway = chrono::Duration::seconds(i64::try_from(LEEWAY_SECS).unwrap_or(30));
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(discovered.algorithms.clone())
        // `exp` may be up to the leeway past.
        .set_time_fn(move || chrono::Utc::now() - leeway)
        // `iat` may be up to the leeway ahead, not more.
        .set_issue_time_verifier_fn(move |issued| {
            if issued <= chrono::Utc::now() + leeway {
                Ok(())
            } else {
                Err("issued in the future".to_owned())
            }
        });
    let verified = id_token
        .claims(&verifier, &Nonce::new(flow.nonce.clone()))
        .map_err(|err| SsoError::IdToken(err.to_string()))?;
    let subject = verified.subject().clone();
    // Verified: its payload is the provider's word, read whole.
    let mut claims = payload(&id_token.to_string())?;
    if let Some(extra) = userinfo(http, discovered, tokens.access_token(), &subject).await {
        for (name, value) in extra {
            claims.entry(name).or_insert(value);
        }
    }
    Ok(claims)
}

/// What userinfo says of the subject, when the provider has the endpoint;
/// `None` when it failed or spoke of someone else (OpenID Connect Core
/// 5.3.2: its `sub` must be the ID token's), and the ID token's claims
/// stand alone.
async fn userinfo(
    http: &ProviderHttp,
    discovered: &Discovered,
    access_token: &openidconnect::AccessToken,
    subject: &SubjectIdentifier,
) -> Option<Map<String, Value>> {
    let endpoint = discovered.metadata.userinfo_endpoint()?;
    let request = http::Request::get(endpoint.as_str())
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", access_token.secret()),
        )
        .body(Vec::new())
        .ok()?;
    let response = match http.send(request).await {
        Ok(response) => response,
        Err(err) => {
            tracing::warn!(error = %err, "the provider's userinfo endpoint failed; the ID token's claims stand alone");
            return None;
        }
    };
    let claims = response
        .status()
        .is_success()
        .then(|| serde_json::from_slice::<Map<String, Value>>(response.body()).ok())
        .flatten()
        .filter(|claims| claims.get("sub").and_then(Value::as_str) == Some(subject.as_str()));
    if claims.is_none() {
        tracing::warn!(
            status = response.status().as_u16(),
            "the provider's userinfo answer was not the subject's claims; the ID token's claims stand alone"
        );
    }
    claims
}

/// A JWT's payload as JSON (its signature already checked).
pub fn payload(jwt: &str) -> Result<Map<String, Value>, SsoError> {
    let encoded = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| SsoError::IdToken("not a JWT".into()))?;
    let bytes = B64
        .decode(encoded)
        .map_err(|err| SsoError::IdToken(err.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|err| SsoError::IdToken(err.to_string()))
}

/// The cookie's state matches the callback's (in constant time).
pub fn state_matches(flow: &FlowState, state: &str) -> bool {
    use subtle::ConstantTimeEq;
    flow.state.as_bytes().ct_eq(state.as_bytes()).into()
}
