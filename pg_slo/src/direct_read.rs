//! Reads that the engine makes on every statement, straight through the table and index access
//! methods, without SQL: the events of (job, business date) keys by the event key's index, the
//! definition tables, and the one row of `slo.definitions_generation`.
//!
//! Why not SPI: a statement costs planning and executor start-up that dwarf a one-row index
//! lookup, and a plan kept to avoid that can be misplanned for good (a seq scan costed at zero
//! while `slo.job_status` was empty, kept while it grows).
//!
//! Visibility: [`ReadSnapshot::fresh`] is what a read-write SPI query sees: the command counter is
//! advanced (so the current statement's own new rows are seen) and, in READ COMMITTED, a new
//! snapshot is taken (so every row committed before the engine's locks were granted is seen);
//! under REPEATABLE READ it is the transaction's snapshot.
//!
//! Reads `slo.job_status`, the definition tables and `slo.definitions_generation`; writes nothing.

use crate::calendar::raise;
use crate::conv::{date_in, date_out, time_in, tstz_in};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pgrx::datum::{Date, Time, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::{FromDatum, IntoDatum, PgTupleDesc};
use slo_core::engine::EngineEvent;
use slo_core::Status;
use std::cell::RefCell;
use std::ffi::CString;
use std::rc::Rc;
use std::thread::LocalKey;

const LOCK: pg_sys::LOCKMODE = pg_sys::AccessShareLock as pg_sys::LOCKMODE;

/// The OID of `slo.<name>`, or an error saying the schema is incomplete.
fn relation(name: &str) -> pg_sys::Oid {
    let schema = CString::new("slo").expect("no NUL");
    let rel = CString::new(name).expect("no NUL");
    // SAFETY: catalog lookups by name; both return InvalidOid when absent (missing_ok).
    let oid = unsafe {
        let ns = pg_sys::get_namespace_oid(schema.as_ptr(), true);
        if ns == pg_sys::InvalidOid {
            ns
        } else {
            pg_sys::get_relname_relid(rel.as_ptr(), ns)
        }
    };
    if oid == pg_sys::InvalidOid {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("slo.{name} does not exist (is the pg_slo extension installed?)"),
        );
    }
    oid
}

/// A relation of schema `slo` as last found: its OID and its namespace.
#[derive(Clone, Copy)]
struct Found {
    oid: pg_sys::Oid,
    namespace: pg_sys::Oid,
}

/// A table's OID and the address of a static list of its column names (the lists are the
/// engine's constants: comparing addresses costs nothing, hashing the names cost 1 µs a call).
type ColumnsKey = (pg_sys::Oid, usize);

/// A table's OID, its number of attributes and the address of a static column name.
type OptionalKey = (pg_sys::Oid, i32, usize);

thread_local! {
    /// Relations found, by the address of their static name: a handful, scanned in order.
    static FOUND: RefCell<Vec<(usize, Found)>> = const { RefCell::new(Vec::new()) };
    /// Positions of columns in a table, by (table OID, column names): attribute numbers never
    /// change for a table, so they hold as long as its OID.
    static COLUMNS: RefCell<Vec<(ColumnsKey, Rc<[usize]>)>> = const { RefCell::new(Vec::new()) };
    /// Positions of a column that may be missing, by (table OID, number of attributes, column
    /// name): adding a column changes the number.
    static OPTIONAL: RefCell<Vec<(OptionalKey, Option<usize>)>> =
        const { RefCell::new(Vec::new()) };
}

/// The cache key of a static name.
fn address(name: &'static str) -> usize {
    name.as_ptr() as usize
}

/// Opens `slo.<name>` (a table or an index) under `lock`. The OID found last time is
/// tried first, and kept only when it still names that relation (the extension may have been
/// dropped and created again since), so a statement pays no catalog lookup by name.
pub(crate) fn open_locked(name: &'static str, lock: pg_sys::LOCKMODE) -> pg_sys::Relation {
    let key = address(name);
    let cached = FOUND.with(|f| {
        f.borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|&(_, found)| found)
    });
    if let Some(found) = cached {
        // SAFETY: try_relation_open returns NULL for an OID that no longer exists; a relation
        // it opened is closed again unless it is the one wanted.
        unsafe {
            let rel = pg_sys::try_relation_open(found.oid, lock);
            if !rel.is_null() {
                let form = (*rel).rd_rel;
                let same_name = std::ffi::CStr::from_ptr((*form).relname.data.as_ptr()).to_bytes()
                    == name.as_bytes();
                if same_name && (*form).relnamespace == found.namespace {
                    return rel;
                }
                pg_sys::relation_close(rel, lock);
            }
        }
    }
    let oid = relation(name);
    // SAFETY: an OID just found by name; relation_open raises if it is gone since.
    unsafe {
        let rel = pg_sys::relation_open(oid, lock);
        let found = Found {
            oid,
            namespace: (*(*rel).rd_rel).relnamespace,
        };
        FOUND.with(|f| {
            let mut f = f.borrow_mut();
            f.retain(|(k, _)| *k != key);
            f.push((key, found));
        });
        rel
    }
}

fn open(name: &'static str) -> pg_sys::Relation {
    open_locked(name, LOCK)
}

/// Closes a relation opened here, keeping its lock until the transaction ends, as the executor
/// does: the next open in the transaction finds the lock held (the engine opens the same few
/// relations several times a statement; taking and releasing their locks each time cost a
/// twentieth of an insert).
///
/// # Safety
/// `rel` must be open.
pub(crate) unsafe fn close(rel: pg_sys::Relation) {
    pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
}

/// The value of `key` in `cache`, or `compute()`, kept there. A cache holds at most 64 entries
/// and is emptied when full (tables dropped and created again, many times in one session).
fn cached<K: PartialEq + Copy, V: Clone>(
    cache: &'static LocalKey<RefCell<Vec<(K, V)>>>,
    key: K,
    compute: impl FnOnce() -> V,
) -> V {
    let hit = cache.with(|c| {
        c.borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    });
    if let Some(v) = hit {
        return v;
    }
    let v = compute();
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 64 {
            c.clear();
        }
        c.push((key, v.clone()));
    });
    v
}

/// Positions (0-based) of `columns` in the table `rel` (of schema `slo`, named `table`).
///
/// # Safety
/// `rel` must be an open relation.
pub(crate) unsafe fn columns(
    rel: pg_sys::Relation,
    table: &str,
    columns: &'static [&'static str],
) -> Rc<[usize]> {
    let key = ((*rel).rd_id, columns.as_ptr() as usize);
    cached(&COLUMNS, key, || {
        let desc = PgTupleDesc::from_pg_unchecked((*rel).rd_att);
        columns
            .iter()
            .map(|name| {
                desc.iter()
                    .position(|a| !a.attisdropped && a.name() == *name)
                    .unwrap_or_else(|| {
                        raise(
                            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                            format!("slo.{table} has no column {name}"),
                        )
                    })
            })
            .collect()
    })
}

/// The position (0-based) of column `name` in the table `rel`, if it has one: for a column that a
/// table of an older release lacks until the extension is updated.
///
/// # Safety
/// `rel` must be an open relation.
pub(crate) unsafe fn column_position(rel: pg_sys::Relation, name: &'static str) -> Option<usize> {
    let key = ((*rel).rd_id, (*(*rel).rd_att).natts, name.as_ptr() as usize);
    cached(&OPTIONAL, key, || {
        PgTupleDesc::from_pg_unchecked((*rel).rd_att)
            .iter()
            .position(|a| !a.attisdropped && a.name() == name)
    })
}

/// The snapshot the engine's reads use, until [`Self::release`].
pub(crate) struct ReadSnapshot {
    snapshot: pg_sys::Snapshot,
    pushed: bool,
}

impl ReadSnapshot {
    /// What a read-write SPI query sees (see the module doc): pushed as the active snapshot.
    pub(crate) fn fresh() -> ReadSnapshot {
        Self::push(pg_sys::GetTransactionSnapshot)
    }

    /// What is committed now, whatever the isolation level (`GetLatestSnapshot`): for the checks
    /// a REPEATABLE READ transaction makes against what committed after its own snapshot.
    pub(crate) fn latest() -> ReadSnapshot {
        Self::push(pg_sys::GetLatestSnapshot)
    }

    /// Pushes the snapshot `take` takes as the active one, after this transaction's own writes
    /// so far.
    fn push(take: unsafe fn() -> pg_sys::Snapshot) -> ReadSnapshot {
        // SAFETY: what SPI does before a read-write query; popped by `release` (or, on an ERROR,
        // by the transaction's abort).
        unsafe {
            pg_sys::CommandCounterIncrement();
            pg_sys::PushActiveSnapshot(take());
            pg_sys::UpdateActiveSnapshotCommandId();
            ReadSnapshot {
                snapshot: pg_sys::GetActiveSnapshot(),
                pushed: true,
            }
        }
    }

    /// The calling statement's own snapshot (for read-only functions).
    pub(crate) fn active() -> ReadSnapshot {
        // SAFETY: a plain read of the active snapshot, checked for null.
        let snapshot = unsafe { pg_sys::GetActiveSnapshot() };
        if snapshot.is_null() {
            raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "pg_slo reads need an active snapshot".into(),
            );
        }
        ReadSnapshot {
            snapshot,
            pushed: false,
        }
    }

    pub(crate) fn release(self) {
        if self.pushed {
            // SAFETY: the snapshot pushed by `fresh`, still on top (readers push nothing).
            unsafe { pg_sys::PopActiveSnapshot() }
        }
    }
}

/// An open index scan of a table by the first two columns of one of its indexes: a text and a
/// range of dates (`(job_id, business_date)`, `(slo_id, business_date)`).
struct TextDateScan {
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    scan: pg_sys::IndexScanDesc,
    /// Positions (0-based) of the wanted columns in the table.
    cols: Rc<[usize]>,
    text_collation: pg_sys::Oid,
}

impl TextDateScan {
    /// Opens `slo.<table>` and `slo.<index>` under AccessShareLock.
    fn open(
        table: &'static str,
        index: &'static str,
        wanted: &'static [&'static str],
        snapshot: &ReadSnapshot,
    ) -> Self {
        let heap = open(table);
        let index = open(index);
        // SAFETY: both relations are open (closed in `close`, or released by the transaction's
        // abort on an ERROR); the scan and slot are made for them.
        unsafe {
            let cols = columns(heap, table, wanted);
            let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
            let scan = pg_sys::index_beginscan(heap, index, snapshot.snapshot, 3, 0);
            TextDateScan {
                heap,
                index,
                slot,
                scan,
                cols,
                // The index compares the text in its own collation; so must the scan key.
                text_collation: *(*index).rd_indcollation,
            }
        }
    }

    /// Calls `f` with the wanted columns (datum, is-null) and the tuple id of every row whose
    /// first index column equals `text` and whose second lies in `from..=to`, in index order.
    fn for_each(
        &mut self,
        text: &str,
        from: NaiveDate,
        to: NaiveDate,
        mut f: impl FnMut(&[(pg_sys::Datum, bool)], pg_sys::ItemPointerData),
    ) {
        let mut values = Vec::with_capacity(self.cols.len());
        // SAFETY: the scan, slot and relations are open; the keys' datums live until the scan
        // is rescanned (they are palloc'd in the current memory context).
        unsafe {
            let mut keys: [pg_sys::ScanKeyData; 3] = std::mem::zeroed();
            let key =
                |k: &mut pg_sys::ScanKeyData, attno: i16, strategy: u32, collation, proc, arg| {
                    pg_sys::ScanKeyEntryInitialize(
                        k,
                        0,
                        attno,
                        strategy as pg_sys::StrategyNumber,
                        pg_sys::InvalidOid,
                        collation,
                        pg_sys::Oid::from(proc),
                        arg,
                    )
                };
            let [k0, k1, k2] = &mut keys;
            key(
                k0,
                1,
                pg_sys::BTEqualStrategyNumber,
                self.text_collation,
                pg_sys::F_TEXTEQ,
                text.into_datum().expect("text is never NULL"),
            );
            key(
                k1,
                2,
                pg_sys::BTGreaterEqualStrategyNumber,
                pg_sys::InvalidOid,
                pg_sys::F_DATE_GE,
                date_out(from).into_datum().expect("a date is never NULL"),
            );
            key(
                k2,
                2,
                pg_sys::BTLessEqualStrategyNumber,
                pg_sys::InvalidOid,
                pg_sys::F_DATE_LE,
                date_out(to).into_datum().expect("a date is never NULL"),
            );
            pg_sys::index_rescan(self.scan, keys.as_mut_ptr(), 3, std::ptr::null_mut(), 0);
            while pg_sys::index_getnext_slot(
                self.scan,
                pg_sys::ScanDirection::ForwardScanDirection,
                self.slot,
            ) {
                pg_sys::slot_getallattrs(self.slot);
                let v = (*self.slot).tts_values;
                let n = (*self.slot).tts_isnull;
                values.clear();
                values.extend(self.cols.iter().map(|&c| (*v.add(c), *n.add(c))));
                f(&values, (*self.slot).tts_tid);
            }
        }
    }

    fn close(self) {
        // SAFETY: everything opened in `open`, released once.
        unsafe {
            pg_sys::index_endscan(self.scan);
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            close(self.index);
            close(self.heap);
        }
    }
}

pub(crate) fn text(d: (pg_sys::Datum, bool)) -> String {
    // SAFETY: a text column's datum from a slot.
    unsafe { String::from_datum(d.0, d.1) }.unwrap_or_default()
}

fn instant(d: (pg_sys::Datum, bool)) -> Option<DateTime<Utc>> {
    // SAFETY: a timestamptz column's datum from a slot.
    unsafe { TimestampWithTimeZone::from_datum(d.0, d.1) }.map(tstz_in)
}

fn date(d: (pg_sys::Datum, bool)) -> NaiveDate {
    // SAFETY: a date column's datum from a slot.
    unsafe { Date::from_datum(d.0, d.1) }
        .map(date_in)
        .unwrap_or(NaiveDate::MIN)
}

fn time(d: (pg_sys::Datum, bool)) -> Option<NaiveTime> {
    // SAFETY: a time column's datum from a slot.
    unsafe { Time::from_datum(d.0, d.1) }.map(time_in)
}

/// The stored events of each (job_id, first business date, last business date) range.
pub(crate) fn events(
    keys: &[(&str, NaiveDate, NaiveDate)],
    snapshot: &ReadSnapshot,
) -> Vec<EngineEvent> {
    let mut out = Vec::new();
    if keys.is_empty() {
        return out;
    }
    const COLUMNS: &[&str] = &[
        "job_id",
        "business_date",
        "status",
        "status_time",
        "run_id",
        "period_start",
    ];
    let mut scan = TextDateScan::open("job_status", "job_status_event_key", COLUMNS, snapshot);
    for &(job, from, to) in keys {
        scan.for_each(job, from, to, |c, _| {
            let status = text(c[2]);
            out.push(EngineEvent {
                job_id: text(c[0]),
                business_date: date(c[1]),
                status: Status::parse(&status).unwrap_or_else(|| {
                    raise(
                        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                        format!("slo.job_status holds an unknown status {status:?}"),
                    )
                }),
                status_time: instant(c[3]).unwrap_or_default(),
                run_id: text(c[4]),
                period_start: time(c[5]),
            });
        });
    }
    scan.close();
    out
}

/// Calls `f` with the wanted columns (datum, is-null) of every row of `slo.<table>` that
/// `snapshot` sees (a sequential scan: for the definition tables, read whole into the cache).
pub(crate) fn scan_all(
    table: &'static str,
    wanted: &'static [&'static str],
    snapshot: &ReadSnapshot,
    mut f: impl FnMut(&[(pg_sys::Datum, bool)]),
) {
    let rel = open(table);
    let mut values = Vec::with_capacity(wanted.len());
    // SAFETY: a heap scan of an open relation under a registered snapshot; the scan and the
    // relation are closed before returning (or released by the transaction's abort).
    unsafe {
        let cols = columns(rel, table, wanted);
        let desc = (*rel).rd_att;
        let scan = pg_sys::systable_beginscan(
            rel,
            pg_sys::InvalidOid,
            false,
            snapshot.snapshot,
            0,
            std::ptr::null_mut(),
        );
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            values.clear();
            for &c in cols.iter() {
                let mut is_null = false;
                let d = pg_sys::heap_getattr(tuple, c as i32 + 1, desc, &mut is_null);
                values.push((d, is_null));
            }
            f(&values);
        }
        pg_sys::systable_endscan(scan);
        close(rel);
    }
}

thread_local! {
    /// Where the generation row was found last (table OID, tuple id).
    static GENERATION_AT: std::cell::Cell<Option<(pg_sys::Oid, pg_sys::ItemPointerData)>> =
        const { std::cell::Cell::new(None) };
}

/// The generation in `slo.definitions_generation` as the active snapshot sees it, and the
/// table's OID (which changes when the extension is created again, while generations restart).
///
/// Read twice by every statement of the engine: the tuple id where the row was found last is
/// fetched first (a third of the cost of a scan); a snapshot sees exactly one version of the
/// table's one row, so a visible tuple there is the row. Only on block 0, which exists as long as
/// the table has a row (VACUUM truncates trailing pages only); anywhere else, or when that version
/// is not visible, the table is scanned.
pub(crate) fn definitions_generation() -> (pg_sys::Oid, i64) {
    const COLUMNS: &[&str] = &["generation"];
    let rel = open("definitions_generation");
    // SAFETY: a fetch by tuple id (block 0 only) or a heap scan of a one-row table under the
    // active snapshot; every buffer pinned and everything opened is released before returning.
    let (oid, generation) = unsafe {
        let snapshot = pg_sys::GetActiveSnapshot();
        if snapshot.is_null() {
            raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "reading slo.definitions_generation needs an active snapshot".into(),
            );
        }
        let oid = (*rel).rd_id;
        let attno = columns(rel, "definitions_generation", COLUMNS)[0] as i32 + 1;
        let read = |tuple: pg_sys::HeapTuple| {
            let mut is_null = false;
            let d = pg_sys::heap_getattr(tuple, attno, (*rel).rd_att, &mut is_null);
            i64::from_datum(d, is_null)
        };
        let mut found = None;
        if let Some((at_oid, tid)) = GENERATION_AT.get() {
            let block = (u32::from(tid.ip_blkid.bi_hi) << 16) | u32::from(tid.ip_blkid.bi_lo);
            if at_oid == oid && block == 0 {
                let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
                tuple.t_self = tid;
                let mut buffer: pg_sys::Buffer = pg_sys::InvalidBuffer as pg_sys::Buffer;
                if pg_sys::heap_fetch(rel, snapshot, &mut tuple, &mut buffer, true) {
                    found = read(&mut tuple);
                }
                if buffer != pg_sys::InvalidBuffer as pg_sys::Buffer {
                    pg_sys::ReleaseBuffer(buffer);
                }
            }
        }
        if found.is_none() {
            let scan = pg_sys::systable_beginscan(
                rel,
                pg_sys::InvalidOid,
                false,
                snapshot,
                0,
                std::ptr::null_mut(),
            );
            let tuple = pg_sys::systable_getnext(scan);
            if !tuple.is_null() {
                found = read(tuple);
                GENERATION_AT.set(Some((oid, (*tuple).t_self)));
            }
            pg_sys::systable_endscan(scan);
        }
        close(rel);
        (oid, found)
    };
    let generation = generation.unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            "slo.definitions_generation has no row".into(),
        )
    });
    (oid, generation)
}
