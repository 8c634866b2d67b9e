//! The database: the connection pool, and the questions every writer of events asks it.
//!
//! May touch PostgreSQL and nothing else: builds the pool, asks `slo.denied_applications`
//! whether a client may post a batch, and whether the extension is installed. Writes nothing:
//! the statements that write `slo.job_status` are all in [`crate::event_writer`].

use crate::error::ApiError;
use anyhow::Context;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use slo_core::event::denied_violations;
use slo_core::JobStatusEvent;
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// Builds the pool. Connections are made lazily, so the service starts (and answers `503`)
/// while the database is down, and recovers by itself when it comes back.
pub fn build_pool(database_url: &str, size: usize, timeout: Duration) -> anyhow::Result<Pool> {
    let mut pg = tokio_postgres::Config::from_str(database_url)
        .context("DATABASE_URL is not a valid connection string")?;
    pg.application_name("pg-slo");
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(timeout);
    }
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .context("building the connection pool")
}

/// Asks the extension whether `client_id` may post for every application of the batch, without
/// storing anything (publishing mode); `403` listing the events of the applications it may not.
pub async fn authorize(
    pool: &Pool,
    events: &[JobStatusEvent],
    client_id: &str,
) -> Result<(), ApiError> {
    let client = pool.get().await.map_err(pool_error)?;
    let denied = denied_applications(&client, client_id, events)
        .await
        .map_err(db_error)?;
    if denied.is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        client_id: client_id.to_owned(),
        is_batch: events.len() > 1,
        violations: denied_violations(events, client_id, &denied),
        denied,
    })
}

/// The applications of `events` that the extension says `client_id` may not post for
/// (`slo.denied_applications`), sorted; empty when it may post them all. On any client or
/// transaction.
pub async fn denied_applications<C: GenericClient>(
    client: &C,
    client_id: &str,
    events: &[JobStatusEvent],
) -> Result<Vec<String>, tokio_postgres::Error> {
    let mut apps: Vec<&str> = events.iter().map(|e| e.app_id().as_str()).collect();
    apps.sort_unstable();
    apps.dedup();
    let row = client
        .query_one(
            "SELECT ARRAY(SELECT d.app_id FROM slo.denied_applications($1, $2) AS d(app_id) ORDER BY 1)",
            &[&client_id, &apps],
        )
        .await?;
    Ok(row.get(0))
}

/// Says whether the database can be used: a connection, and the extension installed.
pub async fn ready(pool: &Pool) -> Result<(), ApiError> {
    let client = pool.get().await.map_err(pool_error)?;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'pg_slo'",
            &[],
        )
        .await
        .map_err(db_error)?;
    if row.get::<_, i64>(0) == 1 {
        Ok(())
    } else {
        Err(ApiError::DatabaseUnavailable(anyhow::anyhow!(
            "the database has no pg_slo extension (run CREATE EXTENSION pg_slo)"
        )))
    }
}

/// A failure to get a connection: the database is unreachable, or every connection is busy.
pub(crate) fn pool_error(e: PoolError) -> ApiError {
    match e {
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            ApiError::Internal(anyhow::Error::new(e).context("connection pool"))
        }
        other => ApiError::DatabaseUnavailable(
            anyhow::Error::new(other).context("getting a database connection"),
        ),
    }
}

/// Classifies a statement error: connection loss, shutdown, overload, failover and
/// serialization conflicts are `503` (safe to retry: duplicates are no-ops); anything else is `500`.
pub(crate) fn db_error(e: tokio_postgres::Error) -> ApiError {
    let retryable = is_transient(&e);
    let err = anyhow::Error::new(e).context("database statement");
    if retryable {
        ApiError::DatabaseUnavailable(err)
    } else {
        ApiError::Internal(err)
    }
}

/// True for errors that pass by themselves: connection loss, shutdown, overload, failover,
/// serialization conflicts and deadlocks. Retrying the same batch is then safe (duplicates are
/// no-ops) and right.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true, // connection closed, I/O error, timeout: nothing from the server
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c.starts_with("53") // insufficient resources, too many connections
                || c.starts_with("57P") // admin/crash shutdown, cannot connect now
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION // connected to a standby after failover
        }
    }
}
