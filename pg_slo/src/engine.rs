//! The engine's Rust half (CONTRACT sections 3 and 4): the statement trigger on
//! `slo.job_status`, and `slo.refresh_slo_days`, which `slo.recompute` uses.
//!
//! Daily SLOs (most of them): each SLO day's row keeps the day's state beside it
//! (`slo_core::day_state`: per job, the earliest start, the earliest success, the failed runs).
//! A statement computes the state of its own new events for each SLO day it touches and writes
//! it with one `INSERT ... ON CONFLICT DO UPDATE` over all those days (`perf_rows.rs`), which
//! joins it into the stored state inside PostgreSQL: the state is a semilattice (minimums and set
//! unions), so any order, batching or repetition of events gives the same state, and the row
//! derived from it is the reference row. Writers of the same SLO day meet on PostgreSQL's row
//! lock; writers of different days never wait for each other. A stored row without a state (made
//! by `slo.evaluate`, or by an older release) or with a state made under other definitions of its
//! SLO is rebuilt from the day's events once.
//!
//! A daily state is tagged with its SLO's fingerprint (`SloDef::fingerprint`: time zone,
//! window, jobs and offsets, calendar), so registering a job that no SLO uses, or changing another
//! SLO, invalidates no state. [`day_rebuilds`] counts the days rebuilt from their events.
//!
//! Intraday SLOs: a `succeed` or `fail` without its period goes to the period of its run's
//! earliest start, which a later event can move; so each statement recomputes every intraday SLO
//! day it touches from all of that day's events (`slo_core::engine`), read after its locks by a
//! statement run fresh (READ COMMITTED: every event committed before it is seen).
//!
//! Locks: transaction advisory locks on 128 buckets of (slo_id, business_date), taken in bucket
//! order before any row is written (no deadlock; at most 128 locks however large the COPY):
//! shared for a daily day whose state is merged, exclusive for a day recomputed from its events
//! (intraday). So recomputes of a day never overlap each other or merges, while merges of
//! different days, or of the same day, go on side by side. Deleting or renaming an SLO and
//! `slo.recompute` take every bucket exclusively, so no row is written for an SLO that is going
//! (and the foreign key to `slo.slo` refuses one all the same: under REPEATABLE READ, a writer
//! whose snapshot predates the deletion fails with a serialization failure). Before `ALTER
//! EXTENSION pg_slo UPDATE` from 0.1.0 the table keeps no states: every SLO day is then
//! recomputed, under exclusive locks, as 0.1.0 did.
//!
//! Cost: the trigger reads its transition table directly (a read of its own input, no query),
//! finds the SLOs of each job in a per-backend cache of the definitions (`definitions.rs`, checked
//! with one single-row query per statement), and writes all its rows with one statement.
//!
//! Integrity: every event's job exists and belongs to its application. The trigger checks each
//! statement's (job, application) pairs against the definitions as committed after the insert's
//! lock was granted, and `slo.register_jobs` registers or refuses the pairs it does not know; a
//! job that has events cannot be deleted or changed (`slo.job_keep_events`, which waits for the
//! inserts in flight). This replaces a foreign key, whose per-row check cost as much as this
//! whole trigger.
//!
//! May read `slo.job_status` and the definitions; writes `slo.slo_performance` (through
//! `perf_rows.rs`), and `slo.job` through `slo.register_jobs`.

use crate::alerts;
use crate::calendar::raise;
use crate::conv::{date_in, tstz_in};
use crate::definitions::{self, Definitions};
use crate::perf_rows::{self, NewRow, Written};
use crate::spi::spi_failed;
use chrono::{Datelike, NaiveDate};
use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::prelude::*;
use slo_core::day_state::DailyState;
use slo_core::engine::{performance, EngineEvent, PerformanceRow, SloDef};
use slo_core::Status;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

/// The first key of the bucket locks (the second is the bucket).
const LOCK_CLASS: i32 = 2_026_112_401;
/// How many buckets SLO days are locked in.
const LOCK_BUCKETS: u64 = 128;
/// How many SLO days one pass (one read of their events, one write) covers, at most.
const DAYS_PER_PASS: usize = 2_000;

/// One new event, as the engine needs it.
struct NewEvent {
    job_id: String,
    /// Its application: an index into [`NewRows::apps`].
    app: usize,
    business_date: NaiveDate,
    status: Status,
    /// Microseconds since 1970-01-01 UTC.
    at: i64,
    /// The run id of a `fail` (the state counts failed runs); empty for the other statuses.
    run_id: String,
}

/// The statement's new rows, reduced to what the trigger needs.
#[derive(Default)]
struct NewRows {
    events: Vec<NewEvent>,
    /// The distinct applications of the events (a statement names a few).
    apps: Vec<String>,
}

/// The columns of `slo.job_status` the trigger reads, in this order.
const NEW_ROW_COLUMNS: [&str; 6] = [
    "job_id",
    "app_id",
    "business_date",
    "status",
    "status_time",
    "run_id",
];

/// Column positions, with the table's OID and column count they were found for.
type Positions = Option<((pg_sys::Oid, i32), Rc<[usize]>)>;

thread_local! {
    /// The positions of [`NEW_ROW_COLUMNS`] in `slo.job_status`.
    static NEW_ROW_POSITIONS: std::cell::RefCell<Positions> =
        const { std::cell::RefCell::new(None) };
}

/// Positions (0-based) of [`NEW_ROW_COLUMNS`] in `slo.job_status`, looked up once per table.
///
/// # Safety
/// `rel` must be an open relation (the trigger's).
unsafe fn new_row_columns(rel: pg_sys::Relation) -> Rc<[usize]> {
    let key = ((*rel).rd_id, (*(*rel).rd_att).natts);
    if let Some(cols) = NEW_ROW_POSITIONS.with(|p| {
        p.borrow()
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, c)| c.clone())
    }) {
        return cols;
    }
    let desc = pgrx::PgTupleDesc::from_pg_unchecked((*rel).rd_att);
    let cols: Rc<[usize]> = NEW_ROW_COLUMNS
        .iter()
        .map(|name| {
            desc.iter()
                .position(|a| !a.attisdropped && a.name() == *name)
                .unwrap_or_else(|| {
                    raise(
                        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                        format!("slo.job_status has no column {name}"),
                    )
                })
        })
        .collect();
    NEW_ROW_POSITIONS.with(|p| *p.borrow_mut() = Some((key, cols.clone())));
    cols
}

/// Reads the trigger's transition table (the statement's new rows) without a query.
///
/// # Safety
/// `td` must be the TriggerData of an AFTER ... FOR EACH STATEMENT trigger on `slo.job_status`.
unsafe fn read_new_rows(td: &pg_sys::TriggerData) -> NewRows {
    let store = td.tg_newtable;
    if store.is_null() {
        raise(
            PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
            "slo.job_status_after_insert must be created with REFERENCING NEW TABLE".into(),
        );
    }
    let cols = new_row_columns(td.tg_relation);
    let last = cols.iter().max().map_or(0, |&c| c + 1);
    let tupdesc = (*td.tg_relation).rd_att;

    let mut rows = NewRows::default();
    let slot = pg_sys::MakeSingleTupleTableSlot(tupdesc, &pg_sys::TTSOpsMinimalTuple);
    // A read pointer of our own, as the executor's scans of transition tables take.
    let reader = pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32);
    pg_sys::tuplestore_select_read_pointer(store, reader);
    pg_sys::tuplestore_rescan(store);
    while pg_sys::tuplestore_gettupleslot(store, true, false, slot) {
        pg_sys::slot_getsomeattrs_int(slot, last as i32);
        let values = (*slot).tts_values;
        let nulls = (*slot).tts_isnull;
        let datum = |i: usize| (*values.add(cols[i]), *nulls.add(cols[i]));
        // Borrowed from the tuple where only compared; owned where kept.
        let str_at = |i: usize| <&str>::from_datum(datum(i).0, datum(i).1).unwrap_or_default();
        let job_id = str_at(0).to_owned();
        let app_id = str_at(1);
        let business_date = Date::from_datum(datum(2).0, datum(2).1)
            .map(date_in)
            .unwrap_or(NaiveDate::MIN);
        let status_text = str_at(3);
        let status = Status::parse(status_text).unwrap_or_else(|| {
            raise(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!("slo.job_status got an unknown status {status_text:?}"),
            )
        });
        let at = TimestampWithTimeZone::from_datum(datum(4).0, datum(4).1)
            .map(tstz_in)
            .unwrap_or_default()
            .timestamp_micros();
        let run_id = if status == Status::Fail {
            str_at(5).to_owned()
        } else {
            String::new()
        };
        let app = match rows.apps.iter().position(|a| a == app_id) {
            Some(i) => i,
            None => {
                rows.apps.push(app_id.to_owned());
                rows.apps.len() - 1
            }
        };
        rows.events.push(NewEvent {
            job_id,
            app,
            business_date,
            status,
            at,
            run_id,
        });
    }
    pg_sys::tuplestore_select_read_pointer(store, 0);
    pg_sys::ExecDropSingleTupleTableSlot(slot);
    rows
}

/// The statement trigger of `slo.job_status` (AFTER INSERT, FOR EACH STATEMENT, REFERENCING NEW
/// TABLE): registers first-seen jobs, refuses a job named under another application, and
/// brings up to date the SLO days its new events touch.
#[pg_trigger]
fn job_status_after_insert<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    // SAFETY: pgrx hands us the TriggerData of the firing trigger; the SQL creates it as an
    // AFTER INSERT statement trigger with a NEW TABLE.
    let rows = unsafe { read_new_rows(trigger.trigger_data()) };
    if rows.events.is_empty() {
        return Ok(None);
    }
    // The SLO days touched: active SLOs of each event's job, on run dates of their calendars,
    // with the new events of each; found in the definitions as committed once the locks are
    // held.
    let mut run = Run::start(|defs| {
        let mut pairs: Vec<(usize, NaiveDate, u32)> = Vec::with_capacity(rows.events.len());
        for (k, e) in rows.events.iter().enumerate() {
            for &i in defs.slos_of_job.get(&e.job_id).into_iter().flatten() {
                if defs.slos[i].schedule.calendar.is_run_date(e.business_date) {
                    pairs.push((i, e.business_date, k as u32));
                }
            }
        }
        pairs.sort_unstable();
        let mut days: Vec<Day> = Vec::new();
        for (slo, date, k) in pairs {
            match days.last_mut() {
                Some(day) if day.slo == slo && day.date == date => day.new.push(k),
                _ => days.push(Day {
                    slo,
                    date,
                    new: vec![k],
                }),
            }
        }
        days
    });

    // Jobs the definitions do not know under the sent application: register or refuse them (an
    // unknown application, a job of another application). The definitions are as committed
    // after this insert's lock on slo.job_status was granted: a change of a job waits for that
    // lock (slo.job_keep_events), so none can slip between this check and the commit.
    let unknown: BTreeSet<(&str, &str)> = rows
        .events
        .iter()
        .filter(|e| run.defs.job_app.get(&e.job_id) != Some(&rows.apps[e.app]))
        .map(|e| (e.job_id.as_str(), rows.apps[e.app].as_str()))
        .collect();
    if !unknown.is_empty() {
        let jobs: Vec<&str> = unknown.iter().map(|&(j, _)| j).collect();
        let apps: Vec<&str> = unknown.iter().map(|&(_, a)| a).collect();
        Spi::connect_mut(|client| {
            client
                .update(
                    "SELECT slo.register_jobs($1, $2)",
                    None,
                    &[jobs.into(), apps.into()],
                )
                .map(|_| ())
        })
        .unwrap_or_else(|e| spi_failed("registering jobs", e));
        // So the next statement finds the jobs in the cache.
        run.refresh_definitions();
    }
    run.finish(Mode::Merge, &rows.events);
    Ok(None)
}

/// Rebuilds the performance rows of the given (slo_id, business_date) pairs from all their
/// events; returns the rows written. Pairs of unknown or inactive SLOs, and dates that are not
/// run dates of the SLO's calendar, are skipped.
#[pg_extern(volatile, parallel_unsafe)]
fn refresh_slo_days(slo_ids: Vec<String>, business_dates: Vec<Date>) -> i32 {
    if slo_ids.len() != business_dates.len() {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "slo_ids and business_dates must have the same length".into(),
        );
    }
    let keys: Vec<(String, NaiveDate)> = slo_ids
        .into_iter()
        .zip(business_dates.into_iter().map(date_in))
        .collect();
    let run = Run::start(|defs| {
        let days: BTreeSet<(usize, NaiveDate)> = keys
            .iter()
            .filter_map(|(id, date)| {
                let i = defs.slo_index(id)?;
                defs.slos[i]
                    .schedule
                    .calendar
                    .is_run_date(*date)
                    .then_some((i, *date))
            })
            .collect();
        days.into_iter()
            .map(|(slo, date)| Day {
                slo,
                date,
                new: Vec::new(),
            })
            .collect()
    });
    let written = run.finish(Mode::Rebuild, &[]);
    i32::try_from(written).unwrap_or(i32::MAX)
}

/// How a daily SLO day is brought up to date.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Merge the statement's new events into the stored state.
    Merge,
    /// Rebuild the state from all the day's events.
    Rebuild,
}

/// An SLO day to bring up to date: the SLO's index in the definitions, the business date, and
/// the indexes of its new events.
struct Day {
    slo: usize,
    date: NaiveDate,
    new: Vec<u32>,
}

thread_local! {
    /// SLO days this backend rebuilt from their events (see [`day_rebuilds`]).
    static DAY_REBUILDS: Cell<i64> = const { Cell::new(0) };
}

/// How many daily SLO days this backend has rebuilt from all their events (rather than merged
/// new events into their stored state) since it started: for tests and diagnostics.
#[pg_extern(volatile, parallel_restricted)]
fn day_rebuilds() -> i64 {
    DAY_REBUILDS.get()
}

/// True when `slo.slo_performance` keeps the engine's states (`engine_state`; false on a table
/// of release 0.1.0 until `ALTER EXTENSION pg_slo UPDATE`).
fn table_keeps_state() -> bool {
    definitions::table_oid(c"slo_performance").is_some_and(|rel| {
        // SAFETY: a catalog cache lookup by name; no row of any table is read.
        let attnum = unsafe { pg_sys::get_attnum(rel, c"engine_state".as_ptr()) };
        attnum != pg_sys::InvalidAttrNumber as i16
    })
}

/// One statement's work on `slo.slo_performance`: its SLO days and the definitions as committed
/// once the locks were held.
struct Run {
    defs: Rc<Definitions>,
    work: Vec<Day>,
    /// The table keeps daily states (false before `ALTER EXTENSION pg_slo UPDATE` from 0.1.0: then
    /// every SLO day is recomputed from its events, under exclusive locks, as 0.1.0 did).
    stateful: bool,
}

impl Run {
    /// Finds the SLO days (`days`, from a version of the definitions) and takes their locks, with
    /// the definitions as committed once the locks are held.
    ///
    /// Locks: the bucket of every SLO day, in bucket order; shared for a daily day whose state
    /// is merged (such writers meet on the row itself), exclusive for a day recomputed from its
    /// events (intraday). So recomputes of one day never overlap, nor overlap merges; deleting
    /// an SLO and `slo.recompute` take every bucket exclusively.
    ///
    /// The days are first found in the definitions this backend has cached; when the
    /// definitions committed by the time the locks are held are another generation (they
    /// changed, or this backend's cache is old), the days are found again in those, and when
    /// they need other locks, the locks taken are given back and taken again in order.
    fn start(days: impl Fn(&Definitions) -> Vec<Day>) -> Run {
        let stateful = table_keeps_state();
        let mut defs = definitions::cached();
        let mut work = days(&defs);
        let mut held = lock_days(&defs, &work, stateful);
        loop {
            let latest = definitions::latest();
            if latest.generation == defs.generation {
                break;
            }
            let again = days(&latest);
            let needed = buckets(&latest, &again, stateful);
            let covered = needed
                .iter()
                .all(|(b, &exclusive)| held.get(b).is_some_and(|&h| h || !exclusive));
            (defs, work) = (latest, again);
            if !covered {
                unlock_buckets(&held);
                held = lock_days(&defs, &work, stateful);
            }
        }
        Run {
            defs,
            work,
            stateful,
        }
    }

    /// Takes the definitions as committed now (after the locks: a definition change may have
    /// committed while this waited), for the SLO days whose SLO is still there, active, of the
    /// same kind, with the date a run date (days of SLOs defined meanwhile wait for
    /// `slo.recompute`, as any definition change does).
    fn refresh_definitions(&mut self) {
        let latest = definitions::latest();
        if latest.generation == self.defs.generation {
            return;
        }
        let stateful = self.stateful;
        let old = &self.defs;
        self.work = std::mem::take(&mut self.work)
            .into_iter()
            .filter_map(|day| {
                let before = &old.slos[day.slo];
                let j = latest.slo_index(&before.slo_id)?;
                let now = &latest.slos[j];
                (now.schedule.calendar.is_run_date(day.date)
                    && recomputed(now, stateful) == recomputed(before, stateful))
                .then_some(Day { slo: j, ..day })
            })
            .collect();
        self.defs = latest;
    }

    /// Brings every SLO day up to date, then raises the alerts the changes call for. Returns
    /// rows written.
    fn finish(mut self, mode: Mode, events: &[NewEvent]) -> i64 {
        let defs = self.defs.clone();
        // SLOs are sorted by id in the definitions: their indexes order them as their ids do,
        // so rows are written in key order.
        self.work.sort_unstable_by_key(|day| (day.slo, day.date));
        let mut check: Vec<PerformanceRow> = Vec::new();
        let mut written = 0i64;
        let now = alerts::transaction_now();
        for pass in self.work.chunks(DAYS_PER_PASS) {
            let (merged, rebuilt): (Vec<&Day>, Vec<&Day>) = pass
                .iter()
                .filter(|day| !recomputed(&defs.slos[day.slo], self.stateful))
                .partition(|_| mode == Mode::Merge);
            let recomputed_days: Vec<&Day> = pass
                .iter()
                .filter(|day| recomputed(&defs.slos[day.slo], self.stateful))
                .collect();

            // Daily days: the statement's own states, joined into the stored ones.
            let mut to_rebuild: Vec<&Day> = rebuilt;
            if !merged.is_empty() {
                let (own, rows): (Vec<(&Day, DailyState)>, Vec<NewRow>) = merged
                    .iter()
                    .filter_map(|day| own_state(&defs, day, events).map(|(r, s)| ((*day, s), r)))
                    .unzip();
                // Rows are in key order: the statement's own state of a key, by binary search.
                let own_of = |slo_id: &str, date: NaiveDate| {
                    rows.binary_search_by(|r| {
                        (r.row.slo_id.as_str(), r.row.business_date).cmp(&(slo_id, date))
                    })
                    .ok()
                    .map(|k| &own[k])
                };
                for (w, candidate) in perf_rows::merge_daily(&rows, alerts::window_start(now)) {
                    let Some((day, state)) = own_of(&w.row.slo_id, w.row.business_date) else {
                        continue;
                    };
                    // A stored state the statement's does not join was written unchanged, to be
                    // rebuilt from the day's events.
                    let joins = w
                        .state
                        .as_deref()
                        .and_then(DailyState::decode_any)
                        .is_some_and(|s| s.join(state).is_some());
                    if !joins {
                        to_rebuild.push(day);
                    } else if candidate && merge_may_alert(state, &w) {
                        check.push(w.row);
                    }
                }
            }

            // Daily days rebuilt from their events, and intraday days recomputed: one read of
            // their events.
            DAY_REBUILDS.set(DAY_REBUILDS.get() + to_rebuild.len() as i64);
            let from_events: Vec<&Day> =
                to_rebuild.iter().chain(&recomputed_days).copied().collect();
            let stored = day_events(&defs, &from_events);
            let mut rows: Vec<NewRow> = Vec::new();
            for day in from_events {
                let slo = &defs.slos[day.slo];
                let evs = stored
                    .get(&(day.slo, day.date))
                    .map_or(&[][..], Vec::as_slice);
                if recomputed(slo, self.stateful) {
                    rows.extend(
                        performance(std::slice::from_ref(slo), evs)
                            .into_iter()
                            .map(|row| NewRow { row, state: None }),
                    );
                    continue;
                }
                let mut state = DailyState::from_events(slo, day.date, evs);
                state.set_tag(defs.tags[day.slo]);
                if let Some(row) = state.row(slo, day.date) {
                    rows.push(NewRow {
                        row,
                        state: Some(state.encode()),
                    });
                }
            }
            // In key order (String orders byte-wise).
            rows.sort_unstable_by(|a, b| {
                (&a.row.slo_id, a.row.business_date, a.row.period_start).cmp(&(
                    &b.row.slo_id,
                    b.row.business_date,
                    b.row.period_start,
                ))
            });
            let out = perf_rows::replace(&rows, self.stateful);
            written += out.len() as i64;
            check.extend(out.into_iter().map(|w| w.row));
        }

        // Instances that may just have got a late first start or completed: they may call for
        // alerts (raising is idempotent: asking about one more instance costs only time).
        let check: Vec<&PerformanceRow> = alerts::instances_to_check(check.iter(), now);
        alerts::raise_for(&check, now);
        written
    }
}

/// The row and state of a daily SLO day from the statement's own new events (`None` when they
/// make no row: expected times that cannot be computed).
fn own_state(defs: &Definitions, day: &Day, events: &[NewEvent]) -> Option<(NewRow, DailyState)> {
    let slo = &defs.slos[day.slo];
    let mut state = DailyState::empty(slo);
    state.set_tag(defs.tags[day.slo]);
    for &k in &day.new {
        let e = &events[k as usize];
        // The SLO's jobs are sorted by id (definitions.rs): a job's index is its state position.
        if let Ok(job) = slo
            .jobs
            .binary_search_by(|j| j.job_id.as_str().cmp(e.job_id.as_str()))
        {
            state.add(job, e.status, e.at, &e.run_id);
        }
    }
    let row = state.row(slo, day.date)?;
    Some((
        NewRow {
            row,
            state: Some(state.encode()),
        },
        state,
    ))
}

/// Whether a merged row may just have got its first start late or its completion from the
/// statement's own events (`own`): its earliest start is one of them, or a job's earliest
/// success is.
fn merge_may_alert(own: &DailyState, written: &Written) -> bool {
    let first_start = own.actuals().start.is_some()
        && written.row.actual_start.map(|t| t.timestamp_micros()) == own.actuals().start;
    let completed = written.row.actual_end.is_some()
        && written
            .state
            .as_deref()
            .and_then(DailyState::decode_any)
            .is_some_and(|merged| {
                merged
                    .jobs()
                    .iter()
                    .zip(own.jobs())
                    .any(|(m, o)| o.end.is_some() && m.end == o.end)
            });
    first_start || completed
}

/// True when the SLO's days are recomputed from all their events (intraday; or every SLO while
/// the table keeps no states), rather than merged.
fn recomputed(slo: &SloDef, stateful: bool) -> bool {
    slo.schedule.window.is_some() || !stateful
}

/// The stored events of the given SLO days, by SLO day, read by a statement run fresh (their
/// rows are locked, or their buckets' locks held exclusively, so every event whose effect is in
/// a stored row is seen, and this transaction's own).
fn day_events(defs: &Definitions, days: &[&Day]) -> HashMap<(usize, NaiveDate), Vec<EngineEvent>> {
    if days.is_empty() {
        return HashMap::new();
    }
    let keys: BTreeSet<(&str, NaiveDate)> = days
        .iter()
        .flat_map(|day| {
            defs.slos[day.slo]
                .jobs
                .iter()
                .map(move |j| (j.job_id.as_str(), day.date))
        })
        .collect();
    let keys: Vec<(&str, NaiveDate)> = keys.into_iter().collect();
    let stored = crate::events::events(&keys, true);
    let mut by_job_day: HashMap<(&str, NaiveDate), Vec<&EngineEvent>> = HashMap::new();
    for e in &stored {
        by_job_day
            .entry((e.job_id.as_str(), e.business_date))
            .or_default()
            .push(e);
    }
    let mut out = HashMap::new();
    for day in days {
        let evs: Vec<EngineEvent> = defs.slos[day.slo]
            .jobs
            .iter()
            .filter_map(|j| by_job_day.get(&(j.job_id.as_str(), day.date)))
            .flatten()
            .map(|e| (*e).clone())
            .collect();
        out.insert((day.slo, day.date), evs);
    }
    out
}

/// The lock bucket of an SLO day: FNV-1a over the SLO id and the date, the same in every backend.
fn bucket(slo_id: &str, date: NaiveDate) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let day = date.num_days_from_ce();
    for b in slo_id.bytes().chain(day.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % LOCK_BUCKETS) as i32
}

/// The buckets of the SLO days, each with whether it must be held exclusively.
fn buckets(defs: &Definitions, work: &[Day], stateful: bool) -> BTreeMap<i32, bool> {
    let mut buckets: BTreeMap<i32, bool> = BTreeMap::new();
    for day in work {
        let slo = &defs.slos[day.slo];
        *buckets.entry(bucket(&slo.slo_id, day.date)).or_default() |= recomputed(slo, stateful);
    }
    buckets
}

/// Takes the locks of the SLO days' buckets, in bucket order; returns them.
fn lock_days(defs: &Definitions, work: &[Day], stateful: bool) -> BTreeMap<i32, bool> {
    let held = buckets(defs, work, stateful);
    for (&b, &exclusive) in &held {
        advisory_lock(LOCK_CLASS, b, !exclusive);
    }
    held
}

/// Gives back the bucket locks taken by [`lock_days`] (nothing has been written under them).
fn unlock_buckets(held: &BTreeMap<i32, bool>) {
    for (&b, &exclusive) in held {
        let tag = advisory_tag(LOCK_CLASS, b);
        // SAFETY: releases one acquisition of a lock this transaction took (a lock also taken by
        // an earlier statement stays held).
        unsafe {
            pg_sys::LockRelease(&tag, lock_mode(!exclusive), false);
        }
    }
}

/// The tag of a transaction advisory lock on (class, key), as `pg_advisory_xact_lock(int4,
/// int4)` makes it.
fn advisory_tag(class: i32, key: i32) -> pg_sys::LOCKTAG {
    pg_sys::LOCKTAG {
        // SAFETY: a plain read of the backend's database OID.
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: class as u32,
        locktag_field3: key as u32,
        locktag_field4: 2,
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    }
}

fn lock_mode(shared: bool) -> pg_sys::LOCKMODE {
    (if shared {
        pg_sys::ShareLock
    } else {
        pg_sys::ExclusiveLock
    }) as pg_sys::LOCKMODE
}

/// Takes one transaction advisory lock, exclusive or shared (as `pg_advisory_xact_lock` and
/// `pg_advisory_xact_lock_shared` do).
fn advisory_lock(class: i32, key: i32, shared: bool) {
    let tag = advisory_tag(class, key);
    // SAFETY: LockAcquire of a transaction lock, as the SQL functions do; it waits, and raises
    // on a deadlock or when the lock table is full.
    unsafe {
        pg_sys::LockAcquire(&tag, lock_mode(shared), false, false);
    }
}

/// Takes the locks of the buckets given in increasing order, exclusively.
fn lock_buckets(buckets: impl IntoIterator<Item = i32>) {
    for b in buckets {
        advisory_lock(LOCK_CLASS, b, false);
    }
}

/// Takes the engine's locks of the given SLO days (the transaction advisory locks of their
/// buckets, exclusively, in bucket order), as a writer of `slo.slo_performance` that recomputes
/// SLO days from their events takes them.
#[pg_extern(volatile, parallel_unsafe)]
fn lock_slo_days(slo_ids: Vec<String>, business_dates: Vec<Date>) {
    if slo_ids.len() != business_dates.len() {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "slo_ids and business_dates must have the same length".into(),
        );
    }
    let buckets: BTreeSet<i32> = slo_ids
        .iter()
        .zip(business_dates)
        .map(|(id, d)| bucket(id, date_in(d)))
        .collect();
    lock_buckets(buckets);
}

/// Takes every lock of the engine (all buckets, exclusively, in order): for changes that concern
/// every SLO day at once (`slo.recompute`, deleting or renaming an SLO): every other writer of
/// `slo.slo_performance` waits until the transaction ends.
#[pg_extern(volatile, parallel_unsafe)]
fn lock_all_slo_days() {
    lock_buckets(0..LOCK_BUCKETS as i32);
}
