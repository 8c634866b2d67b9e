//! A short-lived, per-instance memory of what the database said about each token hash
//! (`slo.authenticate`): who it is, or that it is not valid. Pure data in memory; touches
//! nothing else.
//!
//! An answer is kept for the configured time (`--auth-cache-secs`), never past the token's own
//! expiry, so a revocation takes effect on every instance within that bound and an expiry takes
//! effect on time. Several API instances each keep their own cache; none needs to hear from the
//! others. The cache is bounded: when full, expired answers are dropped first, then all.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Answers kept at most; a flood of distinct unknown tokens cannot grow memory past this.
pub const MAX_ENTRIES: usize = 10_000;

/// A valid token: whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub client_id: Arc<str>,
    pub token_id: i64,
}

#[derive(Debug)]
struct Entry {
    identity: Option<TokenIdentity>,
    until: Instant,
}

/// What the cache knows of a token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// Nothing recent: ask the database.
    Miss,
    /// The database said, recently, that this token is valid.
    Valid(TokenIdentity),
    /// The database said, recently, that this token is not valid.
    Invalid,
}

/// See the module documentation.
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl TokenCache {
    /// A cache keeping answers for `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> TokenCache {
        TokenCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, hash: &[u8; 32], now: Instant) -> Cached {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(hash) {
            Some(e) if e.until > now => match &e.identity {
                Some(identity) => Cached::Valid(identity.clone()),
                None => Cached::Invalid,
            },
            _ => Cached::Miss,
        }
    }

    /// Keeps the database's answer: `identity` with the token's expiry, or `None` for a token
    /// that is not valid. `now_utc` is the wall-clock time of `now`, to place the expiry.
    pub fn put(
        &self,
        hash: [u8; 32],
        identity: Option<(TokenIdentity, Option<DateTime<Utc>>)>,
        now: Instant,
        now_utc: DateTime<Utc>,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let (identity, lifetime) = match identity {
            None => (None, self.ttl),
            Some((identity, expires_at)) => {
                let left = expires_at
                    .map(|at| (at - now_utc).to_std().unwrap_or(Duration::ZERO))
                    .unwrap_or(self.ttl);
                (Some(identity), left.min(self.ttl))
            }
        };
        if lifetime.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&hash) {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            hash,
            Entry {
                identity,
                until: now + lifetime,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(id: i64) -> TokenIdentity {
        TokenIdentity {
            client_id: "sched".into(),
            token_id: id,
        }
    }

    #[test]
    fn an_answer_is_kept_for_the_ttl_and_no_longer() {
        let cache = TokenCache::new(Duration::from_secs(10));
        let (t0, utc) = (Instant::now(), Utc::now());
        cache.put([1; 32], Some((who(1), None)), t0, utc);
        cache.put([2; 32], None, t0, utc);
        assert_eq!(
            cache.get(&[1; 32], t0 + Duration::from_secs(9)),
            Cached::Valid(who(1))
        );
        assert_eq!(
            cache.get(&[2; 32], t0 + Duration::from_secs(9)),
            Cached::Invalid
        );
        assert_eq!(
            cache.get(&[1; 32], t0 + Duration::from_secs(10)),
            Cached::Miss
        );
        assert_eq!(cache.get(&[3; 32], t0), Cached::Miss);
    }

    #[test]
    fn a_valid_token_is_never_kept_past_its_expiry() {
        let cache = TokenCache::new(Duration::from_secs(10));
        let (t0, utc) = (Instant::now(), Utc::now());
        let expires = utc + chrono::Duration::seconds(3);
        cache.put([1; 32], Some((who(1), Some(expires))), t0, utc);
        assert_eq!(
            cache.get(&[1; 32], t0 + Duration::from_secs(2)),
            Cached::Valid(who(1))
        );
        assert_eq!(
            cache.get(&[1; 32], t0 + Duration::from_secs(3)),
            Cached::Miss
        );
        // Already expired by the time the answer arrives: not kept at all.
        cache.put(
            [2; 32],
            Some((who(2), Some(utc - chrono::Duration::seconds(1)))),
            t0,
            utc,
        );
        assert_eq!(cache.get(&[2; 32], t0), Cached::Miss);
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = TokenCache::new(Duration::ZERO);
        let (t0, utc) = (Instant::now(), Utc::now());
        cache.put([1; 32], Some((who(1), None)), t0, utc);
        assert_eq!(cache.get(&[1; 32], t0), Cached::Miss);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let cache = TokenCache::new(Duration::from_secs(10));
        let (t0, utc) = (Instant::now(), Utc::now());
        for i in 0..(MAX_ENTRIES + 5) {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.put(hash, None, t0, utc);
            assert!(cache.len() <= MAX_ENTRIES);
        }
        assert!(cache.len() >= 1);
    }
}
