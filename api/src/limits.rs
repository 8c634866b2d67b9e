//! Abuse resistance beside the body size limit: a time limit on every request, and a per-client
//! rate limit (`429` with `Retry-After`). Touches memory and the request's timing only.
//!
//! Each API instance limits on its own: with N instances behind a balancer, a client may send up
//! to N times the configured rate in all.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::Args;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds a request may take, body and database included.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
/// Requests per second a client may make, on average.
pub const DEFAULT_RATE_LIMIT_PER_SEC: u32 = 50;
/// Requests a client may make at once, after a quiet spell.
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 100;
/// Clients tracked at most; past it, clients with a full allowance are forgotten first.
const MAX_BUCKETS: usize = 100_000;

/// Settings of the request time limit and the rate limit.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Seconds a request may take in all (reading the body, the database); then `503`.
    #[arg(long, env = "PG_SLO_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// Requests per second each client may post, on average (0: no limit); more get `429`.
    #[arg(long, env = "PG_SLO_RATE_LIMIT_PER_SEC", default_value_t = DEFAULT_RATE_LIMIT_PER_SEC)]
    pub rate_limit_per_sec: u32,

    /// Requests each client may post in a burst, above the average rate.
    #[arg(long, env = "PG_SLO_RATE_LIMIT_BURST", default_value_t = DEFAULT_RATE_LIMIT_BURST,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,
}

impl Default for LimitsConfig {
    /// The same values as the flags' defaults.
    fn default() -> Self {
        LimitsConfig {
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            rate_limit_per_sec: DEFAULT_RATE_LIMIT_PER_SEC,
            rate_limit_burst: DEFAULT_RATE_LIMIT_BURST,
        }
    }
}

/// Middleware: answers `503` (problem+json, `Retry-After`) when the rest of the stack takes longer
/// than `limit`. The request's work is dropped; a statement already sent may still commit, which
/// the answer says (a repeated event is a no-op, so posting again is safe).
pub async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout {
            secs: limit.as_secs(),
        }
        .into_response(),
    }
}

/// A token bucket per client: `burst` requests at once, refilled at `per_sec` a second.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `None` when `per_sec` is 0 (no limit).
    pub fn new(per_sec: u32, burst: u32) -> Option<RateLimiter> {
        (per_sec > 0).then(|| RateLimiter {
            per_sec: f64::from(per_sec),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one request from `key`'s allowance, or answers `429` with the seconds until one is
    /// available again.
    pub fn admit(&self, key: &str, now: Instant) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (per_sec, burst) = (self.per_sec, self.burst);
            buckets.retain(|_, b| refill(*b, now, per_sec, burst).tokens < burst);
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        *bucket = refill(*bucket, now, self.per_sec, self.burst);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_sec;
            Err(ApiError::RateLimited {
                key: key.to_owned(),
                retry_after_secs: (wait.ceil() as u64).max(1),
            })
        }
    }
}

fn refill(b: Bucket, now: Instant, per_sec: f64, burst: f64) -> Bucket {
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    Bucket {
        tokens: (b.tokens + elapsed * per_sec).min(burst),
        at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(r: Result<(), ApiError>) -> Option<u64> {
        match r {
            Ok(()) => None,
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => Some(retry_after_secs),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(2, 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(retry_after(limiter.admit("a", t0)), None);
        }
        assert_eq!(retry_after(limiter.admit("a", t0)), Some(1));
        // Half a second refills one request at 2 per second.
        assert_eq!(
            retry_after(limiter.admit("a", t0 + Duration::from_millis(500))),
            None
        );
        assert_eq!(
            retry_after(limiter.admit("a", t0 + Duration::from_millis(500))),
            Some(1)
        );
    }

    #[test]
    fn clients_do_not_share_an_allowance() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        let t0 = Instant::now();
        assert!(limiter.admit("a", t0).is_ok());
        assert!(limiter.admit("a", t0).is_err());
        assert!(limiter.admit("b", t0).is_ok());
    }

    #[test]
    fn retry_after_counts_whole_seconds_until_a_request_is_available() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        let t0 = Instant::now();
        assert!(limiter.admit("a", t0).is_ok());
        // 0.25 s later, 0.75 s remain: the client is told 1 second.
        assert_eq!(
            retry_after(limiter.admit("a", t0 + Duration::from_millis(250))),
            Some(1)
        );
        let slow = RateLimiter::new(1, 5).unwrap();
        for _ in 0..5 {
            assert!(slow.admit("b", t0).is_ok());
        }
        assert_eq!(retry_after(slow.admit("b", t0)), Some(1));
    }

    #[test]
    fn a_zero_rate_means_no_limiter() {
        assert!(RateLimiter::new(0, 10).is_none());
    }
}
