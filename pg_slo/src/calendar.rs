//! SQL functions for calendars, holidays, expected times and definition checks: thin shells
//! over `slo_core`. Every function here is pure: its inputs come as arguments (the SQL in
//! `sql/calendar.sql` gathers them from the tables), so none reads a table and all are
//! immutable. Errors name the object and the field.

use crate::conv::{date_in, date_out, offset_in, period_in, time_in, time_out, tstz_in, tstz_out};
use pgrx::datum::{Date, Interval, Time, TimestampWithTimeZone};
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::prelude::*;
use slo_core::calendar::Calendar;
use slo_core::holiday;
use slo_core::schedule::{self, DayUnit, SloSchedule, Window};

/// Raises an SQL error with the given SQLSTATE.
pub(crate) fn raise(code: PgSqlErrorCode, message: String) -> ! {
    pgrx::ereport!(ERROR, code, message);
}

/// Builds a calendar from its columns and its holiday and exception rows.
fn calendar(
    run_weekdays: &[i32],
    runs_on_holidays: bool,
    holidays: &[Date],
    exception_dates: &[Date],
    exception_runs: &[bool],
) -> Calendar {
    if exception_dates.len() != exception_runs.len() {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "exception_dates and exception_runs must have the same length".into(),
        );
    }
    let exceptions = exception_dates
        .iter()
        .map(|d| date_in(*d))
        .zip(exception_runs.iter().copied());
    Calendar::new(
        run_weekdays,
        runs_on_holidays,
        holidays.iter().map(|d| date_in(*d)),
        exceptions,
    )
    .unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("calendar: {e}"),
        )
    })
}

/// The run dates of a calendar given by its parts, from `from_date` to `to_date` inclusive.
#[pg_extern(immutable, parallel_safe)]
fn calendar_run_dates(
    run_weekdays: Vec<i32>,
    runs_on_holidays: bool,
    holidays: Vec<Date>,
    exception_dates: Vec<Date>,
    exception_runs: Vec<bool>,
    from_date: Date,
    to_date: Date,
) -> SetOfIterator<'static, Date> {
    let cal = calendar(
        &run_weekdays,
        runs_on_holidays,
        &holidays,
        &exception_dates,
        &exception_runs,
    );
    let dates: Vec<Date> = cal
        .run_dates(date_in(from_date), date_in(to_date))
        .map(date_out)
        .collect();
    SetOfIterator::new(dates)
}

/// The holidays a rule gives for a span of years.
#[pg_extern(immutable, parallel_safe)]
fn holiday_rule_dates(
    rule: &str,
    from_year: i32,
    to_year: i32,
) -> TableIterator<'static, (name!(holiday_date, Date), name!(name, String))> {
    let found = holiday::rule_or_err(rule)
        .and_then(|r| holiday::holidays_between(r, from_year, to_year))
        .unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                e.to_string(),
            )
        });
    TableIterator::new(found.into_iter().map(|h| (date_out(h.date), h.name)))
}

/// The holiday rules this build knows.
#[pg_extern(immutable, parallel_safe)]
fn holiday_rules() -> TableIterator<'static, (name!(rule, String), name!(description, String))> {
    TableIterator::new(
        holiday::rules()
            .iter()
            .map(|r| (r.name().to_owned(), r.description().to_owned())),
    )
}

/// An IANA time zone, or `invalid_parameter_value` naming it.
fn time_zone_in(time_zone: &str) -> chrono_tz::Tz {
    schedule::parse_time_zone(time_zone).unwrap_or_else(|p| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{} {}", p.field, p.message),
        )
    })
}

/// The intraday window of an SLO, or an error naming the SLO and the field.
fn window(
    slo_id: &str,
    period: Option<Interval>,
    start: Option<Time>,
    end: Option<Time>,
) -> Option<Window> {
    let bad = |field: &str, msg: String| -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            format!("slo {slo_id:?}: {field} {msg}"),
        )
    };
    match (period, start, end) {
        (None, None, None) => None,
        (Some(p), Some(s), Some(e)) => {
            let p = period_in(p).unwrap_or_else(|m| bad("period", m));
            match Window::new(time_in(s), time_in(e), p) {
                Ok(w) => Some(w),
                Err(problem) => bad(problem.field, problem.message),
            }
        }
        _ => bad(
            "period",
            "must be set with window_start and window_end (all three for an intraday SLO, none for a daily one)".into(),
        ),
    }
}

/// Checks an SLO's definition; raises `check_violation` naming the SLO and the field.
/// Called by the trigger on `slo.slo`.
#[pg_extern(immutable, parallel_safe)]
fn check_slo_definition(
    slo_id: &str,
    time_zone: &str,
    period: Option<Interval>,
    window_start: Option<Time>,
    window_end: Option<Time>,
) -> bool {
    if let Err(p) = schedule::parse_time_zone(time_zone) {
        raise(
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            format!("slo {slo_id:?}: {} {}", p.field, p.message),
        );
    }
    window(slo_id, period, window_start, window_end);
    true
}

/// Checks a calendar's weekdays; raises `check_violation` naming the calendar and the field.
/// Called by the trigger on `slo.calendar`.
#[pg_extern(immutable, parallel_safe)]
fn check_calendar_definition(calendar_id: &str, run_weekdays: Vec<Option<i32>>) -> bool {
    let bad = |msg: String| -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            format!("calendar {calendar_id:?}: run_weekdays {msg}"),
        )
    };
    let Some(days) = run_weekdays.into_iter().collect::<Option<Vec<i32>>>() else {
        bad("must not hold NULL".into());
    };
    if let Err(e) = Calendar::new(&days, false, [], []) {
        let text = e.to_string();
        bad(text.trim_start_matches("run_weekdays ").to_owned());
    }
    true
}

/// Checks a job's offsets within an SLO; raises `check_violation` naming both and the field.
/// Called by the trigger on `slo.slo_job`.
#[pg_extern(immutable, parallel_safe)]
fn check_slo_job_definition(
    slo_id: &str,
    job_id: &str,
    expected_start: Interval,
    expected_end: Interval,
) -> bool {
    let bad = |field: &str, msg: String| -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            format!("slo {slo_id:?}, job {job_id:?}: {field} {msg}"),
        )
    };
    let start = offset_in(expected_start).unwrap_or_else(|m| bad("expected_start", m));
    let end = offset_in(expected_end).unwrap_or_else(|m| bad("expected_end", m));
    if let Err(p) = schedule::check_offsets(start, end) {
        bad(p.field, p.message);
    }
    true
}

/// The expected instant of one offset for one instance of an SLO, given the SLO's time zone,
/// window and calendar (for run-day offsets). NULL when run days run out.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn expected_instant(
    time_zone: &str,
    period: Option<Interval>,
    window_start: Option<Time>,
    window_end: Option<Time>,
    calendar_id: &str,
    business_date: Date,
    period_start: Time,
    offset: Interval,
    day_unit: &str,
) -> Option<TimestampWithTimeZone> {
    let tz = time_zone_in(time_zone);
    let unit = DayUnit::parse(day_unit).unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("day_unit {day_unit:?} is not calendar or run"),
        )
    });
    let offset = offset_in(offset).unwrap_or_else(|m| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("offset {m}"),
        )
    });
    let calendar = crate::calendar_cache::calendar(calendar_id);
    let sched = SloSchedule {
        time_zone: tz,
        window: window("?", period, window_start, window_end),
        calendar: std::borrow::Cow::Borrowed(&calendar),
    };
    sched
        .expected(date_in(business_date), time_in(period_start), offset, unit)
        .map(tstz_out)
}

/// Every period start of an intraday window, in order.
#[pg_extern(immutable, parallel_safe)]
fn intraday_period_starts(
    window_start: Time,
    window_end: Time,
    period: Interval,
) -> SetOfIterator<'static, Time> {
    let w = window("?", Some(period), Some(window_start), Some(window_end))
        .expect("a window was given");
    SetOfIterator::new(
        w.period_starts()
            .into_iter()
            .map(time_out)
            .collect::<Vec<_>>(),
    )
}

/// The instance period of an intraday event that has its own period (CONTRACT section 3): the
/// period it names when given (snapped to the period containing that time, clamped to the
/// window), otherwise the latest period start at or before its local status time.
#[pg_extern(immutable, parallel_safe)]
fn start_period(
    time_zone: &str,
    window_start: Time,
    window_end: Time,
    period: Interval,
    business_date: Date,
    status_time: TimestampWithTimeZone,
    given_period: Option<Time>,
) -> Time {
    let w = window("?", Some(period), Some(window_start), Some(window_end))
        .expect("a window was given");
    let bd = date_in(business_date);
    let local = match given_period {
        Some(t) => bd.and_time(time_in(t)),
        None => {
            let tz = time_zone_in(time_zone);
            tstz_in(status_time).with_timezone(&tz).naive_local()
        }
    };
    time_out(w.match_period(bd, local))
}

/// The period of a `start` event of an intraday SLO: the latest period start at or before the
/// event's local time, clamped to the window (CONTRACT section 3).
#[pg_extern(immutable, parallel_safe)]
fn match_period(
    time_zone: &str,
    window_start: Time,
    window_end: Time,
    period: Interval,
    business_date: Date,
    status_time: TimestampWithTimeZone,
) -> Time {
    start_period(
        time_zone,
        window_start,
        window_end,
        period,
        business_date,
        status_time,
        None,
    )
}
