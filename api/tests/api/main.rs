//! Integration tests of the API service against the real PostgreSQL: each test has its own
//! database with `CREATE EXTENSION pg_slo`, and the real application on a free port.

mod auth;
mod constraints;
mod definitions;
mod demo;
mod group_commit;
mod helpers;
mod ingest;
mod job_status;
mod jwt;
mod metrics;
mod notify;
mod openapi;
mod outage;
mod report;
mod roles;
