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
//!   row whose state cannot be joined (none, or made under other definitions) is locked and left
//!   as it is, and not returned: the caller rebuilds those days from their events and writes them
//!   with [`replace`].
//! - [`replace`]: rows computed from all of a day's events (intraday SLO days; rebuilt daily
//!   days; `slo.recompute`), written over what is stored, unless equal.
//!
//! `updated_at` moves only when a row changes. Both return the rows they wrote, for alerts.
//!
//! Writes `slo.slo_performance` (through SQL); reads nothing else.

use crate::conv::{date_in, date_out, time_in, time_out, tstz_in, tstz_out};
use crate::spi::{Plan, Statement};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pgrx::datum::{Date, Time, TimestampWithTimeZone};
use pgrx::pg_sys::PgBuiltInOids;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiError, SpiTupleTable};
use slo_core::day_state::DailyState;
use slo_core::engine::PerformanceRow;
use std::cell::OnceCell;

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

const ARGS: &[PgBuiltInOids] = &[
    PgBuiltInOids::TEXTARRAYOID,
    PgBuiltInOids::DATEARRAYOID,
    PgBuiltInOids::TIMEARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::TIMESTAMPTZARRAYOID,
    PgBuiltInOids::INT4ARRAYOID,
    PgBuiltInOids::BYTEAARRAYOID,
];

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

const MERGE_DAILY_SQL: &str = concat!(
    insert_rows!(with_state),
    "SET (engine_state, actual_start, actual_end, failed_runs, updated_at) =
    (SELECT j.engine_state, j.actual_start, j.actual_end, j.failed_runs,
            CASE WHEN j.engine_state = p.engine_state THEN p.updated_at ELSE now() END
     FROM slo.day_state_join(p.engine_state, excluded.engine_state) AS j)
WHERE slo.day_states_join(p.engine_state, excluded.engine_state)",
    returning!("p.engine_state")
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
    static MERGE_DAILY: OnceCell<OwnedPreparedStatement> = const { OnceCell::new() };
    static REPLACE: OnceCell<OwnedPreparedStatement> = const { OnceCell::new() };
    static REPLACE_0_1: OnceCell<OwnedPreparedStatement> = const { OnceCell::new() };
}

/// Inserts daily rows, or joins their states into the stored ones; returns the rows written.
/// Rows not returned exist with a state that cannot be joined (and are locked until the
/// transaction ends), or were skipped by a DBA's BEFORE trigger.
pub(crate) fn merge_daily(rows: &[NewRow]) -> Vec<Written> {
    write(
        rows,
        "merging daily states into slo.slo_performance",
        MERGE_DAILY_SQL,
        &MERGE_DAILY,
    )
}

/// Writes rows computed from all their events over the stored ones; returns the rows that
/// changed. `keeps_state`: the table has `engine_state` (release 0.2.0 on).
pub(crate) fn replace(rows: &[NewRow], keeps_state: bool) -> Vec<Written> {
    if keeps_state {
        write(
            rows,
            "writing rows of slo.slo_performance",
            REPLACE_SQL,
            &REPLACE,
        )
    } else {
        write(
            rows,
            "writing rows of slo.slo_performance",
            REPLACE_SQL_0_1,
            &REPLACE_0_1,
        )
    }
}

fn write(
    rows: &[NewRow],
    doing: &'static str,
    sql: &'static str,
    plan: &'static Plan,
) -> Vec<Written> {
    if rows.is_empty() {
        return Vec::new();
    }
    let statement = Statement {
        sql,
        args: ARGS,
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
    Spi::connect_mut(|client| {
        statement.run(
            plan,
            client,
            &[
                ids.into(),
                dates.into(),
                periods.into(),
                starts.into(),
                ends.into(),
                actual_starts.into(),
                actual_ends.into(),
                failed.into(),
                states.into(),
            ],
            read_written,
        )
    })
}

fn read_written(table: SpiTupleTable<'_>) -> Result<Vec<Written>, SpiError> {
    let mut out = Vec::with_capacity(table.len());
    for r in table {
        let instant = |v: Option<TimestampWithTimeZone>| v.map(tstz_in);
        out.push(Written {
            row: PerformanceRow {
                slo_id: r.get(1)?.unwrap_or_default(),
                business_date: r.get::<Date>(2)?.map_or(NaiveDate::MIN, date_in),
                period_start: r.get::<Time>(3)?.map_or(NaiveTime::MIN, time_in),
                expected_start: instant(r.get(4)?).unwrap_or_default(),
                expected_end: instant(r.get(5)?).unwrap_or_default(),
                actual_start: instant(r.get(6)?),
                actual_end: instant(r.get(7)?),
                failed_runs: i64::from(r.get::<i32>(8)?.unwrap_or(0)),
            },
            state: r.get::<Vec<u8>>(9)?,
        });
    }
    Ok(out)
}

fn micros_out(us: Option<i64>) -> Option<TimestampWithTimeZone> {
    us.and_then(DateTime::<Utc>::from_timestamp_micros)
        .map(tstz_out)
}

/// True when two stored daily states can be joined: made for the same jobs of one SLO, under
/// the same definitions (`slo_core::day_state`).
#[pg_extern(immutable, strict, parallel_safe)]
fn day_states_join(stored: &[u8], new: &[u8]) -> bool {
    match (DailyState::decode_any(stored), DailyState::decode_any(new)) {
        (Some(a), Some(b)) => a.join(&b).is_some(),
        _ => false,
    }
}

/// The join of two daily states (the state of the union of their events) and the columns of
/// the performance row it derives; the stored state as it is when they cannot be joined.
// The columns are named in the signature, where pgrx reads them for the SQL declaration.
#[allow(clippy::type_complexity)]
#[pg_extern(immutable, strict, parallel_safe)]
fn day_state_join(
    stored: &[u8],
    new: &[u8],
) -> TableIterator<
    'static,
    (
        name!(engine_state, Vec<u8>),
        name!(actual_start, Option<TimestampWithTimeZone>),
        name!(actual_end, Option<TimestampWithTimeZone>),
        name!(failed_runs, i32),
    ),
> {
    let old = DailyState::decode_any(stored);
    let joined = match (&old, DailyState::decode_any(new)) {
        (Some(a), Some(b)) => a.join(&b),
        _ => None,
    };
    let row = match joined.or(old) {
        Some(state) => {
            let a = state.actuals();
            (
                state.encode(),
                micros_out(a.start),
                micros_out(a.end),
                i32::try_from(a.failed_runs).unwrap_or(i32::MAX),
            )
        }
        None => (stored.to_vec(), None, None, 0),
    };
    TableIterator::once(row)
}
