//! Statements the engine runs on every event, prepared once per backend with a generic plan
//! and kept (`SPI_prepare_cursor` with `CURSOR_OPT_GENERIC_PLAN`, then `SPI_keepplan`).
//!
//! pgrx's prepared statements let PostgreSQL choose a custom plan per execution, which for the
//! engine's array-parameter statements means planning them again on every one-row insert (a
//! sixth of its cost). A generic plan is planned once; PostgreSQL still re-plans it by itself
//! when a table it reads changes (DDL, or new statistics from ANALYZE).
//!
//! Every statement runs read-write, so in READ COMMITTED each execution takes a new snapshot
//! (the engine relies on that to see events committed while it waited for its locks).
//!
//! Must be called inside an SPI connection (`Spi::connect`); touches nothing else.

use crate::calendar::raise;
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use std::cell::RefCell;
use std::ffi::CString;
use std::thread::LocalKey;

/// A kept plan. Plans live as long as the backend; they are never freed.
pub(crate) struct KeptPlan(*mut pg_sys::_SPI_plan);

/// Where a statement's kept plan lives: one per statement, per backend.
pub(crate) type PlanSlot = LocalKey<RefCell<Option<KeptPlan>>>;

/// Executes the statement of `slot` (preparing and keeping it on first use) with `args`
/// (`None` for NULL), and returns how many rows it returned or wrote.
pub(crate) fn execute(
    slot: &'static PlanSlot,
    sql: &str,
    arg_types: &[pg_sys::Oid],
    args: &[Option<pg_sys::Datum>],
) -> u64 {
    assert_eq!(arg_types.len(), args.len(), "one type per argument");
    let plan = slot.with(|cell| {
        if let Some(p) = cell.borrow().as_ref() {
            return p.0;
        }
        let text = CString::new(sql).expect("statements have no NUL byte");
        let mut types = arg_types.to_vec();
        // SAFETY: inside an SPI connection (the caller's contract); the text and the type
        // array outlive the call.
        let plan = unsafe {
            pg_sys::SPI_prepare_cursor(
                text.as_ptr(),
                types.len() as i32,
                types.as_mut_ptr(),
                pg_sys::CURSOR_OPT_GENERIC_PLAN as i32,
            )
        };
        // SAFETY: a plan just prepared by SPI_prepare_cursor (checked for null first).
        if plan.is_null() || unsafe { pg_sys::SPI_keepplan(plan) } != 0 {
            raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("preparing an engine statement failed: {sql}"),
            );
        }
        *cell.borrow_mut() = Some(KeptPlan(plan));
        plan
    });
    let mut values: Vec<pg_sys::Datum> = args
        .iter()
        .map(|a| a.unwrap_or(pg_sys::Datum::from(0)))
        .collect();
    let nulls: Vec<std::ffi::c_char> = args
        .iter()
        .map(|a| if a.is_some() { b' ' } else { b'n' } as std::ffi::c_char)
        .collect();
    // SAFETY: a kept plan with as many arguments as given; read-write, no row limit.
    let status =
        unsafe { pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), false, 0) };
    if status < 0 {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("an engine statement failed with SPI status {status}: {sql}"),
        );
    }
    // SAFETY: set by the execution above.
    unsafe { pg_sys::SPI_processed }
}
