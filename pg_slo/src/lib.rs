//! The pg_slo extension: the SQL objects of schema `slo` (CONTRACT sections 1 to 3).
//!
//! What plain SQL does well stays SQL: the tables, their checks and the triggers live in
//! `src/sql/*.sql`, loaded here in order. Rust functions come in beside the SQL they serve.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

// Definitions and events: tables, keys, checks, comments, and the job-registration trigger.
extension_sql_file!("sql/schema.sql", name = "schema", bootstrap);
