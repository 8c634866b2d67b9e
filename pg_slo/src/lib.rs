//! The pg_slo extension: the SQL objects of schema `slo` (CONTRACT sections 1 to 5).
//!
//! What plain SQL does well stays SQL: the tables, their checks and the triggers live in
//! `src/sql/*.sql`, loaded here in order. Rust functions come in beside the SQL they serve.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod alerts;
mod calendar;
mod calendar_cache;
mod conv;
mod definitions;
mod engine;
mod events;
mod perf_rows;
mod spi;
mod worker;

/// Called when the library is loaded: defines the settings and, when preloaded, the workers.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    worker::init();
}

/// True when `v` is a valid identifier (`slo_core::Identifier`: 1 to 128 characters, no
/// control characters, no leading or trailing white space): the CHECK of every id column.
#[pg_extern(immutable, strict, parallel_safe)]
fn is_identifier(v: &str) -> bool {
    slo_core::Identifier::parse(v).is_ok()
}

// Definitions and events: tables, keys, checks, comments, and the job-registration function.
extension_sql_file!(
    "sql/schema.sql",
    name = "schema",
    requires = [is_identifier]
);

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
    requires = [
        "calendar",
        calendar::start_period,
        engine::job_status_after_insert,
        engine::refresh_slo_days,
        engine::day_rebuilds,
        perf_rows::day_state_joins,
        perf_rows::day_state_needs_write,
        perf_rows::day_state_join,
        perf_rows::day_state_end,
        perf_rows::day_state_failed_runs
    ]
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

// Alerts: slo.alert, mutes, deliveries; raised by the engine and by slo.evaluate.
extension_sql_file!(
    "sql/alerts.sql",
    name = "alerts",
    requires = ["engine", "trends", alerts::instance_jobs]
);

// Ingest: the Kafka consumer's positions and dead letters (issue 8); plain tables.
extension_sql_file!("sql/ingest.sql", name = "ingest", requires = ["schema"]);

// Who may post: clients, their applications and tokens, the authorization functions, and the
// least-privilege roles with their grants. Last (`finalize`), so the grants cover every object.
extension_sql_file!("sql/auth.sql", name = "auth", finalize);
