//! Single sign-on through OpenID Connect providers (SPEC section 8), by the
//! `openidconnect` crate (the Rust community's relying party, on `oauth2`):
//! each provider's discovery (`discovery`), the authorization-code flow
//! with PKCE and the ID token's checks (`flow`), what the verified claims
//! make of a person (`identity`), and the provider's own JWT access tokens
//! as bearer tokens (`bearer`).

pub mod bearer;
pub mod discovery;
mod error;
pub mod flow;
pub mod http;
pub mod identity;

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::Deserialize;
use url::Url;

pub use self::error::SsoError;
use self::{
    discovery::{Discovered, Latest},
    flow::FlowState,
    http::ProviderHttp,
    identity::Identity,
};
use super::keys::KeySealer;
use crate::{
    config::{oidc::OidcProvider, secret::SecretKey},
    store::{Store, StoreError, UserRecord, now_ms},
};

/// What the sealed `rampart_oidc` cookie is bound to.
const FLOW_BINDING: &str = "oidc-flow";

/// One configured provider and what its discovery said last.
#[derive(Debug)]
pub struct Provider {
    pub settings: OidcProvider,
    latest: Latest,
}

impl Provider {
    pub fn discovered(&self) -> Option<std::sync::Arc<Discovered>> {
        self.latest.get()
    }
}

/// The callback's query, as the provider sends it.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: the issuer that answered.
    pub iss: Option<String>,
}

/// The providers, their flows, and the accounts they sign in.
#[derive(Debug)]
pub struct Sso {
    http: ProviderHttp,
    providers: Vec<Provider>,
    sealer: KeySealer,
    store: Store,
}

impl Sso {
    pub fn new(settings: &[OidcProvider], secret: &SecretKey, store: Store) -> std::io::Result<Self> {
        Ok(Self {
            http: ProviderHttp::new()?,
            providers: settings
                .iter()
                .map(|settings| Provider {
                    settings: settings.clone(),
                    latest: Latest::default(),
                })
                .collect(),
            sealer: KeySealer::for_purpose(secret, b"rampart/v1/oidc-flow-cookie"),
            store,
        })
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    pub fn provider(&self, name: &str) -> Result<&Provider, SsoError> {
        self.providers
            .iter()
            .find(|provider| provider.settings.name.as_str() == name)
            .ok_or(SsoError::UnknownProvider)
    }

    /// Reads every provider's document, each retried for 30 seconds: the
    /// start's check. The error is one sentence naming the provider.
    pub async fn discover_at_start(&self) -> Result<(), String> {
        for provider in &self.providers {
            let deadline = Instant::now() + discovery::START_PATIENCE;
            let discovered = loop {
                match discovery::discover(&self.http, &provider.settings).await {
                    Ok(discovered) => break discovered,
                    Err(err) if Instant::now() >= deadline => {
                        return Err(format!(
                            "OpenID provider {:?}: its discovery at {} failed for {} s: {err}",
                            provider.settings.name.as_str(),
                            provider.settings.issuer,
                            discovery::START_PATIENCE.as_secs()
                        ));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            };
            if provider.settings.client_secret.is_none() && !discovered.pkce_s256 {
                return Err(format!(
                    "OpenID provider {:?} is a public client (no RAMPART_OIDC__..._CLIENT_SECRET), which needs PKCE with S256, and its discovery document does not advertise it",
                    provider.settings.name.as_str()
                ));
            }
            provider.latest.set(discovered);
        }
        Ok(())
    }

    /// Reads every provider's document again (hourly, and when a token
    /// names a key the set lacks); a failure keeps the last one.
    pub async fn refresh(&self) {
        for provider in &self.providers {
            self.refresh_one(provider).await;
        }
    }

    pub(crate) async fn refresh_one(&self, provider: &Provider) {
        match discovery::discover(&self.http, &provider.settings).await {
            Ok(discovered) => provider.latest.set(discovered),
            Err(err) => tracing::warn!(
                provider = provider.settings.name.as_str(),
                error = %err,
                "reading the OpenID provider's discovery document failed; the last one stays"
            ),
        }
    }

    /// Begins a sign-in at `name`: where to send the browser, and the
    /// sealed cookie's value.
    pub fn begin(&self, name: &str, redirect_uri: &Url, return_to: &str) -> Result<(Url, String), SsoError> {
        let provider = self.provider(name)?;
        let discovered = provider.discovered().ok_or(SsoError::Unavailable)?;
        let (url, flow) = flow::begin(&provider.settings, &discovered, redirect_uri, return_to);
        let json = serde_json::to_vec(&flow).map_err(|err| SsoError::Exchange(err.to_string()))?;
        Ok((url, B64.encode(self.sealer.seal(FLOW_BINDING, &json))))
    }

    /// Opens the cookie of a sign-in under way, if it is one and lives.
    fn open(&self, cookie: &str) -> Option<FlowState> {
        let sealed = B64.decode(cookie).ok()?;
        let json = self.sealer.open(FLOW_BINDING, &sealed).ok()?;
        let flow: FlowState = serde_json::from_slice(&json).ok()?;
        (flow.expires_at > now_ms()).then_some(flow)
    }

    /// Finishes a sign-in at `name` from its callback: who signed in, and
    /// where they were going.
    pub async fn finish(
        &self,
        name: &str,
        redirect_uri: &Url,
        cookie: Option<&str>,
        callback: &Callback,
    ) -> Result<(Identity, String), SsoError> {
        let provider = self.provider(name)?;
        let flow = cookie
            .and_then(|cookie| self.open(cookie))
            .ok_or(SsoError::State)?;
        let state_ok = callback
            .state
            .as_deref()
            .is_some_and(|state| flow::state_matches(&flow, state));
        if flow.provider != name || !state_ok {
            return Err(SsoError::State);
        }
        if let Some(error) = &callback.error {
            return Err(SsoError::Provider(error.clone()));
        }
        let discovered = provider.discovered().ok_or(SsoError::Unavailable)?;
        let issuer = discovered.metadata.issuer().as_str();
        if callback.iss.as_deref().is_some_and(|iss| iss != issuer) {
            return Err(SsoError::Provider("the answer names another issuer".into()));
        }
        let code = callback
            .code
            .as_deref()
            .ok_or_else(|| SsoError::Provider("no code".into()))?;
        let claims = flow::finish(
            &self.http,
            &provider.settings,
            &discovered,
            redirect_uri,
            &flow,
            code,
        )
        .await?;
        let identity = identity::identify(&provider.settings, issuer, &claims)?;
        Ok((identity, flow.return_to))
    }

    /// The account linked to `identity`, created at its first sign-in.
    pub async fn account(&self, provider: &str, identity: &Identity) -> Result<UserRecord, StoreError> {
        if let Some(user) = self
            .store
            .federated_user(&identity.issuer, &identity.subject)
            .await?
        {
            return Ok(user);
        }
        self.store
            .create_federated_user(
                &identity.issuer,
                &identity.subject,
                provider,
                &identity.username,
                &identity.roles,
            )
            .await
    }
}
