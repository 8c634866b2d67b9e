//! Least privilege in the database: the API works connected as a member of `slo_api`, and that
//! role cannot change definitions, performance rows or events; BI readers read views only;
//! administrators manage tokens and definitions but never write events.

use crate::helpers::{event, TestApp, TestDb};
use serde_json::json;
use tokio_postgres::error::SqlState;

#[tokio::test]
async fn the_api_works_connected_as_a_member_of_slo_api() {
    let db = TestDb::new().await;
    let (_role, url) = db.login_as_member_of("slo_api").await;
    let token = db.issue_token("sched-east", &["overdrafts"]).await;
    let app = TestApp::spawn_at(url, Some(token), |c| c.auth.token_use_flush_secs = 1).await;
    assert_eq!(app.get("/readyz").await.status, 200);
    let reply = app.post(&event()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        app.post(&event()).await.body,
        json!({"accepted": 0, "duplicates": 1})
    );
    // A first event of an unknown job registers it (the trigger runs as the extension's owner).
    let mut new_job = event();
    new_job["job_id"] = json!("od-first-seen");
    assert_eq!(app.post(&new_job).await.status, 201);
    // Refusals are explained as the API role too.
    let mut foreign = event();
    foreign["app_id"] = json!("deposits");
    foreign["run_id"] = json!("r-9");
    assert_eq!(app.post(&foreign).await.status, 403);
    let mut wrong_owner = event();
    wrong_owner["job_id"] = json!("od-first-seen");
    wrong_owner["app_id"] = json!("payments");
    assert_eq!(app.post(&wrong_owner).await.status, 422);
    assert_eq!(db.events().await.len(), 2);
    // Token use is reported as the API role as well.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db
        .count("SELECT count(*) FROM slo.client_token WHERE last_used_at IS NOT NULL")
        .await
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "token use not reported"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Runs each statement as the role; each must be refused for lack of privilege.
async fn assert_refused(url: &str, statements: &[&str]) {
    let client = tests::connect(url).await;
    for sql in statements {
        let err = client
            .batch_execute(sql)
            .await
            .expect_err(&format!("allowed: {sql}"));
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_api_role_cannot_change_definitions_performance_rows_events_or_tokens() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.calendar (calendar_id, name, run_weekdays) VALUES ('weekdays', 'Weekdays', '{1,2,3,4,5}');
             INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
               VALUES ('od', 'Overdrafts', 'overdrafts', 'weekdays', 'America/New_York');
             INSERT INTO slo.slo_job (slo_id, job_id, expected_start, expected_end)
               VALUES ('od', 'od-calc', '00:30', '03:00');
             SELECT slo.evaluate('2026-11-17 12:00+00');",
        )
        .await
        .unwrap();
    assert!(db.count("SELECT count(*) FROM slo.slo_performance").await > 0);
    let (_role, url) = db.login_as_member_of("slo_api").await;
    assert_refused(
        &url,
        &[
            "INSERT INTO slo.application (app_id, name) VALUES ('x', 'X')",
            "UPDATE slo.application SET name = 'x'",
            "DELETE FROM slo.job",
            "INSERT INTO slo.job (job_id, app_id, name) VALUES ('j', 'overdrafts', 'j')",
            "UPDATE slo.slo SET active = false",
            "DELETE FROM slo.slo_job",
            "UPDATE slo.calendar SET name = 'x'",
            "INSERT INTO slo.holiday (holiday_set, holiday_date, name) VALUES ('s', '2026-12-25', 'x')",
            "UPDATE slo.slo_performance SET actual_end = now()",
            "DELETE FROM slo.slo_performance",
            "INSERT INTO slo.slo_performance SELECT * FROM slo.slo_performance",
            "UPDATE slo.job_status SET host_id = 'x'",
            "DELETE FROM slo.job_status",
            "TRUNCATE slo.job_status",
            "SELECT host_id, client_id FROM slo.job_status",
            "SELECT * FROM slo.client_token",
            "UPDATE slo.client_token SET revoked_at = NULL",
            "INSERT INTO slo.client_application (client_id, app_id) VALUES ('test-client', 'deposits')",
            "SELECT slo.revoke_token(1)",
            "SELECT slo.evaluate()",
            "SELECT slo.recompute('2026-11-16', '2026-11-16')",
        ],
    )
    .await;
    // What it may do: read definitions, ask who a token is and whether it may post.
    let api = tests::connect(&url).await;
    let apps: i64 = api
        .query_one("SELECT count(*) FROM slo.application", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(apps, 2);
    api.query_one(
        "SELECT slo.authorize(slo.token_hash('pgslo_x'), 'overdrafts')",
        &[],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_bi_reader_reads_the_views_and_nothing_else() {
    let db = TestDb::new().await;
    let (_role, url) = db.login_as_member_of("slo_reader").await;
    let reader = tests::connect(&url).await;
    reader
        .query("SELECT * FROM slo.slo_performance_report", &[])
        .await
        .unwrap();
    assert_refused(
        &url,
        &[
            "SELECT * FROM slo.slo_performance",
            "SELECT * FROM slo.job_status",
            "SELECT * FROM slo.client",
            "SELECT * FROM slo.client_token",
            "INSERT INTO slo.application (app_id, name) VALUES ('x', 'X')",
            "SELECT slo.authenticate(slo.token_hash('pgslo_x'))",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_administrator_manages_tokens_and_definitions_but_never_writes_events() {
    let db = TestDb::new().await;
    let (_role, url) = db.login_as_member_of("slo_admin").await;
    let admin = tests::connect(&url).await;
    admin
        .batch_execute("INSERT INTO slo.application (app_id, name) VALUES ('cards', 'Cards')")
        .await
        .unwrap();
    let request = api::admin::IssueRequest {
        client: slo_core::Identifier::parse("cards-sched").unwrap(),
        apps: vec![slo_core::Identifier::parse("cards").unwrap()],
        expires_at: None,
        note: Some("admin test".into()),
    };
    let issued = api::admin::issue(&admin, &request, api::admin::new_token().unwrap())
        .await
        .unwrap();
    assert_eq!(issued.apps, vec!["cards"]);
    let listed = api::admin::list(&admin, Some("cards-sched")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, "active");
    api::admin::revoke(&admin, issued.token_id).await.unwrap();
    assert_eq!(
        api::admin::list(&admin, None).await.unwrap()[0].state,
        "revoked"
    );
    assert_refused(
        &url,
        &[
            "INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
             VALUES ('cards', 'c', 'start', now(), current_date, 'r', 'h')",
            "DELETE FROM slo.job_status",
            "UPDATE slo.job_status SET client_id = 'x'",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_token_commands_refuse_a_role_without_admin_rights_with_a_clear_message() {
    let db = TestDb::new().await;
    let (_role, url) = db.login_as_member_of("slo_api").await;
    let api_conn = tests::connect(&url).await;
    let err = api::admin::list(&api_conn, None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("connect as a member of the role slo_admin"),
        "{err}"
    );
}
