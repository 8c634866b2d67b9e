//! Single events of concurrent requests stored together (`api::group_commit`): each request
//! still gets its own answer, and the table holds every event once.

use crate::helpers::{event, event_with, TestApp, TestDb};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// What a request sends, and what it must get back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// `201`, accepted 1 or (when the same event is in another request) duplicates 1.
    NewOrTwin,
    /// `201` with duplicates 1.
    Duplicate,
    /// `422` naming the rule.
    Refused(&'static str),
}

#[tokio::test]
async fn concurrent_single_events_each_get_their_own_answer_and_are_stored_once() {
    let db = TestDb::new().await;
    // One writer: every request waiting while it stores a group goes into the next one.
    let app = TestApp::spawn_with(&db, |c| c.group_commit_writers = 1).await;
    let stored = event_with("run_id", json!("run-0"));
    assert_eq!(app.post(&stored).await.status, 201);

    let mut requests: Vec<(Value, Expect)> = Vec::new();
    for i in 1..=40 {
        let e = event_with("run_id", json!(format!("run-{i}")));
        if i <= 10 {
            // Posted twice at once: one of the two stores it.
            requests.push((e.clone(), Expect::NewOrTwin));
        }
        requests.push((e, Expect::NewOrTwin));
    }
    for _ in 0..5 {
        requests.push((stored.clone(), Expect::Duplicate));
    }
    let mut other_app = stored.clone();
    other_app["app_id"] = json!("deposits");
    for _ in 0..3 {
        requests.push((
            other_app.clone(),
            Expect::Refused("job_of_other_application"),
        ));
    }
    // New events of the overdraft job posted under deposits: the client may post for deposits,
    // so they go into groups, where the trigger refuses them and with them the whole statement;
    // each request of such a group is then stored alone.
    for i in 0..3 {
        let mut moved = event_with("run_id", json!(format!("moved-{i}")));
        moved["app_id"] = json!("deposits");
        requests.push((moved, Expect::Refused("job_of_other_application")));
    }
    // An application the client may not post for is asked about, outside the groups.
    for i in 0..2 {
        let mut unknown = event_with("run_id", json!(format!("pay-{i}")));
        unknown["app_id"] = json!("payments");
        requests.push((unknown, Expect::Refused("unknown_application")));
    }
    // Interleaved, so that groups mix every kind.
    let n = requests.len();
    let order: Vec<usize> = (0..n).map(|i| (i * 37) % n).collect();
    let replies = join_all(order.iter().map(|&i| app.post(&requests[i].0))).await;

    let mut accepted_by_run: std::collections::BTreeMap<String, u64> = Default::default();
    for (&i, reply) in order.iter().zip(&replies) {
        let (body, expect) = &requests[i];
        match expect {
            Expect::NewOrTwin => {
                assert_eq!(reply.status, 201, "{body} -> {}", reply.body);
                let accepted = reply.body["accepted"].as_u64().unwrap();
                assert_eq!(accepted + reply.body["duplicates"].as_u64().unwrap(), 1);
                *accepted_by_run
                    .entry(body["run_id"].as_str().unwrap().to_owned())
                    .or_default() += accepted;
            }
            Expect::Duplicate => {
                assert_eq!(reply.status, 201, "{body} -> {}", reply.body);
                assert_eq!(reply.body, json!({"accepted": 0, "duplicates": 1}));
            }
            Expect::Refused(rule) => {
                assert_eq!(reply.status, 422, "{body} -> {}", reply.body);
                assert_eq!(reply.problems().len(), 1, "{}", reply.body);
                assert_eq!(reply.problems()[0].2, *rule, "{}", reply.body);
            }
        }
    }
    // Every new event answered `accepted` exactly once, twins included.
    assert_eq!(accepted_by_run.len(), 40);
    assert!(
        accepted_by_run.values().all(|&a| a == 1),
        "{accepted_by_run:?}"
    );
    assert_eq!(
        db.events().await.len(),
        41,
        "run-0 and the 40 new events, once each"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job_status WHERE app_id <> 'overdrafts'")
            .await,
        0
    );
    // The requests did go in groups: fewer statements than events.
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    let statements = count("pg_slo_group_commit_statements_total");
    let events = count("pg_slo_group_commit_events_total");
    assert_eq!(
        events,
        (n + 1 - 2) as f64,
        "every single event of an application the client may post for went through group commit"
    );
    assert!(
        statements < events,
        "{statements} statements for {events} events"
    );
}

#[tokio::test]
async fn a_lone_request_is_stored_as_before_when_group_commit_is_off() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(&db, |c| c.group_commit_writers = 0).await;
    let reply = app.post(&event()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body, json!({"accepted": 1, "duplicates": 0}));
    let again = app.post(&event()).await;
    assert_eq!(again.body, json!({"accepted": 0, "duplicates": 1}));
    assert_eq!(db.events().await.len(), 1);
}
