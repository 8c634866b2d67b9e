//! The definitions as the engine needs them, cached per backend: which application each job
//! belongs to, and the active SLOs that depend on each job (with their schedules, calendars and
//! job offsets, as `slo_core::engine` takes them).
//!
//! Validity: every change of a definition table (applications, jobs, SLOs and their jobs,
//! calendars, exceptions, holidays) moves `slo.definitions_generation` on, to a value never used
//! before (from a sequence, so even a rolled-back change leaves a value nobody else sees). Once
//! per statement (and once per new snapshot within one, as PL/pgSQL takes in READ COMMITTED)
//! [`generation`] reads the generation that statement sees (directly, without a query); a cache stays while that is the
//! generation it was filled at, across statements and transactions. So a one-row insert pays one
//! single-row read for its definitions, not a reload, and a definition change is seen exactly
//! when the caller's snapshot sees it.
//!
//! May read the definition tables and `slo.definitions_generation`; writes nothing.

use crate::calendar::raise;
use crate::conv::{offset_in, period_in, time_in};
use pgrx::datum::{Interval, Time};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::prelude::*;
use pgrx::spi::SpiError;
use slo_core::engine::{SloDef, SloJobDef};
use slo_core::schedule::{self, DayUnit, SloSchedule, Window};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// What identifies the data a statement sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatementKey {
    xact_start: i64,
    stmt_start: i64,
    command_id: u32,
    xmin: u32,
    xmax: u32,
    xcnt: u32,
}

fn statement_key() -> StatementKey {
    // SAFETY: plain reads of backend-local state; the snapshot pointer is checked for null.
    unsafe {
        let snap = pg_sys::GetActiveSnapshot();
        let (xmin, xmax, xcnt) = if snap.is_null() {
            (0, 0, 0)
        } else {
            (
                (*snap).xmin.into_inner(),
                (*snap).xmax.into_inner(),
                (*snap).xcnt,
            )
        };
        StatementKey {
            xact_start: pg_sys::GetCurrentTransactionStartTimestamp(),
            stmt_start: pg_sys::GetCurrentStatementStartTimestamp(),
            command_id: pg_sys::GetCurrentCommandId(false),
            xmin,
            xmax,
            xcnt,
        }
    }
}

/// Raises an internal error for a failed SPI call, saying what was being done.
pub(crate) fn spi_failed(doing: &str, e: SpiError) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("{doing}: {e}"),
    )
}

/// A generation of the definitions: the generation table's OID (new when the extension is
/// created again, which restarts the sequence) and the value it holds.
pub(crate) type Generation = (pg_sys::Oid, i64);

thread_local! {
    /// The statement the generation was last read in, and what it read.
    static SEEN: Cell<Option<(StatementKey, Generation)>> = const { Cell::new(None) };
}

/// The generation of the definitions the current statement sees (read once per statement).
pub(crate) fn generation() -> Generation {
    let key = statement_key();
    if let Some((seen_in, generation)) = SEEN.get() {
        if seen_in == key {
            return generation;
        }
    }
    let generation = crate::direct_read::definitions_generation();
    SEEN.set(Some((key, generation)));
    generation
}

/// The definitions the engine works from, at one generation.
pub(crate) struct Definitions {
    pub generation: Generation,
    /// Every job and the application it belongs to.
    pub job_app: HashMap<String, String>,
    /// The active SLOs that have jobs.
    pub slos: Vec<SloDef<'static>>,
    /// For each job, the indexes in `slos` of the active SLOs that depend on it.
    pub slos_of_job: HashMap<String, Vec<usize>>,
}

thread_local! {
    static CACHE: RefCell<Option<Rc<Definitions>>> = const { RefCell::new(None) };
}

/// The definitions as the current statement's snapshot sees them.
pub(crate) fn current() -> Rc<Definitions> {
    at(generation())
}

/// The definitions last loaded, unchecked (the latest when none were). The engine uses them to
/// find which SLO days to lock, then checks them with [`latest`] once it holds the locks.
pub(crate) fn cached() -> Rc<Definitions> {
    CACHE.with(|c| c.borrow().clone()).unwrap_or_else(latest)
}

/// The definitions as a new snapshot sees them (READ COMMITTED: what is committed now). The
/// engine checks them again after waiting for its locks, as a definition change may have
/// committed meanwhile.
pub(crate) fn latest() -> Rc<Definitions> {
    let snapshot = crate::direct_read::ReadSnapshot::fresh();
    let generation = crate::direct_read::definitions_generation();
    snapshot.release();
    at(generation)
}

/// The definitions of `generation`: the cached ones, or loaded now.
fn at(generation: Generation) -> Rc<Definitions> {
    if let Some(defs) = CACHE.with(|c| c.borrow().clone()) {
        if defs.generation == generation {
            return defs;
        }
    }
    let defs = Rc::new(load(generation));
    CACHE.with(|c| *c.borrow_mut() = Some(defs.clone()));
    defs
}

const LOAD_JOBS: &str = "SELECT job_id, app_id FROM slo.job";

const LOAD_SLOS: &str = "\
SELECT slo_id, calendar_id, time_zone, period, window_start, window_end
FROM slo.slo WHERE active";

const LOAD_SLO_JOBS: &str = "\
SELECT j.slo_id, j.job_id, j.expected_start, j.expected_end, j.day_unit
FROM slo.slo_job j JOIN slo.slo s ON s.slo_id = j.slo_id
WHERE s.active";

/// One SLO row as loaded, before its calendar is attached.
#[derive(Default)]
struct SloRow {
    slo_id: String,
    calendar_id: String,
    time_zone: String,
    period: Option<Interval>,
    window_start: Option<Time>,
    window_end: Option<Time>,
    job_ids: Vec<String>,
    starts: Vec<Interval>,
    ends: Vec<Interval>,
    day_units: Vec<String>,
}

fn load(generation: Generation) -> Definitions {
    let (job_app, rows) = Spi::connect(|client| {
        let mut job_app = HashMap::new();
        for row in client
            .select(LOAD_JOBS, None, &[])
            .unwrap_or_else(|e| spi_failed("loading slo.job", e))
        {
            let job: Option<String> = got(row.get(1));
            let app: Option<String> = got(row.get(2));
            if let (Some(job), Some(app)) = (job, app) {
                job_app.insert(job, app);
            }
        }
        let mut rows: Vec<SloRow> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for row in client
            .select(LOAD_SLOS, None, &[])
            .unwrap_or_else(|e| spi_failed("loading slo.slo", e))
        {
            let slo_id: String = got(row.get(1)).unwrap_or_default();
            index.insert(slo_id.clone(), rows.len());
            rows.push(SloRow {
                slo_id,
                calendar_id: got(row.get(2)).unwrap_or_default(),
                time_zone: got(row.get(3)).unwrap_or_default(),
                period: got(row.get(4)),
                window_start: got(row.get(5)),
                window_end: got(row.get(6)),
                ..SloRow::default()
            });
        }
        for row in client
            .select(LOAD_SLO_JOBS, None, &[])
            .unwrap_or_else(|e| spi_failed("loading slo.slo_job", e))
        {
            let slo_id: String = got(row.get(1)).unwrap_or_default();
            if let Some(&i) = index.get(&slo_id) {
                let r = &mut rows[i];
                r.job_ids.push(got(row.get(2)).unwrap_or_default());
                r.starts
                    .push(required(got(row.get(3)), "slo_job.expected_start"));
                r.ends
                    .push(required(got(row.get(4)), "slo_job.expected_end"));
                r.day_units.push(got(row.get(5)).unwrap_or_default());
            }
        }
        rows.retain(|r| !r.job_ids.is_empty());
        (job_app, rows)
    });

    let mut slos = Vec::with_capacity(rows.len());
    let mut slos_of_job: HashMap<String, Vec<usize>> = HashMap::new();
    for row in rows {
        let def = slo_def(row);
        for job in &def.jobs {
            slos_of_job
                .entry(job.job_id.clone())
                .or_default()
                .push(slos.len());
        }
        slos.push(def);
    }
    Definitions {
        generation,
        job_app,
        slos,
        slos_of_job,
    }
}

fn required<T>(v: Option<T>, column: &str) -> T {
    v.unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("slo.{column} is NULL"),
        )
    })
}

fn got<T>(r: Result<T, SpiError>) -> T {
    r.unwrap_or_else(|e| spi_failed("reading the definitions", e))
}

/// Builds an SLO as the engine takes it; a definition the checks should have refused raises,
/// naming the SLO and the field.
fn slo_def(row: SloRow) -> SloDef<'static> {
    let id = row.slo_id.clone();
    let bad = |field: &str, msg: String| -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("slo {id:?}: {field} {msg}"),
        )
    };
    let time_zone =
        schedule::parse_time_zone(&row.time_zone).unwrap_or_else(|p| bad(p.field, p.message));
    let window = match (row.period, row.window_start, row.window_end) {
        (None, None, None) => None,
        (Some(p), Some(s), Some(e)) => {
            let p = period_in(p).unwrap_or_else(|m| bad("period", m));
            Some(
                Window::new(time_in(s), time_in(e), p)
                    .unwrap_or_else(|problem| bad(problem.field, problem.message)),
            )
        }
        _ => bad(
            "period",
            "must be set with window_start and window_end".into(),
        ),
    };
    let calendar = crate::calendar_cache::calendar(&row.calendar_id);
    let jobs = row
        .job_ids
        .into_iter()
        .zip(row.starts)
        .zip(row.ends)
        .zip(row.day_units)
        .map(|(((job_id, start), end), unit)| SloJobDef {
            expected_start: offset_in(start).unwrap_or_else(|m| bad("expected_start", m)),
            expected_end: offset_in(end).unwrap_or_else(|m| bad("expected_end", m)),
            day_unit: DayUnit::parse(&unit)
                .unwrap_or_else(|| bad("day_unit", format!("{unit:?} is not calendar or run"))),
            job_id,
        })
        .collect();
    SloDef {
        slo_id: row.slo_id,
        schedule: SloSchedule {
            time_zone,
            window,
            calendar: Cow::Owned((*calendar).clone()),
        },
        active: true,
        jobs,
    }
}
