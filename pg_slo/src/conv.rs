//! Conversions between PostgreSQL's date and time types (as pgrx gives them) and chrono's,
//! and from intervals to `slo_core` offsets. Touches nothing but its arguments.

use crate::calendar::raise;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use pgrx::datum::{Date, Interval, Time, TimestampWithTimeZone};
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use slo_core::schedule::Offset;

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn pg_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a real date")
}

/// A finite date; infinity is refused.
pub fn date_in(d: Date) -> NaiveDate {
    if !d.is_finite() {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "an infinite date has no run dates".into(),
        );
    }
    pg_epoch() + Duration::days(i64::from(d.to_pg_epoch_days()))
}

pub fn date_out(d: NaiveDate) -> Date {
    let days = (d - pg_epoch()).num_days();
    // SAFETY: the day count comes from a real chrono date, well within PostgreSQL's range.
    unsafe { Date::from_pg_epoch_days(days as i32) }
}

pub fn time_in(t: Time) -> NaiveTime {
    let micros = t.into_inner();
    NaiveTime::from_num_seconds_from_midnight_opt(
        (micros / 1_000_000) as u32,
        ((micros % 1_000_000) * 1000) as u32,
    )
    .unwrap_or(NaiveTime::MIN)
}

pub fn time_out(t: NaiveTime) -> Time {
    let micros = (t - NaiveTime::MIN).num_microseconds().unwrap_or(0);
    Time::modular_from_raw(micros)
}

pub fn tstz_in(t: TimestampWithTimeZone) -> DateTime<Utc> {
    let raw: i64 = t.into();
    pg_epoch().and_hms_opt(0, 0, 0).expect("midnight").and_utc() + Duration::microseconds(raw)
}

pub fn tstz_out(t: DateTime<Utc>) -> TimestampWithTimeZone {
    let epoch = pg_epoch().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let raw = (t - epoch).num_microseconds().unwrap_or(i64::MAX);
    TimestampWithTimeZone::try_from(raw).unwrap_or_else(|_| {
        raise(
            PgSqlErrorCode::ERRCODE_DATETIME_FIELD_OVERFLOW,
            "instant out of range".into(),
        )
    })
}

/// An offset interval (no months).
pub fn offset_in(i: Interval) -> Result<Offset, String> {
    Offset::from_interval(i.months(), i.days(), i.micros())
}

/// A period interval: no months, counted as elapsed time (a day is 24 hours).
pub fn period_in(i: Interval) -> Result<Duration, String> {
    if i.months() != 0 {
        return Err("must not have months or years".into());
    }
    Ok(Duration::microseconds(
        i64::from(i.days()) * MICROS_PER_DAY + i.micros(),
    ))
}
