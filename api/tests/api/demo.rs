//! The demo runs to completion against the real API and database: the brief's SLOs on the demo
//! day end as the story says, 60 days of history are stored, and a second run changes nothing.

use crate::helpers::{TestApp, TestDb};
use api::dbconn::DbArgs;
use api::definitions::{self, ApplyArgs};
use api::demo::{self, DemoArgs};
use api::report::{self, Color, ReportArgs};
use std::path::PathBuf;
use std::time::Instant;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/foxfire.toml")
}

#[tokio::test]
async fn the_demo_posts_a_day_and_sixty_days_of_history_and_the_report_shows_the_story() {
    let db = TestDb::new().await;
    let url = db.url();
    definitions::apply(
        &ApplyArgs {
            file: example(),
            dry_run: false,
            allow_delete: false,
            recompute_from: None,
            db: DbArgs {
                database_url: url.clone(),
            },
        },
        &mut Vec::new(),
    )
    .await
    .unwrap();
    let token = db
        .issue_token("demo", &["overdrafts", "decision_support", "deposits"])
        .await;
    let app = TestApp::spawn_at(url.clone(), Some(token.clone()), |_| {}).await;
    let args = DemoArgs {
        api_url: format!("http://{}", app.addr),
        token: Some(token),
        definitions: example(),
        business_date: Some("2026-11-20".parse().unwrap()),
        history_days: 60,
        fail_job: "od-calc".into(),
        late_job: "dss-load-od".into(),
        skip_job: "od-activity-report".into(),
        seed: 42,
        batch_size: 500,
        database_url: None,
    };
    let started = Instant::now();
    let outcome = demo::run(&args).await.unwrap();
    eprintln!(
        "demo: {} events in {} requests, {:?}",
        outcome.events,
        outcome.requests,
        started.elapsed()
    );
    assert_eq!(outcome.accepted as usize, outcome.events);
    assert_eq!(outcome.duplicates, 0);
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job_status").await as usize,
        outcome.events
    );
    assert_eq!(
        db.count("SELECT count(DISTINCT business_date) FROM slo.job_status")
            .await,
        61,
        "the demo day and 60 days of history"
    );

    let rows = report::rows(&ReportArgs {
        business_date: Some("2026-11-20".parse().unwrap()),
        late_days: 0,
        slos: Vec::new(),
        color: Color::Never,
        db: DbArgs {
            database_url: url.clone(),
        },
    })
    .await
    .unwrap();
    let daily: Vec<(&str, &str, i32, bool)> = rows
        .iter()
        .filter(|r| r.period_start.is_none())
        .map(|r| {
            (
                r.slo_id.as_str(),
                r.state.as_str(),
                r.failed_runs,
                r.slack_breached,
            )
        })
        .collect();
    assert_eq!(
        daily,
        [
            ("od-report", "late", 0, true),
            ("dss-load", "missed", 1, true),
            ("od-data-for-dss", "met", 1, false),
        ],
        "late first, then missed, then met"
    );
    let txn: Vec<&str> = rows
        .iter()
        .filter(|r| r.slo_id == "txn-summary-30m")
        .map(|r| r.state.as_str())
        .collect();
    assert_eq!(txn.len(), 25);
    assert_eq!(txn.iter().filter(|s| **s == "missed").count(), 1);
    assert_eq!(txn.iter().filter(|s| **s == "met").count(), 24);
    let text = report::render("T", &rows, false);
    assert!(
        text.contains("28 instances: 1 late, 2 missed, 0 running, 0 pending, 25 met"),
        "{text}"
    );

    // History: the slowing load misses more often in the last weeks than in the first ones.
    let misses = |from: &str, to: &str| {
        format!(
            "SELECT count(*) FROM slo.slo_performance_report WHERE slo_id = 'dss-load' AND state = 'missed' \
             AND business_date BETWEEN '{from}' AND '{to}'"
        )
    };
    assert!(
        db.count(&misses("2026-10-23", "2026-11-19")).await
            > db.count(&misses("2026-09-21", "2026-10-22")).await
    );

    // Running it again posts the same events: all duplicates.
    let again = demo::run(&args).await.unwrap();
    assert_eq!(
        (again.accepted, again.duplicates as usize),
        (0, outcome.events)
    );
}
