//! Expected times (CONTRACT section 2): offsets from a business date or a period start, in an
//! SLO's IANA time zone; intraday periods and the matching of a status time to its period; and
//! the checks that refuse a bad SLO definition with the field named.
//!
//! Daylight saving, decided once here and used everywhere:
//! a local wall-clock time resolves to **the first instant at which the local clock reads that
//! time or later**. So in the fall-back overlap (01:30 happens twice in New York on the first
//! Sunday of November) it is the first occurrence, in daylight time; and in the spring-forward
//! gap (02:30 does not exist on the second Sunday of March) it is the instant of the jump,
//! 03:00 daylight time. This is how batch schedulers fire jobs set in those hours (once, at the
//! first occurrence; at once after the jump), so a deadline means what operators expect.
//! PostgreSQL's `timestamp AT TIME ZONE` differs on both (it takes standard time).
//!
//! Pure: touches nothing outside itself.

use crate::calendar::Calendar;
use chrono::{
    DateTime, Days, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset as _,
    TimeZone, Utc,
};
use chrono_tz::Tz;
use std::borrow::Cow;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// How the days of an offset count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayUnit {
    /// Calendar days (the default).
    Calendar,
    /// Run days of the SLO's calendar: from Friday, one day is the next run date.
    Run,
}

impl DayUnit {
    /// Parses `slo.slo_job.day_unit`.
    pub fn parse(s: &str) -> Option<DayUnit> {
        match s {
            "calendar" => Some(DayUnit::Calendar),
            "run" => Some(DayUnit::Run),
            _ => None,
        }
    }
}

/// An offset as PostgreSQL stores an interval without months: whole days and microseconds.
/// `'1 day 03:00'` is 1 day and 3 hours; `'27:00'` is 0 days and 27 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    pub days: i64,
    pub micros: i64,
}

impl Offset {
    /// From an interval's parts; months are refused (a month has no fixed length in days).
    pub fn from_interval(months: i32, days: i32, micros: i64) -> Result<Offset, String> {
        if months != 0 {
            return Err("must not have months or years (use days)".into());
        }
        Ok(Offset {
            days: i64::from(days),
            micros,
        })
    }

    pub fn hours_minutes(days: i64, hours: i64, minutes: i64) -> Offset {
        Offset {
            days,
            micros: (hours * 60 + minutes) * 60_000_000,
        }
    }

    /// For a daily SLO: whole days to move the date, and the wall-clock time on that date.
    /// Hours past 24 roll into days (`'27:00'` is the next day at 03:00), and negative times
    /// roll back (`'-02:00'` is the day before at 22:00).
    pub fn date_and_time(self) -> (i64, NaiveTime) {
        let days = self.days + self.micros.div_euclid(MICROS_PER_DAY);
        let rem = self.micros.rem_euclid(MICROS_PER_DAY);
        let secs = (rem / 1_000_000) as u32;
        let nanos = ((rem % 1_000_000) * 1000) as u32;
        (
            days,
            NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).expect("within a day"),
        )
    }

    /// The offset's length, counting a day as 24 hours (for ordering start against end).
    pub fn total_micros(self) -> i64 {
        self.days * MICROS_PER_DAY + self.micros
    }
}

/// The first instant at which the local clock in `tz` reads `local` or later (see the module doc).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The instant the clock jumped over `local` (which lies in a spring-forward gap): the first
/// instant whose offset is the one after the gap, found by bisection between the readings of
/// `local` under the offsets from a day before and a day after.
fn gap_end(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let as_utc = local.and_utc();
    let before = tz
        .offset_from_utc_datetime(&(as_utc - Duration::days(1)).naive_utc())
        .fix();
    let after = tz
        .offset_from_utc_datetime(&(as_utc + Duration::days(1)).naive_utc())
        .fix();
    // Read with the later offset, the local time lies before the jump; with the earlier, after it.
    let mut lo = as_utc - Duration::seconds(i64::from(after.local_minus_utc()));
    let mut hi = as_utc - Duration::seconds(i64::from(before.local_minus_utc()));
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    // Invariant: the offset at `hi` is the after-gap one; at `lo` it is not. Bisected in whole
    // microseconds (PostgreSQL's precision), so that every local time of one gap ends on the
    // same instant: halving a span of nanoseconds could stop a fraction of a microsecond apart.
    let (mut lo, mut hi) = (lo.timestamp_micros(), hi.timestamp_micros());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let at = DateTime::<Utc>::from_timestamp_micros(mid).expect("between two instants");
        if tz.offset_from_utc_datetime(&at.naive_utc()).fix() == after {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::<Utc>::from_timestamp_micros(hi).expect("an instant")
}

/// The intraday window of an SLO: period starts from `start`, stepping by `period`, while they
/// are at or before `end` (CONTRACT section 2). The period need not divide the window: 06:00 to
/// 17:45 by 45 minutes starts periods at 06:00 .. 17:15, and `end` is then no period start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub period: Duration,
}

impl Window {
    /// Checks the window: a period of more than zero and less than a day, and an end not before
    /// the start.
    pub fn new(
        start: NaiveTime,
        end: NaiveTime,
        period: Duration,
    ) -> Result<Window, DefinitionProblem> {
        if period <= Duration::zero() || period >= Duration::days(1) {
            return Err(DefinitionProblem::new(
                "period",
                "must be more than zero and less than one day",
            ));
        }
        if end < start {
            return Err(DefinitionProblem::new(
                "window_end",
                "must not be before window_start",
            ));
        }
        Ok(Window { start, end, period })
    }

    /// The index of the last period: how many whole periods fit between `start` and `end`.
    fn last_index(&self) -> i64 {
        (self.end - self.start).num_microseconds().unwrap_or(0)
            / self.period.num_microseconds().unwrap_or(1)
    }

    /// The `i`th period start (0 is `start`).
    fn nth_start(&self, i: i64) -> NaiveTime {
        self.start + Duration::microseconds(self.period.num_microseconds().unwrap_or(0) * i)
    }

    /// Every period start, in order.
    pub fn period_starts(&self) -> Vec<NaiveTime> {
        (0..=self.last_index()).map(|i| self.nth_start(i)).collect()
    }

    /// The last period start: `end` when the period divides the window, else the latest
    /// period start before it.
    pub fn last_start(&self) -> NaiveTime {
        self.nth_start(self.last_index())
    }

    /// Whether `t` is one of the period starts.
    pub fn is_period_start(&self, t: NaiveTime) -> bool {
        t >= self.start
            && t <= self.end
            && (t - self.start).num_microseconds().unwrap_or(1)
                % self.period.num_microseconds().unwrap_or(1)
                == 0
    }

    /// The period of a `start` event on `business_date` at local time `local`: the latest period
    /// start at or before it, clamped to the window (before the window: the first period; after
    /// the last period start, or on a later date: the last period).
    pub fn match_period(&self, business_date: NaiveDate, local: NaiveDateTime) -> NaiveTime {
        let first = business_date.and_time(self.start);
        if local <= first {
            return self.start;
        }
        let since = (local - first).num_microseconds().unwrap_or(i64::MAX);
        let step = self.period.num_microseconds().unwrap_or(1);
        self.nth_start((since / step).min(self.last_index()))
    }
}

/// One problem with an SLO definition, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionProblem {
    pub field: &'static str,
    pub message: String,
}

impl DefinitionProblem {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        DefinitionProblem {
            field,
            message: message.into(),
        }
    }
}

/// Parses an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Result<Tz, DefinitionProblem> {
    name.parse::<Tz>().map_err(|_| {
        DefinitionProblem::new(
            "time_zone",
            format!("{name:?} is not an IANA time zone (such as America/New_York)"),
        )
    })
}

/// Checks a job's offsets: no months, and the end not before the start.
pub fn check_offsets(start: Offset, end: Offset) -> Result<(), DefinitionProblem> {
    if end.total_micros() < start.total_micros() {
        return Err(DefinitionProblem::new(
            "expected_end",
            "must not be before expected_start",
        ));
    }
    Ok(())
}

/// What the expected times of an SLO need: its time zone, its window when intraday, and its
/// calendar (owned, or borrowed from a cache).
#[derive(Debug, Clone)]
pub struct SloSchedule<'c> {
    pub time_zone: Tz,
    pub window: Option<Window>,
    pub calendar: Cow<'c, Calendar>,
}

impl SloSchedule<'_> {
    /// The expected instant of `offset` for the instance (`business_date`, `period_start`).
    /// Daily: the days move the business date (calendar or run days), and the time part is the
    /// local wall-clock time on that date. Intraday: the days move the date, and the time part is
    /// elapsed time after the period start. `None` when run days run out of the calendar.
    pub fn expected(
        &self,
        business_date: NaiveDate,
        period_start: NaiveTime,
        offset: Offset,
        unit: DayUnit,
    ) -> Option<DateTime<Utc>> {
        let shift = |date: NaiveDate, days: i64| match unit {
            DayUnit::Calendar => {
                if days >= 0 {
                    date.checked_add_days(Days::new(days as u64))
                } else {
                    date.checked_sub_days(Days::new(days.unsigned_abs()))
                }
            }
            DayUnit::Run => self.calendar.add_run_days(date, days),
        };
        match self.window {
            None => {
                let (days, time) = offset.date_and_time();
                let date = shift(business_date, days)?;
                Some(resolve_local(self.time_zone, date.and_time(time)))
            }
            Some(_) => {
                let date = shift(business_date, offset.days)?;
                let anchor = resolve_local(self.time_zone, date.and_time(period_start));
                Some(anchor + Duration::microseconds(offset.micros))
            }
        }
    }

    /// The instance's expected start (earliest of its jobs) and end (latest), given each job's
    /// (start offset, end offset, day unit).
    pub fn instance_expected(
        &self,
        business_date: NaiveDate,
        period_start: NaiveTime,
        jobs: &[(Offset, Offset, DayUnit)],
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        for &(s, e, unit) in jobs {
            let start = self.expected(business_date, period_start, s, unit)?;
            let end = self.expected(business_date, period_start, e, unit)?;
            out = Some(match out {
                None => (start, end),
                Some((a, b)) => (a.min(start), b.max(end)),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    fn local(date: &str, time: &str) -> NaiveDateTime {
        d(date).and_time(t(time))
    }
    const NY: Tz = chrono_tz::America::New_York;
    const LONDON: Tz = chrono_tz::Europe::London;

    #[test]
    fn an_ordinary_local_time_resolves_with_its_offset() {
        assert_eq!(
            resolve_local(NY, local("2026-11-24", "03:00")),
            utc("2026-11-24T08:00:00Z")
        );
        assert_eq!(
            resolve_local(NY, local("2026-07-01", "03:00")),
            utc("2026-07-01T07:00:00Z")
        );
        assert_eq!(
            resolve_local(LONDON, local("2026-07-01", "03:00")),
            utc("2026-07-01T02:00:00Z")
        );
    }

    #[test]
    fn a_time_in_the_fall_back_overlap_is_its_first_occurrence() {
        // New York, Sunday 1 November 2026: 01:30 EDT (05:30Z) and 01:30 EST (06:30Z).
        assert_eq!(
            resolve_local(NY, local("2026-11-01", "01:30")),
            utc("2026-11-01T05:30:00Z")
        );
        // London, Sunday 25 October 2026: 01:30 BST (00:30Z) and 01:30 GMT (01:30Z).
        assert_eq!(
            resolve_local(LONDON, local("2026-10-25", "01:30")),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_is_the_instant_of_the_jump() {
        // New York, Sunday 14 March 2027: 02:00 EST jumps to 03:00 EDT at 07:00Z.
        assert_eq!(
            resolve_local(NY, local("2027-03-14", "02:30")),
            utc("2027-03-14T07:00:00Z")
        );
        assert_eq!(
            resolve_local(NY, local("2027-03-14", "02:00")),
            utc("2027-03-14T07:00:00Z")
        );
        assert_eq!(
            resolve_local(NY, local("2027-03-14", "03:00")),
            utc("2027-03-14T07:00:00Z")
        );
        assert_eq!(
            resolve_local(NY, local("2027-03-14", "01:59")),
            utc("2027-03-14T06:59:00Z")
        );
        // London, Sunday 28 March 2027: 01:00 GMT jumps to 02:00 BST at 01:00Z.
        assert_eq!(
            resolve_local(LONDON, local("2027-03-28", "01:15")),
            utc("2027-03-28T01:00:00Z")
        );
    }

    fn standard_2026() -> Calendar {
        // Monday to Friday; Thanksgiving 2026 and Christmas 2026 as holidays.
        Calendar::new(
            &[1, 2, 3, 4, 5],
            false,
            [d("2026-11-26"), d("2026-12-25")],
            [],
        )
        .unwrap()
    }

    fn daily(tz: Tz, calendar: Calendar) -> SloSchedule<'static> {
        SloSchedule {
            time_zone: tz,
            window: None,
            calendar: Cow::Owned(calendar),
        }
    }

    #[test]
    fn three_am_the_next_calendar_day_in_new_york() {
        let every_day = Calendar::new(&[1, 2, 3, 4, 5, 6, 7], true, [], []).unwrap();
        let s = daily(NY, every_day);
        let off = Offset::hours_minutes(1, 3, 0);
        // Monday 23 November 2026 -> Tuesday 03:00 EST.
        assert_eq!(
            s.expected(d("2026-11-23"), t("00:00"), off, DayUnit::Calendar),
            Some(utc("2026-11-24T08:00:00Z"))
        );
        // Saturday 31 October 2026 -> Sunday 1 November 03:00, after the fall back: EST.
        assert_eq!(
            s.expected(d("2026-10-31"), t("00:00"), off, DayUnit::Calendar),
            Some(utc("2026-11-01T08:00:00Z"))
        );
        // Friday 30 October -> Saturday 31 October 03:00 EDT.
        assert_eq!(
            s.expected(d("2026-10-30"), t("00:00"), off, DayUnit::Calendar),
            Some(utc("2026-10-31T07:00:00Z"))
        );
        // Saturday 13 March 2027 -> Sunday 14 March 03:00, just after the jump: EDT, 07:00Z.
        assert_eq!(
            s.expected(d("2027-03-13"), t("00:00"), off, DayUnit::Calendar),
            Some(utc("2027-03-14T07:00:00Z"))
        );
        // ...and 02:30 that night does not exist: the jump, also 07:00Z.
        let off_0230 = Offset::hours_minutes(1, 2, 30);
        assert_eq!(
            s.expected(d("2027-03-13"), t("00:00"), off_0230, DayUnit::Calendar),
            Some(utc("2027-03-14T07:00:00Z"))
        );
    }

    #[test]
    fn five_am_the_next_business_day_over_a_holiday_weekend() {
        let s = daily(NY, standard_2026());
        let off = Offset::hours_minutes(1, 5, 0);
        // Wednesday 25 November (Thanksgiving follows) -> Friday 27 November 05:00 EST.
        assert_eq!(
            s.expected(d("2026-11-25"), t("00:00"), off, DayUnit::Run),
            Some(utc("2026-11-27T10:00:00Z"))
        );
        // Friday 27 November -> Monday 30 November 05:00 EST.
        assert_eq!(
            s.expected(d("2026-11-27"), t("00:00"), off, DayUnit::Run),
            Some(utc("2026-11-30T10:00:00Z"))
        );
        // Thursday 24 December -> Monday 28 December, over Christmas and the weekend.
        assert_eq!(
            s.expected(d("2026-12-24"), t("00:00"), off, DayUnit::Run),
            Some(utc("2026-12-28T10:00:00Z"))
        );
        // The same offset in calendar days from Friday is Saturday.
        assert_eq!(
            s.expected(d("2026-11-27"), t("00:00"), off, DayUnit::Calendar),
            Some(utc("2026-11-28T10:00:00Z"))
        );
    }

    #[test]
    fn a_business_day_offset_across_a_dst_change_keeps_the_wall_clock() {
        // Friday 6 March 2027 (EST) -> Monday 8 March... no change; Friday 12 March 2027 -> Monday
        // 15 March 05:00, now EDT: 09:00Z rather than 10:00Z.
        let s = daily(NY, Calendar::new(&[1, 2, 3, 4, 5], false, [], []).unwrap());
        let off = Offset::hours_minutes(1, 5, 0);
        assert_eq!(
            s.expected(d("2027-03-12"), t("00:00"), off, DayUnit::Run),
            Some(utc("2027-03-15T09:00:00Z"))
        );
        assert_eq!(
            s.expected(d("2027-03-05"), t("00:00"), off, DayUnit::Run),
            Some(utc("2027-03-08T10:00:00Z"))
        );
    }

    #[test]
    fn offsets_past_24_hours_and_negative_offsets_roll_the_date() {
        assert_eq!(
            Offset::hours_minutes(0, 27, 0).date_and_time(),
            (1, t("03:00"))
        );
        assert_eq!(
            Offset::hours_minutes(0, -2, 0).date_and_time(),
            (-1, t("22:00"))
        );
        assert_eq!(
            Offset::hours_minutes(2, 0, 0).date_and_time(),
            (2, t("00:00"))
        );
        assert!(Offset::from_interval(1, 0, 0).is_err());
    }

    #[test]
    fn the_08_00_report_in_london_across_the_october_change() {
        let s = daily(
            LONDON,
            Calendar::new(&[1, 2, 3, 4, 5], false, [], []).unwrap(),
        );
        let off = Offset::hours_minutes(1, 8, 0);
        // Friday 23 October 2026 -> Monday 26 October 08:00 GMT (clocks went back on the 25th).
        assert_eq!(
            s.expected(d("2026-10-23"), t("00:00"), off, DayUnit::Run),
            Some(utc("2026-10-26T08:00:00Z"))
        );
        // Thursday 22 October -> Friday 23 October 08:00 BST.
        assert_eq!(
            s.expected(d("2026-10-22"), t("00:00"), off, DayUnit::Run),
            Some(utc("2026-10-23T07:00:00Z"))
        );
    }

    fn summary_window() -> Window {
        Window::new(t("06:00"), t("18:00"), Duration::minutes(30)).unwrap()
    }

    #[test]
    fn six_to_six_every_thirty_minutes_is_twenty_five_periods() {
        let starts = summary_window().period_starts();
        assert_eq!(starts.len(), 25);
        assert_eq!(
            (starts[0], starts[1], starts[24]),
            (t("06:00"), t("06:30"), t("18:00"))
        );
    }

    /// CONTRACT section 2's example: 06:00..17:45 by 45 minutes.
    fn forty_five_minute_window() -> Window {
        Window::new(t("06:00"), t("17:45"), Duration::minutes(45)).unwrap()
    }

    #[test]
    fn a_period_that_does_not_divide_the_window_steps_while_at_or_before_its_end() {
        let w = forty_five_minute_window();
        let starts = w.period_starts();
        assert_eq!(starts.len(), 16);
        assert_eq!(
            (starts[0], starts[1], starts[14], starts[15]),
            (t("06:00"), t("06:45"), t("16:30"), t("17:15"))
        );
        assert_eq!(w.last_start(), t("17:15"));
        assert!(w.is_period_start(t("17:15")) && !w.is_period_start(t("17:45")));
        assert!(starts.iter().all(|&p| w.is_period_start(p)));
        // A period longer than the window leaves one period, at window_start.
        let long = Window::new(t("06:00"), t("06:30"), Duration::minutes(50)).unwrap();
        assert_eq!(long.period_starts(), vec![t("06:00")]);
        assert_eq!(summary_window().last_start(), t("18:00"));
    }

    #[test]
    fn a_start_in_a_window_the_period_does_not_divide_is_clamped_to_its_periods() {
        let w = forty_five_minute_window();
        let bd = d("2026-11-24");
        // Inside: the latest period start at or before it.
        assert_eq!(w.match_period(bd, local("2026-11-24", "06:44")), t("06:00"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "06:45")), t("06:45"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "17:14")), t("16:30"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "17:15")), t("17:15"));
        // After the last period start, at window_end, after it, or on a later date: the last period.
        assert_eq!(w.match_period(bd, local("2026-11-24", "17:30")), t("17:15"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "17:45")), t("17:15"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "19:00")), t("17:15"));
        assert_eq!(w.match_period(bd, local("2026-11-25", "02:00")), t("17:15"));
        // Before window_start, or on an earlier date: the first period.
        assert_eq!(w.match_period(bd, local("2026-11-24", "05:10")), t("06:00"));
        assert_eq!(w.match_period(bd, local("2026-11-23", "23:00")), t("06:00"));
    }

    #[test]
    fn a_period_of_zero_or_a_day_and_an_end_before_the_start_are_refused() {
        for bad in [Duration::zero(), Duration::minutes(-30), Duration::days(1)] {
            let err = Window::new(t("06:00"), t("18:00"), bad).unwrap_err();
            assert_eq!(err.field, "period", "{bad}");
            assert!(err.message.contains("less than one day"), "{}", err.message);
        }
        assert_eq!(
            Window::new(t("18:00"), t("06:00"), Duration::minutes(30))
                .unwrap_err()
                .field,
            "window_end"
        );
        assert!(Window::new(t("06:00"), t("06:00"), Duration::minutes(30)).is_ok());
        assert!(Window::new(t("06:00"), t("18:00"), Duration::minutes(50)).is_ok());
    }

    #[test]
    fn intraday_offsets_are_minutes_after_the_period_start() {
        let s = SloSchedule {
            time_zone: NY,
            window: Some(summary_window()),
            calendar: Cow::Owned(standard_2026()),
        };
        let ten = Offset::hours_minutes(0, 0, 10);
        assert_eq!(
            s.expected(d("2026-11-24"), t("06:00"), ten, DayUnit::Calendar),
            Some(utc("2026-11-24T11:10:00Z"))
        );
        assert_eq!(
            s.expected(d("2026-11-24"), t("06:30"), ten, DayUnit::Calendar),
            Some(utc("2026-11-24T11:40:00Z"))
        );
        assert_eq!(
            s.expected(d("2026-11-24"), t("18:00"), ten, DayUnit::Calendar),
            Some(utc("2026-11-24T23:10:00Z"))
        );
        // In summer the same wall clock is an hour earlier in UTC.
        assert_eq!(
            s.expected(d("2026-07-01"), t("06:00"), ten, DayUnit::Calendar),
            Some(utc("2026-07-01T10:10:00Z"))
        );
        let inst = s.instance_expected(
            d("2026-11-24"),
            t("06:30"),
            &[(Offset::hours_minutes(0, 0, 0), ten, DayUnit::Calendar)],
        );
        assert_eq!(
            inst,
            Some((utc("2026-11-24T11:30:00Z"), utc("2026-11-24T11:40:00Z")))
        );
    }

    #[test]
    fn an_instance_expects_the_earliest_start_and_the_latest_end_of_its_jobs() {
        let s = daily(NY, standard_2026());
        let jobs = [
            (
                Offset::hours_minutes(1, 0, 30),
                Offset::hours_minutes(1, 3, 0),
                DayUnit::Run,
            ),
            (
                Offset::hours_minutes(1, 3, 0),
                Offset::hours_minutes(1, 5, 0),
                DayUnit::Run,
            ),
        ];
        let (start, end) = s
            .instance_expected(d("2026-11-24"), t("00:00"), &jobs)
            .unwrap();
        assert_eq!(start, utc("2026-11-25T05:30:00Z"));
        assert_eq!(end, utc("2026-11-25T10:00:00Z"));
    }

    #[test]
    fn a_start_event_goes_to_the_latest_period_at_or_before_it_clamped_to_the_window() {
        let w = summary_window();
        let bd = d("2026-11-24");
        assert_eq!(w.match_period(bd, local("2026-11-24", "06:00")), t("06:00"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "06:29")), t("06:00"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "06:30")), t("06:30"));
        assert_eq!(w.match_period(bd, local("2026-11-24", "05:45")), t("06:00")); // early: first period
        assert_eq!(w.match_period(bd, local("2026-11-24", "18:20")), t("18:00")); // late: last period
        assert_eq!(w.match_period(bd, local("2026-11-25", "00:05")), t("18:00")); // next day: last period
        assert_eq!(w.match_period(bd, local("2026-11-23", "23:55")), t("06:00")); // day before: first
        assert!(
            w.is_period_start(t("17:30"))
                && !w.is_period_start(t("17:45"))
                && !w.is_period_start(t("18:30"))
        );
    }

    #[test]
    fn time_zones_must_be_iana_names() {
        assert!(parse_time_zone("America/New_York").is_ok());
        let err = parse_time_zone("America/NewYork").unwrap_err();
        assert_eq!(err.field, "time_zone");
        assert!(err.message.contains("America/NewYork"));
    }

    #[test]
    fn an_expected_end_before_its_start_is_refused() {
        let err = check_offsets(
            Offset::hours_minutes(1, 5, 0),
            Offset::hours_minutes(1, 3, 0),
        )
        .unwrap_err();
        assert_eq!(err.field, "expected_end");
        assert!(check_offsets(
            Offset::hours_minutes(0, 27, 0),
            Offset::hours_minutes(1, 4, 0)
        )
        .is_ok());
    }

    #[test]
    fn every_local_time_of_one_gap_resolves_to_the_same_instant() {
        // London springs forward at 01:00 GMT on 29 March 2026: 01:01 and 01:38 never happen.
        let at = |h, m| d("2026-03-29").and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap());
        let change = "2026-03-29T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(resolve_local(LONDON, at(1, 1)), change);
        assert_eq!(resolve_local(LONDON, at(1, 38)), change);
        assert_eq!(resolve_local(LONDON, at(1, 59)), change);
    }

    proptest! {
        /// Resolution never goes backwards: a later local time never resolves to an earlier
        /// instant, and the local clock at the resolved instant reads the asked time or later.
        #[test]
        fn resolution_is_monotonic_and_never_early(day in 0u64..800, a in 0u32..1440, b in 0u32..1440) {
            for tz in [NY, LONDON] {
                let date = d("2026-01-01") + Days::new(day);
                let (lo, hi) = (a.min(b), a.max(b));
                let at = |m: u32| date.and_time(NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap());
                let (x, y) = (resolve_local(tz, at(lo)), resolve_local(tz, at(hi)));
                prop_assert!(x <= y);
                prop_assert!(x.with_timezone(&tz).naive_local() >= at(lo));
            }
        }

        /// Every matched period is a period start, never after the event's local time when the
        /// event is at or after the window's start, and the latest such start: the next period
        /// start (if any) is after the event. Periods that do not divide the window included.
        #[test]
        fn matched_periods_are_the_latest_period_start_at_or_before(
            m in 0u32..1440,
            start in 0u32..1440,
            span in 0u32..1440,
            period in 1u32..1440,
        ) {
            let hm = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap();
            let w = Window::new(hm(start), hm((start + span).min(1439)), Duration::minutes(i64::from(period))).unwrap();
            let starts = w.period_starts();
            prop_assert!(starts.iter().all(|&p| p <= w.end && w.is_period_start(p)));
            prop_assert!(w.end - w.last_start() < w.period);
            let at = d("2026-11-24").and_time(hm(m));
            let p = w.match_period(d("2026-11-24"), at);
            prop_assert!(w.is_period_start(p));
            if at.time() >= w.start {
                prop_assert!(p <= at.time());
                let next = starts.iter().find(|&&q| q > p);
                prop_assert!(next.is_none_or(|&q| q > at.time()));
            } else {
                prop_assert_eq!(p, w.start);
            }
        }
    }
}
