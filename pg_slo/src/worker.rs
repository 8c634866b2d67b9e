//! The evaluator: settings, and a background worker per configured database that calls
//! `slo.evaluate()` on an interval, so lateness is found without any event arriving.
//!
//! Loaded with `shared_preload_libraries = 'pg_slo'`; `pg_slo.databases` names the databases
//! (one worker each, restarted 10 s after a failure). `pg_slo.evaluate_interval` (seconds) is
//! re-read on a reload. Where preloading is not allowed, pg_cron can call `slo.evaluate()`
//! instead (README). Touches only the databases named, through SPI.

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CString;
use std::time::{Duration, Instant};

/// Seconds between evaluations.
pub static EVALUATE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(30);
/// How far back `slo.evaluate()` looks for due instances (an interval, read by the SQL).
pub static EVALUATE_LOOKBACK: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"3 days"));
/// Comma-separated databases to run an evaluator in (needs a restart).
pub static DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// How often calendar warnings are written to the log.
const CALENDAR_WARNING_EVERY: Duration = Duration::from_secs(3600);

/// Defines the settings, and registers the workers when loaded by shared_preload_libraries.
pub fn init() {
    GucRegistry::define_int_guc(
        c"pg_slo.evaluate_interval",
        c"Seconds between runs of slo.evaluate() by the pg_slo background worker.",
        c"Re-read on a configuration reload.",
        &EVALUATE_INTERVAL,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"pg_slo.evaluate_lookback",
        c"How far back slo.evaluate() materialises due SLO instances (an interval).",
        c"Instances whose expected start is older than this are left alone.",
        &EVALUATE_LOOKBACK,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: reading a backend-global flag set by the postmaster.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    // Postmaster-context settings may only be defined while preloading.
    GucRegistry::define_string_guc(
        c"pg_slo.databases",
        c"Comma-separated databases in which the pg_slo background worker runs slo.evaluate().",
        c"One worker per database; empty for none. Needs a restart.",
        &DATABASES,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    let names = DATABASES
        .get()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    for db in names.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        BackgroundWorkerBuilder::new(&format!("pg_slo evaluator {db}"))
            .set_type("pg_slo evaluator")
            .set_library("pg_slo")
            .set_function("pg_slo_evaluator_main")
            .set_extra(db)
            .enable_spi_access()
            .set_start_time(BgWorkerStartTime::RecoveryFinished)
            .set_restart_time(Some(Duration::from_secs(10)))
            .load();
    }
}

/// The worker's main loop: evaluate at start, then every `pg_slo.evaluate_interval` seconds.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_slo_evaluator_main(_arg: pg_sys::Datum) {
    let db = BackgroundWorker::get_extra().to_owned();
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi(Some(&db), None);
    log!(
        "pg_slo evaluator started in database {db}, every {} s",
        EVALUATE_INTERVAL.get()
    );
    let mut last_warning: Option<Instant> = None;
    loop {
        let warn = last_warning.is_none_or(|t| t.elapsed() >= CALENDAR_WARNING_EVERY);
        let added = BackgroundWorker::transaction(move || evaluate_once(warn));
        if warn {
            last_warning = Some(Instant::now());
        }
        if let Some(n) = added.filter(|n| *n > 0) {
            log!("pg_slo evaluator: {n} due instance(s) materialised in database {db}");
        }
        let interval =
            Duration::from_secs(u64::try_from(EVALUATE_INTERVAL.get()).unwrap_or(30).max(1));
        if !BackgroundWorker::wait_latch(Some(interval)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a background worker to re-read its configuration.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
    }
    log!("pg_slo evaluator stopped in database {db}");
}

/// One evaluation; `None` when the database has no pg_slo extension (yet).
fn evaluate_once(log_calendar_warnings: bool) -> Option<i32> {
    let installed =
        Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_slo')")
            .ok()
            .flatten()
            .unwrap_or(false);
    if !installed {
        return None;
    }
    if log_calendar_warnings {
        let _ = Spi::get_one::<i32>("SELECT slo.log_calendar_warnings()");
    }
    Spi::get_one::<i32>("SELECT slo.evaluate()").ok().flatten()
}
