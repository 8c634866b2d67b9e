//! A short-lived, per-instance memory of what the extension answered: who a token hash is
//! (`slo.authenticate`), or that it is not valid; and which applications a client may post for
//! (`slo.allowed_applications`). Pure data in memory; touches nothing else.
//!
//! An answer is kept for the configured time (`--auth-cache-secs`), and a token's never past its
//! own expiry, so a revocation (of a token, a client or a grant) takes effect on every instance
//! within that bound and an expiry takes effect on time. Several API instances each keep their
//! own cache; none needs to hear from the others. The cache is bounded: when full, expired
//! answers are dropped first, then all.

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Answers kept at most per cache; a flood of distinct unknown tokens cannot grow memory past this.
pub const MAX_ENTRIES: usize = 10_000;

/// The applications the extension said, recently, that a client may post for.
pub type Allowed = Arc<BTreeSet<String>>;

/// A valid token: whose it is, and what its client may post for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub client_id: Arc<str>,
    pub token_id: i64,
    pub allowed: Allowed,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    until: Instant,
}

/// A map whose entries live for at most `ttl` (see the module documentation).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    /// A cache keeping answers for `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer kept for `key`, if it is still fresh at `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.until > now)
            .map(|e| e.value.clone())
    }

    /// Keeps `value` until `now + min(ttl, limit)`; `limit` is how long the answer itself stays
    /// true (a token's time to expiry), `None` for no such limit.
    pub fn put(&self, key: K, value: V, now: Instant, limit: Option<Duration>) {
        let lifetime = limit.map_or(self.ttl, |l| l.min(self.ttl));
        if lifetime.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                until: now + lifetime,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// How long from `now_utc` until `expires_at` (zero when it has passed); `None` without expiry.
pub fn time_left(expires_at: Option<DateTime<Utc>>, now_utc: DateTime<Utc>) -> Option<Duration> {
    expires_at.map(|at| (at - now_utc).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_for_the_ttl_and_no_longer() {
        let cache = TtlCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        cache.put(1, Some("sched"), t0, None);
        cache.put(2, None, t0, None);
        assert_eq!(
            cache.get(&1, t0 + Duration::from_secs(9)),
            Some(Some("sched"))
        );
        assert_eq!(cache.get(&2, t0 + Duration::from_secs(9)), Some(None));
        assert_eq!(cache.get(&1, t0 + Duration::from_secs(10)), None);
        assert_eq!(cache.get(&3, t0), None);
    }

    #[test]
    fn an_answer_is_never_kept_past_its_own_limit() {
        let cache = TtlCache::new(Duration::from_secs(10));
        let (t0, utc) = (Instant::now(), Utc::now());
        let expires = utc + chrono::Duration::seconds(3);
        cache.put(1, "valid", t0, time_left(Some(expires), utc));
        assert_eq!(cache.get(&1, t0 + Duration::from_secs(2)), Some("valid"));
        assert_eq!(cache.get(&1, t0 + Duration::from_secs(3)), None);
        // Already expired by the time the answer arrives: not kept at all.
        let past = utc - chrono::Duration::seconds(1);
        cache.put(2, "valid", t0, time_left(Some(past), utc));
        assert_eq!(cache.get(&2, t0), None);
        assert_eq!(time_left(None, utc), None);
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = TtlCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.put(1, "x", t0, None);
        assert_eq!(cache.get(&1, t0), None);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let cache = TtlCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..(MAX_ENTRIES + 5) {
            cache.put(i, (), t0, None);
            assert!(cache.len() <= MAX_ENTRIES);
        }
        assert!(cache.len() >= 1);
    }
}
