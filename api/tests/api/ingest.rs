//! The Kafka consumer's repository against the real PostgreSQL, without a broker: one poll's
//! messages stored in one transaction with the positions, the fencing that makes rebalances
//! exact, and dead letters once each.

use crate::helpers::{event, event_with, TestDb};
use api::auth::writer::WriterIdentity;
use api::ingest::message::decode;
use api::ingest::store::{store_batch, BatchOutcome, Received};
use chrono::Utc;
use serde_json::{json, Value};
use std::time::Duration;

fn message(partition: i32, offset: i64, value: &Value) -> Received {
    let payload = serde_json::to_vec(value).unwrap();
    Received {
        client_id: None,
        partition,
        offset,
        key: None,
        decoded: decode(Some(&payload), Utc::now()),
        payload: Some(payload),
        timestamp: None,
    }
}

/// Authentication off, as with `--insecure-no-auth`: the storing rules on their own.
const ANONYMOUS: WriterIdentity = WriterIdentity::Anonymous;

fn run(n: i64) -> Value {
    event_with("run_id", json!(format!("run-{n}")))
}

fn pool(db: &TestDb) -> deadpool_postgres::Pool {
    api::store::build_pool(&db.url(), 4, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn a_batch_stores_its_events_dead_letters_and_positions_in_one_go() {
    let db = TestDb::new().await;
    let pool = pool(&db);
    let batch = vec![
        message(0, 0, &event()),
        message(0, 1, &event()), // the same event again
        message(1, 5, &json!("not an object")),
        message(1, 6, &event_with("app_id", json!("payments"))),
        message(1, 7, &run(2)),
    ];
    let outcome = store_batch(&pool, "g", "t", &batch, &ANONYMOUS)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        BatchOutcome {
            stored: 2,
            duplicates: 1,
            dead_lettered: 2,
            skipped: 0,
            next_offsets: [(0, 2), (1, 8)].into_iter().collect(),
        }
    );
    assert_eq!(db.events().await.len(), 2);
    assert_eq!(
        db.count("SELECT count(*) FROM slo.ingest_dead_letter WHERE reason IN ('not_one_event', 'unknown_application')")
            .await,
        2
    );
    assert_eq!(
        db.count(
            "SELECT sum(next_offset)::bigint FROM slo.ingest_position WHERE consumer_group = 'g'"
        )
        .await,
        10
    );
}

#[tokio::test]
async fn with_authentication_on_each_event_is_stored_as_its_client_only_where_that_client_may_post()
{
    let db = TestDb::new().await;
    let pool = pool(&db);
    // The consumer's own client (--client-id) may post overdrafts; a client of the API
    // (publishing mode, named in the message header) may post deposits.
    db.issue_token("producer", &["overdrafts"]).await;
    db.issue_token("api-client", &["deposits"]).await;
    let deposits = |run: &str| {
        let mut e = event_with("app_id", json!("deposits"));
        e["job_id"] = json!("dep-post");
        e["run_id"] = json!(run);
        e
    };
    let published = |offset: i64, value: &Value| Received {
        client_id: Some("api-client".into()),
        ..message(0, offset, value)
    };
    let batch = vec![
        message(0, 0, &run(0)),        // the consumer's client, allowed
        message(0, 1, &deposits("a")), // the consumer's client, not allowed
        published(2, &deposits("b")),  // the header's client, allowed
        published(3, &run(3)),         // the header's client, not allowed
    ];
    let identity = WriterIdentity::Client("producer".into());
    let outcome = store_batch(&pool, "g", "t", &batch, &identity)
        .await
        .unwrap();
    assert_eq!(
        (outcome.stored, outcome.dead_lettered),
        (2, 2),
        "{outcome:?}"
    );
    let stored: Vec<(String, String)> = db
        .events()
        .await
        .iter()
        .map(|e| {
            (
                e["run_id"].as_str().unwrap().to_owned(),
                e["client_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        stored,
        vec![
            ("b".to_owned(), "api-client".to_owned()),
            ("run-0".to_owned(), "producer".to_owned())
        ]
    );
    let dead: Vec<(i64, String, Value)> = db
        .client()
        .await
        .query(
            "SELECT message_offset, reason, problems FROM slo.ingest_dead_letter ORDER BY message_offset",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(dead.len(), 2);
    assert_eq!((dead[0].0, dead[0].1.as_str()), (1, "unauthorized"));
    assert_eq!((dead[1].0, dead[1].1.as_str()), (3, "unauthorized"));
    assert_eq!(dead[0].2[0]["field"], "app_id");
    assert_eq!(dead[0].2[0]["rule"], "application_not_allowed");
    assert!(
        dead[1].2[0]["message"]
            .as_str()
            .unwrap()
            .contains("api-client"),
        "{:?}",
        dead[1].2
    );
    // Everything moved past: nothing is read again.
    assert_eq!(outcome.next_offsets, [(0, 4)].into_iter().collect());
}

#[tokio::test]
async fn messages_behind_the_stored_position_are_skipped_not_stored_again() {
    let db = TestDb::new().await;
    let pool = pool(&db);
    let first: Vec<Received> = (0..10).map(|i| message(0, i, &run(i))).collect();
    store_batch(&pool, "g", "t", &first, &ANONYMOUS)
        .await
        .unwrap();
    // After a rebalance, a consumer that read an older position gets offsets 5..15.
    let again: Vec<Received> = (5..15).map(|i| message(0, i, &run(i))).collect();
    let outcome = store_batch(&pool, "g", "t", &again, &ANONYMOUS)
        .await
        .unwrap();
    assert_eq!(
        (outcome.stored, outcome.skipped, outcome.duplicates),
        (5, 5, 0)
    );
    assert_eq!(outcome.next_offsets, [(0, 15)].into_iter().collect());
    assert_eq!(db.events().await.len(), 15);
    // Another group keeps a position of its own.
    let other = store_batch(&pool, "other", "t", &first, &ANONYMOUS)
        .await
        .unwrap();
    assert_eq!((other.stored, other.duplicates, other.skipped), (0, 10, 0));
}

#[tokio::test]
async fn two_consumers_storing_the_same_messages_at_once_store_and_dead_letter_each_once() {
    let db = TestDb::new().await;
    let pool = pool(&db);
    // The old owner of a partition and its new owner, both holding offsets 0..200 (every
    // tenth message garbage), store at the same time.
    let batch: Vec<Received> = (0..200)
        .map(|i| {
            if i % 10 == 9 {
                message(0, i, &json!([1]))
            } else {
                message(0, i, &run(i))
            }
        })
        .collect();
    let (a, b) = tokio::join!(
        store_batch(&pool, "g", "t", &batch, &ANONYMOUS),
        store_batch(&pool, "g", "t", &batch, &ANONYMOUS)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.stored + b.stored, 180);
    assert_eq!(a.dead_lettered + b.dead_lettered, 20);
    assert_eq!(
        a.skipped + b.skipped,
        200,
        "the second to commit skipped everything"
    );
    assert_eq!(db.events().await.len(), 180);
    assert_eq!(
        db.count("SELECT count(*) FROM slo.ingest_dead_letter")
            .await,
        20
    );
}

#[tokio::test]
async fn an_event_a_database_constraint_refuses_is_a_dead_letter_and_the_rest_of_the_batch_is_stored(
) {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "ALTER TABLE slo.job_status ADD CONSTRAINT dba_check CHECK (host_id <> 'forbidden-host')",
        )
        .await
        .unwrap();
    let pool = pool(&db);
    let batch = vec![
        message(0, 0, &run(1)),
        message(0, 1, &event_with("host_id", json!("forbidden-host"))),
        message(0, 2, &run(2)),
    ];
    let outcome = store_batch(&pool, "g", "t", &batch, &ANONYMOUS)
        .await
        .unwrap();
    assert_eq!(
        (outcome.stored, outcome.duplicates, outcome.dead_lettered),
        (2, 0, 1),
        "{outcome:?}"
    );
    assert_eq!(outcome.next_offsets, [(0, 3)].into_iter().collect());
    assert_eq!(db.events().await.len(), 2);
    let problems: Value = db
        .client()
        .await
        .query_one(
            "SELECT problems FROM slo.ingest_dead_letter WHERE reason = 'database_constraint' AND message_offset = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(problems[0]["rule"], "database_constraint", "{problems}");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(message.contains("\"dba_check\""), "{message}");
    assert!(!message.contains("violates"), "{message}");
}
