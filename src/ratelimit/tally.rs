//! What one client holds at once: its open connections, its forwarded
//! requests in flight (SPEC section 11; OWASP API4:2023, CWE-770). Where a
//! policy of this module counts what a client does per unit of time, a
//! tally counts what it holds now, and a holding ends when its [`Held`] is
//! dropped.
//!
//! Written here: governor counts rates, not holdings, and a semaphore per
//! client would need a map of semaphores, with their removal, all the same.
//! The map is split into shards, each behind its own lock held for one
//! increment, so clients on different shards never wait for each other; an
//! entry is removed when its count falls to zero, so the map never holds
//! more entries than there are holdings.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
    sync::{Arc, Mutex, PoisonError},
};

const SHARDS: usize = 32;

/// Holdings per key, each key capped at `max`.
pub struct Tally<K> {
    max: u32,
    /// Picks a key's shard; the shards' maps hash with std's SipHash, as the
    /// keys are the clients' to choose.
    pick: foldhash::fast::RandomState,
    shards: Box<[Mutex<HashMap<K, u32>>]>,
}

/// One holding of a key, given back when dropped.
pub struct Held<K: Hash + Eq> {
    tally: Arc<Tally<K>>,
    key: K,
}

impl<K> std::fmt::Debug for Tally<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> Tally<K> {
    /// A tally that lets each key hold at most `max` at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: u32::try_from(max).unwrap_or(u32::MAX),
            pick: foldhash::fast::RandomState::default(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        })
    }

    /// One more holding for `key`, or `None` when it holds `max` already.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Held<K>> {
        {
            let mut shard = self.shard(&key).lock().unwrap_or_else(PoisonError::into_inner);
            let count = shard.entry(key.clone()).or_insert(0);
            if *count >= self.max {
                return None;
            }
            *count += 1;
        }
        Some(Held {
            tally: self.clone(),
            key,
        })
    }

    /// What `key` holds now.
    pub fn count(&self, key: &K) -> u32 {
        let shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        shard.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq> Tally<K> {
    fn shard(&self, key: &K) -> &Mutex<HashMap<K, u32>> {
        let at = (self.pick.hash_one(key) >> 32) as usize % self.shards.len();
        &self.shards[at]
    }

    fn give_back(&self, key: &K) {
        let mut shard = self.shard(key).lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = shard.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                shard.remove(key);
            }
        }
    }
}

impl<K: Hash + Eq> Drop for Held<K> {
    fn drop(&mut self) {
        self.tally.give_back(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_max_and_gets_its_holdings_back() {
        let tally = Tally::new(2);
        let first = tally.take("a").unwrap();
        let second = tally.take("a").unwrap();
        assert!(tally.take("a").is_none());
        assert!(tally.take("b").is_some(), "other keys have their own count");
        drop(first);
        assert_eq!(tally.count(&"a"), 1);
        let third = tally.take("a").unwrap();
        drop((second, third));
        assert_eq!(tally.count(&"a"), 0);
        let empty = tally.shards.iter().all(|shard| shard.lock().unwrap().is_empty());
        assert!(empty, "a key holding nothing leaves no entry");
    }
}
