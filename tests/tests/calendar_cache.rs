//! The calendar functions cache calendars across statements, by definitions generation: a
//! change committed by another session is seen by the next statement, a REPEATABLE READ
//! snapshot keeps its view until it ends, and a deleted calendar is unknown at once.

use tests::TestDb;

async fn is_run_date(
    client: &tokio_postgres::Client,
    d: &str,
) -> Result<bool, tokio_postgres::Error> {
    client
        .query_one(&format!("SELECT slo.is_run_date('c', '{d}')"), &[])
        .await
        .map(|r| r.get(0))
}

#[tokio::test]
async fn a_cached_calendar_follows_what_each_snapshot_sees() {
    let db = TestDb::new().await;
    let reader = db.client().await;
    let writer = db.client().await;
    writer
        .batch_execute(
            "INSERT INTO slo.calendar VALUES ('c', 'Weekdays', '{1,2,3,4,5}', NULL, false)",
        )
        .await
        .unwrap();
    assert!(is_run_date(&reader, "2026-12-25").await.unwrap());

    writer
        .batch_execute("INSERT INTO slo.calendar_exception VALUES ('c', '2026-12-25', false)")
        .await
        .unwrap();
    assert!(
        !is_run_date(&reader, "2026-12-25").await.unwrap(),
        "the next statement sees the commit"
    );

    reader
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    assert!(is_run_date(&reader, "2026-12-24").await.unwrap());
    writer
        .batch_execute("INSERT INTO slo.calendar_exception VALUES ('c', '2026-12-24', false)")
        .await
        .unwrap();
    assert!(
        is_run_date(&reader, "2026-12-24").await.unwrap(),
        "the snapshot keeps its view"
    );
    reader.batch_execute("COMMIT").await.unwrap();
    assert!(!is_run_date(&reader, "2026-12-24").await.unwrap());

    writer
        .batch_execute("INSERT INTO slo.holiday VALUES ('fed', '2026-12-31', 'Test holiday'); UPDATE slo.calendar SET holiday_set = 'fed'")
        .await
        .unwrap();
    assert!(
        !is_run_date(&reader, "2026-12-31").await.unwrap(),
        "a holiday set attached later counts"
    );

    writer
        .batch_execute("DELETE FROM slo.calendar_exception; DELETE FROM slo.calendar")
        .await
        .unwrap();
    let err = is_run_date(&reader, "2026-12-23").await.unwrap_err();
    assert!(
        err.as_db_error()
            .unwrap()
            .message()
            .contains("unknown calendar"),
        "{err}"
    );
}
