//! The database side of authentication: asks `slo.authenticate` who a token hash is, and reports
//! token use with `slo.record_token_use`. Touches PostgreSQL through those two functions only
//! (the API role may not read the token table itself).

use crate::error::ApiError;
use crate::store::{db_error, pool_error};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tracing::instrument;

/// Who a valid token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub client_id: String,
    pub token_id: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `slo.authenticate(hash)`: the token's client when it is valid, `None` when it is not.
#[instrument(skip_all)]
pub async fn authenticate(pool: &Pool, hash: &[u8; 32]) -> Result<Option<Authenticated>, ApiError> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client
        .prepare_cached("SELECT client_id, token_id, expires_at FROM slo.authenticate($1)")
        .await
        .map_err(db_error)?;
    let row = client
        .query_opt(&statement, &[&hash.as_slice()])
        .await
        .map_err(db_error)?;
    Ok(row.map(|row| Authenticated {
        client_id: row.get(0),
        token_id: row.get(1),
        expires_at: row.get(2),
    }))
}

/// `slo.record_token_use(ids, times)`: returns how many tokens' `last_used_at` moved forward.
#[instrument(skip_all, fields(tokens = ids.len()))]
pub async fn record_token_use(
    pool: &Pool,
    ids: &[i64],
    times: &[DateTime<Utc>],
) -> Result<i32, ApiError> {
    let client = pool.get().await.map_err(pool_error)?;
    let row = client
        .query_one("SELECT slo.record_token_use($1, $2)", &[&ids, &times])
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}
