//! `pg-slo report` against the database: today's instances by each SLO's time zone, older ones
//! only while still late, late ones first; or one business date; or some SLOs.

use crate::helpers::TestDb;
use api::dbconn::DbArgs;
use api::report::{self, Color, ReportArgs};
use chrono::{Days, NaiveDate, Utc};

fn args(db: &TestDb, business_date: Option<NaiveDate>, slos: &[&str]) -> ReportArgs {
    ReportArgs {
        business_date,
        late_days: 3,
        slos: slos.iter().map(|s| s.to_string()).collect(),
        color: Color::Never,
        db: DbArgs {
            database_url: db.url(),
        },
    }
}

#[tokio::test]
async fn today_shows_what_is_due_today_and_what_is_still_late_late_first() {
    let db = TestDb::new().await;
    let today = Utc::now().date_naive();
    let yesterday = today.checked_sub_days(Days::new(1)).unwrap();
    let client = db.client().await;
    client
        .batch_execute(&format!(
            "INSERT INTO slo.application VALUES ('ops', 'Ops');
             INSERT INTO slo.job VALUES ('other', 'ops', 'Other job');
             INSERT INTO slo.calendar (calendar_id, name, run_weekdays) VALUES
               ('all', 'All days', '{{1,2,3,4,5,6,7}}'), ('not_today', 'All days but today', '{{1,2,3,4,5,6,7}}');
             INSERT INTO slo.calendar_exception VALUES ('not_today', '{today}', false);
             INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone) VALUES
               ('probe', 'Due by the end of each UTC day', 'overdrafts', 'all', 'UTC'),
               ('done', 'Done yesterday', 'ops', 'not_today', 'UTC');
             INSERT INTO slo.slo_job VALUES
               ('probe', 'od-calc', '00:00', '23:59:59', 'calendar'),
               ('done', 'other', '00:00', '23:59:59', 'calendar');
             INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id) VALUES
               ('ops', 'other', 'start', '{yesterday} 01:00+00', '{yesterday}', 'r1', 'h'),
               ('ops', 'other', 'succeed', '{yesterday} 02:00+00', '{yesterday}', 'r1', 'h'),
               ('overdrafts', 'od-calc', 'start', now() - interval '1 second', '{today}', 'r1', 'h');
             SELECT slo.evaluate();"
        ))
        .await
        .unwrap();

    // slo.evaluate looked back three days: the instances of two days ago are late as well.
    let rows = report::rows(&args(&db, None, &[])).await.unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows[..3].iter().all(|r| r.state == "late"));
    let mut recent = args(&db, None, &[]);
    recent.late_days = 1;
    let rows = report::rows(&recent).await.unwrap();
    let seen: Vec<(&str, NaiveDate, &str)> = rows
        .iter()
        .map(|r| (r.slo_id.as_str(), r.business_date, r.state.as_str()))
        .collect();
    assert_eq!(
        seen,
        [("probe", yesterday, "late"), ("probe", today, "running")],
        "yesterday's met instance is not today's business"
    );

    let rows = report::rows(&args(&db, Some(yesterday), &[]))
        .await
        .unwrap();
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.slo_id.as_str(), r.state.as_str()))
        .collect();
    assert_eq!(seen, [("probe", "late"), ("done", "met")]);

    let rows = report::rows(&args(&db, Some(yesterday), &["done"]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].slo_id, "done");
    assert_eq!(
        rows[0].end_delay_micros.map(|m| m < 0),
        Some(true),
        "ended early"
    );
}
