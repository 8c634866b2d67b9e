//! Reads and writes `slo.slo_performance` rows one key at a time, straight through the heap and
//! the executor's index routines, safely beside any other writer: the engine in other sessions,
//! `slo.evaluate`'s `INSERT ... ON CONFLICT DO NOTHING`, `slo.recompute`.
//!
//! How it stays safe without a lock per SLO day (what `INSERT ... ON CONFLICT` does, by hand):
//! - [`Writer::find`] looks the key up through the primary key with a dirty snapshot, which
//!   also sees rows other transactions are writing; when one is, it waits for that transaction
//!   (or for its speculative insertion) and looks again. So it returns the latest committed
//!   version of the row, or our own.
//! - [`Writer::insert`] is a speculative insertion: when another transaction inserts the same key
//!   at the same moment, ours is taken back and the caller finds the key again (never a unique
//!   violation).
//! - [`Writer::update`] replaces the version found; when another transaction updated or deleted
//!   it in between, nothing is written and the caller finds the key again.
//!   Under REPEATABLE READ or SERIALIZABLE, a version the transaction's snapshot cannot see, or a
//!   concurrent update, raises a serialization failure instead, as PostgreSQL's own `UPDATE` does.
//!
//! The callers compute each new row from the version found, so a retry recomputes it from the
//! newer version. Index entries go through `ExecInsertIndexTuples`, so every index a DBA adds
//! (expressions, predicates, other unique keys) is maintained. A deferrable unique or exclusion
//! constraint is refused: its check at commit is a trigger the executor queues, which this does
//! not (nor does `INSERT ... ON CONFLICT` take one as its arbiter).
//!
//! Why not SQL: an `INSERT ... ON CONFLICT DO UPDATE` through SPI costs executor start-up and a
//! foreign-key check per row, about as much as the event's own insert; the engine writes a row
//! for nearly every event. The foreign key to `slo.slo` is kept for its cascades: the engine
//! holds the writers' lock (`engine.rs`), which deleting or renaming an SLO waits for, and writes
//! only rows of SLOs in the definitions it read after taking it (under REPEATABLE READ, only
//! when no definition changed since the transaction's snapshot: `engine.rs`).
//!
//! Writes `slo.slo_performance` and its indexes; reads nothing else.

use crate::calendar::raise;
use crate::conv::{date_out, time_in, time_out, tstz_in, tstz_out};
use crate::direct_read;
use chrono::{NaiveDate, NaiveTime};
use pgrx::datum::{Date, Time, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::{FromDatum, IntoDatum};
use slo_core::engine::PerformanceRow;

/// The columns the engine reads and writes, in this order; and `engine_state`, which tables of
/// release 0.1.0 lack until `ALTER EXTENSION pg_slo UPDATE`.
const COLUMNS: [&str; 9] = [
    "slo_id",
    "business_date",
    "period_start",
    "expected_start",
    "expected_end",
    "actual_start",
    "actual_end",
    "failed_runs",
    "updated_at",
];

/// A stored row as found: where it is, its values, and the engine's state kept with it.
pub(crate) struct Found {
    pub tid: pg_sys::ItemPointerData,
    pub row: PerformanceRow,
    pub state: Option<Vec<u8>>,
}

/// The rows of `slo.slo_performance` for one statement of the engine: the table, its indexes
/// opened as the executor opens them for an `INSERT ... ON CONFLICT`, and a primary-key scan
/// with a dirty snapshot.
pub(crate) struct Writer {
    rel: pg_sys::Relation,
    estate: *mut pg_sys::EState,
    rri: *mut pg_sys::ResultRelInfo,
    arbiters: *mut pg_sys::List,
    /// The dirty snapshot of `scan` (boxed: the scan keeps its address).
    dirty: Box<pg_sys::SnapshotData>,
    scan: pg_sys::IndexScanDesc,
    scan_slot: *mut pg_sys::TupleTableSlot,
    new_slot: *mut pg_sys::TupleTableSlot,
    cols: std::rc::Rc<[usize]>,
    /// The position of `engine_state`, when the table has it.
    state_col: Option<usize>,
    text_collation: pg_sys::Oid,
    /// REPEATABLE READ or SERIALIZABLE: conflicts are serialization failures.
    xact_snapshot: bool,
    wrote: bool,
}

/// Raises an error when an index of the table checks a unique or exclusion constraint at commit
/// (DEFERRABLE): the executor queues that check as a trigger after each row, which this writer
/// does not, so duplicates could pass it.
///
/// # Safety
/// `rri` is a result relation whose indexes `ExecOpenIndices` opened.
unsafe fn refuse_deferred_constraints(rri: *mut pg_sys::ResultRelInfo) {
    for i in 0..(*rri).ri_NumIndices as usize {
        let index = *(*rri).ri_IndexRelationDescs.add(i);
        let info = *(*rri).ri_IndexRelationInfo.add(i);
        let form = (*index).rd_index;
        if ((*form).indisunique || !(*info).ii_ExclusionOps.is_null()) && !(*form).indimmediate {
            let name = std::ffi::CStr::from_ptr((*(*index).rd_rel).relname.data.as_ptr());
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!(
                    "index {} of slo.slo_performance checks a DEFERRABLE constraint, which the engine \
                     cannot check: make the constraint NOT DEFERRABLE, or use a plain index",
                    name.to_string_lossy()
                ),
            )
        }
    }
}

/// The error a REPEATABLE READ or SERIALIZABLE transaction gets when what it would write was
/// changed by a transaction that committed after its snapshot (the caller retries it).
pub(crate) fn serialization_failure() -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
        "could not serialize access to slo.slo_performance due to a concurrent update".into(),
    )
}

impl Writer {
    /// Opens `slo.slo_performance` for writing (RowExclusiveLock, held to the end of the
    /// transaction).
    pub(crate) fn open() -> Writer {
        let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        let rel = direct_read::open_locked("slo_performance", lock);
        // SAFETY: the relation is open; everything made here is released by `close` (or by the
        // transaction's abort on an ERROR: memory contexts, relation references, scans).
        unsafe {
            let cols = direct_read::columns(rel, "slo_performance", &COLUMNS);
            let state_col = direct_read::column_position(rel, "engine_state");
            let estate = pg_sys::CreateExecutorState();
            pg_sys::MakePerTupleExprContext(estate);
            let rri = pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>())
                as *mut pg_sys::ResultRelInfo;
            (*rri).type_ = pg_sys::NodeTag::T_ResultRelInfo;
            // No range table entry (index 0), as for the result relations the executor makes
            // for triggers: PostgreSQL then takes no column as updated, which is right (the
            // engine never changes a row's key), and hints the indexes so.
            pg_sys::InitResultRelInfo(rri, rel, 0, std::ptr::null_mut(), 0);
            pg_sys::ExecOpenIndices(rri, true);
            refuse_deferred_constraints(rri);
            let pkey = (0..(*rri).ri_NumIndices as usize)
                .map(|i| *(*rri).ri_IndexRelationDescs.add(i))
                .find(|&index| (*(*index).rd_index).indisprimary)
                .unwrap_or_else(|| {
                    raise(
                        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                        "slo.slo_performance has no primary key (slo_id, business_date, period_start)"
                            .into(),
                    )
                });
            let arbiters = pg_sys::lappend_oid(std::ptr::null_mut(), (*pkey).rd_id);
            let mut dirty = Box::new(pg_sys::SnapshotData::default());
            dirty.snapshot_type = pg_sys::SnapshotType::SNAPSHOT_DIRTY;
            let scan = pg_sys::index_beginscan(rel, pkey, &mut *dirty, 3, 0);
            let scan_slot = pg_sys::table_slot_create(rel, std::ptr::null_mut());
            let new_slot =
                pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsHeapTuple);
            Writer {
                rel,
                estate,
                rri,
                arbiters,
                dirty,
                scan,
                scan_slot,
                new_slot,
                cols,
                state_col,
                text_collation: *(*pkey).rd_indcollation,
                xact_snapshot: pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32,
                wrote: false,
            }
        }
    }

    /// True when the transaction reads with one snapshot throughout (REPEATABLE READ or
    /// SERIALIZABLE): then what committed after it must fail the transaction, not be overwritten.
    pub(crate) fn xact_snapshot(&self) -> bool {
        self.xact_snapshot
    }

    /// True when the table keeps the engine's states (`engine_state`).
    pub(crate) fn keeps_state(&self) -> bool {
        self.state_col.is_some()
    }

    /// The latest committed version of the row of this key (or this transaction's own), waiting
    /// for any transaction that is writing it; `None` when there is none.
    pub(crate) fn find(
        &mut self,
        slo_id: &str,
        business_date: NaiveDate,
        period_start: NaiveTime,
    ) -> Option<Found> {
        loop {
            // SAFETY: the scan and slot belong to the open relations; the key datums are
            // palloc'd in the current memory context and live through the scan.
            unsafe {
                let mut keys: [pg_sys::ScanKeyData; 3] = std::mem::zeroed();
                let eq = |k: &mut pg_sys::ScanKeyData, attno: i16, collation, proc: u32, arg| {
                    pg_sys::ScanKeyEntryInitialize(
                        k,
                        0,
                        attno,
                        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                        pg_sys::InvalidOid,
                        collation,
                        pg_sys::Oid::from(proc),
                        arg,
                    )
                };
                let [k0, k1, k2] = &mut keys;
                eq(
                    k0,
                    1,
                    self.text_collation,
                    pg_sys::F_TEXTEQ,
                    slo_id.into_datum().expect("text is never NULL"),
                );
                eq(
                    k1,
                    2,
                    pg_sys::InvalidOid,
                    pg_sys::F_DATE_EQ,
                    date_out(business_date)
                        .into_datum()
                        .expect("a date is never NULL"),
                );
                eq(
                    k2,
                    3,
                    pg_sys::InvalidOid,
                    pg_sys::F_TIME_EQ,
                    time_out(period_start)
                        .into_datum()
                        .expect("a time is never NULL"),
                );
                pg_sys::index_rescan(self.scan, keys.as_mut_ptr(), 3, std::ptr::null_mut(), 0);
                let mut found = None;
                let mut wait = None;
                while pg_sys::index_getnext_slot(
                    self.scan,
                    pg_sys::ScanDirection::ForwardScanDirection,
                    self.scan_slot,
                ) {
                    let d = &*self.dirty;
                    let xwait = if d.xmin != pg_sys::InvalidTransactionId {
                        d.xmin
                    } else {
                        d.xmax
                    };
                    if xwait != pg_sys::InvalidTransactionId {
                        wait = Some((xwait, d.speculativeToken, (*self.scan_slot).tts_tid));
                        break;
                    }
                    if found.is_none() {
                        found = Some(self.read_found());
                    }
                }
                if let Some((xid, token, mut tid)) = wait {
                    if token != 0 {
                        pg_sys::SpeculativeInsertionWait(xid, token);
                    } else {
                        pg_sys::XactLockTableWait(
                            xid,
                            self.rel,
                            &mut tid,
                            pg_sys::XLTW_Oper::XLTW_InsertIndex,
                        );
                    }
                    continue;
                }
                return found;
            }
        }
    }

    /// The row in the scan slot.
    ///
    /// # Safety
    /// The scan slot must hold a tuple of `slo.slo_performance`.
    unsafe fn read_found(&self) -> Found {
        if self.xact_snapshot && !self.own_version() {
            // A version committed after the transaction's snapshot: updating it would lose
            // what the snapshot did not see, as a concurrent update would.
            let am = (*self.rel).rd_tableam;
            let visible = (*am).tuple_satisfies_snapshot.expect("heap AM callback")(
                self.rel,
                self.scan_slot,
                pg_sys::GetActiveSnapshot(),
            );
            if !visible {
                serialization_failure();
            }
        }
        pg_sys::slot_getallattrs(self.scan_slot);
        let v = (*self.scan_slot).tts_values;
        let n = (*self.scan_slot).tts_isnull;
        let c = |i: usize| (*v.add(self.cols[i]), *n.add(self.cols[i]));
        let instant = |i: usize| {
            let (d, null) = c(i);
            TimestampWithTimeZone::from_datum(d, null).map(tstz_in)
        };
        let row = PerformanceRow {
            slo_id: direct_read::text(c(0)),
            business_date: Date::from_datum(c(1).0, c(1).1)
                .map(crate::conv::date_in)
                .unwrap_or(NaiveDate::MIN),
            period_start: Time::from_datum(c(2).0, c(2).1)
                .map(time_in)
                .unwrap_or(NaiveTime::MIN),
            expected_start: instant(3).unwrap_or_default(),
            expected_end: instant(4).unwrap_or_default(),
            actual_start: instant(5),
            actual_end: instant(6),
            failed_runs: i64::from(i32::from_datum(c(7).0, c(7).1).unwrap_or(0)),
        };
        let state = self
            .state_col
            .and_then(|i| Vec::<u8>::from_datum(*v.add(i), *n.add(i)));
        Found {
            tid: (*self.scan_slot).tts_tid,
            row,
            state,
        }
    }

    /// True when the version in the scan slot was written by this transaction.
    ///
    /// # Safety
    /// The scan slot must hold a heap tuple.
    unsafe fn own_version(&self) -> bool {
        let tuple = pg_sys::ExecFetchSlotHeapTuple(self.scan_slot, false, std::ptr::null_mut());
        let xmin = (*(*tuple).t_data).t_choice.t_heap.t_xmin;
        pg_sys::TransactionIdIsCurrentTransactionId(xmin)
    }

    /// The tuple of a row and its state, its `updated_at` now.
    ///
    /// # Safety
    /// The writer must be open.
    unsafe fn form(&self, r: &PerformanceRow, state: Option<&[u8]>) -> pg_sys::HeapTuple {
        let desc = (*self.rel).rd_att;
        let natts = (*desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![true; natts];
        let fields: [Option<pg_sys::Datum>; 9] = [
            r.slo_id.as_str().into_datum(),
            date_out(r.business_date).into_datum(),
            time_out(r.period_start).into_datum(),
            tstz_out(r.expected_start).into_datum(),
            tstz_out(r.expected_end).into_datum(),
            r.actual_start.map(tstz_out).into_datum(),
            r.actual_end.map(tstz_out).into_datum(),
            i32::try_from(r.failed_runs)
                .unwrap_or(i32::MAX)
                .into_datum(),
            Some(pg_sys::Datum::from(
                pg_sys::GetCurrentTransactionStartTimestamp(),
            )),
        ];
        for (&c, v) in self.cols.iter().zip(fields) {
            if let Some(v) = v {
                values[c] = v;
                nulls[c] = false;
            }
        }
        if let (Some(c), Some(v)) = (self.state_col, state.into_datum()) {
            values[c] = v;
            nulls[c] = false;
        }
        pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr())
    }

    /// Inserts a new row; false (nothing written) when another transaction inserted the key
    /// meanwhile: find it again.
    pub(crate) fn insert(&mut self, row: &PerformanceRow, state: Option<&[u8]>) -> bool {
        // SAFETY: the executor's speculative insertion (nodeModifyTable.c, ExecInsert) on an
        // open relation with its indexes opened for it.
        unsafe {
            let tuple = self.form(row, state);
            let xid = pg_sys::GetCurrentTransactionId();
            let token = pg_sys::SpeculativeInsertionLockAcquire(xid);
            // HeapTupleHeaderSetSpeculativeToken: the token goes where the ctid will be.
            let ctid = &mut (*(*tuple).t_data).t_ctid;
            ctid.ip_blkid.bi_hi = (token >> 16) as u16;
            ctid.ip_blkid.bi_lo = (token & 0xffff) as u16;
            ctid.ip_posid = pg_sys::SpecTokenOffsetNumber as u16;
            pg_sys::heap_insert(
                self.rel,
                tuple,
                pg_sys::GetCurrentCommandId(true),
                pg_sys::HEAP_INSERT_SPECULATIVE as i32,
                std::ptr::null_mut(),
            );
            pg_sys::ExecStoreHeapTuple(tuple, self.new_slot, false);
            (*self.new_slot).tts_tid = (*tuple).t_self;
            let mut conflict = false;
            let recheck = insert_index_tuples(
                self.rri,
                self.new_slot,
                self.estate,
                false,
                true,
                &mut conflict,
                self.arbiters,
                false,
            );
            pg_sys::list_free(recheck);
            let mut tid = (*tuple).t_self;
            if conflict {
                pg_sys::heap_abort_speculative(self.rel, &mut tid);
            } else {
                pg_sys::heap_finish_speculative(self.rel, &mut tid);
            }
            pg_sys::SpeculativeInsertionLockRelease(xid);
            self.after_row(tuple);
            self.wrote |= !conflict;
            !conflict
        }
    }

    /// Replaces the version found at `tid`; false (nothing written) when another transaction
    /// updated or deleted it meanwhile: find the key again.
    pub(crate) fn update(
        &mut self,
        mut tid: pg_sys::ItemPointerData,
        row: &PerformanceRow,
        state: Option<&[u8]>,
    ) -> bool {
        // SAFETY: heap_update of a version found by `find`, waiting for concurrent writers, then
        // the index entries the executor's UPDATE makes.
        unsafe {
            let tuple = self.form(row, state);
            let mut tmfd = pg_sys::TM_FailureData::default();
            let mut lockmode: pg_sys::LockTupleMode::Type = 0;
            let cid = pg_sys::GetCurrentCommandId(true);
            #[cfg(feature = "pg15")]
            let (result, index_entries, summarizing_only) = {
                let r = pg_sys::heap_update(
                    self.rel,
                    &mut tid,
                    tuple,
                    cid,
                    std::ptr::null_mut(),
                    true,
                    &mut tmfd,
                    &mut lockmode,
                );
                let hot = (*(*tuple).t_data).t_infomask2 & pg_sys::HEAP_ONLY_TUPLE as u16 != 0;
                (r, !hot, false)
            };
            #[cfg(not(feature = "pg15"))]
            let (result, index_entries, summarizing_only) = {
                let mut which = pg_sys::TU_UpdateIndexes::TU_None;
                let r = pg_sys::heap_update(
                    self.rel,
                    &mut tid,
                    tuple,
                    cid,
                    std::ptr::null_mut(),
                    true,
                    &mut tmfd,
                    &mut lockmode,
                    &mut which,
                );
                (
                    r,
                    which != pg_sys::TU_UpdateIndexes::TU_None,
                    which == pg_sys::TU_UpdateIndexes::TU_Summarizing,
                )
            };
            let ok = match result {
                pg_sys::TM_Result::TM_Ok => {
                    if index_entries {
                        pg_sys::ExecStoreHeapTuple(tuple, self.new_slot, false);
                        (*self.new_slot).tts_tid = (*tuple).t_self;
                        let recheck = insert_index_tuples(
                            self.rri,
                            self.new_slot,
                            self.estate,
                            true,
                            false,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            summarizing_only,
                        );
                        pg_sys::list_free(recheck);
                    }
                    true
                }
                pg_sys::TM_Result::TM_Updated | pg_sys::TM_Result::TM_Deleted => {
                    if self.xact_snapshot {
                        serialization_failure();
                    }
                    false
                }
                other => raise(
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    format!("slo.slo_performance: unexpected result {other} updating a row the engine found"),
                ),
            };
            self.after_row(tuple);
            self.wrote |= ok;
            ok
        }
    }

    /// Clears the new-tuple slot, frees the tuple and the per-row memory of index expressions.
    ///
    /// # Safety
    /// `tuple` must be the one just written.
    unsafe fn after_row(&mut self, tuple: pg_sys::HeapTuple) {
        pg_sys::ExecClearTuple(self.new_slot);
        pg_sys::heap_freetuple(tuple);
        let econtext = (*self.estate).es_per_tuple_exprcontext;
        if !econtext.is_null() {
            pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        }
    }

    /// Closes everything; later reads in the transaction (the next statement, another pass of
    /// this one) see what was written.
    pub(crate) fn close(self) {
        // SAFETY: everything opened in `open`, released once.
        unsafe {
            pg_sys::index_endscan(self.scan);
            pg_sys::ExecDropSingleTupleTableSlot(self.scan_slot);
            pg_sys::ExecDropSingleTupleTableSlot(self.new_slot);
            pg_sys::ExecCloseIndices(self.rri);
            pg_sys::FreeExecutorState(self.estate);
            pg_sys::list_free(self.arbiters);
            direct_read::close(self.rel);
            if self.wrote {
                pg_sys::CommandCounterIncrement();
            }
        }
    }
}

/// `ExecInsertIndexTuples`, which gained an argument in PostgreSQL 16.
///
/// # Safety
/// As `ExecInsertIndexTuples`.
#[allow(clippy::too_many_arguments)]
unsafe fn insert_index_tuples(
    rri: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    estate: *mut pg_sys::EState,
    update: bool,
    no_dup_err: bool,
    spec_conflict: *mut bool,
    arbiters: *mut pg_sys::List,
    summarizing_only: bool,
) -> *mut pg_sys::List {
    #[cfg(feature = "pg15")]
    {
        let _ = summarizing_only;
        pg_sys::ExecInsertIndexTuples(
            rri,
            slot,
            estate,
            update,
            no_dup_err,
            spec_conflict,
            arbiters,
        )
    }
    #[cfg(not(feature = "pg15"))]
    {
        pg_sys::ExecInsertIndexTuples(
            rri,
            slot,
            estate,
            update,
            no_dup_err,
            spec_conflict,
            arbiters,
            summarizing_only,
        )
    }
}
