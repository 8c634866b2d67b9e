//! The definitions as the engine needs them, cached per backend: which application each job
//! belongs to, and the active SLOs that depend on each job (with their schedules, calendars and
//! job offsets, as `slo_core::engine` takes them), each with the fingerprint its daily states
//! are tagged with.
//!
//! Validity: every change of a definition table (applications, jobs, SLOs and their jobs,
//! calendars, exceptions, holidays) moves `slo.definitions_generation` on, to a value never used
//! before (from a sequence, so even a rolled-back change leaves a value nobody else sees). The
//! engine reads the generation once per statement through SPI, after its locks, and keeps its
//! cache while that is the generation it was filled at, across statements and transactions: a
//! one-row insert pays one single-row query for its definitions, not a reload.
//!
//! May read the definition tables and `slo.definitions_generation` (through SQL); writes nothing.
use crate::calendar::raise;
use crate::conv::{offset_in, period_in, time_in};
use crate::spi::{Plan, Statement};
use pgrx::datum::{Interval, Time};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::prelude::*;
use slo_core::calendar::Calendar;
use slo_core::engine::{SloDef, SloJobDef};
use slo_core::schedule::{self, DayUnit, SloSchedule, Window};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// What identifies the statement a value was read in: the transaction, the top-level statement
/// and the command within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatementKey {
    xact_start: i64,
    stmt_start: i64,
    command_id: u32,
}

fn statement_key() -> StatementKey {
    // SAFETY: plain reads of backend-local state.
    unsafe {
        StatementKey {
            xact_start: pg_sys::GetCurrentTransactionStartTimestamp(),
            stmt_start: pg_sys::GetCurrentStatementStartTimestamp(),
            command_id: pg_sys::GetCurrentCommandId(false),
        }
    }
}

/// A generation of the definitions: the generation table's OID (new when the extension is
/// created again, which restarts the sequence) and the value it holds.
pub(crate) type Generation = (pg_sys::Oid, i64);

thread_local! {
    /// The statement the generation was last read in, and what it read.
    static SEEN: Cell<Option<(StatementKey, Generation)>> = const { Cell::new(None) };
    static GENERATION_NOW: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static GENERATION_FRESH: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static JOBS: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static SLOS: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static JOBS_FRESH: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static SLOS_FRESH: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static SLOS_0_1: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
    static SLOS_0_1_FRESH: Cell<Option<pgrx::pg_sys::SPIPlanPtr>> = const { Cell::new(None) };
}

const GENERATION_SQL: &str = "SELECT tableoid, generation FROM slo.definitions_generation";
const JOBS_SQL: &str = "SELECT job_id, app_id FROM slo.job";
/// The active SLOs with their jobs (sorted by id, byte-wise), and `$version`: the version of
/// their definitions, with `$from` joining what it needs.
macro_rules! slos_sql {
    ($version:literal, $from:literal, $group:literal) => {
        concat!(
            "SELECT s.slo_id, s.calendar_id, s.time_zone, s.period, s.window_start, s.window_end,
       array_agg(j.job_id ORDER BY j.job_id COLLATE \"C\"),
       array_agg(j.expected_start ORDER BY j.job_id COLLATE \"C\"),
       array_agg(j.expected_end ORDER BY j.job_id COLLATE \"C\"),
       array_agg(j.day_unit ORDER BY j.job_id COLLATE \"C\"), ",
            $version,
            "
FROM slo.slo s JOIN slo.slo_job j ON j.slo_id = s.slo_id ",
            $from,
            "
WHERE s.active
GROUP BY s.slo_id",
            $group
        )
    };
}
const SLOS_SQL: &str = slos_sql!(
    "coalesce(v.version, 0)",
    "LEFT JOIN slo.slo_definition_version v ON v.slo_id = s.slo_id",
    ", v.version"
);
/// The same in a database of release 0.1.0 until `ALTER EXTENSION pg_slo UPDATE` (no versions;
/// the engine keeps no daily states there).
const SLOS_SQL_0_1: &str = slos_sql!("0::bigint", "", "");

/// The OID of table `slo.<name>`, when it exists (a catalog cache lookup; tables of later
/// releases are missing from a database of release 0.1.0 until `ALTER EXTENSION pg_slo UPDATE`).
pub(crate) fn table_oid(name: &std::ffi::CStr) -> Option<pg_sys::Oid> {
    // SAFETY: catalog cache lookups by name; no row of any table is read.
    unsafe {
        let namespace = pg_sys::get_namespace_oid(c"slo".as_ptr(), true);
        if namespace == pg_sys::InvalidOid {
            return None;
        }
        let rel = pg_sys::get_relname_relid(name.as_ptr(), namespace);
        (rel != pg_sys::InvalidOid).then_some(rel)
    }
}

fn statement(sql: &'static str, fresh: bool, doing: &'static str) -> Statement {
    Statement {
        sql,
        args: &[],
        fresh,
        doing,
    }
}

/// The generation as a statement run fresh (`fresh`) or under the calling statement's snapshot
/// sees it.
fn read_generation(fresh: bool) -> Generation {
    let plan: &'static Plan = if fresh {
        &GENERATION_FRESH
    } else {
        &GENERATION_NOW
    };
    let (oid, generation) = Spi::connect_mut(|_client| {
        statement(GENERATION_SQL, fresh, "reading slo.definitions_generation").run(
            plan,
            &[],
            |rows| {
                if rows.is_empty() {
                    return Ok((None, None));
                }
                let row = &rows[0];
                Ok((row.get::<pg_sys::Oid>(1)?, row.get::<i64>(2)?))
            },
        )
    });
    match (oid, generation) {
        (Some(oid), Some(generation)) => (oid, generation),
        _ => raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            "slo.definitions_generation has no row".into(),
        ),
    }
}

/// The generation of the definitions the current statement sees (read once per statement).
pub(crate) fn generation() -> Generation {
    let key = statement_key();
    if let Some((seen_in, generation)) = SEEN.get() {
        if seen_in == key {
            return generation;
        }
    }
    let generation = read_generation(false);
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
    /// The tag of each SLO's daily states (`slo_core::day_state::tag`: its definition's
    /// fingerprint and version), by the SLO's index in `slos`.
    pub tags: Vec<u64>,
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
    at(generation(), false)
}

/// The definitions last loaded, unchecked (the latest when none were). The engine finds the SLO
/// days to lock in them, then checks them with [`latest`] once it holds the locks.
pub(crate) fn cached() -> Rc<Definitions> {
    CACHE.with(|c| c.borrow().clone()).unwrap_or_else(latest)
}

/// The definitions as committed now (READ COMMITTED: read by statements run fresh). The engine
/// reads them once it holds its locks, and again after waiting for more, as a definition change
/// may have committed meanwhile.
pub(crate) fn latest() -> Rc<Definitions> {
    at(read_generation(true), true)
}

/// The definitions of `generation`: the cached ones, or loaded now (fresh, or under the calling
/// statement's snapshot, as `generation` was read).
fn at(generation: Generation, fresh: bool) -> Rc<Definitions> {
    if let Some(defs) = CACHE.with(|c| c.borrow().clone()) {
        if defs.generation == generation {
            return defs;
        }
    }
    let defs = Rc::new(load(generation, fresh));
    CACHE.with(|c| *c.borrow_mut() = Some(defs.clone()));
    defs
}

/// One SLO row as loaded, before its calendar is attached.
struct SloRow {
    slo_id: String,
    calendar_id: String,
    time_zone: String,
    period: Option<Interval>,
    window_start: Option<Time>,
    window_end: Option<Time>,
    job_ids: Vec<String>,
    starts: Vec<Option<Interval>>,
    ends: Vec<Option<Interval>>,
    day_units: Vec<Option<String>>,
    /// `slo.slo_definition_version.version` (0 when it has none).
    version: i64,
}

/// Loads the definitions through SQL (a backend loads them once per generation).
fn load(generation: Generation, fresh: bool) -> Definitions {
    let versioned = table_oid(c"slo_definition_version").is_some();
    let (jobs_plan, slos_plan, slos_sql): (&'static Plan, &'static Plan, &'static str) =
        match (fresh, versioned) {
            (true, true) => (&JOBS_FRESH, &SLOS_FRESH, SLOS_SQL),
            (false, true) => (&JOBS, &SLOS, SLOS_SQL),
            (true, false) => (&JOBS_FRESH, &SLOS_0_1_FRESH, SLOS_SQL_0_1),
            (false, false) => (&JOBS, &SLOS_0_1, SLOS_SQL_0_1),
        };
    let (job_app, mut rows) = Spi::connect_mut(|_client| {
        let job_app = statement(JOBS_SQL, fresh, "loading slo.job").run(jobs_plan, &[], |rows| {
            let mut job_app = HashMap::with_capacity(rows.len());
            for row in &rows {
                if let (Some(job), Some(app)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                    job_app.insert(job, app);
                }
            }
            Ok(job_app)
        });
        let rows = statement(slos_sql, fresh, "loading slo.slo and slo.slo_job").run(
            slos_plan,
            &[],
            |found| {
                let mut rows = Vec::with_capacity(found.len());
                for row in &found {
                    rows.push(SloRow {
                        slo_id: row.get::<String>(1)?.unwrap_or_default(),
                        calendar_id: row.get::<String>(2)?.unwrap_or_default(),
                        time_zone: row.get::<String>(3)?.unwrap_or_default(),
                        period: row.get::<Interval>(4)?,
                        window_start: row.get::<Time>(5)?,
                        window_end: row.get::<Time>(6)?,
                        job_ids: row.get::<Vec<String>>(7)?.unwrap_or_default(),
                        starts: row.get::<Vec<Option<Interval>>>(8)?.unwrap_or_default(),
                        ends: row.get::<Vec<Option<Interval>>>(9)?.unwrap_or_default(),
                        day_units: row.get::<Vec<Option<String>>>(10)?.unwrap_or_default(),
                        version: row.get::<i64>(11)?.unwrap_or(0),
                    });
                }
                Ok(rows)
            },
        );
        (job_app, rows)
    });
    // In key order, byte-wise: an SLO's index then orders its rows as slo.slo_performance's key
    // does, which is the order the engine writes rows in.
    rows.sort_by(|a, b| a.slo_id.cmp(&b.slo_id));

    let mut calendars: HashMap<String, (Rc<Calendar>, u64)> = HashMap::new();
    let mut slos = Vec::with_capacity(rows.len());
    let mut tags = Vec::with_capacity(rows.len());
    let mut slos_of_job: HashMap<String, Vec<usize>> = HashMap::new();
    for row in rows {
        let (calendar, calendar_fingerprint) = calendars
            .entry(row.calendar_id.clone())
            .or_insert_with(|| {
                let c = crate::calendar_cache::load(&row.calendar_id, fresh);
                let f = c.fingerprint();
                (Rc::new(c), f)
            })
            .clone();
        let version = row.version;
        let def = slo_def(row, &calendar);
        for job in &def.jobs {
            slos_of_job
                .entry(job.job_id.clone())
                .or_default()
                .push(slos.len());
        }
        tags.push(slo_core::day_state::tag(
            def.fingerprint(calendar_fingerprint),
            version,
        ));
        slos.push(def);
    }
    Definitions {
        generation,
        job_app,
        slos,
        tags,
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
fn slo_def(row: SloRow, calendar: &Calendar) -> SloDef<'static> {
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
    let mut jobs: Vec<SloJobDef> = row
        .job_ids
        .into_iter()
        .zip(row.starts)
        .zip(row.ends)
        .zip(row.day_units)
        .map(|(((job_id, start), end), unit)| {
            let unit = unit.unwrap_or_default();
            SloJobDef {
                expected_start: offset_in(required(start, "slo_job.expected_start"))
                    .unwrap_or_else(|m| bad("expected_start", m)),
                expected_end: offset_in(required(end, "slo_job.expected_end"))
                    .unwrap_or_else(|m| bad("expected_end", m)),
                day_unit: DayUnit::parse(&unit)
                    .unwrap_or_else(|| bad("day_unit", format!("{unit:?} is not calendar or run"))),
                job_id,
            }
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
            calendar: Cow::Owned(calendar.clone()),
        },
        active: true,
        jobs,
    }
}
