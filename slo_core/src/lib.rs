//! Pure pg_slo domain logic, shared by the extension (`pg_slo`) and the HTTP API (`api`).
//!
//! This crate has no pgrx and no tokio: everything in it is plain Rust, unit-tested without
//! PostgreSQL, so the API and the extension validate and compute the same way.
//!
//! - [`ident`]: identifiers (application, job, run, host ids) as validated newtypes.
//! - [`event`]: a job-status event, parsed from the API's JSON shape with every problem collected.
//! - [`violation`]: one broken rule, named by event index, field and rule code.
//! - [`calendar`]: business calendars and run-date arithmetic.
//! - [`engine`]: the reference computation of SLO performance from definitions and events.
//! - [`day_state`]: the state of a daily SLO day the engine keeps beside its row (a semilattice).
//! - [`holiday`]: holiday rules as code (the Federal Reserve's, and room for more markets).
//! - [`definitions`]: SLO definitions as code: the definitions file, its checks, its writer, the plan.
//! - [`schedule`]: expected times in an SLO's time zone, intraday periods, definition checks.
//! - [`token`]: client tokens (text form, hash, hint) and the shape of a bearer header.

pub mod calendar;
pub mod day_state;
pub mod definitions;
pub mod engine;
pub mod event;
mod fnv;
pub mod holiday;
pub mod ident;
pub mod schedule;
pub mod token;
pub mod violation;

pub use event::{
    parse_events, JobStatusEvent, ParsedBatch, RejectedBatch, Status, MAX_BATCH_EVENTS,
};
pub use ident::{Identifier, MAX_IDENTIFIER_LEN};
pub use violation::{Rule, Violation};
