//! The one writer of `slo.job_status`: every statement that inserts events lives here, and
//! every writer (the API's handler and its group commit, the Kafka consumer, the backfill) calls
//! this module to store them.
//!
//! May touch PostgreSQL and nothing else. Writes `slo.job_status` only (the extension's trigger
//! on it registers first-seen jobs and refuses an unknown application or a job of another
//! application, `foreign_key_violation`); asks `slo.denied_applications` whether a client may
//! post a batch (in the statement that stores it); asks `slo.job_ownership_problems`, the
//! database's one home of the rule "a job belongs to its application", about repeated events,
//! which `ON CONFLICT DO NOTHING` lets skip the trigger; reads the backfill's staging table.
//! It decides no rule itself: the wording of what the database refuses is `slo_core`'s.
//!
//! Every insert sorts its rows by the event key, byte-wise (`COLLATE "C"`: one order for every
//! writer, and cheaper than the database's collation), so that concurrent batches take their
//! index locks in the same order, and skips repeats (`ON CONFLICT ON CONSTRAINT
//! job_status_event_key DO NOTHING`). A statement that stored some rows and is then refused
//! (a repeat of another application's job) must be rolled back by its caller: run batches in a
//! transaction.
//!
//! A constraint of the database that the product does not check itself (a `CHECK` a DBA added
//! to `slo.job_status`, or to `slo.slo_performance` that the trigger writes) fails the
//! statement: [`Inserted::Constraint`] names it, without the database's error text, and each
//! writer refuses the events for good (`422`, a dead letter, a rejected line).

use crate::error::ApiError;
use crate::store::{db_error, pool_error};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Pool};
use slo_core::event::{denied_violations, ownership_violations, OwnershipProblem};
use slo_core::{JobStatusEvent, Rule, Violation};
use tokio_postgres::error::SqlState;
use tracing::instrument;

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
/// nothing when the client is denied one of its applications. New rows pass the trigger (the
/// ownership rule); repeats are checked after it ([`insert`]).
const INSERT_EVENTS_AUTHORIZED: &str = "WITH e AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::date[], $6::text[], $7::text[], $8::time[])
       AS e(app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
), denied AS (
  SELECT ARRAY(SELECT d.app_id FROM slo.denied_applications($9, ARRAY(SELECT DISTINCT e.app_id FROM e)) AS d(app_id) ORDER BY 1) AS apps
), ins AS (
  INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
  SELECT e.app_id, e.job_id, e.status, e.status_time, e.business_date, e.run_id, e.host_id, e.period_start, $9
  FROM e
  WHERE cardinality((SELECT apps FROM denied)) = 0
  ORDER BY e.job_id COLLATE \"C\", e.business_date, e.run_id COLLATE \"C\", e.status COLLATE \"C\", e.status_time
  ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING
  RETURNING 1)
SELECT (SELECT count(*) FROM ins), (SELECT apps FROM denied)";

/// One event whose poster needs no question to the extension: a plain one-row insert, the
/// cheapest statement there is (planned once per connection).
const INSERT_ONE_EVENT: &str = "INSERT INTO slo.job_status
  (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING";

/// A batch whose poster needs no question to the extension: the rows, sorted, and nothing else.
const INSERT_EVENTS_PLAIN: &str = "INSERT INTO slo.job_status
  (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
SELECT e.app_id, e.job_id, e.status, e.status_time, e.business_date, e.run_id, e.host_id, e.period_start, $9
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::date[], $6::text[], $7::text[], $8::time[])
     AS e(app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
ORDER BY e.job_id COLLATE \"C\", e.business_date, e.run_id COLLATE \"C\", e.status COLLATE \"C\", e.status_time
ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING";

/// Group commit: single events of several requests, each with its own client; returns the rows
/// it stored (their application and event key), so each request learns whether it was new.
const INSERT_GROUP: &str = "INSERT INTO slo.job_status
  (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
SELECT e.app_id, e.job_id, e.status, e.status_time, e.business_date, e.run_id, e.host_id, e.period_start, e.client_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::date[], $6::text[], $7::text[], $8::time[], $9::text[])
     AS e(app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
ORDER BY e.job_id COLLATE \"C\", e.business_date, e.run_id COLLATE \"C\", e.status COLLATE \"C\", e.status_time
ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING
RETURNING app_id, job_id, business_date, run_id, status, status_time";

/// The backfill's staging table (temporary, one per session, emptied at each commit): each batch
/// is copied into it, then inserted by [`insert_staged`] with one statement, so the engine's
/// statement trigger computes each touched SLO day once per batch.
pub const BACKFILL_STAGE: &str = "pg_slo_backfill_stage";

const CREATE_BACKFILL_STAGE: &str = "CREATE TEMP TABLE IF NOT EXISTS pg_slo_backfill_stage (
  app_id text, job_id text, status text, status_time timestamptz, business_date date,
  run_id text, host_id text, period_start time) ON COMMIT DELETE ROWS";

const INSERT_STAGED: &str = "INSERT INTO slo.job_status
  (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start, client_id)
SELECT s.app_id, s.job_id, s.status, s.status_time, s.business_date, s.run_id, s.host_id, s.period_start, $1::text
FROM pg_slo_backfill_stage s
ORDER BY s.job_id COLLATE \"C\", s.business_date, s.run_id COLLATE \"C\", s.status COLLATE \"C\", s.status_time
ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING";

/// The rule's one home in the database: a row per event that breaks it (`ord` 1-based).
const OWNERSHIP_PROBLEMS: &str =
    "SELECT p.ord, p.rule, p.owner FROM slo.job_ownership_problems($1, $2) AS p ORDER BY p.ord";

/// The constraint names under which the extension refuses an unknown application and a job of
/// another application (`slo.register_jobs`, through the trigger).
const OWNERSHIP_CONSTRAINTS: [&str; 2] = ["job_status_app_id_fkey", "job_status_job_fkey"];

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

impl<'a> Poster<'a> {
    /// The client stored on the rows (`None` when authentication is off).
    pub fn client_id(self) -> Option<&'a str> {
        match self {
            Poster::Anonymous => None,
            Poster::Allowed(c) | Poster::Check(c) => Some(c),
        }
    }
}

/// What an insert statement did with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The batch is in: rows added, and events that were already there.
    Stored(InsertOutcome),
    /// An event names an unknown application or a job of another application. One event
    /// stored nothing; a batch may have stored rows (or, when the trigger refused, the
    /// statement failed): the caller rolls its transaction back, then asks [`ownership`] why.
    Refused,
    /// Nothing was inserted: the extension says the client may not post for these applications.
    Denied(Vec<String>),
    /// A constraint of the database other than the ownership rule failed the statement: nothing
    /// of it was stored, and the caller's transaction is aborted (roll it back).
    Constraint(DatabaseConstraint),
}

/// A constraint of the database that refused an insert, by name: never the database's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConstraint {
    /// The constraint's name, when the database gave it.
    pub constraint: Option<String>,
    /// The table it belongs to (`schema.table` when the schema is known).
    pub table: Option<String>,
    /// The column, for a not-null constraint.
    pub column: Option<String>,
}

impl DatabaseConstraint {
    /// The refusal of a failed statement by a constraint that is not the product's ownership
    /// rule: SQLSTATE 23514 (check), 23502 (not null), 23505 (unique, other than the event
    /// key, which every insert skips), 23503 (foreign key, other than the ownership rule's),
    /// 23P01 (exclusion). `None` for any other error.
    pub fn of(e: &tokio_postgres::Error) -> Option<DatabaseConstraint> {
        let db = e.as_db_error()?;
        let code = db.code();
        let named = db
            .constraint()
            .map(str::to_owned)
            .or_else(|| quoted_after(db.message(), "constraint \""));
        let is_constraint = *code == SqlState::CHECK_VIOLATION
            || *code == SqlState::NOT_NULL_VIOLATION
            || *code == SqlState::EXCLUSION_VIOLATION
            || (*code == SqlState::UNIQUE_VIOLATION
                && named.as_deref() != Some("job_status_event_key"))
            || (*code == SqlState::FOREIGN_KEY_VIOLATION && !is_ownership_refusal(e));
        if !is_constraint {
            return None;
        }
        // Raised inside the extension's trigger (its writes of slo.slo_performance), an error
        // reaches the client without its constraint and table fields (pgrx keeps the code and
        // the message only): the names are then read from PostgreSQL's message, and nothing
        // else of it is kept.
        let table = match (db.schema(), db.table()) {
            (Some(s), Some(t)) => Some(format!("{s}.{t}")),
            (None, Some(t)) => Some(t.to_owned()),
            _ => quoted_after(db.message(), "relation \"")
                .or_else(|| quoted_after(db.message(), "table \"")),
        };
        let column = db
            .column()
            .map(str::to_owned)
            .or_else(|| quoted_after(db.message(), "column \""));
        Some(DatabaseConstraint {
            constraint: named,
            table,
            column: column.filter(|_| *code == SqlState::NOT_NULL_VIOLATION),
        })
    }

    /// The one problem a `422` lists for it: the event's (index 0) when the batch is one event,
    /// else the body's (the database does not say which row).
    pub fn violation(&self, events: usize) -> Violation {
        let what = match (&self.constraint, &self.column) {
            (Some(c), _) => format!("constraint {c:?}"),
            (None, Some(col)) => format!("the not-null constraint of column {col:?}"),
            (None, None) => "an unnamed constraint".to_owned(),
        };
        let table = self
            .table
            .as_deref()
            .map(|t| format!(" of table {t}"))
            .unwrap_or_default();
        let subject = if events == 1 {
            "the event"
        } else {
            "the batch"
        };
        Violation {
            index: (events == 1).then_some(0),
            field: None,
            rule: Rule::DatabaseConstraint,
            message: format!(
                "the database refused {subject}: it breaks {what}{table}; nothing was stored"
            ),
        }
    }
}

/// The identifier in double quotes that follows `marker` in `text`, if any.
fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_owned())
}

/// Whether a failed statement is the extension refusing the ownership rule (`slo.register_jobs`
/// through the trigger): `foreign_key_violation` under one of its constraint names, or without
/// a constraint name (pgrx drops it on the way out of the trigger).
fn is_ownership_refusal(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::FOREIGN_KEY_VIOLATION
            && db
                .constraint()
                .is_none_or(|c| OWNERSHIP_CONSTRAINTS.contains(&c))
    })
}

/// How a failed insert statement is answered: the ownership rule, another constraint, or the
/// error itself.
fn refused_by(e: tokio_postgres::Error) -> Result<Inserted, tokio_postgres::Error> {
    if is_ownership_refusal(&e) {
        return Ok(Inserted::Refused);
    }
    match DatabaseConstraint::of(&e) {
        Some(c) => {
            // The database's text goes to the log, never to a client.
            tracing::warn!(error = %e, constraint = ?c.constraint, table = ?c.table,
                           "a database constraint refused an insert of job status");
            Ok(Inserted::Constraint(c))
        }
        None => Err(e),
    }
}

/// Inserts one event alone, under a savepoint of `tx` ([`insert`]): kept when it is stored,
/// undone otherwise, so that a refusal leaves the rest of the transaction usable (the Kafka
/// consumer and the backfill store a batch a database constraint refused one event at a time).
pub async fn insert_alone(
    tx: &mut deadpool_postgres::Transaction<'_>,
    event: &JobStatusEvent,
    poster: Poster<'_>,
) -> Result<Inserted, tokio_postgres::Error> {
    let savepoint = tx.transaction().await?;
    let inserted = insert(&savepoint, std::slice::from_ref(event), poster).await?;
    if matches!(inserted, Inserted::Stored(_)) {
        savepoint.commit().await?;
    } else {
        savepoint.rollback().await?;
    }
    Ok(inserted)
}

/// Stores events of one poster with one statement, on any client or transaction; the poster's
/// client id is stored on every row. The path of the API, the Kafka consumer and the backfill's
/// rows stored one by one.
///
/// When the extension must be asked (`Poster::Check`), the statement asks it. Otherwise it is a
/// plain insert (one row: the cheapest statement there is). New rows pass the trigger; repeats
/// (which skip it) are checked after the statement with `slo.job_ownership_problems`, against
/// what is committed by then. So a batch answered `Refused` may have stored rows: run it in a
/// transaction and roll that back.
#[instrument(skip_all, fields(events = events.len()))]
pub async fn insert<C: GenericClient>(
    client: &C,
    events: &[JobStatusEvent],
    poster: Poster<'_>,
) -> Result<Inserted, tokio_postgres::Error> {
    let accepted = match (events, poster) {
        ([event], Poster::Anonymous | Poster::Allowed(_)) => {
            match insert_one(client, event, poster.client_id()).await {
                Ok(accepted) => accepted,
                Err(e) => return refused_by(e),
            }
        }
        _ => match insert_many(client, events, poster).await {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(denied)) => return Ok(Inserted::Denied(denied)),
            Err(e) => return refused_by(e),
        },
    };
    // Repeats skipped the trigger (and the statement that asks the extension may have waited
    // for a first delivery that registered its job under another application meanwhile): they
    // are checked with what is committed now.
    if accepted < events.len() as u64 && !ownership(client, events).await?.is_empty() {
        return Ok(Inserted::Refused);
    }
    Ok(Inserted::Stored(InsertOutcome {
        accepted,
        duplicates: events.len() as u64 - accepted,
    }))
}

/// One event, one row: the rows stored (0 for a repeat).
async fn insert_one<C: GenericClient>(
    client: &C,
    e: &JobStatusEvent,
    client_id: Option<&str>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(INSERT_ONE_EVENT).await?;
    client
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
        .await
}

/// A batch with one statement: the rows stored, or the applications the extension denied the
/// client (nothing stored).
async fn insert_many<C: GenericClient>(
    client: &C,
    events: &[JobStatusEvent],
    poster: Poster<'_>,
) -> Result<Result<u64, Vec<String>>, tokio_postgres::Error> {
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
    let client_id = poster.client_id();
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
    if let Poster::Check(_) = poster {
        let statement = client.prepare_cached(INSERT_EVENTS_AUTHORIZED).await?;
        let row = client.query_one(&statement, &params).await?;
        let denied: Vec<String> = row.get(1);
        if !denied.is_empty() {
            return Ok(Err(denied));
        }
        return Ok(Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)));
    }
    let statement = client.prepare_cached(INSERT_EVENTS_PLAIN).await?;
    Ok(Ok(client.execute(&statement, &params).await?))
}

/// The problems of `events` with the rule "a job belongs to its application", as the database's
/// one home of the rule finds them (`slo.job_ownership_problems`), worded by index and field
/// for a `422`; empty when none breaks it. On any client or transaction.
pub async fn ownership<C: GenericClient>(
    client: &C,
    events: &[JobStatusEvent],
) -> Result<Vec<Violation>, tokio_postgres::Error> {
    let jobs: Vec<&str> = events.iter().map(|e| e.job_id().as_str()).collect();
    let apps: Vec<&str> = events.iter().map(|e| e.app_id().as_str()).collect();
    let statement = client.prepare_cached(OWNERSHIP_PROBLEMS).await?;
    let rows = client.query(&statement, &[&jobs, &apps]).await?;
    let problems: Vec<OwnershipProblem> = rows
        .iter()
        .filter_map(|r| OwnershipProblem::from_row(events, r.get(0), r.get(1), r.get(2)))
        .collect();
    Ok(ownership_violations(events, &problems))
}

/// An event's identity as stored: its application and its event key.
pub type EventKey = (String, String, NaiveDate, String, String, DateTime<Utc>);

/// The identity of `e` as [`insert_group`] returns it.
pub fn event_key(e: &JobStatusEvent) -> EventKey {
    (
        e.app_id().as_str().to_owned(),
        e.job_id().as_str().to_owned(),
        e.business_date(),
        e.run_id().as_str().to_owned(),
        e.status().as_str().to_owned(),
        e.status_time(),
    )
}

/// Group commit's statement: single events of several requests, each with the client it is
/// posted as (posters already allowed), with one statement; returns the rows it stored. When
/// it fails, nothing of it was stored. Repeats are the caller's to check ([`ownership`]).
#[instrument(skip_all, fields(events = group.len()))]
pub async fn insert_group<C: GenericClient>(
    client: &C,
    group: &[(&JobStatusEvent, Option<&str>)],
) -> Result<Vec<EventKey>, tokio_postgres::Error> {
    let n = group.len();
    let mut cols = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (e, client_id) in group {
        cols.0.push(e.app_id().as_str());
        cols.1.push(e.job_id().as_str());
        cols.2.push(e.status().as_str());
        cols.3.push(e.status_time());
        cols.4.push(e.business_date());
        cols.5.push(e.run_id().as_str());
        cols.6.push(e.host_id().as_str());
        cols.7.push(e.period_start());
        cols.8.push(*client_id);
    }
    let statement = client.prepare_cached(INSERT_GROUP).await?;
    let rows = client
        .query(
            &statement,
            &[
                &cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5, &cols.6, &cols.7, &cols.8,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect())
}

/// Creates the backfill's staging table ([`BACKFILL_STAGE`]) for this session, if missing.
pub async fn create_backfill_stage<C: GenericClient>(
    client: &C,
) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(CREATE_BACKFILL_STAGE).await
}

/// The backfill's statement: every row of the staging table into `slo.job_status`, posted as
/// `client_id`, in one statement; the rows stored, or why the database refused them all
/// ([`Inserted::Refused`], [`Inserted::Constraint`]: the transaction is aborted). Repeats are
/// not checked: the backfill checks every row beforehand, inside its transaction.
#[instrument(skip_all)]
pub async fn insert_staged<C: GenericClient>(
    client: &C,
    client_id: Option<&str>,
) -> Result<Result<u64, Inserted>, tokio_postgres::Error> {
    match client.execute(INSERT_STAGED, &[&client_id]).await {
        Ok(stored) => Ok(Ok(stored)),
        Err(e) => refused_by(e).map(Err),
    }
}

/// Stores a validated batch for its poster, all or nothing; returns how many rows were new once
/// they are committed. `403` when the extension says the client may not post for one of the
/// batch's applications, `422` when an event names an unknown application or a job of another
/// application, or when a constraint of the database refuses the rows.
#[instrument(skip_all, fields(events = events.len()))]
pub async fn store(
    pool: &Pool,
    events: &[JobStatusEvent],
    poster: Poster<'_>,
) -> Result<InsertOutcome, ApiError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    store_on(&mut client, events, poster).await
}

/// [`store`] on a connection of the pool.
pub(crate) async fn store_on(
    client: &mut deadpool_postgres::Client,
    events: &[JobStatusEvent],
    poster: Poster<'_>,
) -> Result<InsertOutcome, ApiError> {
    // A batch's repeats are checked after its insert: all or nothing needs a transaction. One
    // event needs none (a refused one stored nothing).
    let inserted = if events.len() > 1 {
        let tx = client.transaction().await.map_err(db_error)?;
        let inserted = insert(&tx, events, poster).await;
        if let Ok(Inserted::Stored(_)) = inserted {
            tx.commit().await.map_err(db_error)?;
        } else {
            // Nothing of the batch stays; a failed rollback (the connection is gone) ends the
            // transaction as well.
            let _ = tx.rollback().await;
        }
        inserted
    } else {
        insert(&*client, events, poster).await
    };
    match inserted {
        Ok(Inserted::Stored(outcome)) => Ok(outcome),
        Ok(Inserted::Refused) => Err(explain_ownership(client, events).await),
        Ok(Inserted::Constraint(c)) => Err(ApiError::Invalid {
            is_batch: events.len() > 1,
            violations: vec![c.violation(events.len())],
        }),
        Ok(Inserted::Denied(denied)) => {
            let client_id = poster.client_id().unwrap_or_default();
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

/// After a refusal (the batch rolled back), which events name an unknown application or a job
/// of another application, so the `422` can list them by index and field.
async fn explain_ownership(
    client: &deadpool_postgres::Client,
    events: &[JobStatusEvent],
) -> ApiError {
    let violations = match ownership(client, events).await {
        Ok(violations) => violations,
        Err(e) => return db_error(e),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_postgres_messages_and_nothing_else() {
        let m =
            "new row for relation \"slo_performance\" violates check constraint \"no_failures\"";
        assert_eq!(
            quoted_after(m, "constraint \"").as_deref(),
            Some("no_failures")
        );
        assert_eq!(
            quoted_after(m, "relation \"").as_deref(),
            Some("slo_performance")
        );
        assert_eq!(quoted_after("no quotes here", "constraint \""), None);
        assert_eq!(
            quoted_after("constraint \"unterminated", "constraint \""),
            None
        );
    }

    #[test]
    fn a_constraint_problem_names_the_constraint_and_its_table() {
        let c = DatabaseConstraint {
            constraint: Some("dba_check".into()),
            table: Some("slo.job_status".into()),
            column: None,
        };
        let one = c.violation(1);
        assert_eq!((one.index, one.field.as_deref()), (Some(0), None));
        assert_eq!(one.rule, Rule::DatabaseConstraint);
        assert!(one.message.contains("\"dba_check\""), "{}", one.message);
        assert!(one.message.contains("slo.job_status"), "{}", one.message);
        assert_eq!(c.violation(3).index, None);
    }
}
