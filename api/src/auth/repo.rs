//! The database side of authentication: asks `slo.authenticate` who a token hash is and
//! `slo.allowed_applications` what a client may post for, and reports token use with
//! `slo.record_token_use`. Touches PostgreSQL through those functions only (the API role may
//! not read the token table itself).

use crate::error::ApiError;
use crate::store::{db_error, pool_error};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tracing::instrument;

/// Who a valid token is, and what its client may post for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub client_id: String,
    pub token_id: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub allowed: Vec<String>,
}

/// `slo.authenticate(hash)` with the client's `slo.allowed_applications`: the token's client
/// when it is valid, `None` when it is not.
#[instrument(skip_all)]
pub async fn authenticate(pool: &Pool, hash: &[u8; 32]) -> Result<Option<Authenticated>, ApiError> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client
        .prepare_cached(
            "SELECT a.client_id, a.token_id, a.expires_at,
                    ARRAY(SELECT g.app_id FROM slo.allowed_applications(a.client_id) AS g(app_id))
             FROM slo.authenticate($1) AS a",
        )
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
        allowed: row.get(3),
    }))
}

/// `slo.allowed_applications(client_id)`: what a client (authenticated by a JWT) may post for.
#[instrument(skip_all)]
pub async fn allowed_applications(pool: &Pool, client_id: &str) -> Result<Vec<String>, ApiError> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client
        .prepare_cached(
            "SELECT ARRAY(SELECT g.app_id FROM slo.allowed_applications($1) AS g(app_id))",
        )
        .await
        .map_err(db_error)?;
    let row = client
        .query_one(&statement, &[&client_id])
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
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
