//! The pg_slo HTTP API: a thin shell that parses, validates and inserts job-status events.
//!
//! - [`config`]: command line and environment.
//! - [`admin`]: the admin commands of the binary (`pg-slo token issue|list|revoke`).
//! - [`auth`]: who is posting: pg_slo tokens and JWTs, the token cache, token use reporting.
//! - [`limits`]: the request time limit and the per-client rate limit.
//! - [`telemetry`]: `tracing` set-up (text or JSON, one switch).
//! - [`startup`]: builds the router and the server; exposes the bound port for tests.
//! - [`routes`]: the HTTP handlers, one module per resource.
//! - [`store`]: the database: connection pool, and whether a client may post.
//! - [`event_writer`]: the one writer of `slo.job_status`: every statement that inserts events.
//! - [`group_commit`]: single events of concurrent requests stored together, one commit.
//! - [`error`]: the one error type of the HTTP boundary, rendered as problem+json.
//! - [`observe`]: per-request span, request id and the one log line per request.
//! - [`definitions`]: `pg-slo apply` and `pg-slo export`, SLO definitions as code.
//! - [`demo`]: `pg-slo demo`, a simulated scheduler posting a realistic day (and history).
//! - [`dbconn`]: the one database connection of a command-line command.
//! - [`metrics`]: `GET /metrics`, Prometheus text.
//! - [`notify`]: `pg-slo notify`, delivering alerts to the log and to webhooks.
//! - [`openapi`]: `GET /openapi.json`, the OpenAPI 3.1 document generated from the code.
//! - [`report`]: `pg-slo report`, today's SLO states as a table.
//! - [`pg_types`]: PostgreSQL `interval` for tokio-postgres.
//! - [`kafka`]: Kafka connection settings and librdkafka's log, shared by the two below.
//! - [`ingest`]: `pg-slo ingest kafka`, the consumer that stores events from Kafka.
//! - [`publish`]: publishing mode of the API (`serve --publish`): events to Kafka, `202`.
//! - [`backfill`]: `pg-slo backfill`, job-status history from NDJSON or CSV through COPY.

pub mod admin;
pub mod auth;
pub mod backfill;
pub mod config;
pub mod dbconn;
pub mod definitions;
pub mod demo;
pub mod error;
pub mod event_writer;
pub mod group_commit;
pub mod ingest;
pub mod kafka;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod openapi;
pub mod pg_types;
pub mod publish;
pub mod report;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
