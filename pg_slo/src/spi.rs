//! SQL statements the extension runs through SPI, planned once per backend and kept for its life
//! (`SPI_keepplan`): PostgreSQL re-plans a kept plan by itself when a table it reads changes
//! shape, so a kept plan is always the statement's current meaning.
//!
//! A statement runs either *fresh* (as a read-write SPI call: after a command-counter increment,
//! with a new snapshot in READ COMMITTED, so it sees what committed before it and this
//! transaction's own writes) or under the calling statement's snapshot (read-only).
//!
//! Touches only SPI; the statements say what they read and write.

use crate::calendar::raise;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::{PgBuiltInOids, PgOid};
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiError, SpiTupleTable};
use std::cell::OnceCell;
use std::thread::LocalKey;

/// Raises an internal error for a failed SPI call, saying what was being done.
pub(crate) fn spi_failed(doing: &str, e: SpiError) -> ! {
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

/// The kept plan of one statement, in a backend-local cell.
pub(crate) type Plan = LocalKey<OnceCell<OwnedPreparedStatement>>;

impl Statement {
    /// Runs the statement (planning and keeping it on first use) and hands its result to `read`.
    pub(crate) fn run<R>(
        &self,
        plan: &'static Plan,
        client: &mut SpiClient<'_>,
        args: &[DatumWithOid<'_>],
        read: impl FnOnce(SpiTupleTable<'_>) -> Result<R, SpiError>,
    ) -> R {
        plan.with(|cell| {
            let kept = match cell.get() {
                Some(kept) => kept,
                None => {
                    let types: Vec<PgOid> = self.args.iter().map(|&t| PgOid::BuiltIn(t)).collect();
                    let prepared = if self.fresh {
                        client.prepare_mut(self.sql, &types)
                    } else {
                        client.prepare(self.sql, &types)
                    }
                    .unwrap_or_else(|e| spi_failed(self.doing, e));
                    // A concurrent fill is impossible (one thread per backend).
                    let _ = cell.set(prepared.keep());
                    cell.get().expect("just set")
                }
            };
            let result = if self.fresh {
                client.update(kept, None, args)
            } else {
                client.select(kept, None, args)
            };
            result
                .and_then(read)
                .unwrap_or_else(|e| spi_failed(self.doing, e))
        })
    }
}
