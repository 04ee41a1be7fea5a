//! Budgets in Redis, shared by every instance (SPEC section 5): one atomic
//! GCRA step per check, in a Lua script run with `EVALSHA` on Redis's own
//! clock (`TIME`), so the instances' clocks do not matter (Traefik passes
//! its own clock and inherits their skew; go-redis/redis_rate and
//! redis-cell use the server's). The `redis` crate's connection manager
//! multiplexes every worker's commands over one connection and reconnects.
//!
//! A refused subject is remembered here until its retry time (a bounded
//! map, as Envoy's ratelimit "local cache" does): under attack, refusals
//! cost no round trip, and answer exactly what Redis would.
//!
//! Redis failing never stops the server: each call has a 100 ms deadline;
//! a failure opens a circuit for a second (no call to a dead Redis
//! meanwhile), and limits follow `rate_limit.redis_failure`: per-instance
//! budgets in memory (`local`) or 503 (`deny`). The outage is logged once
//! a minute, counted, and shown by `/readyz`.

use std::{
    num::NonZeroUsize,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use quick_cache::sync::Cache;
use redis::{Client, Script, aio::ConnectionManager, aio::ConnectionManagerConfig};
use sha2::{Digest, Sha256};

use super::{Backend, Decision, KnownClient, PolicyName, Subject, memory::MemoryBackend};
use crate::{
    config::{RatePolicy, RedisFailure},
    observability::metrics::{RATE_LIMIT_BACKEND_DEGRADED, RATE_LIMIT_BACKEND_ERRORS},
};

/// Each call's deadline: a slow Redis costs a request at most this.
const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// After a failure, Redis is left alone this long.
const OPEN_CIRCUIT: Duration = Duration::from_secs(1);
/// An outage is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The emission interval in whole microseconds, Redis's clock's unit: at
/// least 1, so a rate above a million a second (a limit raised out of the
/// way) spends 1 µs per request instead of dividing by zero in the script.
fn interval_us(period: Duration, limit: u32) -> u64 {
    u64::try_from((period / limit).as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// One GCRA step. KEYS[1]: the budget. ARGV: the emission interval (µs),
/// the limit (requests per period, all of which may come at once), and
/// `1` to spend one request or `-1` to give one back. Returns `{allowed,
/// remaining, retry_after_us, reset_us}`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
if tonumber(ARGV[3]) < 0 then
  local back = tat - interval
  if back > now then
    redis.call('SET', KEYS[1], back, 'PX', math.ceil((back - now) / 1000))
  else
    redis.call('DEL', KEYS[1])
  end
  return {1, 0, 0, 0}
end
local span = interval * limit
local new_tat = tat + interval
if new_tat - now > span then
  return {0, 0, new_tat - span - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((span - (new_tat - now)) / interval), 0, new_tat - now}
";

/// What Redis answers a check with, or why it could not.
pub enum Outcome {
    Decided(Decision),
    /// Redis is unreachable and `redis_failure = "deny"`.
    Unavailable,
}

struct Policy {
    /// `<prefix>rl:<policy>:<count>/<period s>:`: a changed rate never
    /// reads a budget kept under another.
    key_prefix: String,
    limit: u32,
    interval_us: u64,
}

pub struct RedisBackend {
    connection: ConnectionManager,
    script: Script,
    policies: Vec<Policy>,
    /// Refused budgets, until their retry time.
    refused: Cache<String, Instant>,
    /// Budgets while Redis is down, with `redis_failure = "local"`.
    fallback: Option<MemoryBackend>,
    started: Instant,
    /// Milliseconds since `started` until which Redis is left alone.
    open_until: AtomicU64,
    degraded: AtomicBool,
    /// Milliseconds since `started` of the last outage log line (+1).
    logged_at: AtomicU64,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend").finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Budgets for `rates`, named `names` (both by the policies' index), in the
    /// Redis at `url`, under `prefix`. Does not connect: the first call
    /// does, and [`Self::ping`] tells whether it can.
    pub fn new(
        url: &str,
        prefix: &str,
        names: &[std::borrow::Cow<'static, str>],
        rates: &[RatePolicy],
        failure: RedisFailure,
        max_tracked_keys: NonZeroUsize,
    ) -> redis::RedisResult<Self> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(OPEN_CIRCUIT);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        let policies = names
            .iter()
            .zip(rates)
            .map(|(name, rate)| {
                let limit = rate.count.get();
                Policy {
                    key_prefix: format!(
                        "{prefix}rl:{}:{limit}/{}:",
                        name,
                        rate.period.duration().as_secs()
                    ),
                    limit,
                    interval_us: interval_us(rate.period.duration(), limit),
                }
            })
            .collect();
        Ok(Self {
            connection,
            script: Script::new(GCRA),
            policies,
            refused: Cache::new(max_tracked_keys.get()),
            fallback: (failure == RedisFailure::Local).then(|| MemoryBackend::new(rates, max_tracked_keys)),
            started: Instant::now(),
            open_until: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            logged_at: AtomicU64::new(0),
        })
    }

    /// A policy; a name this backend does not know (a route of a table a
    /// reload replaced) is the default policy.
    fn policy(&self, name: PolicyName) -> &Policy {
        self.policies.get(name.index()).unwrap_or(&self.policies[0])
    }

    /// Whether Redis answers now; the answer also opens or closes the
    /// circuit.
    pub async fn ping(&self) -> bool {
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(_)) => {
                self.recovered();
                true
            }
            Ok(Err(err)) => {
                self.failed(&err.to_string());
                false
            }
            Err(_) => {
                self.failed("timed out");
                false
            }
        }
    }

    /// Whether the last call to Redis failed.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn recovered(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again: rate limits are shared again");
            metrics::gauge!(RATE_LIMIT_BACKEND_DEGRADED).set(0.0);
        }
    }

    fn failed(&self, error: &str) {
        let now = self.now_ms();
        metrics::counter!(RATE_LIMIT_BACKEND_ERRORS).increment(1);
        metrics::gauge!(RATE_LIMIT_BACKEND_DEGRADED).set(1.0);
        self.degraded.store(true, Ordering::Relaxed);
        self.open_until.store(
            now + u64::try_from(OPEN_CIRCUIT.as_millis()).unwrap_or(1000),
            Ordering::Relaxed,
        );
        let last = self.logged_at.load(Ordering::Relaxed);
        let every = u64::try_from(LOG_EVERY.as_millis()).unwrap_or(60_000);
        if (last == 0 || now + 1 >= last + every)
            && self
                .logged_at
                .compare_exchange(last, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let fallback = if self.fallback.is_some() {
                "per-instance budgets"
            } else {
                "503 on limited routes"
            };
            tracing::warn!(error, fallback, "Redis unreachable for rate limits");
        }
    }

    fn circuit_open(&self) -> bool {
        self.now_ms() < self.open_until.load(Ordering::Relaxed)
    }

    fn key(&self, policy: PolicyName, subject: Subject<'_>) -> String {
        let mut hash = Sha256::new();
        match subject {
            Subject::Ip(ip) => {
                hash.update([0]);
                hash.update(ip.to_string());
            }
            Subject::Name(name) => {
                hash.update([1]);
                hash.update(name.to_ascii_lowercase());
            }
            Subject::Known(name, client) => {
                hash.update([2]);
                hash.update(name.to_ascii_lowercase());
                hash.update([0]);
                match client {
                    KnownClient::Network(ip) => hash.update(ip.to_string()),
                    KnownClient::Device(nonce) => {
                        hash.update([0xff]);
                        hash.update(nonce);
                    }
                }
            }
        }
        let digest = hash.finalize();
        let mut key = self.policy(policy).key_prefix.clone();
        URL_SAFE_NO_PAD.encode_string(&digest[..16], &mut key);
        key
    }

    async fn step(&self, key: &str, policy: &Policy, cost: i64) -> Option<[i64; 4]> {
        if self.circuit_open() {
            return None;
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key);
        invocation.arg(policy.interval_us).arg(policy.limit).arg(cost);
        match tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async::<Vec<i64>>(&mut connection)).await {
            Ok(Ok(values)) if values.len() == 4 => {
                self.recovered();
                Some([values[0], values[1], values[2], values[3]])
            }
            Ok(Ok(_)) => {
                self.failed("unexpected answer from the rate-limit script");
                None
            }
            Ok(Err(err)) => {
                self.failed(&err.to_string());
                None
            }
            Err(_) => {
                self.failed("timed out");
                None
            }
        }
    }

    pub async fn check(&self, name: PolicyName, subject: Subject<'_>) -> Outcome {
        let policy = self.policy(name);
        let key = self.key(name, subject);
        let now = Instant::now();
        if let Some(until) = self.refused.get(&key) {
            if until > now {
                let wait = until - now;
                return Outcome::Decided(Decision {
                    limit: policy.limit,
                    remaining: 0,
                    reset: wait + micros(policy.interval_us) * (policy.limit - 1),
                    retry_after: Some(wait),
                });
            }
            self.refused.remove(&key);
        }
        match self.step(&key, policy, 1).await {
            Some([allowed, remaining, retry_us, reset_us]) => {
                let decision = Decision {
                    limit: policy.limit,
                    remaining: u32::try_from(remaining.max(0)).unwrap_or(0),
                    reset: micros(reset_us),
                    retry_after: (allowed == 0).then(|| micros(retry_us)),
                };
                if let Some(wait) = decision.retry_after {
                    self.refused.insert(key, now + wait);
                }
                Outcome::Decided(decision)
            }
            None => match &self.fallback {
                Some(memory) => Outcome::Decided(memory.check(name, subject).await),
                None => Outcome::Unavailable,
            },
        }
    }

    pub async fn refund(&self, name: PolicyName, subject: Subject<'_>) {
        let policy = self.policy(name);
        let key = self.key(name, subject);
        if self.step(&key, policy, -1).await.is_none()
            && let Some(memory) = &self.fallback
        {
            memory.refund(name, subject).await;
        }
    }
}

fn micros(us: impl TryInto<u64>) -> Duration {
    Duration::from_micros(us.try_into().unwrap_or(0))
}
