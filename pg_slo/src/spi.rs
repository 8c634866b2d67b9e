//! SQL statements the extension runs through SPI, planned once per backend as generic plans and
//! kept for its life (`SPI_prepare_cursor` with `CURSOR_OPT_GENERIC_PLAN`, `SPI_keepplan`).
//! PostgreSQL re-plans a kept plan by itself when a table it reads changes shape, so a kept plan
//! is always the statement's current meaning.
//!
//! Why generic plans: the statements take arrays, whose size a custom plan sees (one element for
//! a one-row insert) and a generic plan does not; left to choose, the plan cache would keep
//! making a custom plan, that is plan the statement again, on every call (the engine's upsert
//! cost a one-row insert more than the insert itself that way).
//!
//! A statement runs either *fresh* (as a read-write SPI call: after a command-counter increment,
//! with a new snapshot in READ COMMITTED, so it sees what committed before it and this
//! transaction's own writes) or under the calling statement's snapshot (read-only).
//!
//! Touches only SPI; the statements say what they read and write.

use crate::calendar::raise;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::{PgBuiltInOids, PgOid};
use pgrx::spi::{SpiError, SpiHeapTupleData};
use std::cell::Cell;
use std::ffi::CString;
use std::thread::LocalKey;

/// Raises an internal error for a failed SPI call, saying what was being done.
pub(crate) fn spi_failed(doing: &str, e: impl std::fmt::Display) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("{doing}: {e}"),
    )
}

/// One statement: its text, the types of its parameters, and whether it runs fresh.
pub(crate) struct Statement {
    pub sql: &'static str,
    pub args: &'static [PgBuiltInOids],
    pub fresh: bool,
    /// What it does, for error messages.
    pub doing: &'static str,
}

/// The kept plan of one statement, in a backend-local cell (never freed: kept for the backend's
/// life, as the plan cache keeps it valid).
pub(crate) type Plan = LocalKey<Cell<Option<pg_sys::SPIPlanPtr>>>;

/// The rows a statement returned, each with its columns (1-based, as SPI numbers them).
pub(crate) type Rows<'a> = Vec<SpiHeapTupleData<'a>>;

impl Statement {
    /// Runs the statement (planning and keeping it on first use) inside an SPI connection the
    /// caller holds (`Spi::connect_mut`), and hands its rows to `read`.
    pub(crate) fn run<R>(
        &self,
        plan: &'static Plan,
        args: &[DatumWithOid<'_>],
        read: impl FnOnce(Rows<'_>) -> Result<R, SpiError>,
    ) -> R {
        let kept = plan.get().unwrap_or_else(|| {
            let kept = self.prepare();
            plan.set(Some(kept));
            kept
        });
        let mut values: Vec<pg_sys::Datum> = Vec::with_capacity(args.len());
        let mut nulls: Vec<std::os::raw::c_char> = Vec::with_capacity(args.len());
        for a in args {
            match a.datum() {
                Some(d) => {
                    values.push(d.sans_lifetime());
                    nulls.push(b' ' as std::os::raw::c_char);
                }
                None => {
                    values.push(pg_sys::Datum::from(0usize));
                    nulls.push(b'n' as std::os::raw::c_char);
                }
            }
        }
        // SAFETY: the plan was prepared for exactly these parameter types (checked by count
        // below), and the datums live through the call; the caller holds an SPI connection. An
        // ERROR raised by the statement propagates as PostgreSQL's own.
        let rows = unsafe {
            if pg_sys::SPI_getargcount(kept) as usize != args.len() {
                spi_failed(self.doing, "wrong number of parameters");
            }
            pg_sys::SPI_tuptable = std::ptr::null_mut();
            let status = pg_sys::SPI_execute_plan(
                kept,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
                !self.fresh,
                0,
            );
            if status < 0 {
                spi_failed(self.doing, format!("SPI status {status}"));
            }
            let table = pg_sys::SPI_tuptable;
            let mut rows = Vec::new();
            if !table.is_null() {
                let n = pg_sys::SPI_processed as usize;
                rows.reserve(n);
                for i in 0..n {
                    let tuple = *(*table).vals.add(i);
                    if let Some(row) = SpiHeapTupleData::new((*table).tupdesc, tuple)
                        .unwrap_or_else(|e| spi_failed(self.doing, e))
                    {
                        rows.push(row);
                    }
                }
            }
            rows
        };
        read(rows).unwrap_or_else(|e| spi_failed(self.doing, e))
    }

    /// Plans the statement once, as a generic plan, and keeps it.
    fn prepare(&self) -> pg_sys::SPIPlanPtr {
        let sql = CString::new(self.sql).expect("statements hold no NUL");
        let mut types: Vec<pg_sys::Oid> = self
            .args
            .iter()
            .map(|&t| PgOid::BuiltIn(t).value())
            .collect();
        // SAFETY: SPI_prepare_cursor copies what it needs of its arguments; the plan it returns
        // is moved out of the SPI procedure's memory by SPI_keepplan.
        unsafe {
            let plan = pg_sys::SPI_prepare_cursor(
                sql.as_ptr(),
                types.len() as i32,
                types.as_mut_ptr(),
                pg_sys::CURSOR_OPT_GENERIC_PLAN as i32,
            );
            if plan.is_null() {
                let status = std::ptr::addr_of!(pg_sys::SPI_result).read();
                spi_failed(
                    self.doing,
                    format!("preparing failed (SPI status {status})"),
                );
            }
            if pg_sys::SPI_keepplan(plan) != 0 {
                spi_failed(self.doing, "keeping the plan failed");
            }
            plan
        }
    }
}
