//! `GET /metrics` after real traffic: valid Prometheus text with the expected series.

use crate::helpers::{event, event_with, TestApp, TestDb};
use chrono::Utc;
use prometheus_parse::{Sample, Scrape, Value as PValue};
use serde_json::json;

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s: &&Sample| {
            s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .map(|s| match &s.value {
            PValue::Counter(v) | PValue::Gauge(v) | PValue::Untyped(v) => *v,
            PValue::Histogram(h) => h.last().map(|b| b.count).unwrap_or(0.0),
            PValue::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_after_traffic_parse_as_prometheus_text_with_the_expected_series() {
    let db = TestDb::new().await;
    // An SLO due today in UTC, for the instance gauge: 00:00 to 23:59:59 of each day.
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.calendar (calendar_id, name, run_weekdays) VALUES ('all', 'All days', '{1,2,3,4,5,6,7}');
             INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone) VALUES ('probe', 'Probe', 'overdrafts', 'all', 'UTC');
             INSERT INTO slo.slo_job VALUES ('probe', 'od-calc', '00:00', '23:59:59', 'calendar');",
        )
        .await
        .unwrap();
    let app = TestApp::spawn(&db).await;

    let now = Utc::now();
    let mut today = event();
    today["status_time"] = json!(now.to_rfc3339());
    today["business_date"] = json!(now.date_naive().to_string());
    assert_eq!(app.post(&today).await.status, 201);
    assert_eq!(app.post(&today).await.status, 201, "a duplicate");
    let bad = json!([
        event_with("status", json!("done")),
        event_with("app_id", json!(""))
    ]);
    assert_eq!(app.post(&bad).await.status, 422);
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.get("/no/such/path").await.status, 404);

    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");

    let requests = |route: &str, method: &str, status: &str| {
        value(
            &scrape,
            "pg_slo_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("/v1/job-status", "POST", "201"), Some(2.0));
    assert_eq!(requests("/v1/job-status", "POST", "422"), Some(1.0));
    assert_eq!(requests("/healthz", "GET", "200"), Some(1.0));
    assert_eq!(
        requests("unmatched", "GET", "404"),
        Some(1.0),
        "raw paths never become labels"
    );
    assert_eq!(
        value(
            &scrape,
            "pg_slo_http_request_duration_seconds",
            &[("route", "/v1/job-status"), ("method", "POST")]
        ),
        Some(3.0),
        "three POSTs timed"
    );
    assert_eq!(
        value(&scrape, "pg_slo_events_accepted_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "pg_slo_events_duplicates_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "pg_slo_events_rejected_total",
            &[("rule", "unknown_status")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "pg_slo_events_rejected_total",
            &[("rule", "empty")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "pg_slo_events_rejected_total",
            &[("rule", "in_future")]
        ),
        Some(0.0),
        "every rule has a series from the start"
    );
    assert_eq!(
        value(&scrape, "pg_slo_db_pool_max_connections", &[]),
        Some(4.0)
    );
    assert!(value(&scrape, "pg_slo_db_pool_connections", &[("state", "idle")]).unwrap() >= 1.0);
    assert!(value(
        &scrape,
        "pg_slo_db_pool_connections",
        &[("state", "in_use")]
    )
    .is_some());
    assert_eq!(
        value(&scrape, "pg_slo_db_pool_waiting_requests", &[]),
        Some(0.0)
    );
    assert_eq!(value(&scrape, "pg_slo_database_up", &[]), Some(1.0));
    assert_eq!(
        value(
            &scrape,
            "pg_slo_instances_due_today",
            &[("state", "running")]
        ),
        Some(1.0)
    );
    for state in ["pending", "met", "missed", "late"] {
        assert_eq!(
            value(&scrape, "pg_slo_instances_due_today", &[("state", state)]),
            Some(0.0),
            "{state}"
        );
    }
    for family in [
        "pg_slo_http_requests_total",
        "pg_slo_http_request_duration_seconds",
        "pg_slo_instances_due_today",
    ] {
        assert!(
            scrape.docs.contains_key(family),
            "{family} has its HELP line"
        );
    }
}
