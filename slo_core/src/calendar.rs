//! Business calendars (CONTRACT section 2): which dates an SLO runs on, and run-date arithmetic.
//!
//! A date is a *run date* when an exception says it runs, or, without an exception, when its ISO
//! weekday is in the run weekdays and it is not a holiday of the calendar's set (or the calendar
//! runs on holidays). The standard calendar and its alternates are plain data, not code paths.
//! Pure: touches nothing outside itself.

use chrono::{Datelike, Days, NaiveDate};
use std::collections::{BTreeMap, BTreeSet};

/// How far run-date searches look before giving up (a calendar whose exceptions remove every
/// date in that span has no next run date). Ten years, so no real calendar gets near it.
pub const SEARCH_LIMIT_DAYS: u64 = 3660;

/// Why a calendar definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("run_weekdays must name at least one weekday")]
    NoWeekdays,
    #[error("run_weekdays holds {0}, but ISO weekdays are 1 (Monday) to 7 (Sunday)")]
    BadWeekday(i32),
}

/// A calendar: run weekdays, holidays, and exceptions that override both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Bit `n - 1` set when ISO weekday `n` is a run weekday.
    weekdays: u8,
    runs_on_holidays: bool,
    holidays: BTreeSet<NaiveDate>,
    exceptions: BTreeMap<NaiveDate, bool>,
}

impl Calendar {
    /// Builds a calendar. `run_weekdays` are ISO weekdays (1 = Monday .. 7 = Sunday); repeats are
    /// harmless. `holidays` are the dates of the calendar's holiday set; `exceptions` map a date
    /// to whether it runs.
    pub fn new(
        run_weekdays: &[i32],
        runs_on_holidays: bool,
        holidays: impl IntoIterator<Item = NaiveDate>,
        exceptions: impl IntoIterator<Item = (NaiveDate, bool)>,
    ) -> Result<Calendar, CalendarError> {
        let mut weekdays = 0u8;
        for &w in run_weekdays {
            if !(1..=7).contains(&w) {
                return Err(CalendarError::BadWeekday(w));
            }
            weekdays |= 1 << (w - 1);
        }
        if weekdays == 0 {
            return Err(CalendarError::NoWeekdays);
        }
        Ok(Calendar {
            weekdays,
            runs_on_holidays,
            holidays: holidays.into_iter().collect(),
            exceptions: exceptions.into_iter().collect(),
        })
    }

    /// A fingerprint of the calendar's content (run weekdays, whether it runs on holidays, its
    /// holidays and exceptions): equal calendars have equal fingerprints in every backend and
    /// every build (FNV-1a over a fixed encoding).
    pub fn fingerprint(&self) -> u64 {
        let mut h = crate::fnv::Fnv::new(b"calendar/1");
        h.bytes(&[self.weekdays, u8::from(self.runs_on_holidays)]);
        h.u64(self.holidays.len() as u64);
        for d in &self.holidays {
            h.i64(i64::from(d.num_days_from_ce()));
        }
        h.u64(self.exceptions.len() as u64);
        for (d, runs) in &self.exceptions {
            h.i64(i64::from(d.num_days_from_ce()));
            h.bytes(&[u8::from(*runs)]);
        }
        h.finish()
    }

    /// Whether `d` is a run date.
    pub fn is_run_date(&self, d: NaiveDate) -> bool {
        if let Some(&runs) = self.exceptions.get(&d) {
            return runs;
        }
        let iso = d.weekday().number_from_monday();
        self.weekdays & (1 << (iso - 1)) != 0
            && (self.runs_on_holidays || !self.holidays.contains(&d))
    }

    /// Whether `d` is a holiday of the calendar's set (whether or not the calendar runs on it).
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.contains(&d)
    }

    /// The `n`-th run date after `d`; `n = 0` is `d` itself when it is a run date, else the next
    /// one (the "following" convention). `None` when none lies within [`SEARCH_LIMIT_DAYS`].
    pub fn next_run_date(&self, d: NaiveDate, n: u32) -> Option<NaiveDate> {
        self.step(d, n, true)
    }

    /// The `n`-th run date before `d`; `n = 0` is `d` itself when it is a run date, else the
    /// previous one (the "preceding" convention).
    pub fn prev_run_date(&self, d: NaiveDate, n: u32) -> Option<NaiveDate> {
        self.step(d, n, false)
    }

    fn step(&self, d: NaiveDate, n: u32, forward: bool) -> Option<NaiveDate> {
        let move_one = |x: NaiveDate| {
            if forward {
                x.checked_add_days(Days::new(1))
            } else {
                x.checked_sub_days(Days::new(1))
            }
        };
        if n == 0 && self.is_run_date(d) {
            return Some(d);
        }
        let wanted = n.max(1);
        let mut found = 0;
        let mut x = d;
        let mut searched = 0u64;
        while searched < SEARCH_LIMIT_DAYS.saturating_mul(u64::from(wanted)) {
            x = move_one(x)?;
            searched += 1;
            if self.is_run_date(x) {
                found += 1;
                if found == wanted {
                    return Some(x);
                }
            }
        }
        None
    }

    /// Run dates from `from` to `to`, both inclusive, in order.
    pub fn run_dates(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = NaiveDate> + '_ {
        from.iter_days()
            .take_while(move |d| *d <= to)
            .filter(move |d| self.is_run_date(*d))
    }

    /// Moves `d` by `days` run days: forward for positive, backward for negative, `d` itself for 0.
    pub fn add_run_days(&self, d: NaiveDate, days: i64) -> Option<NaiveDate> {
        let n = u32::try_from(days.unsigned_abs()).ok()?;
        match days {
            0 => Some(d),
            1.. => self.next_run_date(d, n),
            _ => self.prev_run_date(d, n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Monday to Friday without 2026's Thanksgiving and Christmas, and the 2027 New Year.
    fn standard() -> Calendar {
        Calendar::new(
            &[1, 2, 3, 4, 5],
            false,
            [d("2026-11-26"), d("2026-12-25"), d("2027-01-01")],
            [],
        )
        .unwrap()
    }

    #[test]
    fn weekdays_run_and_weekends_and_holidays_do_not() {
        let c = standard();
        assert!(c.is_run_date(d("2026-11-24"))); // Tuesday
        assert!(!c.is_run_date(d("2026-11-28"))); // Saturday
        assert!(!c.is_run_date(d("2026-11-29"))); // Sunday
        assert!(!c.is_run_date(d("2026-11-26"))); // Thanksgiving
        assert!(c.is_holiday(d("2026-11-26")));
    }

    #[test]
    fn a_calendar_that_runs_on_holidays_still_skips_its_off_weekdays() {
        let c = Calendar::new(
            &[1, 2, 3, 4, 5],
            true,
            [d("2026-11-26"), d("2026-11-28")],
            [],
        )
        .unwrap();
        assert!(c.is_run_date(d("2026-11-26")));
        assert!(!c.is_run_date(d("2026-11-28")));
    }

    #[test]
    fn exceptions_beat_weekdays_and_holidays() {
        let c = Calendar::new(
            &[1, 2, 3, 4, 5],
            false,
            [d("2026-12-25")],
            [
                (d("2026-12-25"), true),
                (d("2026-11-28"), true),
                (d("2026-11-24"), false),
            ],
        )
        .unwrap();
        assert!(c.is_run_date(d("2026-12-25"))); // a holiday made a run date
        assert!(c.is_run_date(d("2026-11-28"))); // a Saturday made a run date
        assert!(!c.is_run_date(d("2026-11-24"))); // a Tuesday taken out
    }

    #[test]
    fn next_and_previous_run_dates_cross_long_weekends_and_year_ends() {
        let c = standard();
        // Wednesday before Thanksgiving -> the Friday after it.
        assert_eq!(c.next_run_date(d("2026-11-25"), 1), Some(d("2026-11-27")));
        // Christmas Eve (Thursday) -> Monday the 28th, over Christmas and the weekend.
        assert_eq!(c.next_run_date(d("2026-12-24"), 1), Some(d("2026-12-28")));
        // The last run date of 2026 -> Monday 4 January 2027, over New Year and the weekend.
        assert_eq!(c.next_run_date(d("2026-12-31"), 1), Some(d("2027-01-04")));
        assert_eq!(c.prev_run_date(d("2027-01-04"), 1), Some(d("2026-12-31")));
        assert_eq!(c.next_run_date(d("2026-12-24"), 3), Some(d("2026-12-30")));
        assert_eq!(c.prev_run_date(d("2026-11-30"), 2), Some(d("2026-11-25")));
    }

    #[test]
    fn n_zero_keeps_a_run_date_and_rolls_other_dates() {
        let c = standard();
        assert_eq!(c.next_run_date(d("2026-11-24"), 0), Some(d("2026-11-24")));
        assert_eq!(c.next_run_date(d("2026-11-26"), 0), Some(d("2026-11-27")));
        assert_eq!(c.prev_run_date(d("2026-11-26"), 0), Some(d("2026-11-25")));
    }

    #[test]
    fn run_days_move_forward_and_back() {
        let c = standard();
        assert_eq!(c.add_run_days(d("2026-11-27"), 1), Some(d("2026-11-30"))); // Friday -> Monday
        assert_eq!(c.add_run_days(d("2026-11-30"), -1), Some(d("2026-11-27")));
        assert_eq!(c.add_run_days(d("2026-11-30"), 0), Some(d("2026-11-30")));
    }

    #[test]
    fn a_calendar_whose_dates_are_all_excepted_has_no_next_run_date() {
        let start = d("2026-01-01");
        let off: Vec<(NaiveDate, bool)> =
            start.iter_days().take(4000).map(|x| (x, false)).collect();
        let c = Calendar::new(&[1, 2, 3, 4, 5, 6, 7], true, [], off).unwrap();
        assert_eq!(c.next_run_date(start, 1), None);
    }

    #[test]
    fn bad_weekday_sets_are_refused() {
        assert_eq!(
            Calendar::new(&[], false, [], []),
            Err(CalendarError::NoWeekdays)
        );
        assert_eq!(
            Calendar::new(&[1, 8], false, [], []),
            Err(CalendarError::BadWeekday(8))
        );
        assert_eq!(
            Calendar::new(&[0], false, [], []),
            Err(CalendarError::BadWeekday(0))
        );
    }

    fn arb_calendar() -> impl Strategy<Value = Calendar> {
        (
            proptest::collection::btree_set(1i32..=7, 1..=7),
            any::<bool>(),
            proptest::collection::vec(0u64..120, 0..20),
            proptest::collection::vec((0u64..120, any::<bool>()), 0..10),
        )
            .prop_map(|(wd, on_hol, hol, exc)| {
                let base = d("2026-11-01");
                let wd: Vec<i32> = wd.into_iter().collect();
                Calendar::new(
                    &wd,
                    on_hol,
                    hol.into_iter().map(|o| base + Days::new(o)),
                    exc.into_iter().map(|(o, r)| (base + Days::new(o), r)),
                )
                .unwrap()
            })
    }

    proptest! {
        #[test]
        fn prev_of_next_returns_to_a_run_date(c in arb_calendar(), off in 0u64..100, n in 1u32..5) {
            let start = d("2026-11-01") + Days::new(off);
            prop_assume!(c.is_run_date(start));
            let fwd = c.next_run_date(start, n).unwrap();
            prop_assert_eq!(c.prev_run_date(fwd, n), Some(start));
        }

        #[test]
        fn run_dates_between_two_dates_equal_the_filter_of_all_dates(c in arb_calendar(), a in 0u64..100, len in 0u64..60) {
            let from = d("2026-11-01") + Days::new(a);
            let to = from + Days::new(len);
            let listed: Vec<NaiveDate> = c.run_dates(from, to).collect();
            let filtered: Vec<NaiveDate> = from.iter_days().take_while(|x| *x <= to).filter(|x| c.is_run_date(*x)).collect();
            prop_assert_eq!(listed, filtered);
        }

        #[test]
        fn next_run_date_is_the_first_run_date_after_and_skips_exactly_n_minus_one(c in arb_calendar(), a in 0u64..100, n in 1u32..4) {
            let start = d("2026-11-01") + Days::new(a);
            let next = c.next_run_date(start, n).unwrap();
            prop_assert!(next > start && c.is_run_date(next));
            let between = c.run_dates(start + Days::new(1), next).count();
            prop_assert_eq!(between, n as usize);
        }

        #[test]
        fn adding_k_run_days_then_minus_k_returns_for_run_dates(c in arb_calendar(), a in 0u64..100, k in -4i64..5) {
            let start = d("2026-11-01") + Days::new(a);
            prop_assume!(c.is_run_date(start));
            let moved = c.add_run_days(start, k).unwrap();
            prop_assert_eq!(c.add_run_days(moved, -k), Some(start));
        }
    }
}
