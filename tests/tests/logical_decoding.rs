//! End to end: the engine writes `slo.slo_performance` through SQL, so its inserts and updates
//! reach WAL as any writer's do and logical decoding shows them (PostgreSQL's `test_decoding`
//! plugin, on a scratch cluster of the test's own with `wal_level = logical`): a subscriber or a
//! change-data-capture tool sees every performance row the engine writes.

use tests::cluster::Cluster;
use tests::TestDb;

#[tokio::test]
async fn logical_decoding_shows_the_engines_inserts_and_updates_of_performance_rows() {
    let cluster = Cluster::start(
        "decoding",
        "wal_level = logical\nmax_replication_slots = 4\nmax_wal_senders = 4",
    );
    let db = TestDb::on(&cluster.url()).await;
    db.define_overdraft_slo(
        "od-by-3",
        "America/New_York",
        "1 day 00:30",
        "1 day 03:00",
        "0",
    )
    .await;
    let c = db.client().await;
    c.batch_execute(
        "SELECT pg_create_logical_replication_slot('pg_slo_decoding', 'test_decoding')",
    )
    .await
    .unwrap();
    for (status, at) in [
        ("start", "2026-03-03 00:35-05"),
        ("succeed", "2026-03-03 02:35-05"),
    ] {
        c.execute(
            "INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
             VALUES ('overdrafts', 'od-calc', $1, $2::text::timestamptz, '2026-03-02', 'r1', 'h1')",
            &[&status, &at],
        )
        .await
        .unwrap();
    }
    let changes: Vec<String> = c
        .query(
            "SELECT data FROM pg_logical_slot_get_changes('pg_slo_decoding', NULL, NULL,
                                                          'include-xids', '0')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    c.batch_execute("SELECT pg_drop_replication_slot('pg_slo_decoding')")
        .await
        .unwrap();
    let performance: Vec<&String> = changes
        .iter()
        .filter(|c| c.starts_with("table slo.slo_performance:"))
        .collect();
    assert_eq!(performance.len(), 2, "changes decoded: {changes:#?}");
    let (insert, update) = (performance[0], performance[1]);
    assert!(
        insert.starts_with("table slo.slo_performance: INSERT:")
            && insert.contains("slo_id[text]:'od-by-3'")
            && insert.contains("actual_start[timestamp with time zone]:'2026-03-03 05:35:00+00'")
            && insert.contains("actual_end[timestamp with time zone]:null"),
        "{insert}"
    );
    assert!(
        update.starts_with("table slo.slo_performance: UPDATE:")
            && update.contains("slo_id[text]:'od-by-3'")
            && update.contains("actual_end[timestamp with time zone]:'2026-03-03 07:35:00+00'"),
        "{update}"
    );
    // Each event's own insert is there too, before the engine's change of the same transaction.
    let events = changes
        .iter()
        .filter(|c| c.starts_with("table slo.job_status: INSERT:"))
        .count();
    assert_eq!(events, 2, "changes decoded: {changes:#?}");
    drop(c);
    drop(db);
    drop(cluster);
}
