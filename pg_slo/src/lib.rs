//! The pg_slo extension: the SQL objects of schema `slo` (CONTRACT sections 1 to 5).
//!
//! What plain SQL does well stays SQL: the tables, their checks and the triggers live in
//! `src/sql/*.sql`, loaded here in order. Rust functions come in beside the SQL they serve.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod calendar;
mod calendar_cache;
mod conv;
mod worker;

/// Called when the library is loaded: defines the settings and, when preloaded, the workers.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    worker::init();
}

// Definitions and events: tables, keys, checks, comments, and the job-registration trigger.
extension_sql_file!("sql/schema.sql", name = "schema", bootstrap);

// Calendars: the maintained run-date table, the calendar functions, holidays, expected times,
// definition checks. Uses the Rust functions of `calendar.rs`.
extension_sql_file!(
    "sql/calendar.sql",
    name = "calendar",
    requires = [
        "schema",
        calendar::calendar_run_dates,
        calendar_cache::is_run_date,
        calendar_cache::next_run_date,
        calendar_cache::prev_run_date,
        calendar_cache::run_dates,
        calendar::holiday_rule_dates,
        calendar::holiday_rules,
        calendar::check_slo_definition,
        calendar::check_calendar_definition,
        calendar::check_slo_job_definition,
        calendar::expected_instant,
        calendar::intraday_period_starts,
        calendar::match_period,
        calendar::start_period,
    ]
);

// The engine: slo.slo_performance, its trigger, slo.evaluate, slo.recompute, the report view.
extension_sql_file!(
    "sql/engine.sql",
    name = "engine",
    requires = ["calendar", calendar::start_period]
);

// Trends for BI: job runs, duration trends, calendar and host effects, SLO punctuality and
// recommended expected ends (views over set-returning SQL functions; nothing on the insert path).
extension_sql_file!(
    "sql/trends.sql",
    name = "trends",
    requires = [
        "engine",
        calendar::expected_instant,
        calendar::start_period,
        calendar_cache::is_run_date,
    ]
);
