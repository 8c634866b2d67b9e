//! End to end through the real test broker (`PG_SLO_TEST_KAFKA`, started by scripts/test.sh):
//! the `pg-slo ingest kafka` consumer and `pg-slo serve --publish`, as real processes, against
//! a database of their own. Every loop here is bounded in count and time.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tests::kafka::{broker, create_topic, Producer};
use tests::process::{self, PgSlo};
use tests::{readme_event, DbProxy, TestDb};

/// The client the consumer posts directly produced events as (`--client-id`).
const PRODUCER: &str = "batch-producers";

/// Starts a consumer of `topic` in `group` on `database_url` (the database of `db`, maybe
/// through a proxy), posting as [`PRODUCER`], which may post overdrafts only.
async fn consumer(
    db: &TestDb,
    database_url: &str,
    topic: &str,
    group: &str,
    batch_size: u32,
) -> PgSlo {
    db.issue_token(PRODUCER, &["overdrafts"]).await;
    let broker = broker();
    let batch_size = batch_size.to_string();
    PgSlo::start(
        &[
            "ingest",
            "kafka",
            "--kafka-brokers",
            &broker,
            "--kafka-topic",
            topic,
            "--group",
            group,
            "--batch-size",
            &batch_size,
            "--batch-wait-ms",
            "20",
            "--max-backoff-secs",
            "1",
            "--db-timeout-secs",
            "2",
            "-X",
            "session.timeout.ms=6000",
            "--client-id",
            PRODUCER,
        ],
        &[("DATABASE_URL", database_url)],
    )
}

/// A valid event of the overdraft job, one run and status at a time.
fn event(run: u32, status: &str) -> Value {
    let mut e = readme_event();
    let minute = match status {
        "start" => 0,
        "fail" => 20,
        _ => 40,
    };
    e["run_id"] = json!(format!("run-{run}"));
    e["status"] = json!(status);
    e["status_time"] = json!(format!("2026-11-17T01:{:02}:{:02}-05:00", run % 60, minute));
    e
}

/// The key of an event as stored: (run_id, status).
fn key_of(e: &Value) -> (String, String) {
    (
        e["run_id"].as_str().unwrap().to_owned(),
        e["status"].as_str().unwrap().to_owned(),
    )
}

/// The (run_id, status) of every stored event, in status_id order, duplicates kept.
async fn stored(db: &TestDb) -> Vec<(String, String)> {
    db.events().await.iter().map(key_of).collect()
}

/// The (partition, offset, reason) of every dead letter, duplicates kept.
async fn dead_letters(db: &TestDb) -> Vec<(i32, i64, String)> {
    let client = db.client().await;
    client
        .query(
            "SELECT partition, message_offset, reason FROM slo.ingest_dead_letter ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Waits until the group's positions in PostgreSQL reach `ends` (partition → next offset).
async fn wait_positions(db: &TestDb, group: &str, ends: &BTreeMap<i32, i64>, limit: Duration) {
    let client = db.client().await;
    let deadline = Instant::now() + limit;
    loop {
        let rows = client
            .query(
                "SELECT partition, next_offset FROM slo.ingest_position WHERE consumer_group = $1",
                &[&group],
            )
            .await
            .unwrap();
        let at: BTreeMap<i32, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if ends
            .iter()
            .all(|(p, end)| at.get(p).is_some_and(|n| n >= end))
        {
            assert_eq!(&at, ends, "positions never pass the last message");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "positions {at:?} did not reach {ends:?} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next offset of each partition after the messages sent.
fn ends_of(sent: &[(i32, i64)]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for (p, o) in sent {
        let e = ends.entry(*p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    ends
}

/// Sum of a numeric field over a process's "batch stored" log lines.
fn logged_total(process: &PgSlo, field: &str) -> u64 {
    process
        .logs_with("batch stored")
        .iter()
        .map(|l| l[field].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn the_consumer_stores_exactly_the_good_events_and_dead_letters_exactly_the_bad_ones() {
    let db = TestDb::new().await;
    // An SLO on the overdraft job, so the engine computes performance from what arrives.
    db.define_overdraft_slo("od", "America/New_York", "1 day 00:00", "1 day 03:00", "0")
        .await;
    let topic = create_topic("ingest-mixed", 3).await;
    let producer = Producer::new(&topic);

    // Good events, statuses out of order: each run's end is sent before its start.
    let mut good = Vec::new();
    for run in 0..12 {
        good.push(event(run, if run % 3 == 0 { "fail" } else { "succeed" }));
        good.push(event(run, "start"));
    }
    let mut sent = Vec::new();
    for e in &good {
        sent.push(
            producer
                .send(Some("od-calc"), Some(&serde_json::to_vec(e).unwrap()))
                .await,
        );
    }
    // Duplicates: a third of them again.
    for e in good.iter().step_by(3) {
        sent.push(
            producer
                .send(Some("od-calc"), Some(&serde_json::to_vec(e).unwrap()))
                .await,
        );
    }
    // Garbage, each with the reason it must be dead-lettered for.
    let mut bad_rule = event(90, "start");
    bad_rule["status"] = json!("done");
    let mut unknown_app = event(91, "start");
    unknown_app["app_id"] = json!("payments");
    let mut other_app = event(92, "start");
    other_app["app_id"] = json!("deposits");
    // A valid event of an application the consumer's client may not post for.
    let mut not_granted = event(93, "start");
    not_granted["app_id"] = json!("deposits");
    not_granted["job_id"] = json!("dep-new");
    let garbage: Vec<(Option<Vec<u8>>, &str)> = vec![
        (Some(b"not json".to_vec()), "malformed_json"),
        (Some(b"\xff\xfe{}".to_vec()), "not_utf8"),
        (Some(b"[]".to_vec()), "not_one_event"),
        (None, "empty_message"),
        (
            Some(serde_json::to_vec(&bad_rule).unwrap()),
            "invalid_event",
        ),
        (
            Some(serde_json::to_vec(&unknown_app).unwrap()),
            "unknown_application",
        ),
        (
            Some(serde_json::to_vec(&other_app).unwrap()),
            "job_of_other_application",
        ),
        (
            Some(serde_json::to_vec(&not_granted).unwrap()),
            "unauthorized",
        ),
    ];
    let mut expected_dead = Vec::new();
    for (payload, reason) in &garbage {
        let (p, o) = producer.send(Some("od-calc"), payload.as_deref()).await;
        sent.push((p, o));
        expected_dead.push((p, o, reason.to_string()));
    }
    // One more good event after the garbage: the consumer does not stop at a bad message.
    let last = event(50, "start");
    sent.push(
        producer
            .send(Some("od-calc"), Some(&serde_json::to_vec(&last).unwrap()))
            .await,
    );
    good.push(last);

    let group = format!("g-{}", uuid::Uuid::new_v4().simple());
    let mut ingest = consumer(&db, &db.url(), &topic, &group, 500).await;
    wait_positions(&db, &group, &ends_of(&sent), Duration::from_secs(60)).await;

    let want: BTreeSet<(String, String)> = good.iter().map(key_of).collect();
    let got = stored(&db).await;
    assert_eq!(
        got.len(),
        want.len(),
        "each good event stored once: {got:?}"
    );
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    expected_dead.sort();
    assert_eq!(dead_letters(&db).await, expected_dead);
    // The raw bytes are kept as they came.
    let raw: Option<Vec<u8>> = db
        .client()
        .await
        .query_one(
            "SELECT payload FROM slo.ingest_dead_letter WHERE reason = 'not_utf8'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(raw.as_deref(), Some(&b"\xff\xfe{}"[..]));
    let problems: Value = db
        .client()
        .await
        .query_one(
            "SELECT problems FROM slo.ingest_dead_letter WHERE reason = 'invalid_event'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(problems[0]["field"], "status");
    assert_eq!(problems[0]["rule"], "unknown_status");

    // The engine computed the SLO instance from the events as they came (out of order); it
    // equals a recompute from scratch.
    let client = db.client().await;
    let perf = "SELECT to_json(p) FROM (SELECT slo_id, business_date, actual_start, actual_end, failed_runs \
                FROM slo.slo_performance WHERE slo_id = 'od' AND business_date = '2026-11-16') p";
    let live: Value = client.query_one(perf, &[]).await.unwrap().get(0);
    assert_eq!(live["failed_runs"], 4, "{live}");
    assert!(!live["actual_end"].is_null(), "{live}");
    client
        .execute("SELECT slo.recompute('2026-11-16', '2026-11-16')", &[])
        .await
        .unwrap();
    let again: Value = client.query_one(perf, &[]).await.unwrap().get(0);
    assert_eq!(live, again);

    // Graceful stop: SIGTERM, the consumer leaves the group and exits cleanly.
    ingest.signal("-TERM");
    assert_eq!(ingest.wait_exit(Duration::from_secs(30)), Some(0));
    ingest.wait_for_log("pg-slo ingest stopped", Duration::from_secs(1));
    assert_eq!(logged_total(&ingest, "dead_lettered"), 8);
}

/// Sends events `from..to` (every 100th message garbage) in paced chunks; returns the
/// acknowledged events (run id, partition, offset) and the garbage's (partition, offset).
async fn produce_paced(
    topic: String,
    from: u32,
    to: u32,
) -> (Vec<(String, (i32, i64))>, Vec<(i32, i64)>) {
    let producer = Producer::new(&topic);
    let mut acknowledged = Vec::new();
    let mut garbage = Vec::new();
    for n in from..to {
        if n % 100 == 99 {
            garbage.push(producer.send(None, Some(b"{oops")).await);
        } else {
            let mut e = readme_event();
            e["run_id"] = json!(format!("run-{n}"));
            let at = producer
                .send(
                    Some(&format!("k{n}")),
                    Some(&serde_json::to_vec(&e).unwrap()),
                )
                .await;
            acknowledged.push((format!("run-{n}"), at));
        }
        if n % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (acknowledged, garbage)
}

// Multi-threaded: the producer task runs while the test thread waits on the consumer's logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_consumer_mid_stream_loses_no_acknowledged_event_and_doubles_none() {
    let db = TestDb::new().await;
    let topic = create_topic("ingest-kill", 3).await;
    let group = format!("g-{}", uuid::Uuid::new_v4().simple());
    let mut acknowledged = Vec::new();
    let mut garbage = Vec::new();
    let mut killed_mid_stream = 0;
    let started = Instant::now();
    // Three rounds: a consumer joins, 500 messages flow, and it is killed without warning
    // shortly after its first batch, while the rest are still arriving.
    for round in 0..3u32 {
        let mut ingest = consumer(&db, &db.url(), &topic, &group, 20).await;
        ingest.wait_for_log(
            "partitions assigned; starting from the positions stored in PostgreSQL",
            Duration::from_secs(30),
        );
        let producing = tokio::spawn(produce_paced(topic.clone(), round * 500, round * 500 + 500));
        ingest.wait_for_log("batch stored", Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
        ingest.signal("-KILL");
        ingest.kill_hard();
        let rows_at_kill = db.events().await.len();
        let (a, g) = producing.await.unwrap();
        acknowledged.extend(a);
        garbage.extend(g);
        if rows_at_kill < acknowledged.len() {
            killed_mid_stream += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the kill rounds took over 2 minutes"
        );
    }
    assert!(
        killed_mid_stream >= 1,
        "at least one kill came while acknowledged events were still unstored"
    );

    let mut all: Vec<(i32, i64)> = acknowledged.iter().map(|(_, at)| *at).collect();
    all.extend(&garbage);
    let _last = consumer(&db, &db.url(), &topic, &group, 20).await;
    wait_positions(&db, &group, &ends_of(&all), Duration::from_secs(60)).await;

    let runs: Vec<String> = stored(&db).await.into_iter().map(|(run, _)| run).collect();
    assert_eq!(runs.len(), acknowledged.len(), "none missing, none doubled");
    let want: BTreeSet<String> = acknowledged.iter().map(|(run, _)| run.clone()).collect();
    assert_eq!(runs.into_iter().collect::<BTreeSet<_>>(), want);
    let mut want_dead: Vec<(i32, i64, String)> = garbage
        .iter()
        .map(|(p, o)| (*p, *o, "malformed_json".to_owned()))
        .collect();
    want_dead.sort();
    assert_eq!(
        dead_letters(&db).await,
        want_dead,
        "each bad message dead-lettered once"
    );
}

#[tokio::test]
async fn two_consumers_in_one_group_share_the_partitions_and_rebalances_lose_and_double_nothing() {
    let db = TestDb::new().await;
    let topic = create_topic("ingest-group", 4).await;
    let group = format!("g-{}", uuid::Uuid::new_v4().simple());
    let producer = Producer::new(&topic);
    let mut sent = Vec::new();
    let send_runs = |from: u32, to: u32| {
        let mut batch = Vec::new();
        for n in from..to {
            let mut e = readme_event();
            e["run_id"] = json!(format!("run-{n}"));
            // Keys spread the events over the four partitions.
            batch.push((format!("k{n}"), serde_json::to_vec(&e).unwrap()));
        }
        batch
    };
    let first = send_runs(0, 400);
    for (k, v) in &first {
        sent.push(producer.send(Some(k), Some(v)).await);
    }

    let mut a = consumer(&db, &db.url(), &topic, &group, 25).await;
    a.wait_for_log("batch stored", Duration::from_secs(30));
    // A second instance joins: the group rebalances and it gets partitions of its own.
    let b = consumer(&db, &db.url(), &topic, &group, 25).await;
    b.wait_for_log(
        "partitions assigned; starting from the positions stored in PostgreSQL",
        Duration::from_secs(40),
    );
    let second = send_runs(400, 800);
    for (k, v) in &second {
        sent.push(producer.send(Some(k), Some(v)).await);
    }
    // The first instance stops (SIGTERM) mid-stream: another rebalance, b takes everything.
    a.signal("-TERM");
    assert_eq!(
        a.wait_exit(Duration::from_secs(30)),
        Some(0),
        "a clean exit"
    );
    let third = send_runs(800, 1000);
    for (k, v) in &third {
        sent.push(producer.send(Some(k), Some(v)).await);
    }
    wait_positions(&db, &group, &ends_of(&sent), Duration::from_secs(90)).await;

    let runs: Vec<String> = stored(&db).await.into_iter().map(|(run, _)| run).collect();
    assert_eq!(runs.len(), 1000, "none missing, none doubled");
    assert_eq!(runs.iter().collect::<BTreeSet<_>>().len(), 1000);
    assert!(dead_letters(&db).await.is_empty());
    let (by_a, by_b) = (logged_total(&a, "stored"), logged_total(&b, "stored"));
    assert!(
        by_a > 0 && by_b > 0,
        "both instances stored events: a {by_a}, b {by_b}"
    );
    assert_eq!(
        by_a + by_b,
        1000,
        "every event was stored by exactly one of them (a {by_a}, b {by_b})"
    );
}

#[tokio::test]
async fn a_database_outage_pauses_consumption_dead_letters_nothing_and_resumes() {
    let db = TestDb::new().await;
    let proxy = DbProxy::start(&db.host, db.port).await;
    let topic = create_topic("ingest-outage", 2).await;
    let group = format!("g-{}", uuid::Uuid::new_v4().simple());
    let producer = Producer::new(&topic);
    let mut sent = Vec::new();
    let send = |n: u32| {
        let mut e = readme_event();
        e["run_id"] = json!(format!("run-{n}"));
        (format!("k{n}"), serde_json::to_vec(&e).unwrap())
    };
    let before: Vec<_> = (0..100).map(send).collect();
    for (k, v) in &before {
        sent.push(producer.send(Some(k), Some(v)).await);
    }
    let ingest = consumer(
        &db,
        &db.url_via("127.0.0.1", proxy.port),
        &topic,
        &group,
        50,
    )
    .await;
    wait_positions(&db, &group, &ends_of(&sent), Duration::from_secs(60)).await;
    let positions_before = ends_of(&sent);

    // PostgreSQL stops as a fast shutdown does: each of the consumer's sessions is ended with
    // SQLSTATE 57P01 (the consumer's only connections to this test's database), then new
    // connections are refused. (The machine's one cluster serves every test at once, so the
    // stop is played on this database's sessions and at the proxy rather than with pg_ctl.)
    let terminated = db
        .count(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .await;
    assert!(terminated >= 1, "the consumer's sessions were ended");
    proxy.cut();
    let during: Vec<_> = (100..300).map(send).collect();
    for (k, v) in &during {
        sent.push(producer.send(Some(k), Some(v)).await);
    }
    ingest.wait_for_log(
        "database unavailable: consumption is paused and the batch retried",
        Duration::from_secs(20),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        db.events().await.len(),
        100,
        "nothing stored while the database is cut off"
    );
    assert!(
        dead_letters(&db).await.is_empty(),
        "a database outage dead-letters nothing"
    );
    wait_positions(&db, &group, &positions_before, Duration::from_secs(1)).await;

    proxy.restore();
    wait_positions(&db, &group, &ends_of(&sent), Duration::from_secs(60)).await;
    ingest.wait_for_log(
        "database reachable again: consumption resumes",
        Duration::from_secs(5),
    );
    let runs: BTreeSet<String> = stored(&db).await.into_iter().map(|(r, _)| r).collect();
    assert_eq!(runs.len(), 300);
    assert_eq!(db.events().await.len(), 300);
    assert!(dead_letters(&db).await.is_empty());
}

/// Starts `pg-slo serve --publish` on a free port; returns it and its base URL.
fn publishing_api(
    database_url: &str,
    brokers: &str,
    topic: &str,
    ack_secs: &str,
) -> (PgSlo, String) {
    let (api, base) = process::serve(
        database_url,
        &[
            "--publish",
            "--kafka-brokers",
            brokers,
            "--kafka-topic",
            topic,
            "--kafka-ack-timeout-secs",
            ack_secs,
        ],
    );
    let line = api.wait_for_log("pg-slo API listening", Duration::from_secs(1));
    assert_eq!(line["mode"], "publish to Kafka");
    (api, base)
}

#[tokio::test]
async fn the_api_in_publish_mode_answers_202_and_the_consumer_stores_the_event() {
    let db = TestDb::new().await;
    let topic = create_topic("publish", 2).await;
    let (_api, base) = publishing_api(&db.url(), &broker(), &topic, "10");
    let token = db.issue_token("sched-east", &["overdrafts"]).await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let http = http.clone();
        let url = format!("{base}/v1/job-status");
        let token = token.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = post(readme_event()).await;
    assert_eq!((status, body), (202, json!({"published": 1})));
    let mut second = readme_event();
    second["status"] = json!("succeed");
    second["status_time"] = json!("2026-11-17T01:10:00-05:00");
    let (status, body) = post(json!([second.clone(), readme_event()])).await;
    assert_eq!(
        (status, body),
        (202, json!({"published": 2})),
        "a batch, with a repeat"
    );
    let mut bad = readme_event();
    bad["status"] = json!("done");
    let (status, body) = post(bad).await;
    assert_eq!(status, 422, "validated before publishing: {body}");
    // Authorized before publishing: an application the client may not post for is a 403.
    let mut other = readme_event();
    other["app_id"] = json!("deposits");
    other["job_id"] = json!("dep-summary");
    let (status, body) = post(other).await;
    assert_eq!(status, 403, "authorized before publishing: {body}");
    let anonymous = http
        .post(format!("{base}/v1/job-status"))
        .json(&readme_event())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(db.events().await.len(), 0, "the API itself inserts nothing");
    // The 202 is in the API's own document, with the body it sends.
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accepted = &doc["paths"]["/v1/job-status"]["post"]["responses"]["202"];
    let schema = &accepted["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(schema, "#/components/schemas/PublishOutcome", "{accepted}");
    assert_eq!(
        doc["components"]["schemas"]["PublishOutcome"]["required"],
        json!(["published"])
    );

    let group = format!("g-{}", uuid::Uuid::new_v4().simple());
    let ingest = consumer(&db, &db.url(), &topic, &group, 500).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.events().await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the published events were not stored within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = db.events().await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events.iter().map(key_of).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            ("run-1".to_owned(), "start".to_owned()),
            ("run-1".to_owned(), "succeed".to_owned()),
        ])
    );
    assert_eq!(
        events.iter().find(|e| e["status"] == "start").unwrap()["status_time"],
        "2026-11-17T05:30:00.000000Z"
    );
    // Stored with the client the API authenticated (carried in the message header).
    let clients: Vec<Option<String>> = db
        .client()
        .await
        .query("SELECT client_id FROM slo.job_status", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        clients,
        [Some("sched-east".to_owned()), Some("sched-east".to_owned())],
        "the header's client, not the consumer's own"
    );
    // Three messages (the repeat is its own message), two rows, nothing dead-lettered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(logged_total(&ingest, "duplicates"), 1);
    assert!(dead_letters(&db).await.is_empty());
}

#[tokio::test]
async fn the_api_in_publish_mode_answers_503_when_the_broker_does_not_acknowledge() {
    let db = TestDb::new().await;
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_api, base) = publishing_api(&db.url(), &format!("127.0.0.1:{unused}"), "nowhere", "1");
    let token = db.issue_token("sched-east", &["overdrafts"]).await;
    let started = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/job-status"))
        .bearer_auth(token)
        .json(&readme_event())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the ack timeout"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["title"], "Message bus unavailable");
}
