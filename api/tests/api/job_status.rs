//! POST /v1/job-status against the real PostgreSQL, one database per test.

use crate::helpers::{event, event_with, TestApp, TestDb};
use serde_json::{json, Value};

async fn setup() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    (db, app)
}

#[tokio::test]
async fn a_valid_event_is_stored_with_its_instant_and_counted() {
    let (db, app) = setup().await;
    let reply = app.post(&event_with("period_start", json!("06:30"))).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body, json!({"accepted": 1, "duplicates": 0}));
    let rows = db.events().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0],
        json!({"app_id": "overdrafts", "job_id": "od-calc", "status": "start",
               "status_time": "2026-11-17T05:30:00.000000Z", "business_date": "2026-11-16",
               "run_id": "run-1", "host_id": "batch01", "period_start": "06:30:00", "client_id": "test-client"})
    );
}

#[tokio::test]
async fn a_valid_batch_is_stored_and_counted() {
    let (db, app) = setup().await;
    let batch = json!([
        event(),
        event_with("status", json!("fail")),
        event_with("run_id", json!("run-2")),
    ]);
    let reply = app.post(&batch).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body, json!({"accepted": 3, "duplicates": 0}));
    assert_eq!(db.events().await.len(), 3);
}

#[tokio::test]
async fn the_same_batch_posted_twice_is_stored_once_and_reported_as_duplicates() {
    let (db, app) = setup().await;
    let batch = json!([event(), event_with("status", json!("succeed"))]);
    assert_eq!(
        app.post(&batch).await.body,
        json!({"accepted": 2, "duplicates": 0})
    );
    let again = app.post(&batch).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, json!({"accepted": 0, "duplicates": 2}));
    assert_eq!(db.events().await.len(), 2);
}

#[tokio::test]
async fn the_same_instant_written_with_another_offset_is_a_duplicate() {
    let (db, app) = setup().await;
    app.post(&event()).await;
    let same_instant = event_with("status_time", json!("2026-11-17T05:30:00Z"));
    assert_eq!(
        app.post(&same_instant).await.body,
        json!({"accepted": 0, "duplicates": 1})
    );
    let in_batch = json!([
        event_with("run_id", json!("r9")),
        event_with("run_id", json!("r9"))
    ]);
    assert_eq!(
        app.post(&in_batch).await.body,
        json!({"accepted": 1, "duplicates": 1})
    );
    assert_eq!(db.events().await.len(), 2);
}

#[tokio::test]
async fn each_rule_violation_is_a_422_naming_the_field_and_nothing_is_stored() {
    let (db, app) = setup().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            event_with("status", json!("done")),
            "status",
            "unknown_status",
        ),
        (
            event_with("status_time", json!("2026-11-17T00:30:00")),
            "status_time",
            "rfc3339_with_offset",
        ),
        (
            event_with("status_time", json!("2999-01-01T00:00:00Z")),
            "status_time",
            "in_future",
        ),
        (
            event_with("business_date", json!("2026-02-30")),
            "business_date",
            "date",
        ),
        (
            event_with("business_date", json!("2025-11-16")),
            "business_date",
            "business_date_range",
        ),
        (
            event_with("period_start", json!("25:00")),
            "period_start",
            "time_of_day",
        ),
        (event_with("job_id", json!("")), "job_id", "empty"),
        (
            event_with("run_id", json!("r".repeat(129))),
            "run_id",
            "too_long",
        ),
        (
            event_with("host_id", json!(" batch01")),
            "host_id",
            "surrounding_whitespace",
        ),
        (
            event_with("app_id", json!("over\ndrafts")),
            "app_id",
            "control_character",
        ),
        (event_with("host_id", json!(7)), "host_id", "wrong_type"),
        (
            event_with("received_at", json!("2026-11-17T00:00:00Z")),
            "received_at",
            "server_set",
        ),
        (
            event_with("colour", json!("blue")),
            "colour",
            "unknown_field",
        ),
        (
            event_with("app_id", json!("payments")),
            "app_id",
            "unknown_application",
        ),
        (
            event_with("app_id", json!("deposits")),
            "job_id",
            "job_of_other_application",
        ),
    ];
    for (body, field, rule) in cases {
        let reply = app.post(&body).await;
        assert_eq!(reply.status, 422, "{field}/{rule}: {}", reply.body);
        assert_eq!(reply.content_type(), "application/problem+json");
        assert_eq!(
            reply.problems(),
            vec![(json!(0), json!(field), rule.to_owned())],
            "{}",
            reply.body
        );
        assert_eq!(reply.body["errors"][0]["pointer"], format!("/{field}"));
    }
    let mut missing = event();
    missing.as_object_mut().unwrap().remove("business_date");
    let reply = app.post(&missing).await;
    assert_eq!(
        reply.problems(),
        vec![(json!(0), json!("business_date"), "required".to_owned())]
    );
    assert_eq!(db.events().await.len(), 0, "a refused body stores nothing");
}

#[tokio::test]
async fn every_problem_of_a_batch_is_listed_and_the_good_events_are_not_stored() {
    let (db, app) = setup().await;
    let batch = json!([
        event(),
        event_with("status", json!("finished")),
        event_with("business_date", json!("16/11/2026")),
    ]);
    let reply = app.post(&batch).await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.problems(),
        vec![
            (json!(1), json!("status"), "unknown_status".to_owned()),
            (json!(2), json!("business_date"), "date".to_owned()),
        ]
    );
    assert_eq!(reply.body["errors"][1]["pointer"], "/2/business_date");
    assert_eq!(db.events().await.len(), 0);
}

#[tokio::test]
async fn a_batch_with_one_event_of_an_unknown_application_stores_nothing() {
    let (db, app) = setup().await;
    let batch = json!([
        event(),
        event_with("run_id", json!("r2")),
        event_with("app_id", json!("payments"))
    ]);
    let reply = app.post(&batch).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.problems(),
        vec![(json!(2), json!("app_id"), "unknown_application".to_owned())]
    );
    assert_eq!(db.events().await.len(), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job").await,
        1,
        "no job registered either"
    );
}

#[tokio::test]
async fn a_batch_with_a_repeat_under_another_application_stores_nothing_of_the_batch() {
    let (db, app) = setup().await;
    assert_eq!(app.post(&event()).await.status, 201);
    // The client is now known to be allowed both applications: the batch goes in as a plain
    // insert, checked after it (the repeat skipped the trigger), and is rolled back.
    let mut repeat = event();
    repeat["app_id"] = json!("deposits");
    let batch = json!([event_with("run_id", json!("run-2")), repeat]);
    let reply = app.post(&batch).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.problems(),
        vec![(
            json!(1),
            json!("job_id"),
            "job_of_other_application".to_owned()
        )]
    );
    assert_eq!(
        db.events().await.len(),
        1,
        "the new event of the batch is not kept"
    );
    // The same batch without the bad repeat: stored, the repeat counted as a duplicate.
    let batch = json!([event_with("run_id", json!("run-2")), event()]);
    let reply = app.post(&batch).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body, json!({"accepted": 1, "duplicates": 1}));
    assert_eq!(db.events().await.len(), 2);
}

#[tokio::test]
async fn an_unknown_job_of_a_known_application_is_registered_on_its_first_event() {
    let (db, app) = setup().await;
    let reply = app.post(&event_with("job_id", json!("dss-load"))).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let owner = db
        .count("SELECT count(*) FROM slo.job WHERE job_id = 'dss-load' AND app_id = 'overdrafts'")
        .await;
    assert_eq!(owner, 1);
    // From now on the job belongs to overdrafts.
    let other = event_with("job_id", json!("dss-load"));
    let other = {
        let mut o = other;
        o["app_id"] = json!("deposits");
        o
    };
    let reply = app.post(&other).await;
    assert_eq!(
        reply.problems(),
        vec![(
            json!(0),
            json!("job_id"),
            "job_of_other_application".to_owned()
        )]
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let (_db, app) = setup().await;
    for body in [&b"{\"app_id\": "[..], b"not json", b"", b"[1,]"] {
        let reply = app.post_raw(body.to_vec(), "application/json").await;
        assert_eq!(reply.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(reply.content_type(), "application/problem+json");
        assert_eq!(reply.body["status"], 400);
        assert_eq!(reply.body["title"], "Malformed JSON");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.body_limit = 4096).await;
    let big: Vec<Value> = (0..100)
        .map(|i| event_with("run_id", json!(format!("run-{i}"))))
        .collect();
    let reply = app.post(&Value::Array(big)).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(db.events().await.len(), 0);
}

#[tokio::test]
async fn a_body_declared_as_something_else_than_json_is_a_415() {
    let (_db, app) = setup().await;
    let reply = app
        .post_raw(serde_json::to_vec(&event()).unwrap(), "text/plain")
        .await;
    assert_eq!(reply.status, 415);
}

#[tokio::test]
async fn a_batch_of_a_thousand_is_stored_and_one_more_is_refused() {
    let (db, app) = setup().await;
    let batch: Vec<Value> = (0..1000)
        .map(|i| event_with("run_id", json!(format!("run-{i}"))))
        .collect();
    let reply = app.post(&Value::Array(batch.clone())).await;
    assert_eq!(reply.body, json!({"accepted": 1000, "duplicates": 0}));
    let mut over = batch;
    over.push(event_with("run_id", json!("run-1000")));
    let reply = app.post(&Value::Array(over)).await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.problems(),
        vec![(Value::Null, Value::Null, "batch_too_large".to_owned())]
    );
    assert_eq!(db.events().await.len(), 1000);
}

#[tokio::test]
async fn overlapping_batches_posted_concurrently_in_opposite_orders_store_each_event_once() {
    let (db, app) = setup().await;
    let events: Vec<Value> = (0..200)
        .map(|i| event_with("run_id", json!(format!("run-{i}"))))
        .collect();
    let forward = Value::Array(events.clone());
    let backward = Value::Array(events.into_iter().rev().collect());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let body = if i % 2 == 0 {
            forward.clone()
        } else {
            backward.clone()
        };
        let (http, url) = (app.http.clone(), app.url("/v1/job-status"));
        tasks.push(tokio::spawn(async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 201);
            r.json::<Value>().await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        let body = t.await.unwrap();
        accepted += body["accepted"].as_u64().unwrap();
        assert_eq!(
            body["accepted"].as_u64().unwrap() + body["duplicates"].as_u64().unwrap(),
            200
        );
    }
    assert_eq!(accepted, 200);
    assert_eq!(db.events().await.len(), 200);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_callers() {
    let (_db, app) = setup().await;
    let r = app.get("/healthz").await;
    assert!(!r.headers["x-request-id"].is_empty());
    let resp = app
        .http
        .post(app.url("/v1/job-status"))
        .header("x-request-id", "sched-42")
        .json(&event())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "sched-42");
}

#[tokio::test]
async fn a_new_job_named_under_two_applications_in_one_batch_is_refused_whole() {
    let (db, app) = setup().await;
    let mut second = event_with("job_id", json!("brand-new"));
    second["app_id"] = json!("overdrafts");
    let mut first = event_with("job_id", json!("brand-new"));
    first["app_id"] = json!("deposits");
    first["run_id"] = json!("run-9");
    let reply = app.post(&json!([event(), second, first])).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    // The trigger registers a new job under the smallest application id: deposits.
    assert_eq!(
        reply.problems(),
        vec![(
            json!(1),
            json!("job_id"),
            "job_of_other_application".to_owned()
        )]
    );
    assert_eq!(db.events().await.len(), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job WHERE job_id = 'brand-new'")
            .await,
        0
    );
}

/// A repeat that arrives while its first delivery, which registered the job under another
/// application, is still committing, from a client whose grants are not in the cache (so the
/// statement that asks the extension about it is used): that statement waits for the row and
/// skips it, and its own check could not see the job (its snapshot was older). The repeat is
/// checked again after the statement, so it is refused (422), not counted as a duplicate.
#[tokio::test]
async fn a_repeat_racing_its_first_delivery_under_another_application_is_refused() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.auth_cache_secs = 300).await;
    let token = db.issue_token("overdrafts-first", &["overdrafts"]).await;
    assert_eq!(app.post_with_token(&token, &event()).await.status, 201);
    // Granted deposits after its grants were cached: its deposits events are checked by the
    // statement that asks the extension.
    let first = db.client().await;
    first
        .batch_execute(
            "INSERT INTO slo.client_application (client_id, app_id) VALUES ('overdrafts-first', 'deposits')",
        )
        .await
        .unwrap();
    first
        .batch_execute(
            "BEGIN;
             INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
             VALUES ('overdrafts', 'dss-load', 'start', '2026-11-17T00:30:00-05:00', '2026-11-16', 'run-1', 'batch01');",
        )
        .await
        .unwrap();
    let mut repeat = event_with("job_id", json!("dss-load"));
    repeat["app_id"] = json!("deposits");
    let watcher = db.client().await;
    let commit_once_waited_for = async {
        // The API's statement waits for the uncommitted row's transaction.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "the API's statement never waited for the first delivery"
            );
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE application_name = 'pg-slo' AND wait_event_type = 'Lock'
                       AND query LIKE 'WITH e AS%'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        first.batch_execute("COMMIT").await.unwrap();
    };
    let (reply, ()) = tokio::join!(app.post_with_token(&token, &repeat), commit_once_waited_for);
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.problems(),
        vec![(
            json!(0),
            json!("job_id"),
            "job_of_other_application".to_owned()
        )]
    );
    assert_eq!(
        db.events().await.len(),
        2,
        "the first event and the first delivery only"
    );
}
