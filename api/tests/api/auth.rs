//! Who may post: pg_slo tokens (401 without a valid one), per-application authorization (403,
//! nothing stored), the client id on each row, revocation and expiry, token use reporting, the
//! rate limit (429) and the request time limit.

use crate::helpers::{event, event_with, TestApp, TestDb, TEST_CLIENT};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PROBLEM: &str = "application/problem+json";

fn assert_401(reply: &crate::helpers::Reply) {
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.content_type(), PROBLEM);
    assert_eq!(reply.body["type"], "urn:pg-slo:problem:unauthenticated");
    assert!(reply.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer realm=\"pg-slo\""));
}

#[tokio::test]
async fn a_request_without_a_token_is_401_with_a_bearer_challenge_and_stores_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let reply = app.post_as(None, &event()).await;
    assert_401(&reply);
    assert_eq!(reply.headers["www-authenticate"], "Bearer realm=\"pg-slo\"");
    assert_eq!(
        reply.body["detail"],
        "Send `Authorization: Bearer <token>`."
    );
    assert_eq!(db.events().await.len(), 0);
}

#[tokio::test]
async fn credentials_that_are_not_a_valid_bearer_token_are_401() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let unknown = format!("Bearer pgslo_{}", "ab".repeat(32));
    let cases = [
        ("Basic dXNlcjpwYXNzd29yZA==", "must be `Bearer <token>`"),
        ("Bearer", "must be `Bearer <token>`"),
        ("Bearer not-a-token", "neither a pg_slo token"),
        ("Bearer pgslo_short", "unknown, revoked or expired"),
        (unknown.as_str(), "unknown, revoked or expired"),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "does not accept JSON Web Tokens",
        ),
    ];
    for (header, says) in cases {
        let reply = app.post_as(Some(header), &event()).await;
        assert_401(&reply);
        assert_eq!(
            reply.headers["www-authenticate"],
            "Bearer realm=\"pg-slo\", error=\"invalid_token\""
        );
        assert!(
            reply.body["detail"].as_str().unwrap().contains(says),
            "{header}: {}",
            reply.body
        );
    }
    assert_eq!(db.events().await.len(), 0);
}

#[tokio::test]
async fn authentication_comes_before_the_body_is_read() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let resp = app
        .anonymous
        .post(app.url("/v1/job-status"))
        .header("content-type", "text/plain")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "not 415 or 400");
}

#[tokio::test]
async fn the_client_id_of_the_token_is_stored_on_each_row() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let other = db.issue_token("sched-west", &["deposits"]).await;
    let reply = app
        .post(&json!([event(), event_with("run_id", json!("run-2"))]))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let deposit = event_with("app_id", json!("deposits"));
    let deposit = {
        let mut d = deposit;
        d["job_id"] = json!("dep-summary");
        d
    };
    assert_eq!(app.post_with_token(&other, &deposit).await.status, 201);
    let clients: Vec<Value> = db
        .events()
        .await
        .iter()
        .map(|e| e["client_id"].clone())
        .collect();
    assert_eq!(
        clients,
        vec![json!(TEST_CLIENT), json!(TEST_CLIENT), json!("sched-west")]
    );
}

#[tokio::test]
async fn a_token_of_another_application_is_403_naming_it_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let token = db.issue_token("deposits-only", &["deposits"]).await;
    let reply = app.post_with_token(&token, &event()).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.content_type(), PROBLEM);
    assert_eq!(
        reply.body["type"],
        "urn:pg-slo:problem:application-not-allowed"
    );
    assert_eq!(
        reply.body["detail"],
        "Client \"deposits-only\" may not post for \"overdrafts\"; nothing was stored."
    );
    assert_eq!(
        reply.problems(),
        vec![(
            json!(0),
            json!("app_id"),
            "application_not_allowed".to_owned()
        )]
    );
    assert_eq!(reply.body["errors"][0]["pointer"], "/app_id");
    assert_eq!(db.events().await.len(), 0);
}

#[tokio::test]
async fn a_batch_mixing_allowed_and_forbidden_applications_is_403_and_stores_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let token = db.issue_token("overdrafts-only", &["overdrafts"]).await;
    let mut deposit = event_with("app_id", json!("deposits"));
    deposit["job_id"] = json!("dep-summary");
    let mut deposit_rerun = deposit.clone();
    deposit_rerun["run_id"] = json!("run-2");
    let batch = json!([
        event(),
        deposit,
        event_with("run_id", json!("run-2")),
        deposit_rerun
    ]);
    let reply = app.post_with_token(&token, &batch).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(
        reply.problems(),
        vec![
            (
                json!(1),
                json!("app_id"),
                "application_not_allowed".to_owned()
            ),
            (
                json!(3),
                json!("app_id"),
                "application_not_allowed".to_owned()
            ),
        ]
    );
    assert_eq!(reply.body["errors"][1]["pointer"], "/3/app_id");
    assert_eq!(
        db.events().await.len(),
        0,
        "nothing stored, not even the allowed events"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job WHERE job_id = 'dep-summary'")
            .await,
        0,
        "no job registered either"
    );
}

#[tokio::test]
async fn an_unknown_application_is_still_a_422_for_an_authenticated_client() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let reply = app.post(&event_with("app_id", json!("payments"))).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.problems(),
        vec![(json!(0), json!("app_id"), "unknown_application".to_owned())]
    );
}

#[tokio::test]
async fn a_grant_removed_is_honoured_once_the_cache_bound_has_passed() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.auth_cache_secs = 1).await;
    assert_eq!(app.post(&event()).await.status, 201);
    db.client()
        .await
        .batch_execute(&format!(
            "DELETE FROM slo.client_application WHERE client_id = '{TEST_CLIENT}' AND app_id = 'overdrafts'"
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = app.post(&event_with("run_id", json!("run-2"))).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(db.events().await.len(), 1);
}

#[tokio::test]
async fn a_grant_added_is_honoured_on_the_next_request() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.auth_cache_secs = 300).await;
    let token = db.issue_token("overdrafts-first", &["overdrafts"]).await;
    assert_eq!(app.post_with_token(&token, &event()).await.status, 201);
    let mut deposit = event_with("app_id", json!("deposits"));
    deposit["job_id"] = json!("dep-summary");
    assert_eq!(app.post_with_token(&token, &deposit).await.status, 403);
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.client_application (client_id, app_id) VALUES ('overdrafts-first', 'deposits')",
        )
        .await
        .unwrap();
    // Not in the cached answer, so the extension is asked again, in the inserting statement.
    let reply = app.post_with_token(&token, &deposit).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(db.events().await.len(), 2);
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_the_cache_bound_has_passed() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.auth_cache_secs = 1).await;
    assert_eq!(app.post(&event()).await.status, 201);
    db.client()
        .await
        .batch_execute(&format!("SELECT slo.revoke_client_tokens('{TEST_CLIENT}')"))
        .await
        .unwrap();
    let revoked_at = Instant::now();
    // Within the bound, the instance may still trust its cached answer; after it, never.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = app.post(&event_with("run_id", json!("run-2"))).await;
    assert_401(&reply);
    assert!(revoked_at.elapsed() < Duration::from_secs(5));
    assert_eq!(db.events().await.len(), 1);
}

#[tokio::test]
async fn with_no_cache_a_revoked_token_is_refused_at_once() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.auth_cache_secs = 0).await;
    assert_eq!(app.post(&event()).await.status, 201);
    db.client()
        .await
        .batch_execute(&format!("SELECT slo.revoke_client_tokens('{TEST_CLIENT}')"))
        .await
        .unwrap();
    assert_401(&app.post(&event_with("run_id", json!("run-2"))).await);
}

#[tokio::test]
async fn an_expired_token_is_refused_even_while_cached() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.auth_cache_secs = 300).await;
    let token = db.issue_token("short-lived", &["overdrafts"]).await;
    db.client()
        .await
        .batch_execute(
            "UPDATE slo.client_token SET expires_at = now() + interval '2 seconds'
             WHERE client_id = 'short-lived'",
        )
        .await
        .unwrap();
    assert_eq!(app.post_with_token(&token, &event()).await.status, 201);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let reply = app
        .post_with_token(&token, &event_with("run_id", json!("run-2")))
        .await;
    assert_401(&reply);
    assert_eq!(db.events().await.len(), 1);
}

#[tokio::test]
async fn a_disabled_client_is_refused() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.auth_cache_secs = 0).await;
    db.client()
        .await
        .batch_execute(&format!(
            "UPDATE slo.client SET active = false WHERE client_id = '{TEST_CLIENT}'"
        ))
        .await
        .unwrap();
    assert_401(&app.post(&event()).await);
}

async fn last_used(db: &TestDb) -> Option<String> {
    db.client()
        .await
        .query_one(
            &format!(
                "SELECT last_used_at::text FROM slo.client_token WHERE client_id = '{TEST_CLIENT}'"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn token_use_is_reported_in_the_background_and_not_by_each_request() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.token_use_flush_secs = 3600).await;
    for i in 0..5 {
        let reply = app
            .post(&event_with("run_id", json!(format!("run-{i}"))))
            .await;
        assert_eq!(reply.status, 201);
    }
    assert_eq!(last_used(&db).await, None, "no request wrote it");
    // The last report is sent when the service stops.
    drop(app);
    let deadline = Instant::now() + Duration::from_secs(10);
    while last_used(&db).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "token use was not reported at shutdown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn token_use_is_reported_every_interval() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.auth.token_use_flush_secs = 1).await;
    assert_eq!(app.post(&event()).await.status, 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    while last_used(&db).await.is_none() {
        assert!(Instant::now() < deadline, "token use was not reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| {
        c.limits.rate_limit_per_sec = 1;
        c.limits.rate_limit_burst = 2;
    })
    .await;
    let other = db.issue_token("sched-west", &["overdrafts"]).await;
    assert_eq!(app.post(&event()).await.status, 201);
    assert_eq!(
        app.post(&event_with("run_id", json!("run-2"))).await.status,
        201
    );
    let reply = app.post(&event_with("run_id", json!("run-3"))).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.content_type(), PROBLEM);
    assert_eq!(reply.body["type"], "urn:pg-slo:problem:rate-limited");
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        db.events().await.len(),
        2,
        "the refused request stored nothing"
    );
    // Another client has its own allowance.
    let reply = app
        .post_with_token(&other, &event_with("run_id", json!("run-4")))
        .await;
    assert_eq!(reply.status, 201);
    // After Retry-After, the first client may post again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(
        app.post(&event_with("run_id", json!("run-3"))).await.status,
        201
    );
}

#[tokio::test]
async fn a_request_that_outlasts_the_time_limit_is_a_503_problem_with_retry_after() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.limits.request_timeout_secs = 1).await;
    // Warm the token cache, then block inserts.
    assert_eq!(app.post(&event()).await.status, 201);
    let mut blocker = db.client().await;
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE slo.job_status IN SHARE ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let reply = app.post(&event_with("run_id", json!("run-2"))).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(reply.content_type(), PROBLEM);
    assert_eq!(reply.body["type"], "urn:pg-slo:problem:request-timeout");
    assert_eq!(reply.headers["retry-after"], "5");
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn two_instances_on_one_database_both_refuse_a_revoked_token_within_the_bound_and_both_report_use(
) {
    let db = TestDb::new().await;
    let token = db.issue_token("sched-east", &["overdrafts"]).await;
    let spawn = || {
        TestApp::spawn_at(db.url(), Some(token.clone()), |c| {
            c.auth.auth_cache_secs = 1;
            c.auth.token_use_flush_secs = 1;
        })
    };
    let (a, b) = (spawn().await, spawn().await);
    assert_eq!(a.post(&event()).await.status, 201);
    assert_eq!(
        b.post(&event_with("run_id", json!("run-2"))).await.status,
        201
    );
    let used = || async {
        db.client()
            .await
            .query_one(
                "SELECT last_used_at IS NOT NULL AND last_used_at <= now() FROM slo.client_token",
                &[],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !used().await {
        assert!(Instant::now() < deadline, "token use not reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.client()
        .await
        .batch_execute("SELECT slo.revoke_client_tokens('sched-east')")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_401(&a.post(&event_with("run_id", json!("run-3"))).await);
    assert_401(&b.post(&event_with("run_id", json!("run-4"))).await);
    assert_eq!(db.events().await.len(), 2);
}
