//! The calendar functions of CONTRACT section 5 (`slo.is_run_date`, `slo.next_run_date`,
//! `slo.prev_run_date`, `slo.run_dates`), backed by a per-statement cache of calendars.
//!
//! Called per row (a year of dates for a thousand SLOs is 365,000 calls), each function must
//! cost no more than a table lookup. PostgreSQL cannot inline a scalar SQL function that reads a
//! table, so instead the first call in a statement loads the calendar's definition (its row,
//! its holidays, its exceptions: one SQL statement, planned once per backend) into a `slo_core::Calendar`, and every later
//! call in the same statement answers from memory.
//!
//! Validity: the cache holds the calendars of one generation of the definitions, and is emptied
//! when the generation the current statement sees differs (see `definitions.rs`). So a
//! definition change is seen exactly when the caller's snapshot sees it, and a one-row statement
//! costs one single-row read, not a reload. May read slo.calendar, slo.definitions_generation,
//! slo.holiday and slo.calendar_exception; writes nothing.

use crate::calendar::raise;
use crate::conv::{date_in, date_out};
use crate::spi::{Plan, Statement};
use pgrx::datum::Date;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::PgBuiltInOids;
use pgrx::prelude::*;
use slo_core::calendar::Calendar;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// The calendars loaded at one generation of the definitions.
#[derive(Default)]
struct Cache {
    generation: Option<crate::definitions::Generation>,
    calendars: HashMap<String, Rc<Calendar>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

const LOAD_CALENDAR: &str = "\
SELECT c.run_weekdays, c.runs_on_holidays,
       ARRAY(SELECT h.holiday_date FROM slo.holiday h WHERE h.holiday_set = c.holiday_set),
       ARRAY(SELECT x.exception_date FROM slo.calendar_exception x
             WHERE x.calendar_id = c.calendar_id ORDER BY x.exception_date),
       ARRAY(SELECT x.runs FROM slo.calendar_exception x
             WHERE x.calendar_id = c.calendar_id ORDER BY x.exception_date)
FROM slo.calendar c WHERE c.calendar_id = $1";

thread_local! {
    static LOAD_NOW: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static LOAD_FRESH: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
}

/// Loads a calendar's definition: under the calling statement's snapshot, or `fresh` (what is
/// committed now, for the engine's definitions read after its locks).
pub(crate) fn load(calendar_id: &str, fresh: bool) -> Calendar {
    let statement = Statement {
        sql: LOAD_CALENDAR,
        args: &[PgBuiltInOids::TEXTOID],
        fresh,
        doing: "loading a calendar",
    };
    let plan: &'static Plan = if fresh { &LOAD_FRESH } else { &LOAD_NOW };
    type Row = (Vec<i32>, bool, Vec<Date>, Vec<Date>, Vec<bool>);
    let row: Option<Row> = Spi::connect_mut(|_client| {
        statement.run(plan, &[calendar_id.into()], |rows| {
            if rows.is_empty() {
                return Ok(None);
            }
            let row = &rows[0];
            Ok(Some((
                row.get(1)?.unwrap_or_default(),
                row.get(2)?.unwrap_or(false),
                row.get(3)?.unwrap_or_default(),
                row.get(4)?.unwrap_or_default(),
                row.get(5)?.unwrap_or_default(),
            )))
        })
    });
    let Some((weekdays, on_holidays, holidays, exc_dates, exc_runs)) = row else {
        raise(
            PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            format!("unknown calendar {calendar_id:?} (calendars are rows of slo.calendar)"),
        )
    };
    Calendar::new(
        &weekdays,
        on_holidays,
        holidays.into_iter().map(date_in),
        exc_dates.into_iter().map(date_in).zip(exc_runs),
    )
    .unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("calendar {calendar_id:?}: {e}"),
        )
    })
}

/// The calendar as the current statement sees it.
pub(crate) fn calendar(calendar_id: &str) -> Rc<Calendar> {
    let current = crate::definitions::generation();
    let cached = CACHE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.generation != Some(current) {
            cache.generation = Some(current);
            cache.calendars.clear();
        }
        cache.calendars.get(calendar_id).cloned()
    });
    if let Some(c) = cached {
        return c;
    }
    // No borrow is held across the query: SPI may call back into these functions.
    let loaded = Rc::new(load(calendar_id, false));
    CACHE.with(|cell| {
        cell.borrow_mut()
            .calendars
            .insert(calendar_id.to_owned(), loaded.clone())
    });
    loaded
}

fn steps(n: i32) -> u32 {
    u32::try_from(n).unwrap_or_else(|_| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("n must be 0 or more (got {n})"),
        )
    })
}

/// True when `d` is a run date of the calendar. Unknown calendars raise `no_data_found`.
#[pg_extern(stable, parallel_safe)]
fn is_run_date(calendar_id: &str, d: Date) -> bool {
    calendar(calendar_id).is_run_date(date_in(d))
}

/// The `n`-th run date after `d`; `n = 0` is `d` itself when it is a run date, else the next.
#[pg_extern(stable, parallel_safe)]
fn next_run_date(calendar_id: &str, d: Date, n: default!(i32, 1)) -> Option<Date> {
    calendar(calendar_id)
        .next_run_date(date_in(d), steps(n))
        .map(date_out)
}

/// The `n`-th run date before `d`; `n = 0` is `d` itself when it is a run date, else the previous.
#[pg_extern(stable, parallel_safe)]
fn prev_run_date(calendar_id: &str, d: Date, n: default!(i32, 1)) -> Option<Date> {
    calendar(calendar_id)
        .prev_run_date(date_in(d), steps(n))
        .map(date_out)
}

/// The run dates from `from_date` to `to_date` inclusive, in order.
#[pg_extern(stable, parallel_safe)]
fn run_dates(calendar_id: &str, from_date: Date, to_date: Date) -> SetOfIterator<'static, Date> {
    let cal = calendar(calendar_id);
    let dates: Vec<Date> = cal
        .run_dates(date_in(from_date), date_in(to_date))
        .map(date_out)
        .collect();
    SetOfIterator::new(dates)
}
