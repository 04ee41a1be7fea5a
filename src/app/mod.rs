//! The application: built from settings, bound to its listeners, run until
//! shut down. Tests and `rampart serve` start it the same way.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::{
    audit::Auditor,
    auth::{
        csrf::CsrfKey, device::DeviceKey, first_run::FirstRun, invalidation::Invalidations, keyring::KeyRing,
        keys::KeySealer, mfa::SecondFactors, oidc::Sso, password::PasswordHasher, service::AccountService,
        session::Sessions, tokens::TokenService, users::Users,
    },
    config::{Settings, secret::SecretKey},
    gateway::{self, Gateway, GatewayError},
    http::{self, cors::Cors, csrf::CsrfGuard, upgrade::Gate},
    items::Items,
    ratelimit::RateLimits,
    realtime::Hub,
    routes,
    server::{
        self, ClientCap, ListenerLimits, Shutdown, Transport,
        tls::{Certificates, TlsError},
    },
    state::{AppState, Services},
    store::Store,
};

mod reload;
mod upkeep;

use upkeep::Upkeep;

/// Requests still running when shutdown starts get this long beyond the
/// request time-out, which bounds every request anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keys(#[from] crate::auth::keyring::KeyError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("rate_limit.redis_url: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// An OpenID provider's discovery failed: one sentence naming it.
    #[error("{0}")]
    Sso(String),
}

pub struct Application {
    public: TcpListener,
    admin: TcpListener,
    /// The `tls.redirect_http_from` listener.
    redirect: Option<TcpListener>,
    certificates: Option<Arc<Certificates>>,
    app: http::App,
    /// What answers plain HTTP when the public listener speaks TLS (on the
    /// TLS port and the redirect listener); none without TLS.
    plain_app: Option<http::App>,
    admin_app: Router,
    state: AppState,
    upkeep: Upkeep,
    audit_writer: tokio::task::JoinHandle<()>,
    /// The first-run setup token, to be named once at start.
    setup_token: Option<SecretString>,
    /// The configuration file a SIGHUP reads again.
    config_file: Option<std::path::PathBuf>,
}

impl Application {
    /// Opens the store, loads the keys and binds both listeners.
    /// `metrics`: the recorder's handle (`observability::start`), served
    /// on the admin listener.
    pub async fn build(
        settings: Settings,
        secret: Arc<SecretKey>,
        metrics: PrometheusHandle,
    ) -> Result<Self, StartError> {
        // The certificate first: a bad one stops the start before anything
        // else is opened.
        let certificates = settings.tls.as_ref().map(Certificates::load).transpose()?;
        let store = Store::connect(&settings.database_url).await?;
        let keys = KeyRing::open(store.clone(), KeySealer::new(&secret), &settings.auth).await?;
        let invalidations = Invalidations::load(store.clone()).await?;
        let sso = Arc::new(
            Sso::new(&settings.oidc.providers, &secret, store.clone())
                .map_err(|err| StartError::Sso(format!("the OpenID providers' HTTP client: {err}")))?,
        );
        sso.discover_at_start().await.map_err(StartError::Sso)?;
        let tokens = Arc::new(
            TokenService::new(keys.clone(), invalidations.clone(), &settings.auth)
                .with_providers(sso.clone()),
        );
        let users = Arc::new(Users::new(
            store.clone(),
            PasswordHasher::new(),
            Some(invalidations.clone()),
            &settings.auth.issuer,
        ));
        let accounts = Arc::new(AccountService::new(
            store.clone(),
            tokens.clone(),
            invalidations.clone(),
            DeviceKey::new(&secret),
            &settings.auth,
        ));
        let public = bind(settings.bind).await?;
        let admin = bind(settings.admin_bind).await?;
        let redirect = match settings.tls.as_ref().and_then(|tls| tls.redirect_http_from) {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let (audit, audit_writer) = Auditor::start(store.clone());
        let audit_writer = tokio::spawn(audit_writer);
        let route_rates = settings
            .gateway
            .as_ref()
            .map(gateway::route_rates)
            .unwrap_or_default();
        let limits =
            Arc::new(RateLimits::open(&settings.rate_limit, &route_rates, &settings.redis_prefix()).await?);
        let sessions = Sessions::new(store.clone(), invalidations.clone());
        let factors = Arc::new(SecondFactors::new(
            store.clone(),
            &secret,
            &settings.auth.issuer,
            &settings.auth.webauthn_rp_id,
        ));
        let cors = Arc::new(Cors::new(&settings.cors));
        let csrf = Arc::new(CsrfGuard::new(
            CsrfKey::new(&secret),
            cors.clone(),
            settings.limits.max_body_bytes,
        ));
        let items = Items::new(store.clone());
        let sockets = Hub::new(
            tokens.clone(),
            sessions.clone(),
            invalidations.clone(),
            items.events().clone(),
            settings.limits.max_connections.get(),
        );
        let gateway = match &settings.gateway {
            Some(gateway) => {
                let gate = Gate {
                    csrf: csrf.clone(),
                    audit: audit.clone(),
                    sockets: sockets.clone(),
                };
                let issuer = &settings.auth.issuer;
                let request_timeout = settings.limits.request_timeout.get();
                Some(Arc::new(
                    Gateway::build(gateway, keys.clone(), issuer, request_timeout, gate).await?,
                ))
            }
            None => None,
        };
        // No admin yet: a one-time link creates the first (SPEC section 3,
        // "First run").
        let (first_run, setup_token) = if store.has_admin().await? {
            (None, None)
        } else {
            let (first_run, token) = FirstRun::new();
            (Some(Arc::new(first_run)), Some(token))
        };
        let state = AppState::new(Services {
            settings: Arc::new(settings),
            store: store.clone(),
            accounts,
            users,
            keys: keys.clone(),
            audit,
            limits,
            sessions: sessions.clone(),
            factors,
            csrf,
            items,
            sockets,
            first_run,
            gateway: gateway.clone(),
            sso,
        });
        let stack = http::Stack::new(http::StackParts {
            settings: &state.settings,
            tokens,
            sessions: state.sessions.clone(),
            csrf: state.csrf.clone(),
            cors,
            limits: state.limits.clone(),
            own_rules: routes::RULES,
            resolver: gateway.map(|gateway| gateway as Arc<dyn http::resolve::RouteResolver>),
            audit: state.audit.clone(),
        });
        let routed = routes::router(state.clone());
        let app = stack.apply(routed.router, routed.templates);
        let https_port = public
            .local_addr()
            .map_or(state.settings.bind.port(), |a| a.port());
        let plain_app = certificates.as_ref().map(|certificates| {
            let pages =
                routes::https_redirect::pages(state.settings.own_prefix(), state.settings.gateway.is_some());
            // One fallback, no routes of its own.
            let router = routes::https_redirect::router(https_port, certificates.clone(), pages);
            stack.apply(router, http::route::Templates::new())
        });
        let upkeep = Upkeep {
            metrics: metrics.clone(),
            keys,
            invalidations,
            events: state.items.events().clone(),
            store,
            sessions,
            audit_retention: state.settings.audit.retention.get(),
            sso: state.sso.clone(),
        };
        Ok(Self {
            public,
            admin,
            redirect,
            certificates,
            app,
            plain_app,
            admin_app: admin_router(metrics.clone()),
            state,
            upkeep,
            audit_writer,
            setup_token,
            config_file: None,
        })
    }

    /// A SIGHUP reads `file` again (`--config`; `None`: `./rampart.toml`
    /// when it exists, as at start).
    pub fn reloading_from(mut self, file: Option<&std::path::Path>) -> Self {
        self.config_file = file.map(std::path::Path::to_owned);
        self
    }

    /// The first-run setup link, when the database holds no admin: on this
    /// server's own address (the loopback one when it listens on all).
    pub fn setup_link(&self) -> Option<String> {
        let token = self.setup_token.as_ref()?;
        let mut addr = self.local_addr();
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let scheme = if self.tls() { "https" } else { "http" };
        let prefix = self.state.settings.own_prefix();
        Some(format!(
            "{scheme}://{addr}{prefix}/setup?token={}",
            token.expose_secret()
        ))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.public.local_addr().expect("a bound listener has an address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr().expect("a bound listener has an address")
    }

    /// The plain-HTTP listener that sends browsers to HTTPS, if configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Whether the public listener speaks TLS.
    pub fn tls(&self) -> bool {
        self.certificates.is_some()
    }

    /// Serves until `shutdown` fires, then drains and closes the store.
    pub async fn run(self, shutdown: Shutdown) {
        let limits = &self.state.settings.limits;
        let trusted = self.state.settings.proxy.trusted.iter().map(|net| net.0);
        let public_limits = ListenerLimits {
            max_connections: limits.max_connections.get(),
            per_client: Some(ClientCap::new(limits.max_connections_per_client.get(), trusted)),
            idle_timeout: limits.idle_timeout.get(),
            shutdown_deadline: limits.request_timeout.get() + SHUTDOWN_GRACE,
        };
        // The operators' own listener: no cap per client.
        let admin_limits = ListenerLimits {
            max_connections: 64,
            per_client: None,
            ..public_limits.clone()
        };
        let transport = match (&self.certificates, &self.plain_app) {
            (Some(certificates), Some(plain)) => Transport::Tls {
                acceptor: certificates.acceptor(),
                plain: plain.clone(),
            },
            _ => Transport::Plain,
        };
        let redirect_limits = public_limits.clone();
        let redirect = async {
            if let (Some(listener), Some(plain)) = (self.redirect, self.plain_app) {
                server::serve(
                    listener,
                    plain,
                    Transport::Plain,
                    redirect_limits,
                    shutdown.clone(),
                )
                .await;
            }
        };
        let reload = reload::Reload {
            config_file: self.config_file,
            certificates: self.certificates,
            gateway: self.state.gateway.clone(),
            limits: self.state.limits.clone(),
        }
        .on_hangup(shutdown.clone());
        // Upgraded connections have left the listeners: their sockets are
        // closed (1001) when shutdown starts, and waited for below.
        let sockets = self.state.sockets.clone();
        let close_sockets = async {
            shutdown.wait().await;
            sockets.close_all();
        };
        tokio::join!(
            server::serve(self.public, self.app, transport, public_limits, shutdown.clone()),
            server::serve(
                self.admin,
                self.admin_app,
                Transport::Plain,
                admin_limits,
                shutdown.clone()
            ),
            redirect,
            reload,
            close_sockets,
            self.upkeep.run(shutdown.clone()),
        );
        if tokio::time::timeout(SHUTDOWN_GRACE * 3, sockets.closed())
            .await
            .is_err()
        {
            tracing::warn!("WebSockets still open at the shutdown deadline");
        }
        // The routers are gone; with the state's auditor the last sender
        // goes, and the writer stores what is queued and ends.
        let store = self.state.store.clone();
        drop(self.state);
        let _ = self.audit_writer.await;
        store.close().await;
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// The admin listener: `/metrics` only, never on the public one.
fn admin_router(metrics: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        ::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    crate::observability::metrics::render(&metrics),
                )
            }
        }),
    )
}
