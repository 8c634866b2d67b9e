//! The Rust half of alerts (`sql/alerts.sql` holds the rest): which instances the engine must
//! look at after writing them, and `slo.instance_jobs`, what each job of an instance did, which
//! the at-risk prediction needs.
//!
//! Reads the definitions, `slo.job_status` and the setting `pg_slo.evaluate_lookback`; raises
//! alerts only through `slo.raise_instance_alerts`.

use crate::calendar::raise;
use crate::conv::{date_in, time_in, tstz_in, tstz_out};
use crate::definitions;
use chrono::{DateTime, Duration, Utc};
use pgrx::datum::{Date, Time, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::prelude::*;
use slo_core::engine::{instance_jobs as jobs_of_instance, PerformanceRow};
use std::cell::RefCell;
use std::ffi::{CStr, CString};

const DEFAULT_LOOKBACK: &CStr = c"3 days";

thread_local! {
    /// The last value of pg_slo.evaluate_lookback seen, and its length.
    static LOOKBACK: RefCell<Option<(CString, Duration)>> = const { RefCell::new(None) };
}

/// The setting pg_slo.evaluate_lookback as a duration (a month counts 30 days), parsed by
/// PostgreSQL's own interval input, once per value.
fn lookback() -> Duration {
    let setting = crate::worker::EVALUATE_LOOKBACK
        .get()
        .filter(|s| !s.as_bytes().is_empty())
        .unwrap_or_else(|| DEFAULT_LOOKBACK.to_owned());
    if let Some(d) = LOOKBACK.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|(text, _)| *text == setting)
            .map(|(_, d)| *d)
    }) {
        return d;
    }
    // SAFETY: interval_in parses a C string into a palloc'd Interval (or raises a clear error
    // naming the bad input).
    let parsed = unsafe {
        let datum = pgrx::direct_function_call_as_datum(
            pg_sys::interval_in,
            &[
                Some(pg_sys::Datum::from(setting.as_ptr())),
                Some(pg_sys::Datum::from(pg_sys::InvalidOid)),
                Some(pg_sys::Datum::from(-1i32)),
            ],
        )
        .unwrap_or_else(|| {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "pg_slo.evaluate_lookback is not an interval".into(),
            )
        });
        let i = &*(datum.cast_mut_ptr::<pg_sys::Interval>());
        Duration::microseconds(
            (i64::from(i.month) * 30 + i64::from(i.day)) * 86_400_000_000 + i.time,
        )
    };
    LOOKBACK.with(|l| *l.borrow_mut() = Some((setting, parsed)));
    parsed
}

/// The start of the alert window at `now`: instances whose expected end is earlier raise no
/// alert from the engine.
pub(crate) fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - lookback()
}

/// The instances among `written` (rows the engine just wrote, each of which may have got its
/// first start or its completion from the events just stored) that started after their expected
/// start, or are complete, inside the alert window: the ones the engine asks
/// `slo.raise_instance_alerts` about (which raises each alert once).
pub(crate) fn instances_to_check<'a>(
    written: impl Iterator<Item = &'a PerformanceRow>,
    now: DateTime<Utc>,
) -> Vec<&'a PerformanceRow> {
    let window_start = window_start(now);
    written
        .filter(|new| {
            let started_late = new.actual_start.is_some_and(|s| s > new.expected_start);
            new.expected_end >= window_start && (started_late || new.actual_end.is_some())
        })
        .collect()
}

/// Raises what the given instances' stored rows call for (`slo.raise_instance_alerts`).
pub(crate) fn raise_for(instances: &[&PerformanceRow], now: DateTime<Utc>) {
    if instances.is_empty() {
        return;
    }
    let ids: Vec<&str> = instances.iter().map(|r| r.slo_id.as_str()).collect();
    let dates: Vec<Date> = instances
        .iter()
        .map(|r| crate::conv::date_out(r.business_date))
        .collect();
    let periods: Vec<Time> = instances
        .iter()
        .map(|r| crate::conv::time_out(r.period_start))
        .collect();
    Spi::connect_mut(|client| {
        client
            .update(
                "SELECT slo.raise_instance_alerts($1, $2, $3, $4)",
                None,
                &[
                    ids.into(),
                    dates.into(),
                    periods.into(),
                    tstz_out(now).into(),
                ],
            )
            .map(|_| ())
    })
    .unwrap_or_else(|e| crate::spi::spi_failed("raising alerts", e));
}

/// What each job of an SLO did in one instance, by the engine's rules: its earliest start, its
/// earliest success and its failed runs; a job that has not started has neither. No rows for an
/// unknown or inactive SLO.
#[pg_extern(stable, parallel_safe)]
fn instance_jobs(
    slo_id: &str,
    business_date: Date,
    period_start: Time,
) -> TableIterator<
    'static,
    (
        name!(job_id, String),
        name!(started_at, Option<TimestampWithTimeZone>),
        name!(ended_at, Option<TimestampWithTimeZone>),
        name!(failed_runs, i32),
    ),
> {
    let defs = definitions::current();
    let Some(slo) = defs.slo_index(slo_id).map(|i| &defs.slos[i]) else {
        return TableIterator::new(Vec::new());
    };
    let date = date_in(business_date);
    let keys: Vec<(&str, chrono::NaiveDate)> =
        slo.jobs.iter().map(|j| (j.job_id.as_str(), date)).collect();
    let events = crate::events::events(&keys, false);
    let rows: Vec<_> = jobs_of_instance(slo, &events, date, time_in(period_start))
        .into_iter()
        .map(|j| {
            (
                j.job_id,
                j.start.map(tstz_out),
                j.end.map(tstz_out),
                i32::try_from(j.failed_runs).unwrap_or(i32::MAX),
            )
        })
        .collect();
    TableIterator::new(rows)
}

/// `now()` of the current transaction.
pub(crate) fn transaction_now() -> DateTime<Utc> {
    // SAFETY: a plain read of the transaction's start time.
    let raw = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    tstz_in(TimestampWithTimeZone::try_from(raw).unwrap_or_else(|_| {
        raise(
            PgSqlErrorCode::ERRCODE_DATETIME_FIELD_OVERFLOW,
            "the transaction start time is out of range".into(),
        )
    }))
}
