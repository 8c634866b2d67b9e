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
use crate::direct_read::{scan_all, text, ReadSnapshot};
use pgrx::datum::{Interval, Time};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::spi::SpiError;
use pgrx::FromDatum;
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
    /// The active SLOs that have jobs, sorted by id (each SLO's jobs sorted by id).
    pub slos: Vec<SloDef<'static>>,
    /// For each job, the indexes in `slos` of the active SLOs that depend on it.
    pub slos_of_job: HashMap<String, Vec<usize>>,
}

impl Definitions {
    /// The index in `slos` of the active SLO `slo_id` (they are sorted by id).
    pub(crate) fn slo_index(&self, slo_id: &str) -> Option<usize> {
        self.slos
            .binary_search_by(|s| s.slo_id.as_str().cmp(slo_id))
            .ok()
    }
}

thread_local! {
    static CACHE: RefCell<Option<Rc<Definitions>>> = const { RefCell::new(None) };
}

/// The definitions as the current statement's snapshot sees them.
pub(crate) fn current() -> Rc<Definitions> {
    let generation = generation();
    let snapshot = ReadSnapshot::active();
    let defs = at(generation, &snapshot);
    snapshot.release();
    defs
}

/// The definitions last loaded, unchecked (the latest when none were). The engine finds the SLO
/// days to lock in them, then checks them with [`latest`] once it holds the locks.
pub(crate) fn cached() -> Rc<Definitions> {
    CACHE.with(|c| c.borrow().clone()).unwrap_or_else(latest)
}

/// The definitions as a new snapshot sees them (READ COMMITTED: what is committed now). The
/// engine reads them once it holds its locks, and again after waiting for more, as a definition
/// change may have committed meanwhile.
pub(crate) fn latest() -> Rc<Definitions> {
    let snapshot = ReadSnapshot::fresh();
    let generation = crate::direct_read::definitions_generation();
    let defs = at(generation, &snapshot);
    snapshot.release();
    defs
}

/// The definitions of `generation`: the cached ones, or loaded now under `snapshot` (the one
/// `generation` was read with).
fn at(generation: Generation, snapshot: &ReadSnapshot) -> Rc<Definitions> {
    if let Some(defs) = CACHE.with(|c| c.borrow().clone()) {
        if defs.generation == generation {
            return defs;
        }
    }
    let defs = Rc::new(load(generation, snapshot));
    CACHE.with(|c| *c.borrow_mut() = Some(defs.clone()));
    defs
}

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

fn load(generation: Generation, snapshot: &ReadSnapshot) -> Definitions {
    // Read straight from the tables (a backend loads them once per generation; through SQL this
    // cost as much as thousands of inserts).
    let mut job_app = HashMap::new();
    scan_all("job", &["job_id", "app_id"], snapshot, |c| {
        job_app.insert(text(c[0]), text(c[1]));
    });
    let mut rows: Vec<SloRow> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    const SLO_COLUMNS: &[&str] = &[
        "slo_id",
        "calendar_id",
        "time_zone",
        "period",
        "window_start",
        "window_end",
        "active",
    ];
    scan_all("slo", SLO_COLUMNS, snapshot, |c| {
        // SAFETY (each from_datum): the datums of these columns' types, from the scan.
        let active = unsafe { bool::from_datum(c[6].0, c[6].1) }.unwrap_or(false);
        if !active {
            return;
        }
        let slo_id = text(c[0]);
        index.insert(slo_id.clone(), rows.len());
        rows.push(SloRow {
            slo_id,
            calendar_id: text(c[1]),
            time_zone: text(c[2]),
            period: unsafe { Interval::from_datum(c[3].0, c[3].1) },
            window_start: unsafe { Time::from_datum(c[4].0, c[4].1) },
            window_end: unsafe { Time::from_datum(c[5].0, c[5].1) },
            ..SloRow::default()
        });
    });
    const SLO_JOB_COLUMNS: &[&str] = &[
        "slo_id",
        "job_id",
        "expected_start",
        "expected_end",
        "day_unit",
    ];
    scan_all("slo_job", SLO_JOB_COLUMNS, snapshot, |c| {
        if let Some(&i) = index.get(&text(c[0])) {
            let r = &mut rows[i];
            r.job_ids.push(text(c[1]));
            // SAFETY: interval columns' datums, from the scan.
            r.starts.push(required(
                unsafe { Interval::from_datum(c[2].0, c[2].1) },
                "slo_job.expected_start",
            ));
            r.ends.push(required(
                unsafe { Interval::from_datum(c[3].0, c[3].1) },
                "slo_job.expected_end",
            ));
            r.day_units.push(text(c[4]));
        }
    });
    rows.retain(|r| !r.job_ids.is_empty());
    // In key order: an SLO's index then orders its rows as slo.slo_performance's key does
    // (byte-wise), which is the order the engine writes rows in.
    rows.sort_by(|a, b| a.slo_id.cmp(&b.slo_id));

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
    let mut jobs: Vec<SloJobDef> = row
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
    // Sorted by id: a job's index is then its position in the state the engine keeps of a daily
    // SLO day (slo_core::day_state).
    jobs.sort_by(|a, b| a.job_id.cmp(&b.job_id));
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
