//! The pg_slo HTTP API: a thin shell that parses, validates and inserts job-status events.
//!
//! - [`config`]: command line and environment.
//! - [`admin`]: the admin commands of the binary (`pg-slo token issue|list|revoke`).
//! - [`auth`]: who is posting: pg_slo tokens and JWTs, the token cache, token use reporting.
//! - [`limits`]: the request time limit and the per-client rate limit.
//! - [`telemetry`]: `tracing` set-up (text or JSON, one switch).
//! - [`startup`]: builds the router and the server; exposes the bound port for tests.
//! - [`routes`]: the HTTP handlers, one module per resource.
//! - [`store`]: the database: connection pool and the job-status repository.
//! - [`error`]: the one error type of the HTTP boundary, rendered as problem+json.
//! - [`observe`]: per-request span, request id and the one log line per request.

pub mod admin;
pub mod auth;
pub mod config;
pub mod error;
pub mod limits;
pub mod observe;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
