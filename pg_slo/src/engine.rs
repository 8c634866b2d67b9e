//! The engine's Rust half (CONTRACT sections 3 and 4): the statement trigger on
//! `slo.job_status`, and `slo.refresh_slo_days`, which the trigger and `slo.recompute` use.
//!
//! Each statement that adds events recomputes every SLO day those events touch, from all of that
//! day's events, with `slo_core::engine` (the rules are documented there). So the result is a
//! function of the set of stored events, whatever their order, repetition or batching.
//!
//! Cost: the trigger reads its transition table directly (no query), finds the SLOs of each job
//! in a per-backend cache of the definitions (`definitions.rs`), reads each touched day's events
//! straight through the event key's index (`event_index.rs`), and upserts the rows that changed
//! with one kept statement per batch (`kept_plan.rs`). A one-event `INSERT` therefore costs a
//! lock, an index lookup per job of the SLO and at most one row write beyond the event itself.
//!
//! Concurrency: writers of the same SLO day are serialised by transaction advisory locks on 128
//! buckets of (slo_id, business_date), taken in bucket order (no deadlock; at most 128 locks
//! however large the COPY). The events are read after the locks, with a new snapshot in READ
//! COMMITTED, so each recompute sees every event committed before it; under REPEATABLE READ the
//! upsert raises a serialization failure rather than lose an update.
//!
//! Integrity: every event's job exists and belongs to its application. The trigger checks each
//! statement's (job, application) pairs against the definitions as committed after the insert's
//! lock was granted, and `slo.register_jobs` registers or refuses the pairs it does not know; a
//! job that has events cannot be deleted or changed (`slo.job_keep_events`, which waits for the
//! inserts in flight). This replaces a foreign key, whose per-row check cost as much as this
//! whole trigger.
//!
//! May read `slo.job_status` and the definitions; writes `slo.slo_performance`, and `slo.job`
//! through `slo.register_jobs`.

use crate::alerts;
use crate::calendar::raise;
use crate::conv::{date_in, date_out, time_out, tstz_out};
use crate::definitions::{self, spi_failed, Definitions};
use crate::direct_read::{self, ReadSnapshot};
use crate::kept_plan::{self, KeptPlan};
use crate::perf_write::{self, Write};
use chrono::{Datelike, NaiveDate, NaiveTime};
use pgrx::datum::Date;
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::prelude::*;
use pgrx::{PgBuiltInOids, PgTupleDesc};
use slo_core::engine::{performance, EngineEvent, PerformanceRow};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The first key of the engine's advisory locks (the second is the bucket).
const LOCK_CLASS: i32 = 2_026_112_401;
/// How many buckets SLO days are locked in.
const LOCK_BUCKETS: u64 = 128;
/// How many SLO days one batch (one read of their events and rows, one write) covers, at most.
const DAYS_PER_BATCH: usize = 2_000;

/// The statement's new rows, reduced to what the trigger needs.
#[derive(Default)]
struct NewRows {
    /// Distinct (job_id, app_id) pairs.
    job_apps: BTreeSet<(String, String)>,
    /// Distinct (job_id, business_date) pairs.
    job_days: BTreeSet<(String, NaiveDate)>,
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
    let tupdesc = (*td.tg_relation).rd_att;
    let desc = PgTupleDesc::from_pg_unchecked(tupdesc);
    let attnum = |name: &str| -> usize {
        desc.iter()
            .position(|a| !a.attisdropped && a.name() == name)
            .unwrap_or_else(|| {
                raise(
                    PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                    format!("slo.job_status has no column {name}"),
                )
            })
    };
    let (job_at, app_at, date_at) = (attnum("job_id"), attnum("app_id"), attnum("business_date"));
    let last = job_at.max(app_at).max(date_at) + 1;

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
        let text = |i: usize| -> String {
            String::from_datum(*values.add(i), *nulls.add(i)).unwrap_or_default()
        };
        let job = text(job_at);
        let app = text(app_at);
        let date = Date::from_datum(*values.add(date_at), *nulls.add(date_at))
            .map(date_in)
            .unwrap_or(NaiveDate::MIN);
        if !rows.job_days.contains(&(job.clone(), date)) {
            rows.job_days.insert((job.clone(), date));
        }
        if !rows.job_apps.contains(&(job.clone(), app.clone())) {
            rows.job_apps.insert((job, app));
        }
    }
    pg_sys::tuplestore_select_read_pointer(store, 0);
    pg_sys::ExecDropSingleTupleTableSlot(slot);
    rows
}

/// The statement trigger of `slo.job_status` (AFTER INSERT, FOR EACH STATEMENT, REFERENCING NEW
/// TABLE): registers first-seen jobs, refuses a job named under another application, and
/// recomputes the SLO days its new events touch.
#[pg_trigger]
fn job_status_after_insert<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    // SAFETY: pgrx hands us the TriggerData of the firing trigger; the SQL creates it as an
    // AFTER INSERT statement trigger with a NEW TABLE.
    let rows = unsafe { read_new_rows(trigger.trigger_data()) };
    if rows.job_days.is_empty() {
        return Ok(None);
    }
    // The definitions as committed now, after this insert's lock on slo.job_status was granted:
    // a change of a job waits for that lock (slo.job_keep_events), so none can slip between
    // this check and the commit.
    let mut defs = definitions::latest();

    // Jobs the definitions do not know under the sent application: register or refuse them (an
    // unknown application, a job of another application), then take the definitions as they
    // are now, so the next statement finds the jobs in the cache.
    let unknown: Vec<&(String, String)> = rows
        .job_apps
        .iter()
        .filter(|(job, app)| defs.job_app.get(job) != Some(app))
        .collect();
    if !unknown.is_empty() {
        let jobs: Vec<&str> = unknown.iter().map(|(j, _)| j.as_str()).collect();
        let apps: Vec<&str> = unknown.iter().map(|(_, a)| a.as_str()).collect();
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
        defs = definitions::latest();
    }

    // The SLO days touched: active SLOs of each event's job, on run dates of their calendars.
    let mut days: BTreeSet<(usize, NaiveDate)> = BTreeSet::new();
    for (job, date) in &rows.job_days {
        for &i in defs.slos_of_job.get(job).into_iter().flatten() {
            if defs.slos[i].schedule.calendar.is_run_date(*date) {
                days.insert((i, *date));
            }
        }
    }
    refresh(&defs, &days);
    Ok(None)
}

/// Recomputes the performance rows of the given (slo_id, business_date) pairs from all their
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
    let defs = definitions::cached();
    let index: HashMap<&str, usize> = defs
        .slos
        .iter()
        .enumerate()
        .map(|(i, s)| (s.slo_id.as_str(), i))
        .collect();
    let mut days = BTreeSet::new();
    for (id, d) in slo_ids.iter().zip(business_dates) {
        if let Some(&i) = index.get(id.as_str()) {
            let date = date_in(d);
            if defs.slos[i].schedule.calendar.is_run_date(date) {
                days.insert((i, date));
            }
        }
    }
    i32::try_from(refresh(&defs, &days)).unwrap_or(i32::MAX)
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

/// Takes the transaction advisory locks of the SLO days' buckets, in bucket order.
fn lock(defs: &Definitions, days: &BTreeSet<(usize, NaiveDate)>) {
    lock_buckets(
        days.iter()
            .map(|&(i, d)| bucket(&defs.slos[i].slo_id, d))
            .collect::<BTreeSet<i32>>(),
    );
}

/// Takes the locks of the buckets given in increasing order.
fn lock_buckets(buckets: impl IntoIterator<Item = i32>) {
    for b in buckets {
        // SAFETY: a plain call of PostgreSQL's pg_advisory_xact_lock(int4, int4).
        unsafe {
            pgrx::direct_function_call_as_datum(
                pg_sys::pg_advisory_xact_lock_int4,
                &[Some(LOCK_CLASS.into()), Some(b.into())],
            );
        }
    }
}

/// Takes the engine's locks of the given SLO days (transaction advisory locks on their buckets,
/// in bucket order), as every writer of `slo.slo_performance` must before writing their rows.
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

/// Takes every lock of the engine (all buckets, in order): for changes that concern every SLO
/// day at once (`slo.recompute`, deleting or renaming an SLO).
#[pg_extern(volatile, parallel_unsafe)]
fn lock_all_slo_days() {
    lock_buckets(0..LOCK_BUCKETS as i32);
}

thread_local! {
    static WRITE_ROWS: RefCell<Option<KeptPlan>> = const { RefCell::new(None) };
}

/// Recomputes the SLO days (indexes into `defs.slos`, business dates); returns rows written.
fn refresh(defs: &Definitions, days: &BTreeSet<(usize, NaiveDate)>) -> i64 {
    if days.is_empty() {
        return 0;
    }
    lock(defs, days);
    // A definition change may have committed while this waited for its locks (deleting an SLO
    // takes every lock): use the definitions as they are now, for the SLOs that still exist.
    let latest = definitions::latest();
    let (defs, days) = if latest.generation == defs.generation {
        (defs, days.clone())
    } else {
        let index: HashMap<&str, usize> = latest
            .slos
            .iter()
            .enumerate()
            .map(|(i, s)| (s.slo_id.as_str(), i))
            .collect();
        let moved = days
            .iter()
            .filter_map(|&(i, d)| index.get(defs.slos[i].slo_id.as_str()).map(|&j| (j, d)))
            .collect();
        (&*latest, moved)
    };
    // Batches of SLOs with their days, at most about DAYS_PER_BATCH SLO days each. Each SLO's
    // jobs and rows are read by one index range scan over its dates, not one lookup per day.
    let mut by_slo: BTreeMap<usize, Vec<NaiveDate>> = BTreeMap::new();
    for &(i, d) in &days {
        by_slo.entry(i).or_default().push(d);
    }
    let mut written = 0;
    let mut batch: Vec<(usize, Vec<NaiveDate>)> = Vec::new();
    let mut in_batch = 0;
    for (slo, dates) in by_slo {
        for chunk in dates.chunks(DAYS_PER_BATCH) {
            in_batch += chunk.len();
            batch.push((slo, chunk.to_vec()));
            if in_batch >= DAYS_PER_BATCH {
                written += refresh_batch(defs, &std::mem::take(&mut batch));
                in_batch = 0;
            }
        }
    }
    if !batch.is_empty() {
        written += refresh_batch(defs, &batch);
    }
    written
}

/// Reads the events and the stored rows of a batch of SLO days (each SLO with its dates, in
/// order), computes their rows, and writes those that differ from what is stored. Returns rows
/// written.
fn refresh_batch(defs: &Definitions, batch: &[(usize, Vec<NaiveDate>)]) -> i64 {
    // Each job's and each SLO's span of dates in the batch.
    let mut job_spans: BTreeMap<&str, (NaiveDate, NaiveDate)> = BTreeMap::new();
    let mut slo_spans: Vec<(&str, NaiveDate, NaiveDate)> = Vec::new();
    for (i, dates) in batch {
        let slo = &defs.slos[*i];
        let (first, last) = (dates[0], dates[dates.len() - 1]);
        slo_spans.push((slo.slo_id.as_str(), first, last));
        for job in &slo.jobs {
            job_spans
                .entry(job.job_id.as_str())
                .and_modify(|span| *span = (span.0.min(first), span.1.max(last)))
                .or_insert((first, last));
        }
    }
    let job_spans: Vec<(&str, NaiveDate, NaiveDate)> =
        job_spans.into_iter().map(|(j, (a, b))| (j, a, b)).collect();

    // Read after the locks were granted, so every committed event is seen.
    let snapshot = ReadSnapshot::fresh();
    let stored_events = direct_read::events(&job_spans, &snapshot);
    let stored: HashMap<(String, NaiveDate, NaiveTime), (PerformanceRow, pg_sys::ItemPointerData)> =
        direct_read::performance_rows(&slo_spans, &snapshot)
            .into_iter()
            .map(|(row, tid)| {
                (
                    (row.slo_id.clone(), row.business_date, row.period_start),
                    (row, tid),
                )
            })
            .collect();
    snapshot.release();
    let mut events: HashMap<(&str, NaiveDate), Vec<&EngineEvent>> = HashMap::new();
    for e in &stored_events {
        events
            .entry((e.job_id.as_str(), e.business_date))
            .or_default()
            .push(e);
    }

    let mut writes: Vec<Write> = Vec::new();
    let mut replaced: Vec<Option<&PerformanceRow>> = Vec::new();
    let mut day_events: Vec<EngineEvent> = Vec::new();
    for (i, dates) in batch {
        let slo = &defs.slos[*i];
        for date in dates {
            day_events.clear();
            for job in &slo.jobs {
                if let Some(evs) = events.get(&(job.job_id.as_str(), *date)) {
                    day_events.extend(evs.iter().map(|e| (*e).clone()));
                }
            }
            if day_events.is_empty() {
                continue;
            }
            for row in performance(std::slice::from_ref(slo), &day_events) {
                let key = (row.slo_id.clone(), row.business_date, row.period_start);
                match stored.get(&key) {
                    Some((old, _)) if *old == row => {}
                    Some((old, tid)) => {
                        writes.push(Write {
                            row,
                            replaces: Some(*tid),
                        });
                        replaced.push(Some(old));
                    }
                    None => {
                        writes.push(Write {
                            row,
                            replaces: None,
                        });
                        replaced.push(None);
                    }
                }
            }
        }
    }
    // Instances that just got a late first start or completed: they may call for alerts.
    let now = alerts::transaction_now();
    let check: Vec<PerformanceRow> =
        alerts::instances_to_check(writes.iter().map(|w| &w.row).zip(replaced), now)
            .into_iter()
            .cloned()
            .collect();
    let written = write(writes);
    alerts::raise_for(&check.iter().collect::<Vec<_>>(), now);
    written
}

/// Writes the changed rows, in key order (so concurrent writers take row locks in one order).
fn write(mut writes: Vec<Write>) -> i64 {
    if writes.is_empty() {
        return 0;
    }
    writes.sort_by(|a, b| a.row.cmp(&b.row));
    let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
    let table = direct_read::open_locked("slo_performance", lock);
    let direct = perf_write::write(table, &writes);
    // SAFETY: opened just above.
    unsafe { direct_read::close(table) };
    if direct {
        writes.len() as i64
    } else {
        upsert(writes.into_iter().map(|w| w.row).collect())
    }
}

/// Writes rows with SQL (when an index of the table is one `perf_write` cannot maintain), through
/// `slo.write_performance_rows`; a stored row with the same values is left alone. Returns rows
/// written.
fn upsert(rows: Vec<PerformanceRow>) -> i64 {
    if rows.is_empty() {
        return 0;
    }
    let n = rows.len();
    let mut slo_id = Vec::with_capacity(n);
    let mut business_date = Vec::with_capacity(n);
    let mut period_start = Vec::with_capacity(n);
    let mut expected_start = Vec::with_capacity(n);
    let mut expected_end = Vec::with_capacity(n);
    let mut actual_start = Vec::with_capacity(n);
    let mut actual_end = Vec::with_capacity(n);
    let mut failed_runs = Vec::with_capacity(n);
    for r in &rows {
        slo_id.push(r.slo_id.as_str());
        business_date.push(date_out(r.business_date));
        period_start.push(time_out(r.period_start));
        expected_start.push(tstz_out(r.expected_start));
        expected_end.push(tstz_out(r.expected_end));
        actual_start.push(r.actual_start.map(tstz_out));
        actual_end.push(r.actual_end.map(tstz_out));
        failed_runs.push(i32::try_from(r.failed_runs).unwrap_or(i32::MAX));
    }
    let types = [
        PgBuiltInOids::TEXTARRAYOID.value(),
        PgBuiltInOids::DATEARRAYOID.value(),
        PgBuiltInOids::TIMEARRAYOID.value(),
        PgBuiltInOids::TIMESTAMPTZARRAYOID.value(),
        PgBuiltInOids::TIMESTAMPTZARRAYOID.value(),
        PgBuiltInOids::TIMESTAMPTZARRAYOID.value(),
        PgBuiltInOids::TIMESTAMPTZARRAYOID.value(),
        PgBuiltInOids::INT4ARRAYOID.value(),
    ];
    let args = [
        slo_id.into_datum(),
        business_date.into_datum(),
        period_start.into_datum(),
        expected_start.into_datum(),
        expected_end.into_datum(),
        actual_start.into_datum(),
        actual_end.into_datum(),
        failed_runs.into_datum(),
    ];
    Spi::connect(|_| {
        kept_plan::execute(
            &WRITE_ROWS,
            "SELECT slo.write_performance_rows($1, $2, $3, $4, $5, $6, $7, $8)",
            &types,
            &args,
        );
    });
    n as i64
}
