//! Budgets in this process's memory: governor's GCRA over one bounded map per
//! policy.
//!
//! governor's own keyed store (a `DashMap`) grows with every new key until
//! someone calls `retain_recent`, so a flood of fresh addresses grows it
//! without bound in between. Here governor keeps its state in a quick_cache
//! map whose capacity is `rate_limit.max_tracked_keys`: memory is bounded at
//! every moment. quick_cache evicts keys seen once before keys that keep
//! coming back (S3-FIFO), so such a flood does not wash out the budget of a
//! client that is being throttled.

use std::{
    hash::{BuildHasher, Hasher, RandomState},
    num::NonZeroUsize,
    sync::Arc,
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    nanos::Nanos,
    state::StateStore,
};
use quick_cache::{
    OptionsBuilder, UnitWeighter,
    sync::{Cache, DefaultLifecycle, EntryAction, EntryResult},
};

use super::{Backend, Decision, KnownClient, PolicyName, Subject};
use crate::config::RatePolicy;

/// Shards of each map: enough that workers rarely meet on one lock.
const SHARDS: usize = 64;
/// quick_cache wants at least this many entries per shard.
const MIN_PER_SHARD: usize = 32;

type KeyedLimiter = RateLimiter<u64, BoundedState, DefaultClock, StateInformationMiddleware>;

/// One policy: its limiter and what the headers need of it.
struct Policy {
    limiter: KeyedLimiter,
    /// The limiter's map, to count what it tracks.
    tracked: Arc<Cache<u64, u64>>,
    limit: u32,
    /// One request's share of the period (GCRA's emission interval).
    interval: Duration,
}

/// Budgets for every policy, in memory.
pub struct MemoryBackend {
    /// Shared with the backend a reload makes, for the policies whose
    /// rate it keeps: their budgets carry over.
    policies: Vec<Arc<(RatePolicy, Policy)>>,
    clock: DefaultClock,
    /// Keyed with a random key per process, so nobody can aim two subjects
    /// at one budget.
    hasher: RandomState,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// `rates` by [`PolicyName::index`].
    pub fn new(rates: &[RatePolicy], max_tracked_keys: NonZeroUsize) -> Self {
        Self::keeping(None, rates, max_tracked_keys)
    }

    /// Budgets for `rates` that keep `previous`' budgets where a policy
    /// (by its index) keeps its rate: a reload of the configuration does
    /// not hand a throttled client a fresh budget.
    pub fn reloaded(previous: &Self, rates: &[RatePolicy], max_tracked_keys: NonZeroUsize) -> Self {
        Self::keeping(Some(previous), rates, max_tracked_keys)
    }

    fn keeping(previous: Option<&Self>, rates: &[RatePolicy], max_tracked_keys: NonZeroUsize) -> Self {
        let clock = previous.map_or_else(DefaultClock::default, |previous| previous.clock.clone());
        let policies = rates
            .iter()
            .enumerate()
            .map(|(index, rate)| {
                if let Some(kept) = previous
                    .and_then(|previous| previous.policies.get(index))
                    .filter(|kept| kept.0 == *rate)
                {
                    return kept.clone();
                }
                let limit = rate.count.get();
                let interval = rate.period.duration() / limit;
                let quota = Quota::with_period(interval)
                    .expect("a period of at least one second over at most u32::MAX requests is not zero")
                    .allow_burst(rate.count);
                let state = BoundedState::new(max_tracked_keys.get());
                let tracked = state.cache.clone();
                let limiter: RateLimiter<u64, BoundedState, DefaultClock> =
                    RateLimiter::new(quota, state, clock.clone());
                Arc::new((
                    *rate,
                    Policy {
                        limiter: limiter.with_middleware::<StateInformationMiddleware>(),
                        tracked,
                        limit,
                        interval,
                    },
                ))
            })
            .collect();
        Self {
            policies,
            clock,
            hasher: previous.map_or_else(RandomState::new, |previous| previous.hasher.clone()),
        }
    }

    /// A policy's budgets; a name this backend does not know (a route of
    /// a table a reload replaced) spends the default policy's.
    fn policy(&self, name: PolicyName) -> &Policy {
        let index = name.index();
        &self.policies.get(index).unwrap_or(&self.policies[0]).1
    }

    /// Subjects tracked under `policy` right now.
    pub fn tracked(&self, policy: PolicyName) -> usize {
        self.policy(policy).tracked.len()
    }

    fn key(&self, subject: Subject<'_>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        match subject {
            Subject::Ip(ip) => {
                hasher.write_u8(0);
                match ip {
                    std::net::IpAddr::V4(v4) => hasher.write(&v4.octets()),
                    std::net::IpAddr::V6(v6) => hasher.write(&v6.octets()),
                }
            }
            Subject::Name(name) => {
                hasher.write_u8(1);
                write_name(&mut hasher, name);
            }
            Subject::Known(name, client) => {
                hasher.write_u8(2);
                write_name(&mut hasher, name);
                match client {
                    KnownClient::Network(std::net::IpAddr::V4(v4)) => hasher.write(&v4.octets()),
                    KnownClient::Network(std::net::IpAddr::V6(v6)) => hasher.write(&v6.octets()),
                    KnownClient::Device(nonce) => {
                        hasher.write_u8(0xff);
                        hasher.write(&nonce);
                    }
                }
            }
        }
        hasher.finish()
    }

    fn check_now(&self, policy: PolicyName, subject: Subject<'_>) -> Decision {
        let policy = self.policy(policy);
        match policy.limiter.check_key(&self.key(subject)) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    limit: policy.limit,
                    remaining,
                    reset: policy.interval * policy.limit.saturating_sub(remaining),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Decision {
                    limit: policy.limit,
                    remaining: 0,
                    reset: wait + policy.interval * (policy.limit - 1),
                    retry_after: Some(wait),
                }
            }
        }
    }
}

/// A user name, without ASCII case, and its end (so that a name and what
/// follows it cannot be read another way).
fn write_name(hasher: &mut impl Hasher, name: &str) {
    for byte in name.bytes() {
        hasher.write_u8(byte.to_ascii_lowercase());
    }
    hasher.write_usize(name.len());
}

impl Backend for MemoryBackend {
    async fn check(&self, policy: PolicyName, subject: Subject<'_>) -> Decision {
        self.check_now(policy, subject)
    }

    async fn refund(&self, policy: PolicyName, subject: Subject<'_>) {
        let policy = self.policy(policy);
        let interval = u64::try_from(policy.interval.as_nanos()).unwrap_or(u64::MAX);
        // GCRA: one request is one interval of the theoretical arrival
        // time. A time in the past reads as a whole budget, so moving it
        // back can never give more than the whole budget.
        let _ = policy.tracked.entry(&self.key(subject), None, |_, tat| {
            *tat = tat.saturating_sub(interval);
            EntryAction::Retain(())
        });
    }
}

/// governor's state (each key's theoretical arrival time, in nanoseconds of
/// the limiter's clock) in a map that never holds more than its capacity.
pub struct BoundedState {
    cache: Arc<Cache<u64, u64>>,
}

impl BoundedState {
    fn new(capacity: usize) -> Self {
        // Shards that divide the capacity exactly: quick_cache rounds each
        // shard's share up, which would let the total exceed it.
        let mut shards = SHARDS;
        while shards > 1 && capacity / shards < MIN_PER_SHARD {
            shards /= 2;
        }
        let capacity = (capacity / shards).max(1) * shards;
        let options = OptionsBuilder::new()
            .shards(shards)
            .estimated_items_capacity(capacity)
            .weight_capacity(capacity as u64)
            .build()
            .expect("shards and capacity are set");
        Self {
            cache: Arc::new(Cache::with_options(
                options,
                UnitWeighter,
                Default::default(),
                DefaultLifecycle::default(),
            )),
        }
    }
}

impl StateStore for BoundedState {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The check and the update run under the key's shard lock, so two
        // requests of one subject cannot both spend the last token.
        let result = self
            .cache
            .entry(key, None, |_, tat| match f(Some(Nanos::from(*tat))) {
                Ok((value, next)) => {
                    *tat = next.as_u64();
                    EntryAction::Retain(Ok(value))
                }
                Err(refused) => EntryAction::Retain(Err(refused)),
            });
        match result {
            EntryResult::Retained(result) => result,
            EntryResult::Vacant(guard) => {
                let (value, next) = f(None)?;
                let _ = guard.insert(next.as_u64());
                Ok(value)
            }
            // Not reached (the callback only retains, and there is no
            // time-out); judged as a subject seen for the first time.
            EntryResult::Removed(..) | EntryResult::Replaced(..) | EntryResult::Timeout => {
                f(None).map(|(value, _)| value)
            }
        }
    }
}
