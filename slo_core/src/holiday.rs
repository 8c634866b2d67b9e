//! Holiday rules as code: which days a market is closed, year by year.
//!
//! This module turns a market's holiday rule (for example the Federal Reserve's schedule) into
//! the list of observed holidays for any year. It is what `slo.load_holidays(holiday_set, rule,
//! from_year, to_year)` calls to fill a holiday set. Everything here is pure computation: it
//! touches nothing outside itself (no database, no clock, no files, no other module of this
//! crate), so each rule is checked by unit tests against hand-written calendars.
//!
//! # Shape
//!
//! - [`HolidayRule`]: one market's rule. [`rules`] lists every rule this build knows, [`rule`]
//!   and [`rule_or_err`] find one by the name given to `slo.load_holidays`.
//! - [`holidays_between`]: a rule's observed holidays over a span of years, validated against
//!   [`MIN_YEAR`]..=[`MAX_YEAR`].
//! - Building blocks a new rule reuses: [`DateRule`] (where a holiday falls before
//!   observance), [`nth_weekday_of_month`] and [`last_weekday_of_month`].
//!
//! # Adding a market
//!
//! A new market (a UK bank-holiday rule, TARGET2, ...) is one new type implementing
//! [`HolidayRule`] plus one entry in the private `RULES` list; nothing else changes. A rule
//! whose holidays are all fixed dates or "nth weekday of a month" is mostly a table:
//!
//! ```
//! use chrono::{Datelike, Weekday};
//! use slo_core::holiday::{holidays_between, DateRule, Holiday, HolidayRule};
//!
//! /// An illustrative market: closed on 1 January and on the first Monday of May, and
//! /// weekend holidays are simply not listed (no substitute day).
//! struct ExampleMarket;
//!
//! const EXAMPLE_HOLIDAYS: &[(&str, DateRule)] = &[
//!     ("New Year's Day", DateRule::Fixed { month: 1, day: 1 }),
//!     ("May Day", DateRule::NthWeekday { month: 5, weekday: Weekday::Mon, n: 1 }),
//! ];
//!
//! impl HolidayRule for ExampleMarket {
//!     fn name(&self) -> &'static str {
//!         "example_market"
//!     }
//!     fn description(&self) -> &'static str {
//!         "An example: 1 January and the first Monday of May; weekend holidays are not listed."
//!     }
//!     fn holidays_in(&self, year: i32) -> Vec<Holiday> {
//!         let mut days: Vec<Holiday> = EXAMPLE_HOLIDAYS
//!             .iter()
//!             .filter_map(|(name, when)| when.date_in(year).map(|d| Holiday::new(d, *name)))
//!             .filter(|h| h.date.weekday().num_days_from_monday() < 5)
//!             .collect();
//!         days.sort();
//!         days
//!     }
//! }
//!
//! let days = holidays_between(&ExampleMarket, 2026, 2027).unwrap();
//! let dates: Vec<String> = days.iter().map(|h| h.date.to_string()).collect();
//! // 2027-01-01 is a Friday; 2026-01-01 a Thursday.
//! assert_eq!(dates, ["2026-01-01", "2026-05-04", "2027-01-01", "2027-05-03"]);
//! ```
//!
//! Holidays that no [`DateRule`] variant describes (Easter-based days, substitute days that
//! skip over another holiday) are written as ordinary code inside `holidays_in`; if several
//! markets need the same thing, it becomes a new [`DateRule`] variant or helper here.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// The earliest year [`holidays_between`] accepts.
pub const MIN_YEAR: i32 = 1900;
/// The latest year [`holidays_between`] accepts.
pub const MAX_YEAR: i32 = 2200;

/// One observed holiday: the date the market is closed, and its name.
///
/// Ordered by date, then name, so a sorted `Vec<Holiday>` is in calendar order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holiday {
    /// The date the market is closed (the observed date, not necessarily the nominal one).
    pub date: NaiveDate,
    /// The holiday's name, with any observance note (e.g. `"Christmas Day (observed)"`).
    pub name: String,
}

impl Holiday {
    /// A holiday on `date` called `name`.
    pub fn new(date: NaiveDate, name: impl Into<String>) -> Self {
        Holiday {
            date,
            name: name.into(),
        }
    }
}

/// A market's holiday rule.
///
/// Implementations must be pure: the same year always gives the same holidays.
pub trait HolidayRule: Sync {
    /// The rule's name as given to `slo.load_holidays`, e.g. `"us_federal_reserve"`.
    fn name(&self) -> &'static str;
    /// A sentence describing the rule and its observance policy.
    fn description(&self) -> &'static str;
    /// The observed holidays whose observed date falls in `year`, sorted by date.
    ///
    /// A holiday whose nominal date is in one year but whose observed date is in another
    /// belongs to the observed date's year. Years far outside [`MIN_YEAR`]..=[`MAX_YEAR`] may
    /// give an empty list (dates chrono cannot represent are skipped), never a panic.
    fn holidays_in(&self, year: i32) -> Vec<Holiday>;
}

/// Why a holiday rule or year span was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolidayError {
    /// No rule has this name.
    #[error("unknown holiday rule {name:?}; known rules: {}", .known.join(", "))]
    UnknownRule {
        /// The name that was asked for.
        name: String,
        /// Every rule name this build knows, in [`rules`] order.
        known: Vec<&'static str>,
    },
    /// The span runs backwards.
    #[error("from_year {from_year} is after to_year {to_year}")]
    ReversedYears {
        /// The first year asked for.
        from_year: i32,
        /// The last year asked for.
        to_year: i32,
    },
    /// A year is before [`MIN_YEAR`].
    #[error("{field} {year} is before {min}, the earliest supported year")]
    YearTooEarly {
        /// Which argument: `"from_year"` or `"to_year"`.
        field: &'static str,
        /// The year given.
        year: i32,
        /// The bound it broke ([`MIN_YEAR`]).
        min: i32,
    },
    /// A year is after [`MAX_YEAR`].
    #[error("{field} {year} is after {max}, the latest supported year")]
    YearTooLate {
        /// Which argument: `"from_year"` or `"to_year"`.
        field: &'static str,
        /// The year given.
        year: i32,
        /// The bound it broke ([`MAX_YEAR`]).
        max: i32,
    },
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

/// Every rule this build knows. Adding a market means adding its rule here.
static RULES: &[&dyn HolidayRule] = &[&UsFederalReserve];

/// Every rule this build knows, for lookup by name and for listing.
pub fn rules() -> &'static [&'static dyn HolidayRule] {
    RULES
}

/// Finds a rule by name (exact, case-sensitive match).
pub fn rule(name: &str) -> Option<&'static dyn HolidayRule> {
    RULES.iter().copied().find(|r| r.name() == name)
}

/// Finds a rule by name, or explains which names exist.
pub fn rule_or_err(name: &str) -> Result<&'static dyn HolidayRule, HolidayError> {
    rule(name).ok_or_else(|| HolidayError::UnknownRule {
        name: name.to_owned(),
        known: RULES.iter().map(|r| r.name()).collect(),
    })
}

/// Observed holidays of `rule` from 1 January of `from_year` to 31 December of `to_year`,
/// sorted by date.
///
/// Refuses a span that runs backwards or reaches outside [`MIN_YEAR`]..=[`MAX_YEAR`]; the
/// message names the argument and the bound it broke. A one-year span (`from_year ==
/// to_year`) is fine.
pub fn holidays_between(
    rule: &dyn HolidayRule,
    from_year: i32,
    to_year: i32,
) -> Result<Vec<Holiday>, HolidayError> {
    for (field, year) in [("from_year", from_year), ("to_year", to_year)] {
        if year < MIN_YEAR {
            return Err(HolidayError::YearTooEarly {
                field,
                year,
                min: MIN_YEAR,
            });
        }
        if year > MAX_YEAR {
            return Err(HolidayError::YearTooLate {
                field,
                year,
                max: MAX_YEAR,
            });
        }
    }
    if from_year > to_year {
        return Err(HolidayError::ReversedYears { from_year, to_year });
    }
    let mut all: Vec<Holiday> = (from_year..=to_year)
        .flat_map(|year| rule.holidays_in(year))
        .collect();
    // Each year's list is sorted and holds only that year's dates, so the concatenation is
    // already sorted; sorting again (a no-op then) keeps the promise even for a faulty rule.
    all.sort();
    Ok(all)
}

// ---------------------------------------------------------------------------------------------
// Building blocks for rules
// ---------------------------------------------------------------------------------------------

/// The `n`th (1-based) `weekday` of `month` in `year`, e.g. the 3rd Monday of January.
///
/// `None` if `n` is 0, if the month has no `n`th such weekday (a 5th Monday, most months), or
/// if `year`/`month` is not a valid month.
pub fn nth_weekday_of_month(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    if n == 0 {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    // Days from the 1st to the first `weekday` of the month: 0..=6.
    let offset = (7 + weekday.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
    let day = 1 + offset + 7 * (u32::from(n) - 1);
    // Fails (None) when `day` is past the end of the month.
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The last `weekday` of `month` in `year`, e.g. the last Monday of May.
///
/// `None` only if `year`/`month` is not a valid month.
pub fn last_weekday_of_month(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    // The month's last day: the largest of 31, 30, 29, 28 that is a valid date.
    let last_day = (28..=31)
        .rev()
        .find_map(|day| NaiveDate::from_ymd_opt(year, month, day))?;
    // Days back from the last day to the last `weekday`: 0..=6.
    let back = (7 + last_day.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last_day.checked_sub_signed(Duration::days(i64::from(back)))
}

/// Where a holiday falls in a given year, before any observance policy moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRule {
    /// The same calendar date every year, e.g. 25 December.
    Fixed {
        /// 1..=12.
        month: u32,
        /// 1..=31.
        day: u32,
    },
    /// The `n`th `weekday` of `month`, e.g. the 4th Thursday of November.
    NthWeekday {
        /// 1..=12.
        month: u32,
        /// The weekday counted.
        weekday: Weekday,
        /// 1-based: 1 is the first such weekday of the month.
        n: u8,
    },
    /// The last `weekday` of `month`, e.g. the last Monday of May.
    LastWeekday {
        /// 1..=12.
        month: u32,
        /// The weekday counted.
        weekday: Weekday,
    },
}

impl DateRule {
    /// The nominal date in `year`, or `None` if it does not exist that year (29 February in a
    /// common year, a 5th weekday the month lacks, a year chrono cannot represent).
    pub fn date_in(self, year: i32) -> Option<NaiveDate> {
        match self {
            DateRule::Fixed { month, day } => NaiveDate::from_ymd_opt(year, month, day),
            DateRule::NthWeekday { month, weekday, n } => {
                nth_weekday_of_month(year, month, weekday, n)
            }
            DateRule::LastWeekday { month, weekday } => last_weekday_of_month(year, month, weekday),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rule: us_federal_reserve
// ---------------------------------------------------------------------------------------------

/// The Federal Reserve System's holiday schedule: the days the Reserve Banks and Fedwire are
/// closed. Rule name `us_federal_reserve`.
///
/// Holidays: New Year's Day (1 January), Birthday of Martin Luther King, Jr. (3rd Monday of
/// January), Washington's Birthday (3rd Monday of February), Memorial Day (last Monday of
/// May), Juneteenth National Independence Day (19 June, from 2022 on: the Reserve Banks first
/// closed for it in 2022), Independence Day (4 July), Labor Day (1st Monday of September),
/// Columbus Day (2nd Monday of October), Veterans Day (11 November), Thanksgiving Day (4th
/// Thursday of November), Christmas Day (25 December).
///
/// The schedule is today's, applied to every year (only Juneteenth has a start year): years
/// before the holidays' historical introduction (e.g. before 1986 for Martin Luther King, Jr.
/// Day, or before the 1971 move of several holidays to Mondays) are not historically accurate.
///
/// # Observance (the Federal Reserve's own rule, and how it is listed here)
///
/// - A fixed-date holiday on a **Sunday** is observed the following **Monday**: it is listed on
///   that Monday, its name suffixed `" (observed)"`, and **on the Sunday itself** under its own
///   name (the Reserve Banks are closed that Sunday too, as on a Saturday holiday). A calendar
///   of weekdays only is unaffected, but one that runs on Sundays with
///   `runs_on_holidays = false` skips that Sunday as well as the Monday.
/// - A fixed-date holiday on a **Saturday** is **not** moved to Friday: the Reserve Banks are
///   open that Friday, so no weekday is closed. It is still **listed on the Saturday itself**,
///   its name suffixed `" (Saturday, not observed on Friday)"`. A calendar of weekdays only
///   is unaffected (it skips Saturdays anyway), but a calendar that runs on weekends with
///   `runs_on_holidays = false` must skip that Saturday, because the Fed is closed then too.
///   Leaving it out would make such a calendar expect a run the market cannot serve.
///
/// A holiday belongs to the year of its observed date. Under this rule no holiday crosses a
/// year end: a Sunday 1 January is listed on that Sunday and observed Monday 2 January of the
/// same year, a Sunday 25 December on 25 and 26 December, and a Saturday 1 January stays on
/// that Saturday (never moved back to 31 December of the year before).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsFederalReserve;

/// One entry of a holiday table: its name, where it falls, and the first year it applies.
struct TableEntry {
    name: &'static str,
    when: DateRule,
    first_year: i32,
}

/// The Federal Reserve's holidays, in calendar order.
const FED_HOLIDAYS: &[TableEntry] = &[
    TableEntry {
        name: "New Year's Day",
        when: DateRule::Fixed { month: 1, day: 1 },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Birthday of Martin Luther King, Jr.",
        when: DateRule::NthWeekday {
            month: 1,
            weekday: Weekday::Mon,
            n: 3,
        },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Washington's Birthday",
        when: DateRule::NthWeekday {
            month: 2,
            weekday: Weekday::Mon,
            n: 3,
        },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Memorial Day",
        when: DateRule::LastWeekday {
            month: 5,
            weekday: Weekday::Mon,
        },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Juneteenth National Independence Day",
        when: DateRule::Fixed { month: 6, day: 19 },
        // Made a federal holiday in June 2021, but the Reserve Banks stayed open on
        // 18 June 2021 and first closed for it in 2022.
        first_year: 2022,
    },
    TableEntry {
        name: "Independence Day",
        when: DateRule::Fixed { month: 7, day: 4 },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Labor Day",
        when: DateRule::NthWeekday {
            month: 9,
            weekday: Weekday::Mon,
            n: 1,
        },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Columbus Day",
        when: DateRule::NthWeekday {
            month: 10,
            weekday: Weekday::Mon,
            n: 2,
        },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Veterans Day",
        when: DateRule::Fixed { month: 11, day: 11 },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Thanksgiving Day",
        when: DateRule::NthWeekday {
            month: 11,
            weekday: Weekday::Thu,
            n: 4,
        },
        first_year: i32::MIN,
    },
    TableEntry {
        name: "Christmas Day",
        when: DateRule::Fixed { month: 12, day: 25 },
        first_year: i32::MIN,
    },
];

/// Applies the Federal Reserve's observance to a nominal date (see [`UsFederalReserve`]): the
/// days listed for it. Weekday holidays (including every Monday/Thursday holiday) are
/// unchanged; a Sunday one gives the Sunday and the observed Monday.
fn fed_observe(nominal: NaiveDate, name: &str) -> Vec<Holiday> {
    match nominal.weekday() {
        Weekday::Sun => std::iter::once(Holiday::new(nominal, name))
            .chain(
                nominal
                    .succ_opt()
                    .map(|monday| Holiday::new(monday, format!("{name} (observed)"))),
            )
            .collect(),
        Weekday::Sat => vec![Holiday::new(
            nominal,
            format!("{name} (Saturday, not observed on Friday)"),
        )],
        _ => vec![Holiday::new(nominal, name)],
    }
}

impl HolidayRule for UsFederalReserve {
    fn name(&self) -> &'static str {
        "us_federal_reserve"
    }

    fn description(&self) -> &'static str {
        "Federal Reserve System holidays (Reserve Banks and Fedwire closed): a holiday on a \
         Sunday is listed on that Sunday and observed the following Monday, and one on a \
         Saturday is listed on that Saturday and not moved to Friday (the Reserve Banks are \
         open that Friday)."
    }

    fn holidays_in(&self, year: i32) -> Vec<Holiday> {
        let mut days: Vec<Holiday> = FED_HOLIDAYS
            .iter()
            .filter(|entry| year >= entry.first_year)
            .filter_map(|entry| entry.when.date_in(year).map(|d| (d, entry.name)))
            .flat_map(|(nominal, name)| fed_observe(nominal, name))
            // No-op under this rule (nothing crosses a year end), kept so the trait's promise
            // holds by construction.
            .filter(|holiday| holiday.date.year() == year)
            .collect();
        days.sort();
        days
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn fed() -> &'static dyn HolidayRule {
        rule("us_federal_reserve").expect("the Fed rule is registered")
    }

    fn fed_dates(year: i32) -> Vec<NaiveDate> {
        fed()
            .holidays_in(year)
            .into_iter()
            .map(|h| h.date)
            .collect()
    }

    fn is_fed_holiday(date: &str) -> bool {
        let date = d(date);
        fed_dates(date.year()).contains(&date)
    }

    /// Every Federal Reserve holiday from 2020 to 2030, written out by hand (not computed by
    /// the code under test). Worked out from 1 January's weekday of each year, then checked
    /// date by date against the shell's `date` (weekday, and day-of-month window for the
    /// floating holidays: 3rd Monday 15..=21, last Monday 25..=31, 1st Monday 1..=7,
    /// 2nd Monday 8..=14, 4th Thursday 22..=28).
    ///
    /// 1 January falls on: 2020 Wed, 2021 Fri, 2022 Sat, 2023 Sun, 2024 Mon (leap), 2025 Wed,
    /// 2026 Thu, 2027 Fri, 2028 Sat (leap), 2029 Mon, 2030 Tue.
    const FED_2020_TO_2030: &[(&str, &str)] = &[
        // 2020: 4 July is a Saturday.
        ("2020-01-01", "New Year's Day"),
        ("2020-01-20", "Birthday of Martin Luther King, Jr."),
        ("2020-02-17", "Washington's Birthday"),
        ("2020-05-25", "Memorial Day"),
        (
            "2020-07-04",
            "Independence Day (Saturday, not observed on Friday)",
        ),
        ("2020-09-07", "Labor Day"),
        ("2020-10-12", "Columbus Day"),
        ("2020-11-11", "Veterans Day"),
        ("2020-11-26", "Thanksgiving Day"),
        ("2020-12-25", "Christmas Day"),
        // 2021: 4 July a Sunday, 25 December a Saturday; no Juneteenth yet.
        ("2021-01-01", "New Year's Day"),
        ("2021-01-18", "Birthday of Martin Luther King, Jr."),
        ("2021-02-15", "Washington's Birthday"),
        ("2021-05-31", "Memorial Day"),
        ("2021-07-04", "Independence Day"),
        ("2021-07-05", "Independence Day (observed)"),
        ("2021-09-06", "Labor Day"),
        ("2021-10-11", "Columbus Day"),
        ("2021-11-11", "Veterans Day"),
        ("2021-11-25", "Thanksgiving Day"),
        (
            "2021-12-25",
            "Christmas Day (Saturday, not observed on Friday)",
        ),
        // 2022: 1 January a Saturday, 19 June and 25 December Sundays.
        (
            "2022-01-01",
            "New Year's Day (Saturday, not observed on Friday)",
        ),
        ("2022-01-17", "Birthday of Martin Luther King, Jr."),
        ("2022-02-21", "Washington's Birthday"),
        ("2022-05-30", "Memorial Day"),
        ("2022-06-19", "Juneteenth National Independence Day"),
        (
            "2022-06-20",
            "Juneteenth National Independence Day (observed)",
        ),
        ("2022-07-04", "Independence Day"),
        ("2022-09-05", "Labor Day"),
        ("2022-10-10", "Columbus Day"),
        ("2022-11-11", "Veterans Day"),
        ("2022-11-24", "Thanksgiving Day"),
        ("2022-12-25", "Christmas Day"),
        ("2022-12-26", "Christmas Day (observed)"),
        // 2023: 1 January a Sunday, 11 November a Saturday.
        ("2023-01-01", "New Year's Day"),
        ("2023-01-02", "New Year's Day (observed)"),
        ("2023-01-16", "Birthday of Martin Luther King, Jr."),
        ("2023-02-20", "Washington's Birthday"),
        ("2023-05-29", "Memorial Day"),
        ("2023-06-19", "Juneteenth National Independence Day"),
        ("2023-07-04", "Independence Day"),
        ("2023-09-04", "Labor Day"),
        ("2023-10-09", "Columbus Day"),
        (
            "2023-11-11",
            "Veterans Day (Saturday, not observed on Friday)",
        ),
        ("2023-11-23", "Thanksgiving Day"),
        ("2023-12-25", "Christmas Day"),
        // 2024: every fixed-date holiday on a weekday.
        ("2024-01-01", "New Year's Day"),
        ("2024-01-15", "Birthday of Martin Luther King, Jr."),
        ("2024-02-19", "Washington's Birthday"),
        ("2024-05-27", "Memorial Day"),
        ("2024-06-19", "Juneteenth National Independence Day"),
        ("2024-07-04", "Independence Day"),
        ("2024-09-02", "Labor Day"),
        ("2024-10-14", "Columbus Day"),
        ("2024-11-11", "Veterans Day"),
        ("2024-11-28", "Thanksgiving Day"),
        ("2024-12-25", "Christmas Day"),
        // 2025: every fixed-date holiday on a weekday.
        ("2025-01-01", "New Year's Day"),
        ("2025-01-20", "Birthday of Martin Luther King, Jr."),
        ("2025-02-17", "Washington's Birthday"),
        ("2025-05-26", "Memorial Day"),
        ("2025-06-19", "Juneteenth National Independence Day"),
        ("2025-07-04", "Independence Day"),
        ("2025-09-01", "Labor Day"),
        ("2025-10-13", "Columbus Day"),
        ("2025-11-11", "Veterans Day"),
        ("2025-11-27", "Thanksgiving Day"),
        ("2025-12-25", "Christmas Day"),
        // 2026: 4 July a Saturday.
        ("2026-01-01", "New Year's Day"),
        ("2026-01-19", "Birthday of Martin Luther King, Jr."),
        ("2026-02-16", "Washington's Birthday"),
        ("2026-05-25", "Memorial Day"),
        ("2026-06-19", "Juneteenth National Independence Day"),
        (
            "2026-07-04",
            "Independence Day (Saturday, not observed on Friday)",
        ),
        ("2026-09-07", "Labor Day"),
        ("2026-10-12", "Columbus Day"),
        ("2026-11-11", "Veterans Day"),
        ("2026-11-26", "Thanksgiving Day"),
        ("2026-12-25", "Christmas Day"),
        // 2027: 19 June and 25 December Saturdays, 4 July a Sunday.
        ("2027-01-01", "New Year's Day"),
        ("2027-01-18", "Birthday of Martin Luther King, Jr."),
        ("2027-02-15", "Washington's Birthday"),
        ("2027-05-31", "Memorial Day"),
        (
            "2027-06-19",
            "Juneteenth National Independence Day (Saturday, not observed on Friday)",
        ),
        ("2027-07-04", "Independence Day"),
        ("2027-07-05", "Independence Day (observed)"),
        ("2027-09-06", "Labor Day"),
        ("2027-10-11", "Columbus Day"),
        ("2027-11-11", "Veterans Day"),
        ("2027-11-25", "Thanksgiving Day"),
        (
            "2027-12-25",
            "Christmas Day (Saturday, not observed on Friday)",
        ),
        // 2028: 1 January and 11 November Saturdays.
        (
            "2028-01-01",
            "New Year's Day (Saturday, not observed on Friday)",
        ),
        ("2028-01-17", "Birthday of Martin Luther King, Jr."),
        ("2028-02-21", "Washington's Birthday"),
        ("2028-05-29", "Memorial Day"),
        ("2028-06-19", "Juneteenth National Independence Day"),
        ("2028-07-04", "Independence Day"),
        ("2028-09-04", "Labor Day"),
        ("2028-10-09", "Columbus Day"),
        (
            "2028-11-11",
            "Veterans Day (Saturday, not observed on Friday)",
        ),
        ("2028-11-23", "Thanksgiving Day"),
        ("2028-12-25", "Christmas Day"),
        // 2029: 11 November a Sunday.
        ("2029-01-01", "New Year's Day"),
        ("2029-01-15", "Birthday of Martin Luther King, Jr."),
        ("2029-02-19", "Washington's Birthday"),
        ("2029-05-28", "Memorial Day"),
        ("2029-06-19", "Juneteenth National Independence Day"),
        ("2029-07-04", "Independence Day"),
        ("2029-09-03", "Labor Day"),
        ("2029-10-08", "Columbus Day"),
        ("2029-11-11", "Veterans Day"),
        ("2029-11-12", "Veterans Day (observed)"),
        ("2029-11-22", "Thanksgiving Day"),
        ("2029-12-25", "Christmas Day"),
        // 2030: every fixed-date holiday on a weekday.
        ("2030-01-01", "New Year's Day"),
        ("2030-01-21", "Birthday of Martin Luther King, Jr."),
        ("2030-02-18", "Washington's Birthday"),
        ("2030-05-27", "Memorial Day"),
        ("2030-06-19", "Juneteenth National Independence Day"),
        ("2030-07-04", "Independence Day"),
        ("2030-09-02", "Labor Day"),
        ("2030-10-14", "Columbus Day"),
        ("2030-11-11", "Veterans Day"),
        ("2030-11-28", "Thanksgiving Day"),
        ("2030-12-25", "Christmas Day"),
    ];

    // --- The heart: the hand-written calendar --------------------------------------------

    #[test]
    fn federal_reserve_holidays_2020_to_2030_match_the_hand_written_calendar() {
        let expected: Vec<Holiday> = FED_2020_TO_2030
            .iter()
            .map(|(date, name)| Holiday::new(d(date), *name))
            .collect();
        let actual = holidays_between(fed(), 2020, 2030).unwrap();
        // Compare year by year first so a mismatch names the year.
        for year in 2020..=2030 {
            let want: Vec<&Holiday> = expected.iter().filter(|h| h.date.year() == year).collect();
            let got: Vec<&Holiday> = actual.iter().filter(|h| h.date.year() == year).collect();
            assert_eq!(got, want, "Federal Reserve holidays in {year}");
        }
        assert_eq!(actual, expected);
    }

    #[test]
    fn the_hand_written_calendar_has_ten_holidays_before_2022_and_eleven_from_2022() {
        for year in 2020..=2030 {
            let rows: Vec<_> = FED_2020_TO_2030
                .iter()
                .filter(|(date, _)| d(date).year() == year)
                .collect();
            // One row per holiday, plus the observed Monday of each Sunday holiday.
            let holidays = rows
                .iter()
                .filter(|(_, name)| !name.ends_with(" (observed)"))
                .count();
            assert_eq!(holidays, if year < 2022 { 10 } else { 11 }, "{year}");
            assert_eq!(fed().holidays_in(year).len(), rows.len(), "{year}");
        }
    }

    // --- Observance -----------------------------------------------------------------------

    #[test]
    fn a_saturday_holiday_is_listed_on_the_saturday_and_not_moved_to_friday() {
        for (saturday, friday) in [
            ("2020-07-04", "2020-07-03"),
            ("2021-12-25", "2021-12-24"),
            ("2023-11-11", "2023-11-10"),
            ("2026-07-04", "2026-07-03"),
            ("2027-06-19", "2027-06-18"),
            ("2027-12-25", "2027-12-24"),
            ("2028-11-11", "2028-11-10"),
        ] {
            assert_eq!(d(saturday).weekday(), Weekday::Sat, "{saturday}");
            assert!(is_fed_holiday(saturday), "{saturday} should be listed");
            assert!(!is_fed_holiday(friday), "{friday} should be a business day");
        }
        let july_4_2026 = fed()
            .holidays_in(2026)
            .into_iter()
            .find(|h| h.date == d("2026-07-04"))
            .unwrap();
        assert_eq!(
            july_4_2026.name,
            "Independence Day (Saturday, not observed on Friday)"
        );
    }

    #[test]
    fn a_saturday_new_years_day_stays_in_its_own_year_and_leaves_december_31_open() {
        for (new_year, eve) in [("2022-01-01", "2021-12-31"), ("2028-01-01", "2027-12-31")] {
            assert!(is_fed_holiday(new_year), "{new_year}");
            assert!(!is_fed_holiday(eve), "{eve}");
            assert_eq!(fed_dates(d(new_year).year())[0], d(new_year));
        }
    }

    #[test]
    fn a_sunday_holiday_is_listed_on_the_sunday_and_observed_on_the_following_monday() {
        for (sunday, monday, name) in [
            ("2021-07-04", "2021-07-05", "Independence Day"),
            (
                "2022-06-19",
                "2022-06-20",
                "Juneteenth National Independence Day",
            ),
            ("2022-12-25", "2022-12-26", "Christmas Day"),
            ("2023-01-01", "2023-01-02", "New Year's Day"),
            ("2027-07-04", "2027-07-05", "Independence Day"),
            ("2029-11-11", "2029-11-12", "Veterans Day"),
        ] {
            assert_eq!(d(sunday).weekday(), Weekday::Sun, "{sunday}");
            let listed = |date: &str| {
                fed()
                    .holidays_in(d(date).year())
                    .into_iter()
                    .find(|h| h.date == d(date))
                    .unwrap_or_else(|| panic!("{date} should be listed"))
                    .name
            };
            assert_eq!(listed(sunday), name, "the Sunday under its own name");
            assert_eq!(listed(monday), format!("{name} (observed)"));
            // The Saturday before stays a non-holiday, and so does the Friday.
            let saturday = d(sunday).pred_opt().unwrap().to_string();
            assert!(!is_fed_holiday(&saturday), "{saturday}");
        }
    }

    #[test]
    fn every_sunday_listed_is_a_holiday_observed_the_next_monday_and_no_row_leaves_its_year() {
        for year in MIN_YEAR..=MAX_YEAR {
            let days = fed().holidays_in(year);
            for (i, h) in days.iter().enumerate() {
                assert_eq!(h.date.year(), year, "{h:?}");
                // The name's note agrees with the weekday.
                assert_eq!(
                    h.date.weekday() == Weekday::Sat,
                    h.name.ends_with(" (Saturday, not observed on Friday)"),
                    "{h:?}"
                );
                if h.date.weekday() == Weekday::Sun {
                    let next = &days[i + 1];
                    assert_eq!(next.date, h.date.succ_opt().unwrap(), "{h:?}");
                    assert_eq!(next.name, format!("{} (observed)", h.name), "{h:?}");
                }
                if h.name.ends_with(" (observed)") {
                    assert_eq!(h.date.weekday(), Weekday::Mon, "{h:?}");
                    assert_eq!(days[i - 1].date, h.date.pred_opt().unwrap(), "{h:?}");
                }
            }
            assert!(days.windows(2).all(|w| w[0].date < w[1].date), "{year}");
        }
    }

    #[test]
    fn juneteenth_is_absent_in_2020_and_2021_and_present_from_2022() {
        let has_juneteenth = |year: i32| {
            fed()
                .holidays_in(year)
                .iter()
                .any(|h| h.name.starts_with("Juneteenth"))
        };
        assert!(!has_juneteenth(2020));
        assert!(!has_juneteenth(2021));
        assert!(
            !is_fed_holiday("2021-06-18"),
            "the Fed was open that Friday"
        );
        for year in 2022..=2030 {
            assert!(has_juneteenth(year), "{year}");
        }
    }

    // --- Registry and errors ---------------------------------------------------------------

    #[test]
    fn rules_are_found_by_their_exact_name() {
        let r = rule("us_federal_reserve").unwrap();
        assert_eq!(r.name(), "us_federal_reserve");
        assert!(r.description().contains("Saturday"));
        assert!(rule("US_FEDERAL_RESERVE").is_none());
        assert!(rule("").is_none());
        assert_eq!(
            rule_or_err("us_federal_reserve").unwrap().name(),
            "us_federal_reserve"
        );
    }

    #[test]
    fn every_known_rule_has_a_unique_lowercase_name_and_a_description() {
        let names: Vec<&str> = rules().iter().map(|r| r.name()).collect();
        assert!(names.contains(&"us_federal_reserve"));
        for (i, r) in rules().iter().enumerate() {
            let name = r.name();
            assert!(!names[..i].contains(&name), "duplicate rule {name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            assert!(rule(name).is_some(), "{name}");
            assert!(r.description().ends_with('.'), "{name}");
        }
    }

    #[test]
    fn an_unknown_rule_error_names_the_rule_and_lists_the_known_ones() {
        let err = rule_or_err("uk_bank_holidays").err().unwrap();
        assert_eq!(
            err,
            HolidayError::UnknownRule {
                name: "uk_bank_holidays".into(),
                known: vec!["us_federal_reserve"],
            }
        );
        assert_eq!(
            err.to_string(),
            "unknown holiday rule \"uk_bank_holidays\"; known rules: us_federal_reserve"
        );
    }

    #[test]
    fn a_reversed_year_range_is_refused() {
        let err = holidays_between(fed(), 2030, 2020).unwrap_err();
        assert_eq!(
            err,
            HolidayError::ReversedYears {
                from_year: 2030,
                to_year: 2020
            }
        );
        assert_eq!(err.to_string(), "from_year 2030 is after to_year 2020");
    }

    #[test]
    fn years_outside_1900_to_2200_are_refused_naming_the_bound() {
        let cases = [
            (
                1899,
                2000,
                "from_year 1899 is before 1900, the earliest supported year",
            ),
            (
                2000,
                2201,
                "to_year 2201 is after 2200, the latest supported year",
            ),
            (
                1800,
                1850,
                "from_year 1800 is before 1900, the earliest supported year",
            ),
            (
                2201,
                2300,
                "from_year 2201 is after 2200, the latest supported year",
            ),
            (
                1900,
                1899,
                "to_year 1899 is before 1900, the earliest supported year",
            ),
            (
                i32::MIN,
                i32::MAX,
                "from_year -2147483648 is before 1900, the earliest supported year",
            ),
        ];
        for (from, to, message) in cases {
            let err = holidays_between(fed(), from, to).unwrap_err();
            assert_eq!(err.to_string(), message, "{from}..={to}");
        }
        assert_eq!(
            holidays_between(fed(), 1899, 2000).unwrap_err(),
            HolidayError::YearTooEarly {
                field: "from_year",
                year: 1899,
                min: MIN_YEAR
            }
        );
    }

    #[test]
    fn the_bounds_1900_and_2200_themselves_are_accepted() {
        // 1900: ten holidays, Veterans Day on Sunday 11 November listed twice (Sunday and Monday).
        assert_eq!(holidays_between(fed(), 1900, 1900).unwrap().len(), 11);
        assert_eq!(holidays_between(fed(), 2200, 2200).unwrap().len(), 11);
        let all = holidays_between(fed(), MIN_YEAR, MAX_YEAR).unwrap();
        assert_eq!(all.first().unwrap().date.year(), 1900);
        assert_eq!(all.last().unwrap().date.year(), 2200);
    }

    // --- holidays_between --------------------------------------------------------------------

    #[test]
    fn holidays_between_spans_year_ends_in_order() {
        let days = holidays_between(fed(), 2022, 2023).unwrap();
        let dates: Vec<NaiveDate> = days.iter().map(|h| h.date).collect();
        // The seam: Christmas 2022 (Sunday, observed Monday) then New Year 2023 (Sunday,
        // observed Monday 2 January).
        let seam = dates.iter().position(|&x| x == d("2022-12-26")).unwrap();
        assert_eq!(dates[seam - 1], d("2022-12-25"));
        assert_eq!(dates[seam + 1], d("2023-01-01"));
        assert_eq!(dates[seam + 2], d("2023-01-02"));
        // 11 holidays a year, plus the Mondays of 3 Sunday holidays.
        assert_eq!(dates.len(), 25);
        assert!(dates.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_one_year_span_is_that_years_holidays() {
        assert_eq!(
            holidays_between(fed(), 2025, 2025).unwrap(),
            fed().holidays_in(2025)
        );
    }

    proptest! {
        #[test]
        fn holidays_between_is_sorted_and_equals_the_years_concatenated(
            from in MIN_YEAR..=MAX_YEAR,
            extra in 0i32..6,
        ) {
            let to = (from + extra).min(MAX_YEAR);
            let days = holidays_between(fed(), from, to).unwrap();
            let concatenated: Vec<Holiday> =
                (from..=to).flat_map(|y| fed().holidays_in(y)).collect();
            prop_assert!(days.windows(2).all(|w| w[0].date < w[1].date));
            prop_assert!(days.iter().all(|h| (from..=to).contains(&h.date.year())));
            prop_assert_eq!(days, concatenated);
        }

        #[test]
        fn nth_weekday_of_month_is_that_weekday_in_the_nth_week(
            year in MIN_YEAR..=MAX_YEAR,
            month in 1u32..=12,
            weekday in 0u8..7,
            n in 1u8..=5,
        ) {
            let weekday = Weekday::try_from(weekday).unwrap();
            match nth_weekday_of_month(year, month, weekday, n) {
                Some(date) => {
                    prop_assert_eq!(date.weekday(), weekday);
                    prop_assert_eq!((date.year(), date.month()), (year, month));
                    let week = (date.day() - 1) / 7 + 1;
                    prop_assert_eq!(week, u32::from(n));
                }
                // Only a 5th occurrence can be missing.
                None => prop_assert_eq!(n, 5),
            }
        }

        #[test]
        fn last_weekday_of_month_is_in_the_months_last_seven_days(
            year in MIN_YEAR..=MAX_YEAR,
            month in 1u32..=12,
            weekday in 0u8..7,
        ) {
            let weekday = Weekday::try_from(weekday).unwrap();
            let date = last_weekday_of_month(year, month, weekday).unwrap();
            prop_assert_eq!(date.weekday(), weekday);
            prop_assert_eq!((date.year(), date.month()), (year, month));
            // A week later is already next month.
            prop_assert_ne!((date + Duration::days(7)).month(), month);
        }
    }

    // --- Building blocks -----------------------------------------------------------------

    #[test]
    fn nth_weekday_of_month_finds_known_dates_and_refuses_missing_ones() {
        let nth = nth_weekday_of_month;
        assert_eq!(nth(2024, 1, Weekday::Mon, 1), Some(d("2024-01-01")));
        assert_eq!(nth(2024, 1, Weekday::Mon, 3), Some(d("2024-01-15")));
        assert_eq!(nth(2025, 11, Weekday::Thu, 4), Some(d("2025-11-27")));
        assert_eq!(nth(2024, 1, Weekday::Wed, 5), Some(d("2024-01-31")));
        assert_eq!(nth(2024, 2, Weekday::Thu, 5), Some(d("2024-02-29")));
        assert_eq!(nth(2025, 2, Weekday::Mon, 5), None, "February 2025 has 4");
        assert_eq!(nth(2025, 1, Weekday::Mon, 0), None);
        assert_eq!(nth(2025, 13, Weekday::Mon, 1), None);
        assert_eq!(nth(2025, 0, Weekday::Mon, 1), None);
    }

    #[test]
    fn last_weekday_of_month_finds_known_dates() {
        let last = last_weekday_of_month;
        assert_eq!(last(2021, 5, Weekday::Mon), Some(d("2021-05-31")));
        assert_eq!(last(2022, 5, Weekday::Mon), Some(d("2022-05-30")));
        assert_eq!(last(2024, 2, Weekday::Thu), Some(d("2024-02-29")));
        assert_eq!(last(2023, 2, Weekday::Tue), Some(d("2023-02-28")));
        assert_eq!(last(2025, 12, Weekday::Wed), Some(d("2025-12-31")));
        assert_eq!(last(2025, 13, Weekday::Mon), None);
    }

    #[test]
    fn a_date_rule_that_does_not_exist_in_a_year_gives_none() {
        let leap_day = DateRule::Fixed { month: 2, day: 29 };
        assert_eq!(leap_day.date_in(2024), Some(d("2024-02-29")));
        assert_eq!(leap_day.date_in(2025), None);
        assert_eq!(leap_day.date_in(2100), None, "2100 is not a leap year");
    }

    #[test]
    fn holidays_in_a_year_chrono_cannot_represent_is_empty_not_a_panic() {
        assert!(fed().holidays_in(i32::MAX).is_empty());
        assert!(fed().holidays_in(i32::MIN).is_empty());
    }

    // --- Extensibility -------------------------------------------------------------------

    /// A second market, built only from the public building blocks: closed on 1 January,
    /// the last Monday of August and 25 and 26 December; a Saturday or Sunday holiday moves to
    /// the next weekday that is not already a holiday (a UK-style substitute day).
    struct SubstituteDayMarket;

    const SUBSTITUTE_DAY_HOLIDAYS: &[(&str, DateRule)] = &[
        ("New Year's Day", DateRule::Fixed { month: 1, day: 1 }),
        (
            "Summer Bank Holiday",
            DateRule::LastWeekday {
                month: 8,
                weekday: Weekday::Mon,
            },
        ),
        ("Christmas Day", DateRule::Fixed { month: 12, day: 25 }),
        ("Boxing Day", DateRule::Fixed { month: 12, day: 26 }),
    ];

    impl HolidayRule for SubstituteDayMarket {
        fn name(&self) -> &'static str {
            "substitute_day_market"
        }
        fn description(&self) -> &'static str {
            "A test market: weekend holidays move to the next free weekday."
        }
        fn holidays_in(&self, year: i32) -> Vec<Holiday> {
            let is_weekend = |date: NaiveDate| date.weekday().num_days_from_monday() >= 5;
            let nominal: Vec<(&str, NaiveDate)> = SUBSTITUTE_DAY_HOLIDAYS
                .iter()
                .filter_map(|(name, when)| when.date_in(year).map(|date| (*name, date)))
                .collect();
            // Weekday holidays stay put; then each weekend one takes the next free weekday.
            let mut days: Vec<Holiday> = nominal
                .iter()
                .filter(|(_, date)| !is_weekend(*date))
                .map(|(name, date)| Holiday::new(*date, *name))
                .collect();
            for (name, mut date) in nominal.into_iter().filter(|(_, date)| is_weekend(*date)) {
                while is_weekend(date) || days.iter().any(|h| h.date == date) {
                    date = date.succ_opt().expect("in range");
                }
                days.push(Holiday::new(date, format!("{name} (substitute day)")));
            }
            days.retain(|h| h.date.year() == year);
            days.sort();
            days
        }
    }

    #[test]
    fn a_second_rule_is_one_new_type_built_from_the_shared_helpers() {
        // 2021-12-25 is a Saturday and 2021-12-26 a Sunday: substitutes on Mon 27, Tue 28.
        let days = holidays_between(&SubstituteDayMarket, 2021, 2022).unwrap();
        let listed: Vec<(String, &str)> = days
            .iter()
            .map(|h| (h.date.to_string(), h.name.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("2021-01-01".to_owned(), "New Year's Day"),
                ("2021-08-30".to_owned(), "Summer Bank Holiday"),
                ("2021-12-27".to_owned(), "Christmas Day (substitute day)"),
                ("2021-12-28".to_owned(), "Boxing Day (substitute day)"),
                ("2022-01-03".to_owned(), "New Year's Day (substitute day)"),
                ("2022-08-29".to_owned(), "Summer Bank Holiday"),
                ("2022-12-26".to_owned(), "Boxing Day"),
                ("2022-12-27".to_owned(), "Christmas Day (substitute day)"),
            ]
        );
    }
}
