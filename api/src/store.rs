//! The database: the connection pool and the job-status repository.
//!
//! May touch PostgreSQL and nothing else. Writes only `slo.job_status` (the API is its one
//! writer with the ingest adapters, which share [`insert_statement`]); asks
//! `slo.denied_applications` whether the client may post the batch; reads `slo.application` and
//! `slo.job` to check repeated events and to explain a refused batch. Each API request is one
//! statement (one event) or one transaction (a batch): all or nothing, and committed before the
//! caller sees success.

use crate::error::ApiError;
use anyhow::Context;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use slo_core::event::{denied_violations, ownership_violations, Ownership};
use slo_core::JobStatusEvent;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use tracing::instrument;

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

/// What a stored batch reports: rows added, and events that were already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InsertOutcome {
    /// Events stored by this request.
    pub accepted: u64,
    /// Events already stored before (a repeated delivery is a no-op).
    pub duplicates: u64,
}

/// The insert that asks the extension whether client $9 may post for the batch's applications
/// (`slo.denied_applications`, in the same statement): one statement that stores the batch, or
/// nothing when the client is denied one of its applications or when any event names an unknown
/// application or a job of another application (checked here because `ON CONFLICT` skips the
/// trigger for a repeated event; the trigger remains the backstop for races). Rows are sorted by
/// the event key, byte-wise (`COLLATE "C"`: every writer sorts so, and it is cheaper than the
/// database's collation), so that concurrent batches take their index locks in the same order
/// (no deadlock between overlapping batches). The ownership check looks each event's application
/// and job up by key (scalar subqueries): as joins, the statement's cached generic plan
/// hash-joined `slo.job` whole for every request, half of the database's time per single-event
/// request (bench/ingest.sh, 4,000 jobs).
const INSERT_EVENTS_AUTHORIZED: &str = "WITH e AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::date[], $6::text[], $7::text[], $8::time[])
       AS e(app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
), denied AS (
  SELECT ARRAY(SELECT d.app_id FROM slo.denied_applications($9, ARRAY(SELECT DISTINCT e.app_id FROM e)) AS d(app_id) ORDER BY 1) AS apps
), refused AS (
  SELECT 1 FROM e
  WHERE (SELECT a.app_id FROM slo.application a WHERE a.app_id = e.app_id) IS NULL
     OR (SELECT j.app_id FROM slo.job j WHERE j.job_id = e.job_id) <> e.app_id
  LIMIT 1
), ins AS (
  INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
  SELECT e.app_id, e.job_id, e.status, e.status_time, e.business_date, e.run_id, e.host_id, e.period_start, $9
  FROM e
  WHERE NOT EXISTS (SELECT 1 FROM refused) AND cardinality((SELECT apps FROM denied)) = 0
  ORDER BY e.job_id COLLATE \"C\", e.business_date, e.run_id COLLATE \"C\", e.status COLLATE \"C\", e.status_time
  ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING
  RETURNING 1)
SELECT (SELECT count(*) FROM ins), EXISTS (SELECT 1 FROM refused), (SELECT apps FROM denied)";

/// One event whose poster needs no question to the extension: a plain one-row insert, the
/// cheapest statement there is (planned once per connection). A new row passes the trigger of
/// `slo.job_status`, which refuses an unknown application or a job of another application
/// (`foreign_key_violation`); a repeat is checked by [`duplicate_refused`].
const INSERT_ONE_EVENT: &str = "INSERT INTO slo.job_status
  (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING";

/// A batch whose poster needs no question to the extension: the rows, sorted by the event key,
/// and nothing else. New rows pass the trigger of `slo.job_status` (which refuses an unknown
/// application or a job of another application); repeats skip it, so when some rows were
/// repeats the batch's ownership is checked after the insert, and a refusal must roll the
/// transaction back ([`insert_statement`]).
const INSERT_EVENTS_PLAIN: &str = "INSERT INTO slo.job_status
  (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
SELECT e.app_id, e.job_id, e.status, e.status_time, e.business_date, e.run_id, e.host_id, e.period_start, $9
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::date[], $6::text[], $7::text[], $8::time[])
     AS e(app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
ORDER BY e.job_id COLLATE \"C\", e.business_date, e.run_id COLLATE \"C\", e.status COLLATE \"C\", e.status_time
ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING";

/// Who posts a batch, and whether the extension must be asked about its applications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poster<'a> {
    /// Authentication is off: no client, nothing to ask.
    Anonymous,
    /// The extension said, within the cache bound, that this client may post for every
    /// application of the batch.
    Allowed(&'a str),
    /// Ask the extension, in the inserting statement, whether this client may post the batch.
    Check(&'a str),
}

/// What the one insert statement did with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The batch is in: rows added, and events that were already there.
    Stored(InsertOutcome),
    /// An event names an unknown application or a job of another application. Nothing was
    /// inserted by the statement that asks the extension, nor by one event; a plain insert of a
    /// batch may have inserted rows (or, when the trigger refused, aborted the transaction): the
    /// caller rolls its transaction back.
    Refused,
    /// Nothing was inserted: the extension says the client may not post for these applications.
    Denied(Vec<String>),
}

/// The insert path of every writer of `slo.job_status` (the API, the Kafka consumer, the
/// backfill): one statement, sorted by the event key, `ON CONFLICT DO NOTHING`, on any client
/// or transaction. The poster's client id is stored on every row.
///
/// When the extension must be asked (`Poster::Check`), the one statement checks everything
/// its snapshot shows. Otherwise it is a plain insert (one row: the cheapest statement there
/// is), whose new rows the trigger checks. Either way, repeats (which skip the trigger) are
/// checked again after it, with what is committed by then. So a batch answered `Refused` may
/// have stored rows: run it in a transaction and roll that back (the API does; the Kafka
/// consumer's and the backfill's batches are transactions).
#[instrument(skip_all, fields(events = events.len()))]
pub async fn insert_statement<C: GenericClient>(
    client: &C,
    events: &[JobStatusEvent],
    poster: Poster<'_>,
) -> Result<Inserted, tokio_postgres::Error> {
    if let ([event], Poster::Anonymous | Poster::Allowed(_)) = (events, poster) {
        return insert_one(client, event, poster).await;
    }
    let plain = matches!(poster, Poster::Anonymous | Poster::Allowed(_));
    let n = events.len();
    let mut app_id = Vec::with_capacity(n);
    let mut job_id = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut status_time = Vec::with_capacity(n);
    let mut business_date = Vec::with_capacity(n);
    let mut run_id = Vec::with_capacity(n);
    let mut host_id = Vec::with_capacity(n);
    let mut period_start = Vec::with_capacity(n);
    for e in events {
        app_id.push(e.app_id().as_str());
        job_id.push(e.job_id().as_str());
        status.push(e.status().as_str());
        status_time.push(e.status_time());
        business_date.push(e.business_date());
        run_id.push(e.run_id().as_str());
        host_id.push(e.host_id().as_str());
        period_start.push(e.period_start());
    }
    let (sql, client_id) = match poster {
        Poster::Anonymous => (INSERT_EVENTS_PLAIN, None),
        Poster::Allowed(client_id) => (INSERT_EVENTS_PLAIN, Some(client_id)),
        Poster::Check(client_id) => (INSERT_EVENTS_AUTHORIZED, Some(client_id)),
    };
    let statement = client.prepare_cached(sql).await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
        &app_id,
        &job_id,
        &status,
        &status_time,
        &business_date,
        &run_id,
        &host_id,
        &period_start,
        &client_id,
    ];
    let accepted = if plain {
        match client.execute(&statement, &params).await {
            Ok(accepted) => accepted,
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                return Ok(Inserted::Refused)
            }
            Err(e) => return Err(e),
        }
    } else {
        match client.query_one(&statement, &params).await {
            Ok(row) => {
                let denied: Vec<String> = row.get(2);
                if !denied.is_empty() && client_id.is_some() {
                    return Ok(Inserted::Denied(denied));
                }
                if row.get::<_, bool>(1) {
                    return Ok(Inserted::Refused);
                }
                u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)
            }
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                return Ok(Inserted::Refused)
            }
            Err(e) => return Err(e),
        }
    };
    // Repeats skipped the trigger, and the statement that asks the extension checked them as its
    // snapshot saw the jobs (a first delivery that registered its job under another application
    // may have committed while it ran: it waited for that row, then skipped it). They are
    // checked again with what is committed now.
    if repeats_refused(client, events, accepted).await? {
        return Ok(Inserted::Refused);
    }
    Ok(Inserted::Stored(InsertOutcome {
        accepted,
        duplicates: n as u64 - accepted,
    }))
}

/// [`insert_statement`] for one event of a poster the extension need not be asked about.
async fn insert_one<C: GenericClient>(
    client: &C,
    e: &JobStatusEvent,
    poster: Poster<'_>,
) -> Result<Inserted, tokio_postgres::Error> {
    let client_id = match poster {
        Poster::Allowed(c) | Poster::Check(c) => Some(c),
        Poster::Anonymous => None,
    };
    let statement = client.prepare_cached(INSERT_ONE_EVENT).await?;
    let result = client
        .execute(
            &statement,
            &[
                &e.app_id().as_str(),
                &e.job_id().as_str(),
                &e.status().as_str(),
                &e.status_time(),
                &e.business_date(),
                &e.run_id().as_str(),
                &e.host_id().as_str(),
                &e.period_start(),
                &client_id,
            ],
        )
        .await;
    match result {
        Ok(1) => Ok(Inserted::Stored(InsertOutcome {
            accepted: 1,
            duplicates: 0,
        })),
        Ok(_) if repeats_refused(client, std::slice::from_ref(e), 0).await? => {
            Ok(Inserted::Refused)
        }
        Ok(_) => Ok(Inserted::Stored(InsertOutcome {
            accepted: 0,
            duplicates: 1,
        })),
        Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => Ok(Inserted::Refused),
        Err(e) => Err(e),
    }
}

/// Whether some of `events` were repeats (only `accepted` of them were new rows) and one names
/// an unknown application or a job of another application, which a first delivery would have
/// been refused for: repeats skip the trigger (`ON CONFLICT DO NOTHING`).
async fn repeats_refused<C: GenericClient>(
    client: &C,
    events: &[JobStatusEvent],
    accepted: u64,
) -> Result<bool, tokio_postgres::Error> {
    if accepted >= events.len() as u64 {
        return Ok(false);
    }
    let known = load_ownership(client, events).await?;
    Ok(!ownership_violations(events, &known).is_empty())
}

/// Stores a validated batch for its poster, all or nothing; returns how many rows were new once
/// they are committed. `403` when the extension says the client may not post for one of the
/// batch's applications, `422` when an event names an unknown application or a job of another
/// application.
#[instrument(skip_all, fields(events = events.len()))]
pub async fn insert_events(
    pool: &Pool,
    events: &[JobStatusEvent],
    poster: Poster<'_>,
) -> Result<InsertOutcome, ApiError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    answer(&mut client, events, poster).await
}

/// [`insert_events`] on a connection of the pool.
pub(crate) async fn answer(
    client: &mut deadpool_postgres::Client,
    events: &[JobStatusEvent],
    poster: Poster<'_>,
) -> Result<InsertOutcome, ApiError> {
    // A batch's repeats are checked after its insert: all or nothing needs a transaction. One
    // event needs none (a refused one stored nothing).
    let inserted = if events.len() > 1 {
        let tx = client.transaction().await.map_err(db_error)?;
        let inserted = insert_statement(&tx, events, poster).await;
        if let Ok(Inserted::Stored(_)) = inserted {
            tx.commit().await.map_err(db_error)?;
        } else {
            // Nothing of the batch stays; a failed rollback (the connection is gone) ends the
            // transaction as well.
            let _ = tx.rollback().await;
        }
        inserted
    } else {
        insert_statement(&*client, events, poster).await
    };
    match inserted {
        Ok(Inserted::Stored(outcome)) => Ok(outcome),
        Ok(Inserted::Refused) => Err(explain_ownership(client, events).await),
        Ok(Inserted::Denied(denied)) => {
            let client_id = match poster {
                Poster::Check(c) | Poster::Allowed(c) => c,
                Poster::Anonymous => "",
            };
            Err(ApiError::Forbidden {
                client_id: client_id.to_owned(),
                is_batch: events.len() > 1,
                violations: denied_violations(events, client_id, &denied),
                denied,
            })
        }
        Err(e) => Err(db_error(e)),
    }
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

/// What the database knows of the applications and jobs a batch names (for
/// [`ownership_violations`]); read on any client or transaction.
pub async fn load_ownership<C: GenericClient>(
    client: &C,
    events: &[JobStatusEvent],
) -> Result<Ownership, tokio_postgres::Error> {
    let mut apps: Vec<&str> = events.iter().map(|e| e.app_id().as_str()).collect();
    let mut jobs: Vec<&str> = events.iter().map(|e| e.job_id().as_str()).collect();
    for ids in [&mut apps, &mut jobs] {
        ids.sort_unstable();
        ids.dedup();
    }
    let rows = client
        .query(
            "SELECT app_id, NULL::text FROM slo.application WHERE app_id = ANY($1) \
             UNION ALL SELECT job_id, app_id FROM slo.job WHERE job_id = ANY($2)",
            &[&apps, &jobs],
        )
        .await?;
    let mut known = Ownership {
        applications: HashSet::new(),
        job_owner: HashMap::new(),
    };
    for row in rows {
        let id: String = row.get(0);
        match row.get::<_, Option<String>>(1) {
            None => {
                known.applications.insert(id);
            }
            Some(owner) => {
                known.job_owner.insert(id, owner);
            }
        }
    }
    Ok(known)
}

/// After a refusal, finds which events name an unknown application or a job of another
/// application, so the `422` can list them by index and field.
async fn explain_ownership(
    client: &deadpool_postgres::Client,
    events: &[JobStatusEvent],
) -> ApiError {
    let known = match load_ownership(client, events).await {
        Ok(known) => known,
        Err(e) => return db_error(e),
    };
    let violations = ownership_violations(events, &known);
    if violations.is_empty() {
        // The definitions changed between the insert and this look: nothing to point at.
        return ApiError::Internal(anyhow::anyhow!(
            "foreign key violation on job_status that the ownership check cannot explain"
        ));
    }
    ApiError::Invalid {
        is_batch: events.len() > 1,
        violations,
    }
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
