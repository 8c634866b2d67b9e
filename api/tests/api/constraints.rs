//! A constraint of the database that the product does not check itself (one a DBA added) makes
//! POST /v1/job-status a `422` naming it, never a `500`, and stores nothing.

use crate::helpers::{event, event_with, TestApp, TestDb};
use serde_json::{json, Value};

async fn setup(ddl: &str) -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    db.client().await.batch_execute(ddl).await.unwrap();
    let app = TestApp::spawn(&db).await;
    (db, app)
}

/// The message of the only listed problem, after checking it is a `database_constraint`.
fn constraint_message(reply: &crate::helpers::Reply, index: Value) -> String {
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.content_type(),
        "application/problem+json",
        "{}",
        reply.body
    );
    assert_eq!(
        reply.problems(),
        vec![(index, Value::Null, "database_constraint".to_owned())],
        "{}",
        reply.body
    );
    let text = reply.body.to_string();
    assert!(
        !text.contains("violates") && !text.contains("Failing row"),
        "the database's error text must not reach the client: {text}"
    );
    reply.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_event_a_dba_check_on_job_status_refuses_is_a_422_naming_it_and_nothing_is_stored() {
    let (db, app) = setup(
        "ALTER TABLE slo.job_status ADD CONSTRAINT dba_check CHECK (host_id <> 'forbidden-host')",
    )
    .await;
    let reply = app
        .post(&event_with("host_id", json!("forbidden-host")))
        .await;
    let message = constraint_message(&reply, json!(0));
    assert!(message.contains("\"dba_check\""), "{message}");
    assert!(message.contains("slo.job_status"), "{message}");
    assert_eq!(db.events().await.len(), 0);

    // A batch with such an event (the client now known: a plain insert) stores nothing of it;
    // the database does not say which row, so the problem is the body's.
    let batch = json!([
        event(),
        event_with("host_id", json!("forbidden-host")),
        event_with("run_id", json!("run-2")),
    ]);
    let reply = app.post(&batch).await;
    let message = constraint_message(&reply, Value::Null);
    assert!(message.contains("\"dba_check\""), "{message}");
    assert_eq!(db.events().await.len(), 0);

    // Without it the batch is stored.
    let batch = json!([event(), event_with("run_id", json!("run-2"))]);
    assert_eq!(app.post(&batch).await.status, 201);
    assert_eq!(db.events().await.len(), 2);
}

#[tokio::test]
async fn a_not_null_a_dba_set_names_its_column() {
    let (db, app) =
        setup("ALTER TABLE slo.job_status ALTER COLUMN period_start SET NOT NULL").await;
    let reply = app.post(&event()).await;
    let message = constraint_message(&reply, json!(0));
    assert!(message.contains("\"period_start\""), "{message}");
    assert_eq!(db.events().await.len(), 0);
    let reply = app.post(&event_with("period_start", json!("06:30"))).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

// Needs the extension to write slo.slo_performance through SQL (so that PostgreSQL checks its
// constraints); while the engine writes its rows directly, the fail is stored (201).
#[tokio::test]
async fn a_fail_a_dba_check_on_slo_performance_refuses_is_a_422_naming_it_and_nothing_is_stored() {
    let db = TestDb::new().await;
    db.define_overdraft_slo(
        "od-daily",
        "America/New_York",
        "1 day 00:00",
        "1 day 03:00",
        "0",
    )
    .await;
    db.client()
        .await
        .batch_execute(
            "ALTER TABLE slo.slo_performance ADD CONSTRAINT no_failures CHECK (failed_runs = 0)",
        )
        .await
        .unwrap();
    let app = TestApp::spawn(&db).await;
    // 2026-11-16 is a run date of the every-day calendar: the fail counts for od-daily.
    let reply = app.post(&event_with("status", json!("fail"))).await;
    let message = constraint_message(&reply, json!(0));
    assert!(message.contains("\"no_failures\""), "{message}");
    assert!(message.contains("slo_performance"), "{message}");
    assert_eq!(db.events().await.len(), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM slo.slo_performance WHERE failed_runs > 0")
            .await,
        0
    );
}
