//! Reads stored events of `slo.job_status` through SQL (a statement planned once per backend),
//! for the days the engine rebuilds from their events and for `slo.instance_jobs`.
//!
//! May read `slo.job_status`; writes nothing.

use crate::calendar::raise;
use crate::conv::{date_in, date_out, time_in, tstz_in};
use crate::spi::{Plan, Statement};
use chrono::NaiveDate;
use pgrx::datum::{Date, Time, TimestampWithTimeZone};
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::PgBuiltInOids;
use pgrx::prelude::*;
use slo_core::engine::EngineEvent;
use slo_core::Status;
use std::cell::Cell;

/// The events of each (job, business date) pair, found through the event key's index (`OFFSET
/// 0` keeps the LATERAL sub-select from being flattened into a join, which the generic plan
/// could make a scan of the whole table).
const EVENTS_SQL: &str = "\
SELECT e.job_id, e.business_date, e.status, e.status_time, e.run_id, e.period_start
FROM unnest($1::text[], $2::date[]) AS k(job_id, business_date)
CROSS JOIN LATERAL (
  SELECT x.job_id, x.business_date, x.status, x.status_time, x.run_id, x.period_start
  FROM slo.job_status x WHERE x.job_id = k.job_id AND x.business_date = k.business_date
  OFFSET 0) AS e";

thread_local! {
    static NOW: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static FRESH: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
}

/// The stored events of each (job id, business date) of `keys`. `fresh`: as committed now, with
/// this transaction's own (what a writer that holds a day's lock must see); otherwise as the
/// calling statement's snapshot sees them.
pub(crate) fn events(keys: &[(&str, NaiveDate)], fresh: bool) -> Vec<EngineEvent> {
    if keys.is_empty() {
        return Vec::new();
    }
    let statement = Statement {
        sql: EVENTS_SQL,
        args: &[PgBuiltInOids::TEXTARRAYOID, PgBuiltInOids::DATEARRAYOID],
        fresh,
        doing: "reading events of slo.job_status",
    };
    let plan: &'static Plan = if fresh { &FRESH } else { &NOW };
    let jobs: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let dates: Vec<Date> = keys.iter().map(|k| date_out(k.1)).collect();
    Spi::connect_mut(|_client| {
        statement.run(plan, &[jobs.into(), dates.into()], |rows| {
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let status: String = row.get(3)?.unwrap_or_default();
                out.push(EngineEvent {
                    job_id: row.get(1)?.unwrap_or_default(),
                    business_date: row.get::<Date>(2)?.map_or(NaiveDate::MIN, date_in),
                    status: Status::parse(&status).unwrap_or_else(|| {
                        raise(
                            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                            format!("slo.job_status holds an unknown status {status:?}"),
                        )
                    }),
                    status_time: row
                        .get::<TimestampWithTimeZone>(4)?
                        .map(tstz_in)
                        .unwrap_or_default(),
                    run_id: row.get(5)?.unwrap_or_default(),
                    period_start: row.get::<Time>(6)?.map(time_in),
                });
            }
            Ok(out)
        })
    })
}
