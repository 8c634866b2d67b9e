//! `GET /metrics`: Prometheus text (exposition format 0.0.4).
//!
//! Counted as requests pass (middleware [`track`]): requests by route, method and status, and
//! their latency; events accepted and duplicates (from the stored batch's [`InsertOutcome`]);
//! statements and events of group commit (counted by [`crate::group_commit`]);
//! problems of refused events by rule code (from [`RejectedRules`]). Read at each scrape: the
//! connection pool's use, and from the database the SLO instances due today by state. Each
//! application instance has its own registry. Touches the request's route, the response's
//! extensions, the pool's status, and `slo.slo_performance_report` (read only).

use crate::event_writer::InsertOutcome;
use crate::startup::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use slo_core::Rule;
use std::time::Instant;

/// The media type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The rule codes of the problems in a refused batch, one per problem; set on a `422` response
/// for [`track`] to count.
#[derive(Debug, Clone)]
pub struct RejectedRules(pub Vec<&'static str>);

/// The states of an SLO instance, in the contract's order.
const STATES: [&str; 5] = ["pending", "running", "met", "missed", "late"];

/// Every metric of one application instance.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    events_accepted: IntCounter,
    events_duplicates: IntCounter,
    events_rejected: IntCounterVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    pool_waiting: IntGauge,
    instances_today: IntGaugeVec,
    database_up: IntGauge,
    /// Statements that stored single events of concurrent requests together.
    pub group_commit_statements: IntCounter,
    /// Single events stored through those statements.
    pub group_commit_events: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "pg_slo_http_requests_total",
                "HTTP requests answered, by route, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "pg_slo_http_request_duration_seconds",
                "Time from request to response, by route and method.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        let events_accepted = IntCounter::new(
            "pg_slo_events_accepted_total",
            "Job-status events stored (new rows of slo.job_status).",
        )
        .expect("valid metric");
        let events_duplicates = IntCounter::new(
            "pg_slo_events_duplicates_total",
            "Job-status events received again and not stored (already there).",
        )
        .expect("valid metric");
        let events_rejected = IntCounterVec::new(
            Opts::new(
                "pg_slo_events_rejected_total",
                "Problems found in refused job-status bodies (422), by rule code: one per problem listed.",
            ),
            &["rule"],
        )
        .expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "pg_slo_db_pool_connections",
                "Database connections held by the pool, by state (in_use, idle).",
            ),
            &["state"],
        )
        .expect("valid metric");
        let pool_max = IntGauge::new(
            "pg_slo_db_pool_max_connections",
            "The most connections the pool opens.",
        )
        .expect("valid metric");
        let pool_waiting = IntGauge::new(
            "pg_slo_db_pool_waiting_requests",
            "Requests waiting for a database connection.",
        )
        .expect("valid metric");
        let instances_today = IntGaugeVec::new(
            Opts::new(
                "pg_slo_instances_due_today",
                "SLO instances due today (expected end on today's date in the SLO's time zone), by state.",
            ),
            &["state"],
        )
        .expect("valid metric");
        let database_up = IntGauge::new(
            "pg_slo_database_up",
            "1 when the last scrape could read the database, 0 otherwise.",
        )
        .expect("valid metric");
        let group_commit_statements = IntCounter::new(
            "pg_slo_group_commit_statements_total",
            "Statements that stored the single events of concurrent requests together (group commit).",
        )
        .expect("valid metric");
        let group_commit_events = IntCounter::new(
            "pg_slo_group_commit_events_total",
            "Single events stored through group commit; divided by the statements, the average group.",
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(events_accepted.clone()),
            Box::new(events_duplicates.clone()),
            Box::new(events_rejected.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_max.clone()),
            Box::new(pool_waiting.clone()),
            Box::new(instances_today.clone()),
            Box::new(database_up.clone()),
            Box::new(group_commit_statements.clone()),
            Box::new(group_commit_events.clone()),
        ] {
            registry.register(c).expect("each metric registered once");
        }
        // Series that exist from the start, so dashboards and alerts see zeros, not gaps.
        for rule in Rule::ALL {
            events_rejected.with_label_values(&[rule.code()]);
        }
        for state in ["in_use", "idle"] {
            pool_connections.with_label_values(&[state]);
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            events_accepted,
            events_duplicates,
            events_rejected,
            pool_connections,
            pool_max,
            pool_waiting,
            instances_today,
            database_up,
            group_commit_statements,
            group_commit_events,
        }
    }

    fn observe(&self, route: &str, method: &str, response: &Response, seconds: f64) {
        self.http_requests
            .with_label_values(&[route, method, response.status().as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(seconds);
        if let Some(outcome) = response.extensions().get::<InsertOutcome>() {
            self.events_accepted.inc_by(outcome.accepted);
            self.events_duplicates.inc_by(outcome.duplicates);
        }
        if let Some(RejectedRules(rules)) = response.extensions().get::<RejectedRules>() {
            for rule in rules {
                self.events_rejected.with_label_values(&[rule]).inc();
            }
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Middleware: counts each request by route (the matched pattern, never the raw path), method and
/// status, times it, and counts the events of `POST /v1/job-status`.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe(&route, &method, &response, started.elapsed().as_secs_f64());
    response
}

/// SLO instances due today, by state. The business-date bound (an instance is due at most 45
/// days after its business date) lets the index on business dates find the rows.
const INSTANCES_TODAY: &str = "\
SELECT r.state, count(*)
FROM slo.slo_performance_report r
JOIN slo.slo s ON s.slo_id = r.slo_id
WHERE r.business_date BETWEEN current_date - 45 AND current_date + 1
  AND r.expected_end >= (date_trunc('day', now() AT TIME ZONE s.time_zone) AT TIME ZONE s.time_zone)
  AND r.expected_end < ((date_trunc('day', now() AT TIME ZONE s.time_zone) + interval '1 day') AT TIME ZONE s.time_zone)
GROUP BY r.state";

/// `GET /metrics`: reads the pool and the database, then writes every metric. A database that
/// cannot be read sets `pg_slo_database_up` to 0 and leaves the instance counts as they were;
/// the scrape itself still succeeds.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.", body = String,
               content_type = "text/plain; version=0.0.4; charset=utf-8"))
)]
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let status = state.pool.status();
    let idle = status.available as i64;
    m.pool_connections.with_label_values(&["idle"]).set(idle);
    m.pool_connections
        .with_label_values(&["in_use"])
        .set(status.size as i64 - idle);
    m.pool_max.set(status.max_size as i64);
    m.pool_waiting.set(status.waiting as i64);
    match instances_today(&state).await {
        Ok(counts) => {
            for s in STATES {
                let n = counts
                    .iter()
                    .find(|(st, _)| st == s)
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                m.instances_today.with_label_values(&[s]).set(n);
            }
            m.database_up.set(1);
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "metrics: cannot read SLO instances");
            m.database_up.set(0);
        }
    }
    let mut body = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut body) {
        tracing::error!(error = %e, "metrics: encoding failed");
    }
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    response
}

async fn instances_today(state: &AppState) -> anyhow::Result<Vec<(String, i64)>> {
    let client = state.pool.get().await?;
    let rows = client.query(INSTANCES_TODAY, &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
