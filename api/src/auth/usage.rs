//! Token use, recorded without a write per request: each accepted token's latest use is kept in
//! memory and reported to the database in one call per interval (`slo.record_token_use`), and
//! once more when the service stops. Touches memory, and the database through
//! [`super::repo::record_token_use`] only.
//!
//! The database moves `last_used_at` forward only, so several instances may report the same
//! token in any order. A report that fails is kept and sent with the next one.

use super::repo;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use std::collections::HashMap;
use std::sync::Mutex;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct UsageRecorder {
    pending: Mutex<HashMap<i64, DateTime<Utc>>>,
}

impl UsageRecorder {
    /// Notes that `token_id` was accepted at `at`.
    pub fn record(&self, token_id: i64, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .entry(token_id)
            .and_modify(|t| *t = (*t).max(at))
            .or_insert(at);
    }

    fn take(&self) -> HashMap<i64, DateTime<Utc>> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reports every pending use in one call; keeps them for the next report when it fails.
    pub async fn flush(&self, pool: &Pool) {
        let batch = self.take();
        if batch.is_empty() {
            return;
        }
        let (ids, times): (Vec<i64>, Vec<DateTime<Utc>>) =
            batch.iter().map(|(k, v)| (*k, *v)).unzip();
        match repo::record_token_use(pool, &ids, &times).await {
            Ok(changed) => tracing::debug!(tokens = ids.len(), changed, "token use reported"),
            Err(e) => {
                tracing::warn!(tokens = ids.len(), error = %e, "token use not reported; retrying at the next interval");
                for (id, at) in batch {
                    self.record(id, at);
                }
            }
        }
    }

    #[cfg(test)]
    fn pending(&self) -> HashMap<i64, DateTime<Utc>> {
        self.pending.lock().unwrap().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_use_of_each_token_is_kept() {
        let r = UsageRecorder::default();
        let t = Utc::now();
        r.record(1, t);
        r.record(1, t - chrono::Duration::seconds(5));
        r.record(2, t - chrono::Duration::seconds(1));
        r.record(2, t);
        let pending = r.pending();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[&1], t);
        assert_eq!(pending[&2], t);
        assert_eq!(r.take().len(), 2);
        assert!(r.pending().is_empty());
    }
}
