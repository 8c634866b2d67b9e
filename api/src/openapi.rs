//! `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated with utoipa from the
//! handlers' `#[utoipa::path]` attributes and the types that the handlers really return
//! ([`crate::event_writer::InsertOutcome`], [`crate::error::Problem`]). The job-status body is parsed
//! by hand (`slo_core::parse_events`, every problem collected), so its schema is described here
//! field by field; a test checks that it lists exactly `slo_core::event::EVENT_FIELDS`.
//! Touches nothing: the document is built once and served as is.

use axum::Json;
use serde::Serialize;
use std::sync::OnceLock;
use utoipa::{OpenApi, ToSchema};

/// A job-status event, as schedulers post it (CONTRACT section 3). Any other field is refused.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JobStatusEvent)]
#[serde(deny_unknown_fields)]
pub struct JobStatusEventSchema {
    /// A known application (`slo.application`). 1 to 128 characters, no control characters, no
    /// leading or trailing white space (as every identifier).
    #[schema(min_length = 1, max_length = 128, example = "overdrafts")]
    pub app_id: String,
    /// The job; an unknown job of a known application is registered under it on its first event.
    #[schema(min_length = 1, max_length = 128, example = "od-calc")]
    pub job_id: String,
    #[schema(example = "start")]
    pub status: StatusSchema,
    /// RFC 3339 with an offset; at most 15 minutes ahead of the server's clock.
    #[schema(format = DateTime, example = "2026-11-17T00:30:00-05:00")]
    pub status_time: String,
    /// The business date of the run, within 31 days of the date of `status_time`.
    #[schema(format = Date, example = "2026-11-16")]
    pub business_date: String,
    /// Changes when a job is restarted after a failure.
    #[schema(min_length = 1, max_length = 128, example = "run-1")]
    pub run_id: String,
    /// Where the job ran.
    #[schema(min_length = 1, max_length = 128, example = "batch01")]
    pub host_id: String,
    /// The nominal period of an intraday run, `HH:MM` or `HH:MM:SS`.
    #[schema(pattern = r"^\d{2}:\d{2}(:\d{2})?$", example = "06:30")]
    pub period_start: Option<String>,
}

/// What happened to the run.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Status)]
#[serde(rename_all = "snake_case")]
pub enum StatusSchema {
    Start,
    Succeed,
    Fail,
}

/// One event, or a batch of 1 to 1000 stored all or nothing.
pub struct JobStatusBodySchema;

impl utoipa::PartialSchema for JobStatusBodySchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
        use utoipa::openapi::Ref;
        let event = || Ref::from_schema_name("JobStatusEvent");
        OneOfBuilder::new()
            .description(Some(
                "One event, or an array of 1 to 1000 events stored all or nothing.",
            ))
            .item(event())
            .item(
                ArrayBuilder::new()
                    .items(event())
                    .min_items(Some(1))
                    .max_items(Some(slo_core::MAX_BATCH_EVENTS)),
            )
            .into()
    }
}

impl ToSchema for JobStatusBodySchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "JobStatusBody".into()
    }
}

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (the process is alive) or `ready` (the database can be used).
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pg_slo API",
        description = "Job schedulers post job status events (start, succeed, fail); the pg_slo PostgreSQL \
                       extension computes SLO performance from them. Errors are RFC 9457 problem documents \
                       (application/problem+json) and never carry database error text.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        crate::routes::job_status::post_job_status,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::metrics::get_metrics,
        get_openapi,
    ),
    components(schemas(
        JobStatusBodySchema,
        JobStatusEventSchema,
        StatusSchema,
        crate::event_writer::InsertOutcome,
        crate::error::Problem,
        crate::error::ProblemItem,
        Health
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "job-status", description = "Job status events from schedulers"),
        (name = "operations", description = "Health, readiness, metrics and this document")
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme: a client token (`pg-slo token issue`) or a signed JWT.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A client token issued by `pg-slo token issue` (shown once), or a signed JWT \
                         when the service is configured for them.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).expect("the document serialises"))
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json"))
)]
pub async fn get_openapi() -> Json<&'static serde_json::Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_schema_lists_exactly_the_fields_the_parser_accepts() {
        let doc = document();
        let props = doc["components"]["schemas"]["JobStatusEvent"]["properties"]
            .as_object()
            .expect("properties");
        let mut documented: Vec<&str> = props.keys().map(String::as_str).collect();
        documented.sort_unstable();
        let mut parsed = slo_core::event::EVENT_FIELDS.to_vec();
        parsed.sort_unstable();
        assert_eq!(documented, parsed);
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
