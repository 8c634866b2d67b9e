//! Writes `slo.slo_performance` through SQL: set-based `INSERT ... ON CONFLICT DO UPDATE`
//! statements run through SPI with plans kept for the backend's life. So every constraint,
//! trigger, foreign key, row-security policy, privilege, replica identity and publication a DBA
//! puts on the table applies to the engine's writes as to any SQL writer's.
//!
//! Two statements, each over all the rows one engine statement writes, in key order (byte-wise,
//! as every writer orders them, so writers waiting for each other's rows never wait in a circle):
//!
//! - [`merge_daily`]: daily SLO days. Each row carries the state of the statement's own new
//!   events (`slo_core::day_state`); a new row is inserted with it, and a stored row whose state
//!   was made for the same jobs under the same definitions (same tag) takes the join of both
//!   states (`slo.day_state_join`, an immutable function), with the row's columns derived from the
//!   join. PostgreSQL's `ON CONFLICT DO UPDATE` locks the stored row and works on its latest
//!   version, so concurrent writers of one SLO day each add their events, in any order. A stored
//!   row the statement's state adds nothing to is left alone; one whose state cannot be joined
//!   (none, or made under other definitions) is written unchanged, so that it is locked and
//!   returned, and the caller rebuilds it from its events and writes it with [`replace`].
//! - [`replace`]: rows computed from all of a day's events (intraday SLO days; rebuilt daily
//!   days; `slo.recompute`), written over what is stored, unless equal.
//!
//! `updated_at` moves only when a row changes. Both return the rows written that may call for
//! alerts. Their plans are generic plans (`spi.rs`).
//!
//! Writes `slo.slo_performance` (through SQL); reads nothing else.

use crate::conv::{date_in, date_out, time_in, time_out, tstz_in, tstz_out};
use crate::spi::{Plan, Rows, Statement};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pgrx::datum::{Date, Time, TimestampWithTimeZone};
use pgrx::pg_sys::PgBuiltInOids;
use pgrx::prelude::*;
use pgrx::spi::SpiError;
use slo_core::day_state::DailyState;
use slo_core::engine::PerformanceRow;
use std::cell::Cell;

/// One row to write: its values and, for a daily SLO day, the state it derives from.
pub(crate) struct NewRow {
    pub row: PerformanceRow,
    pub state: Option<Vec<u8>>,
}

/// A row as written, with the state stored with it.
pub(crate) struct Written {
    pub row: PerformanceRow,
    pub state: Option<Vec<u8>>,
}

const ARGS_WITH_WINDOW: &[PgBuiltInOids] = &[
    PgBuiltInOids::TEXTARRAYOID,
    PgBuiltInOids::DATEARRAYOID,
    PgBuiltInOids::TIMEARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::INT4ARRAYOID,
    PgBuiltInOids::BYTEAARRAYOID,
    PgBuiltInOids::TIMESTAMPTZOID,
];
/// The statements' parameters: the rows' columns as arrays (and, for the merge, `$10`).
const ARGS: &[PgBuiltInOids] = ARGS_WITH_WINDOW;

/// The rows to write, from the statement's arrays, in the order given (key order).
macro_rules! rows_from_arrays {
    () => {
        "
FROM unnest($1::text[], $2::date[], $3::time[], $4::timestamptz[], $5::timestamptz[],
            $6::timestamptz[], $7::timestamptz[], $8::int[], $9::bytea[])
     WITH ORDINALITY AS u(slo_id, business_date, period_start, expected_start, expected_end,
                          actual_start, actual_end, failed_runs, engine_state, ord)
ORDER BY u.ord
ON CONFLICT (slo_id, business_date, period_start) DO UPDATE
"
    };
}

/// An `INSERT` of every column the engine writes, `engine_state` included or not.
macro_rules! insert_rows {
    (with_state) => {
        concat!(
            "INSERT INTO slo.slo_performance AS p
  (slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end,
   failed_runs, engine_state)
SELECT u.slo_id, u.business_date, u.period_start, u.expected_start, u.expected_end, u.actual_start,
       u.actual_end, u.failed_runs, u.engine_state",
            rows_from_arrays!()
        )
    };
    (without_state) => {
        concat!(
            "INSERT INTO slo.slo_performance AS p
  (slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end,
   failed_runs)
SELECT u.slo_id, u.business_date, u.period_start, u.expected_start, u.expected_end, u.actual_start,
       u.actual_end, u.failed_runs",
            rows_from_arrays!()
        )
    };
}

/// What every statement returns: the rows as written.
macro_rules! returning {
    ($state:literal) => {
        concat!(
            "
RETURNING p.slo_id, p.business_date, p.period_start, p.expected_start, p.expected_end,
          p.actual_start, p.actual_end, p.failed_runs, ",
            $state
        )
    };
}

/// Rows whose state the statement's own joins and changes are updated (`actual_start` is the
/// least of both, as a join's earliest start is); rows whose state cannot be joined (none, or
/// made under other definitions) are written unchanged, so that they are locked and returned
/// (the caller rebuilds them); rows the statement adds nothing to are left alone and not
/// returned. Every row returned comes with whether it may call for alerts (a late start, or
/// complete, with the expected end at or after `$10`).
const MERGE_DAILY_SQL: &str = concat!(
    insert_rows!(with_state),
    "SET engine_state = slo.day_state_join(p.engine_state, excluded.engine_state),
    actual_start = CASE WHEN slo.day_state_joins(p.engine_state, excluded.engine_state)
                        THEN least(p.actual_start, excluded.actual_start) ELSE p.actual_start END,
    actual_end = CASE WHEN slo.day_state_joins(p.engine_state, excluded.engine_state)
                      THEN slo.day_state_end(p.engine_state, excluded.engine_state) ELSE p.actual_end END,
    failed_runs = CASE WHEN slo.day_state_joins(p.engine_state, excluded.engine_state)
                       THEN slo.day_state_failed_runs(p.engine_state, excluded.engine_state)
                       ELSE p.failed_runs END,
    updated_at = CASE WHEN slo.day_state_joins(p.engine_state, excluded.engine_state)
                      THEN now() ELSE p.updated_at END
WHERE slo.day_state_needs_write(p.engine_state, excluded.engine_state)",
    returning!("p.engine_state"),
    ",
          (p.actual_start > p.expected_start OR p.actual_end IS NOT NULL) AND p.expected_end >= $10"
);

/// Every column is replaced; `engine_state` too, when the table has it ([`REPLACE_SQL_0_1`] is
/// for a table of release 0.1.0 until `ALTER EXTENSION pg_slo UPDATE`).
const REPLACE_SQL: &str = concat!(
    insert_rows!(with_state),
    "SET expected_start = excluded.expected_start, expected_end = excluded.expected_end,
    actual_start = excluded.actual_start, actual_end = excluded.actual_end,
    failed_runs = excluded.failed_runs, engine_state = excluded.engine_state, updated_at = now()
WHERE (p.expected_start, p.expected_end, p.actual_start, p.actual_end, p.failed_runs, p.engine_state)
      IS DISTINCT FROM
      (excluded.expected_start, excluded.expected_end, excluded.actual_start, excluded.actual_end,
       excluded.failed_runs, excluded.engine_state)",
    returning!("p.engine_state")
);

const REPLACE_SQL_0_1: &str = concat!(
    insert_rows!(without_state),
    "SET expected_start = excluded.expected_start, expected_end = excluded.expected_end,
    actual_start = excluded.actual_start, actual_end = excluded.actual_end,
    failed_runs = excluded.failed_runs, updated_at = now()
WHERE (p.expected_start, p.expected_end, p.actual_start, p.actual_end, p.failed_runs)
      IS DISTINCT FROM
      (excluded.expected_start, excluded.expected_end, excluded.actual_start, excluded.actual_end,
       excluded.failed_runs)",
    returning!("NULL::bytea")
);

thread_local! {
    static MERGE_DAILY: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static REPLACE: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static REPLACE_0_1: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
}

/// Inserts daily rows, or joins their states into the stored ones. Returns every row written,
/// with its state and whether it may call for alerts (expected end at or after `window_start`):
/// a row returned with a state the statement's does not join is one to rebuild (it is locked
/// until the transaction ends). Rows the statement adds nothing to, and rows a DBA's BEFORE
/// trigger skipped, are not returned.
pub(crate) fn merge_daily(rows: &[NewRow], window_start: DateTime<Utc>) -> Vec<(Written, bool)> {
    write(
        rows,
        Some(window_start),
        "merging daily states into slo.slo_performance",
        MERGE_DAILY_SQL,
        &MERGE_DAILY,
    )
}

/// Writes rows computed from all their events over the stored ones; returns the rows that
/// changed. `keeps_state`: the table has `engine_state` (release 0.2.0 on).
pub(crate) fn replace(rows: &[NewRow], keeps_state: bool) -> Vec<Written> {
    let (sql, plan): (&'static str, &'static Plan) = if keeps_state {
        (REPLACE_SQL, &REPLACE)
    } else {
        (REPLACE_SQL_0_1, &REPLACE_0_1)
    };
    write(rows, None, "writing rows of slo.slo_performance", sql, plan)
        .into_iter()
        .map(|(w, _)| w)
        .collect()
}

/// Runs one of the statements over `rows` (and `window_start` as `$10`, for the merge); returns
/// the rows it returns, each with whether it may call for alerts (true for every row written by
/// a statement that does not say).
fn write(
    rows: &[NewRow],
    window_start: Option<DateTime<Utc>>,
    doing: &'static str,
    sql: &'static str,
    plan: &'static Plan,
) -> Vec<(Written, bool)> {
    if rows.is_empty() {
        return Vec::new();
    }
    let statement = Statement {
        sql,
        args: if window_start.is_some() {
            ARGS_WITH_WINDOW
        } else {
            &ARGS[..9]
        },
        fresh: true,
        doing,
    };
    let ids: Vec<&str> = rows.iter().map(|r| r.row.slo_id.as_str()).collect();
    let dates: Vec<Date> = rows.iter().map(|r| date_out(r.row.business_date)).collect();
    let periods: Vec<Time> = rows.iter().map(|r| time_out(r.row.period_start)).collect();
    let starts: Vec<TimestampWithTimeZone> = rows
        .iter()
        .map(|r| tstz_out(r.row.expected_start))
        .collect();
    let ends: Vec<TimestampWithTimeZone> =
        rows.iter().map(|r| tstz_out(r.row.expected_end)).collect();
    let actual_starts: Vec<Option<TimestampWithTimeZone>> = rows
        .iter()
        .map(|r| r.row.actual_start.map(tstz_out))
        .collect();
    let actual_ends: Vec<Option<TimestampWithTimeZone>> = rows
        .iter()
        .map(|r| r.row.actual_end.map(tstz_out))
        .collect();
    let failed: Vec<i32> = rows
        .iter()
        .map(|r| i32::try_from(r.row.failed_runs).unwrap_or(i32::MAX))
        .collect();
    let states: Vec<Option<&[u8]>> = rows.iter().map(|r| r.state.as_deref()).collect();
    let mut args = vec![
        ids.into(),
        dates.into(),
        periods.into(),
        starts.into(),
        ends.into(),
        actual_starts.into(),
        actual_ends.into(),
        failed.into(),
        states.into(),
    ];
    if let Some(w) = window_start {
        args.push(tstz_out(w).into());
    }
    Spi::connect_mut(|_client| statement.run(plan, &args, read_written))
}

fn read_written(rows: Rows<'_>) -> Result<Vec<(Written, bool)>, SpiError> {
    let mut out = Vec::with_capacity(rows.len());
    let flagged = rows.first().is_some_and(|r| r.columns() > 9);
    for r in &rows {
        let candidate = !flagged || r.get::<bool>(10)?.unwrap_or(false);
        let instant = |v: Option<TimestampWithTimeZone>| v.map(tstz_in);
        let mut row = PerformanceRow {
            slo_id: r.get(1)?.unwrap_or_default(),
            business_date: r.get::<Date>(2)?.map_or(NaiveDate::MIN, date_in),
            period_start: r.get::<Time>(3)?.map_or(NaiveTime::MIN, time_in),
            expected_start: DateTime::<Utc>::MIN_UTC,
            expected_end: DateTime::<Utc>::MIN_UTC,
            actual_start: None,
            actual_end: None,
            failed_runs: 0,
        };
        // The other columns only of the rows the caller looks at (a batch writes hundreds of
        // rows, few of which may call for alerts).
        if candidate {
            row.expected_start = instant(r.get(4)?).unwrap_or_default();
            row.expected_end = instant(r.get(5)?).unwrap_or_default();
            row.actual_start = instant(r.get(6)?);
            row.actual_end = instant(r.get(7)?);
            row.failed_runs = i64::from(r.get::<i32>(8)?.unwrap_or(0));
        }
        let state = r.get::<Vec<u8>>(9)?;
        out.push((Written { row, state }, candidate));
    }
    Ok(out)
}

fn micros_out(us: Option<i64>) -> Option<TimestampWithTimeZone> {
    us.and_then(DateTime::<Utc>::from_timestamp_micros)
        .map(tstz_out)
}

/// The join of a stored daily state and a new one, when they can be joined (made for the same
/// jobs of one SLO, under the same definitions: `slo_core::day_state`).
fn joined(stored: &[u8], new: &[u8]) -> Option<DailyState> {
    DailyState::decode_any(stored)?.join(&DailyState::decode_any(new)?)
}

/// True when the stored daily state (NULL: none) and the new one can be joined.
#[pg_extern(immutable, parallel_safe)]
fn day_state_joins(stored: Option<&[u8]>, new: &[u8]) -> bool {
    stored.is_some_and(|s| joined(s, new).is_some())
}

/// True when the engine's merge must write the stored row: the new state joins the stored one
/// and adds something to it, or cannot be joined with it (NULL: no state) and the row is to be
/// rebuilt.
#[pg_extern(immutable, parallel_safe)]
fn day_state_needs_write(stored: Option<&[u8]>, new: &[u8]) -> bool {
    match stored {
        None => true,
        Some(s) => joined(s, new).is_none_or(|j| j.encode() != s),
    }
}

/// The join of two daily states (the state of the union of their events); the stored state
/// when they cannot be joined.
#[pg_extern(immutable, strict, parallel_safe)]
fn day_state_join(stored: &[u8], new: &[u8]) -> Vec<u8> {
    joined(stored, new).map_or_else(|| stored.to_vec(), |j| j.encode())
}

/// `actual_end` of the join of two daily states: the latest end when every job has ended.
#[pg_extern(immutable, strict, parallel_safe)]
fn day_state_end(stored: &[u8], new: &[u8]) -> Option<TimestampWithTimeZone> {
    micros_out(joined(stored, new)?.actuals().end)
}

/// `failed_runs` of the join of two daily states.
#[pg_extern(immutable, strict, parallel_safe)]
fn day_state_failed_runs(stored: &[u8], new: &[u8]) -> i32 {
    joined(stored, new).map_or(0, |j| {
        i32::try_from(j.actuals().failed_runs).unwrap_or(i32::MAX)
    })
}
