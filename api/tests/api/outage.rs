//! Health, readiness, and a database outage: 503 with Retry-After while the database cannot be
//! reached, and 201 again once it is back, without restarting the service.

use crate::helpers::{event, event_with, DbProxy, TestApp, TestDb};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn healthz_and_readyz_answer_when_the_database_is_there() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let h = app.get("/healthz").await;
    assert_eq!((h.status, h.body.clone()), (200, json!({"status": "ok"})));
    let r = app.get("/readyz").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn readyz_is_503_on_a_database_without_the_extension() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute("DROP EXTENSION pg_slo")
        .await
        .unwrap();
    let app = TestApp::spawn_at(db.url(), None, |_| {}).await;
    assert_eq!(app.get("/readyz").await.status, 503);
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn the_service_starts_while_the_database_is_unreachable_and_answers_503() {
    let db = TestDb::new().await;
    let proxy = DbProxy::start(&db.host, db.port).await;
    proxy.cut();
    let token = db.issue_token("test-client", &["overdrafts"]).await;
    let app = TestApp::spawn_at(db.url_via("127.0.0.1", proxy.port), Some(token), |_| {}).await;
    let reply = app.post(&event()).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.headers["retry-after"], "5");
    assert!(!reply
        .body
        .to_string()
        .to_lowercase()
        .contains("connection refused"));
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "alive even without a database"
    );
    assert_eq!(app.get("/readyz").await.status, 503);

    proxy.restore();
    assert_eq!(app.post(&event()).await.status, 201);
    assert_eq!(db.events().await.len(), 1);
}

#[tokio::test]
async fn an_outage_gives_503_and_the_service_recovers_by_itself() {
    let db = TestDb::new().await;
    let proxy = DbProxy::start(&db.host, db.port).await;
    let token = db.issue_token("test-client", &["overdrafts"]).await;
    let app = TestApp::spawn_at(db.url_via("127.0.0.1", proxy.port), Some(token), |_| {}).await;
    assert_eq!(app.post(&event()).await.status, 201);

    proxy.cut();
    // Every request during the outage is refused with 503, none is answered 201.
    for i in 0..3 {
        let reply = app
            .post(&event_with("run_id", json!(format!("during-{i}"))))
            .await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(reply.headers["retry-after"], "5");
    }
    assert_eq!(app.get("/readyz").await.status, 503);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    let recovered = loop {
        let reply = app.post(&event_with("run_id", json!("after"))).await;
        if reply.status == 201 {
            break reply;
        }
        assert_eq!(
            reply.status, 503,
            "only 503 while recovering: {}",
            reply.body
        );
        assert!(
            Instant::now() < deadline,
            "the service did not recover within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(recovered.body, json!({"accepted": 1, "duplicates": 0}));
    assert_eq!(app.get("/readyz").await.status, 200);
    // The events answered 503 were not stored; the ones answered 201 were.
    let runs: Vec<String> = db
        .events()
        .await
        .iter()
        .map(|e| e["run_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(runs, vec!["run-1", "after"]);
}
