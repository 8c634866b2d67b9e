//! The Kafka consumer's repository against the real PostgreSQL, without a broker: one poll's
//! messages stored in one transaction with the positions, the fencing that makes rebalances
//! exact, and dead letters once each.

use crate::helpers::{event, event_with, TestDb};
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
    let outcome = store_batch(&pool, "g", "t", &batch).await.unwrap();
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
async fn messages_behind_the_stored_position_are_skipped_not_stored_again() {
    let db = TestDb::new().await;
    let pool = pool(&db);
    let first: Vec<Received> = (0..10).map(|i| message(0, i, &run(i))).collect();
    store_batch(&pool, "g", "t", &first).await.unwrap();
    // After a rebalance, a consumer that read an older position gets offsets 5..15.
    let again: Vec<Received> = (5..15).map(|i| message(0, i, &run(i))).collect();
    let outcome = store_batch(&pool, "g", "t", &again).await.unwrap();
    assert_eq!(
        (outcome.stored, outcome.skipped, outcome.duplicates),
        (5, 5, 0)
    );
    assert_eq!(outcome.next_offsets, [(0, 15)].into_iter().collect());
    assert_eq!(db.events().await.len(), 15);
    // Another group keeps a position of its own.
    let other = store_batch(&pool, "other", "t", &first).await.unwrap();
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
        store_batch(&pool, "g", "t", &batch),
        store_batch(&pool, "g", "t", &batch)
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
