//! The evaluator background worker finds lateness by itself: an SLO whose job never starts
//! turns `late`, with its alerts raised, with no event arriving and no call to `slo.evaluate()`.
//!
//! Needs the worker configured for database `pg_slo_bgworker_test` (`scripts/test.sh` does it:
//! `shared_preload_libraries = 'pg_slo'`, `pg_slo.databases` including that database).

use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

const DB: &str = "pg_slo_bgworker_test";

fn url(db: &str) -> String {
    let base = std::env::var("PG_SLO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".to_owned());
    base.replace("dbname=postgres", &format!("dbname={db}"))
}

#[tokio::test]
async fn a_job_that_never_starts_turns_late_by_itself() {
    let (client, conn) = tokio_postgres::connect(&url(DB), NoTls)
        .await
        .unwrap_or_else(|e| panic!("database {DB} is missing ({e}): run scripts/test.sh, which configures the evaluator"));
    tokio::spawn(conn);

    // The worker restarts 10 s after a failure (for example while the schema is recreated).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let workers: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_slo evaluator' AND datname = $1",
                &[&DB],
            )
            .await
            .unwrap()
            .get(0);
        if workers == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pg_slo evaluator runs in {DB}: run scripts/test.sh, which configures it"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A fresh schema, and an every-day SLO due yesterday 00:00 to 00:01 UTC; nothing ever runs.
    client
        .batch_execute(
            "BEGIN;
             DROP EXTENSION IF EXISTS pg_slo CASCADE;
             CREATE EXTENSION pg_slo;
             INSERT INTO slo.application VALUES ('ops', 'Operations');
             INSERT INTO slo.job VALUES ('never-runs', 'ops', 'A job that never starts');
             INSERT INTO slo.calendar VALUES ('every_day', 'Every day', '{1,2,3,4,5,6,7}', NULL, true);
             INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
               VALUES ('nightly', 'Nightly extract', 'ops', 'every_day', 'UTC');
             INSERT INTO slo.slo_job VALUES ('nightly', 'never-runs', '00:00', '00:01', 'calendar');",
        )
        .await
        .unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM slo.slo_performance", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "nothing is materialised by the set-up itself");
    client.batch_execute("COMMIT").await.unwrap();

    // The worker runs every 30 seconds: within 45 the instance must be there, and late.
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let found = client
            .query_opt(
                "SELECT state, actual_start IS NULL FROM slo.slo_performance_report
                 WHERE slo_id = 'nightly' AND business_date = (now() AT TIME ZONE 'UTC')::date - 1",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = found {
            assert_eq!(row.get::<_, String>(0), "late");
            assert!(row.get::<_, bool>(1), "no job started");
            let events: i64 = client
                .query_one("SELECT count(*) FROM slo.job_status", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(events, 0, "found with no event at all");
            // The same evaluation raised its alerts (no slack: slack_breached with late).
            let kinds: Vec<String> = client
                .query(
                    "SELECT kind FROM slo.alert
                     WHERE slo_id = 'nightly' AND business_date = (now() AT TIME ZONE 'UTC')::date - 1
                     ORDER BY kind",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(kinds, ["late", "late_start", "slack_breached"]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the evaluator did not materialise the late instance within 45 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
