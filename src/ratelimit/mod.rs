//! Rate limiting (SPEC section 3, "Rate limits"; OWASP API4: unrestricted
//! resource consumption).
//!
//! Each policy is a GCRA budget (governor's algorithm) per subject: the
//! client IP (IPv6 by /64, so one host cannot mint fresh budgets from its
//! prefix), the authenticated user, or, for the login policy against
//! distributed guessing, the attempted username. Which policy a request
//! falls under is the router's to say (`routes::policy_for`, a
//! [`PolicyTable`]); the HTTP side (headers, the 429) is `http::rate_limit`.
//!
//! Budgets live in a [`Backend`]: [`memory::MemoryBackend`] keeps them in a
//! bounded map per policy, so a flood of new keys costs at most
//! `rate_limit.max_tracked_keys` entries per policy; with
//! `rate_limit.backend = "redis"`, [`redis::RedisBackend`] keeps them in
//! Redis, shared by every instance.

pub mod memory;
pub mod redis;
pub mod tally;

use std::{
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;
use http::Method;

use crate::config::{RateLimitSettings, RatePolicy};

/// The configured policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyName {
    /// Every route but the ones below, per client.
    Default,
    /// `POST /token` and `POST /login`, per client IP.
    Login,
    /// Login attempts per attempted username.
    LoginPerUsername,
    /// `/docs` and `/openapi.json`, per client.
    Docs,
    /// A gateway route's own policy (`[[gateway.routes]]`' `rate_limit`),
    /// per client; numbered in the order [`RateLimits::new`] was given.
    Route(u16),
}

impl PolicyName {
    pub const ALL: [Self; 4] = [Self::Default, Self::Login, Self::LoginPerUsername, Self::Docs];

    /// The policy's name in metrics and audit events (every gateway
    /// route's own policy is `route`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Login => "login",
            Self::LoginPerUsername => "login_per_username",
            Self::Docs => "docs",
            Self::Route(_) => "route",
        }
    }

    /// A name of its own, for the keys of shared budgets.
    fn key_name(self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Route(n) => format!("route{n}").into(),
            named => named.as_str().into(),
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Default => 0,
            Self::Login => 1,
            Self::LoginPerUsername => 2,
            Self::Docs => 3,
            Self::Route(n) => 4 + n as usize,
        }
    }
}

/// Whose budget a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An IPv4 address, or the /64 network of an IPv6 address.
    Ip(IpAddr),
    /// A user name (authenticated, or attempted at login), compared without
    /// ASCII case, as user names are.
    Name(&'a str),
    /// Login attempts for a user name from a client where that user signed
    /// in successfully lately: a budget apart from the name's shared one,
    /// so guessing from elsewhere cannot lock the owner out.
    Known(&'a str, KnownClient),
}

/// A client known for a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownClient {
    /// An API client, by its network (see [`network`]).
    Network(IpAddr),
    /// A browser, by the nonce of its device cookie.
    Device([u8; 16]),
}

/// The network that stands for one client: an IPv4 address, or the /64 of
/// an IPv6 address, the smallest network a single host is usually given.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

impl<'a> Subject<'a> {
    /// The budget of a client address: IPv6 addresses share their /64, so
    /// one host cannot mint fresh budgets from its prefix.
    pub fn ip(ip: IpAddr) -> Self {
        Self::Ip(network(ip))
    }

    pub fn name(name: &'a str) -> Self {
        Self::Name(name)
    }
}

/// The state of a budget after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Requests the policy allows per period.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Until the budget is whole again.
    pub reset: Duration,
    /// `Some` when the request was refused: how long until one is allowed.
    pub retry_after: Option<Duration>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.retry_after.is_none()
    }
}

/// Where budgets are kept. Implementations must be safe to call from every
/// worker at once and keep their memory bounded.
pub trait Backend: Send + Sync {
    /// Spends one request of `subject`'s budget under `policy`, or refuses.
    fn check(&self, policy: PolicyName, subject: Subject<'_>) -> impl Future<Output = Decision> + Send;

    /// Gives back one request that `check` allowed: for budgets that count
    /// failures only, spent before the outcome is known (so a flood is
    /// refused before any work) and returned on success.
    fn refund(&self, policy: PolicyName, subject: Subject<'_>) -> impl Future<Output = ()> + Send;
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The budget is spent (429).
    Spent,
    /// The shared budgets are unreachable and `redis_failure = "deny"`
    /// (503).
    Unavailable,
}

/// A refused request: which policy refused it, and the budget's state.
#[derive(Clone, Copy, Debug)]
pub struct Refusal {
    pub cause: Cause,
    pub policy: PolicyName,
    pub rate: RatePolicy,
    pub decision: Decision,
    /// Whether to store an audit event for it: the first refusal of a
    /// subject under a policy is, then at most one a minute, so a flood of
    /// refused requests cannot become a flood of audit rows, and one noisy
    /// client cannot hide another's refusals (all are counted in metrics).
    pub audit: bool,
}

/// Refusals of one subject under one policy stored as audit events.
const AUDITED_REFUSALS: &str = "1/minute";

/// Where this instance's budgets are.
enum Budgets {
    Memory(memory::MemoryBackend),
    Redis(redis::RedisBackend),
}

/// The policies in force, and where their budgets are: replaced whole at
/// a reload.
pub struct Policies {
    /// By [`PolicyName::index`].
    rates: Vec<RatePolicy>,
    budgets: Budgets,
    /// Budgets of audited refusals, per policy and subject.
    audited: memory::MemoryBackend,
}

/// The rate limits of this instance.
pub struct RateLimits {
    current: ArcSwap<Policies>,
    /// `redis_prefix`, for a reload's Redis budgets.
    prefix: String,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("rates", &self.current.load().rates)
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Budgets in this process's memory. `routes`: the gateway routes' own
    /// policies, [`PolicyName::Route`] `0..`.
    pub fn new(settings: &RateLimitSettings, routes: &[RatePolicy]) -> Self {
        let rates = rates_of(settings, routes);
        let budgets = Budgets::Memory(memory::MemoryBackend::new(&rates, settings.max_tracked_keys));
        Self {
            current: ArcSwap::from_pointee(Policies::with(settings, budgets, rates)),
            prefix: String::new(),
        }
    }

    /// The configured budgets: in memory, or in Redis under `prefix`
    /// (unreachable is a warning, never a refusal to start).
    pub async fn open(
        settings: &RateLimitSettings,
        routes: &[RatePolicy],
        prefix: &str,
    ) -> ::redis::RedisResult<Self> {
        let policies = Policies::open(settings, routes, prefix, None)?;
        if let Budgets::Redis(backend) = &policies.budgets
            && !backend.ping().await
        {
            tracing::warn!(
                "Redis is unreachable at start; rate limits follow rate_limit.redis_failure until it answers"
            );
        }
        Ok(Self {
            current: ArcSwap::from_pointee(policies),
            prefix: prefix.to_owned(),
        })
    }

    /// The policies of `settings` and `routes`, for [`Self::install`]
    /// (SIGHUP). Budgets in memory whose policy keeps its rate carry over;
    /// budgets in Redis are named by their rate, so they do too.
    pub fn prepare(
        &self,
        settings: &RateLimitSettings,
        routes: &[RatePolicy],
    ) -> ::redis::RedisResult<Policies> {
        let current = self.current.load();
        Policies::open(settings, routes, &self.prefix, Some(&current))
    }

    /// Puts prepared policies in force.
    pub fn install(&self, policies: Policies) {
        self.current.store(Arc::new(policies));
    }

    pub fn rate(&self, policy: PolicyName) -> RatePolicy {
        self.current.load().rate(policy)
    }

    /// Whether the shared budgets answer (always, in memory); asks Redis.
    pub async fn healthy(&self) -> bool {
        let current = self.current.load_full();
        match &current.budgets {
            Budgets::Memory(_) => true,
            Budgets::Redis(redis) => redis.ping().await,
        }
    }

    /// Spends one request of `subject`'s budget under `policy`.
    pub async fn check(&self, policy: PolicyName, subject: Subject<'_>) -> Result<Decision, Refusal> {
        let current = self.current.load();
        let decision = match &current.budgets {
            Budgets::Memory(memory) => memory.check(policy, subject).await,
            // Boxed: the round trip's future would otherwise enlarge the
            // future of every request, in-memory budgets too. (The policies
            // are held by their own count across it, not by the guard.)
            Budgets::Redis(_) => {
                let current = arc_swap::Guard::into_inner(current);
                let Budgets::Redis(redis) = &current.budgets else {
                    unreachable!("matched above")
                };
                match Box::pin(redis.check(policy, subject)).await {
                    redis::Outcome::Decided(decision) => decision,
                    redis::Outcome::Unavailable => {
                        let rate = current.rate(policy);
                        return Err(Refusal {
                            cause: Cause::Unavailable,
                            policy,
                            rate,
                            decision: Decision {
                                limit: rate.count.get(),
                                remaining: 0,
                                reset: Duration::from_secs(1),
                                retry_after: Some(Duration::from_secs(1)),
                            },
                            audit: false,
                        });
                    }
                }
            }
        };
        if decision.allowed() {
            Ok(decision)
        } else {
            metrics::counter!(
                crate::observability::metrics::RATE_LIMIT_REFUSALS,
                "policy" => policy.as_str()
            )
            .increment(1);
            let current = self.current.load();
            Err(Refusal {
                cause: Cause::Spent,
                policy,
                rate: current.rate(policy),
                decision,
                audit: current.audited.check(policy, subject).await.allowed(),
            })
        }
    }

    /// Gives back one request that `check` allowed (see [`Backend::refund`]).
    pub async fn refund(&self, policy: PolicyName, subject: Subject<'_>) {
        let current = self.current.load_full();
        match &current.budgets {
            Budgets::Memory(memory) => memory.refund(policy, subject).await,
            Budgets::Redis(redis) => redis.refund(policy, subject).await,
        }
    }

    /// How many subjects the policy's budgets are tracking in this
    /// process now (none when they are in Redis).
    pub fn tracked(&self, policy: PolicyName) -> usize {
        match &self.current.load().budgets {
            Budgets::Memory(memory) => memory.tracked(policy),
            Budgets::Redis(_) => 0,
        }
    }
}

impl Policies {
    fn with(settings: &RateLimitSettings, budgets: Budgets, rates: Vec<RatePolicy>) -> Self {
        let audited = vec![AUDITED_REFUSALS.parse().expect("a valid rate"); rates.len()];
        Self {
            rates,
            budgets,
            audited: memory::MemoryBackend::new(&audited, settings.max_tracked_keys),
        }
    }

    /// The policies of `settings` and `routes`, keeping `previous`'
    /// in-memory budgets where they can.
    fn open(
        settings: &RateLimitSettings,
        routes: &[RatePolicy],
        prefix: &str,
        previous: Option<&Self>,
    ) -> ::redis::RedisResult<Self> {
        let rates = rates_of(settings, routes);
        let budgets = if settings.backend == crate::config::RateLimitBackend::Memory {
            Budgets::Memory(match previous.map(|previous| &previous.budgets) {
                Some(Budgets::Memory(kept)) => {
                    memory::MemoryBackend::reloaded(kept, &rates, settings.max_tracked_keys)
                }
                _ => memory::MemoryBackend::new(&rates, settings.max_tracked_keys),
            })
        } else {
            let names: Vec<_> = (0..rates.len()).map(|i| policy_at(i).key_name()).collect();
            Budgets::Redis(redis::RedisBackend::new(
                &settings.redis_url,
                prefix,
                &names,
                &rates,
                settings.redis_failure,
                settings.max_tracked_keys,
            )?)
        };
        Ok(Self::with(settings, budgets, rates))
    }

    /// A policy's rate; a name these policies do not know (a route of a
    /// table a reload replaced) has the default's.
    fn rate(&self, policy: PolicyName) -> RatePolicy {
        self.rates.get(policy.index()).copied().unwrap_or(self.rates[0])
    }
}

/// The rates by [`PolicyName::index`]: the four named policies, then the
/// routes' own.
fn rates_of(settings: &RateLimitSettings, routes: &[RatePolicy]) -> Vec<RatePolicy> {
    let named = [
        settings.default,
        settings.login,
        settings.login_per_username,
        settings.docs,
    ];
    named.iter().chain(routes).copied().collect()
}

/// The policy at `index` (the inverse of [`PolicyName::index`]).
fn policy_at(index: usize) -> PolicyName {
    match PolicyName::ALL.get(index) {
        Some(named) => *named,
        None => {
            PolicyName::Route(u16::try_from(index - PolicyName::ALL.len()).expect("fewer than 65,536 routes"))
        }
    }
}

/// Which policy a request falls under, by method and route template; `None`
/// for a route under no policy. The router says (`routes::policy_for`).
pub type PolicyTable = fn(&Method, Option<&str>) -> Option<PolicyName>;

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use super::*;

    #[test]
    fn ipv6_clients_share_their_64() {
        let a = Subject::ip("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Subject::ip("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap());
        let c = Subject::ip("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let v4 = Subject::ip("192.0.2.1".parse().unwrap());
        assert_eq!(v4, Subject::Ip("192.0.2.1".parse().unwrap()));
    }

    /// A flood of new addresses neither grows the map past its bound nor
    /// washes out the budget of a client being throttled.
    #[tokio::test]
    async fn two_hundred_thousand_new_clients_keep_the_limiter_within_its_bound() {
        let settings = RateLimitSettings {
            default: "5/day".parse().unwrap(),
            max_tracked_keys: NonZeroUsize::new(100_000).unwrap(),
            ..RateLimitSettings::default()
        };
        let limits = RateLimits::new(&settings, &[]);
        let attacker = Subject::ip("192.0.2.66".parse().unwrap());
        for _ in 0..5 {
            assert!(limits.check(PolicyName::Default, attacker).await.is_ok());
        }
        assert!(limits.check(PolicyName::Default, attacker).await.is_err());

        for n in 0..200_000u32 {
            let ip = IpAddr::from((0x0a00_0000 + n).to_be_bytes());
            assert!(limits.check(PolicyName::Default, Subject::ip(ip)).await.is_ok());
            assert!(limits.tracked(PolicyName::Default) <= 100_000);
            // The throttled client keeps coming back during the flood.
            if n % 1_000 == 0 {
                assert!(
                    limits.check(PolicyName::Default, attacker).await.is_err(),
                    "the flood gave the throttled client a fresh budget after {n} keys"
                );
            }
        }
        assert!(limits.tracked(PolicyName::Default) <= 100_000);
        assert!(
            limits.tracked(PolicyName::Default) > 50_000,
            "the map holds what it may"
        );
        assert!(limits.check(PolicyName::Default, attacker).await.is_err());
    }
}
