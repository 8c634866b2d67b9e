//! SLO definitions as code: the definitions file (TOML), its validation, the file written back
//! from definitions, and the plan that turns one set of definitions into another.
//!
//! The file describes the whole of CONTRACT section 2: applications, jobs, holiday sets (by a
//! holiday rule over a span of years, and by listed dates), calendars with their exceptions, and
//! SLOs with their jobs. Field names are the column names of the tables. [`parse_file`] checks
//! everything the database checks (identifiers, weekdays, time zones, windows and periods,
//! offsets, references) with the same `slo_core` rules, and reports every problem with its line
//! and field. [`render`] writes definitions in the same format, so a database's definitions
//! written out and read back are equal. [`plan`] compares the wanted definitions with the ones
//! in force and lists what to add, change and remove.
//!
//! Pure: no database, no files, no clock. The `api` crate reads the file and the database and
//! carries the plan out.

mod file;
mod interval;
mod plan;
mod render;

pub use file::{parse_file, FileProblem};
pub use interval::Interval;
pub use plan::{plan, Action, Change, Kind, Plan, Usage};
pub use render::render;

use chrono::{NaiveDate, NaiveTime};
use std::collections::BTreeMap;

/// A complete set of definitions, keyed by id (the order of a file does not matter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Definitions {
    pub applications: BTreeMap<String, Application>,
    pub jobs: BTreeMap<String, Job>,
    pub holiday_sets: BTreeMap<String, HolidaySet>,
    pub calendars: BTreeMap<String, CalendarDef>,
    pub slos: BTreeMap<String, SloDef>,
}

/// A row of `slo.application`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub name: String,
}

/// A row of `slo.job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub app_id: String,
    pub name: String,
}

/// A holiday set: the holidays of a rule over a span of years, plus listed dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidaySet {
    pub rule: Option<HolidayRuleSpan>,
    /// Listed holidays: date and name.
    pub listed: BTreeMap<NaiveDate, String>,
}

/// `rule`, `from_year` and `to_year` of a holiday set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayRuleSpan {
    pub rule: String,
    pub from_year: i32,
    pub to_year: i32,
}

impl HolidaySet {
    /// Every holiday of the set, as rows of `slo.holiday` (the rule's, then the listed ones).
    /// The rule and years were checked when the set was parsed; a set built by hand with an
    /// unknown rule has only its listed dates.
    pub fn holidays(&self) -> BTreeMap<NaiveDate, String> {
        let mut out = BTreeMap::new();
        if let Some(r) = &self.rule {
            if let Ok(found) = crate::holiday::rule_or_err(&r.rule)
                .and_then(|rule| crate::holiday::holidays_between(rule, r.from_year, r.to_year))
            {
                out.extend(found.into_iter().map(|h| (h.date, h.name)));
            }
        }
        out.extend(self.listed.iter().map(|(d, n)| (*d, n.clone())));
        out
    }

    /// The compact description of a set of holiday rows: when the rows hold every holiday of a
    /// known rule over whole years (from the first year with a row to the last), those are
    /// written as the rule and the rest listed; otherwise all are listed.
    pub fn from_rows(rows: &BTreeMap<NaiveDate, String>) -> HolidaySet {
        use chrono::Datelike;
        let listed_only = HolidaySet {
            rule: None,
            listed: rows.clone(),
        };
        let (Some(first), Some(last)) = (rows.keys().next(), rows.keys().next_back()) else {
            return listed_only;
        };
        let (from_year, to_year) = (first.year(), last.year());
        for rule in crate::holiday::rules() {
            let Ok(days) = crate::holiday::holidays_between(*rule, from_year, to_year) else {
                continue;
            };
            if days.is_empty()
                || !days
                    .iter()
                    .all(|h| rows.get(&h.date).is_some_and(|n| *n == h.name))
            {
                continue;
            }
            let mut listed = rows.clone();
            for h in &days {
                listed.remove(&h.date);
            }
            return HolidaySet {
                rule: Some(HolidayRuleSpan {
                    rule: rule.name().to_owned(),
                    from_year,
                    to_year,
                }),
                listed,
            };
        }
        listed_only
    }
}

/// A row of `slo.calendar` with its `slo.calendar_exception` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarDef {
    pub name: String,
    /// ISO weekdays, sorted, without repeats.
    pub run_weekdays: Vec<i32>,
    pub holiday_set: Option<String>,
    pub runs_on_holidays: bool,
    /// Exception date and whether it runs.
    pub exceptions: BTreeMap<NaiveDate, bool>,
}

/// The intraday part of an SLO: `period`, `window_start`, `window_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intraday {
    pub period: Interval,
    pub window_start: NaiveTime,
    pub window_end: NaiveTime,
}

/// A row of `slo.slo` with its `slo.slo_job` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloDef {
    pub name: String,
    pub app_id: String,
    pub calendar_id: String,
    pub time_zone: String,
    pub intraday: Option<Intraday>,
    pub slack: Interval,
    pub active: bool,
    pub jobs: BTreeMap<String, SloJobDef>,
}

/// A row of `slo.slo_job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloJobDef {
    pub expected_start: Interval,
    pub expected_end: Interval,
    /// `calendar` or `run`.
    pub day_unit: String,
}

/// Formats a time of day as the file writes it: `06:00`, or `06:00:30` with seconds.
pub fn format_time(t: NaiveTime) -> String {
    use chrono::Timelike;
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%H:%M").to_string()
    } else if t.nanosecond() == 0 {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S%.6f").to_string()
    }
}

#[cfg(test)]
mod tests;
