//! Writes `slo.slo_performance` rows straight through the heap and its indexes, as PostgreSQL's
//! own catalog code writes catalog rows (`simple_heap_insert`/`simple_heap_update`, then an
//! index entry per index unless the update was HOT).
//!
//! Why not SQL: an `INSERT ... ON CONFLICT DO UPDATE` through SPI costs executor start-up and a
//! foreign-key check per row, about as much as the event's own insert; the engine writes a row
//! for nearly every event.
//!
//! What makes this safe (the engine's locking protocol, see `engine.rs`): every writer of
//! `slo.slo_performance` holds the transaction advisory lock of the row's bucket: the engine,
//! `slo.evaluate` (which only adds missing rows) and `slo.recompute`; and deleting or renaming an
//! SLO takes every bucket. So under the lock, the stored row the engine read is the row it
//! replaces, and a row it did not find cannot appear before it commits. The foreign key to
//! `slo.slo` is kept for its cascades; the engine only writes rows of SLOs that exist in the
//! definitions it re-reads after taking its locks.
//!
//! If an index of the table has expressions or a predicate (a DBA may add one for BI), the rows
//! are written with SQL instead (`write_with_sql`), which maintains any index.
//!
//! Writes `slo.slo_performance` and its indexes; reads nothing else.

use crate::conv::{date_out, time_out, tstz_out};
use crate::direct_read;
use pgrx::pg_sys;
use pgrx::IntoDatum;
use slo_core::engine::PerformanceRow;

const LOCK: pg_sys::LOCKMODE = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;

/// A row to write, and the stored row it replaces (by its tuple id), if any.
pub(crate) struct Write {
    pub row: PerformanceRow,
    pub replaces: Option<pg_sys::ItemPointerData>,
}

/// An open index, with what inserting an entry needs.
struct Index {
    rel: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    unique: bool,
}

/// Writes the rows (in key order). Returns false, having written nothing, when an index of the
/// table cannot be maintained here (expressions or a predicate): the caller writes with SQL.
pub(crate) fn write(table: pg_sys::Relation, writes: &[Write]) -> bool {
    // SAFETY: `table` is slo.slo_performance, open under RowExclusiveLock by the caller; every
    // index opened here is closed before returning (or released by the transaction's abort).
    unsafe {
        let indexes = open_indexes(table);
        let Some(indexes) = indexes else {
            return false;
        };
        let desc = (*table).rd_att;
        let natts = (*desc).natts as usize;
        let cols = crate::direct_read::columns(
            table,
            "slo_performance",
            &crate::direct_read::PERFORMANCE_COLUMNS,
        );
        let now = pg_sys::GetCurrentTransactionStartTimestamp();
        let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsHeapTuple);
        for w in writes {
            let r = &w.row;
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
                Some(pg_sys::Datum::from(now)),
            ];
            for (&c, v) in cols.iter().zip(fields) {
                if let Some(v) = v {
                    values[c] = v;
                    nulls[c] = false;
                }
            }
            let tuple = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            let needs_index_entries = match w.replaces {
                None => {
                    pg_sys::simple_heap_insert(table, tuple);
                    true
                }
                Some(mut old) => {
                    simple_update(table, &mut old, tuple);
                    (*(*tuple).t_data).t_infomask2 & pg_sys::HEAP_ONLY_TUPLE as u16 == 0
                }
            };
            if needs_index_entries {
                pg_sys::ExecStoreHeapTuple(tuple, slot, false);
                for index in &indexes {
                    let mut ivalues = [pg_sys::Datum::from(0); pg_sys::INDEX_MAX_KEYS as usize];
                    let mut inulls = [false; pg_sys::INDEX_MAX_KEYS as usize];
                    pg_sys::FormIndexDatum(
                        index.info,
                        slot,
                        std::ptr::null_mut(),
                        ivalues.as_mut_ptr(),
                        inulls.as_mut_ptr(),
                    );
                    pg_sys::index_insert(
                        index.rel,
                        ivalues.as_mut_ptr(),
                        inulls.as_mut_ptr(),
                        &mut (*tuple).t_self,
                        table,
                        if index.unique {
                            pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES
                        } else {
                            pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO
                        },
                        false,
                        index.info,
                    );
                }
                pg_sys::ExecClearTuple(slot);
            }
            pg_sys::heap_freetuple(tuple);
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        for index in indexes {
            direct_read::close(index.rel);
        }
        // Later reads in this transaction (the next batch, the next statement) see the rows.
        pg_sys::CommandCounterIncrement();
    }
    true
}

/// `simple_heap_update`, whose signature gained an argument in PostgreSQL 16.
///
/// # Safety
/// As `simple_heap_update`.
unsafe fn simple_update(
    table: pg_sys::Relation,
    old: &mut pg_sys::ItemPointerData,
    tuple: pg_sys::HeapTuple,
) {
    #[cfg(feature = "pg15")]
    pg_sys::simple_heap_update(table, old, tuple);
    #[cfg(not(feature = "pg15"))]
    {
        let mut update_indexes = pg_sys::TU_UpdateIndexes::TU_All;
        pg_sys::simple_heap_update(table, old, tuple, &mut update_indexes);
    }
}

/// Opens the table's indexes, or `None` (none left open) when one has expressions or a
/// predicate.
///
/// # Safety
/// `table` must be open.
unsafe fn open_indexes(table: pg_sys::Relation) -> Option<Vec<Index>> {
    let list = pg_sys::RelationGetIndexList(table);
    let mut out = Vec::new();
    let n = if list.is_null() { 0 } else { (*list).length };
    let mut ok = true;
    for i in 0..n {
        let oid = (*(*list).elements.add(i as usize)).oid_value;
        let rel = pg_sys::index_open(oid, LOCK);
        let info = pg_sys::BuildIndexInfo(rel);
        if !(*info).ii_Expressions.is_null() || !(*info).ii_Predicate.is_null() {
            direct_read::close(rel);
            ok = false;
            break;
        }
        out.push(Index {
            rel,
            info,
            unique: (*(*rel).rd_index).indisunique,
        });
    }
    pg_sys::list_free(list);
    if ok {
        Some(out)
    } else {
        for index in out {
            direct_read::close(index.rel);
        }
        None
    }
}
