//! End to end: PostgreSQL restarted in immediate mode (a crash, as far as the sessions can
//! tell) while clients post through the real `pg-slo serve`. The API answers 503 while the
//! database is away, never 201 for a row that was lost, and recovers without a restart of its
//! own; afterwards the performance rows equal a `slo.recompute` of the same range.
//!
//! The restart must not touch the machine's cluster, which every other test shares: the test
//! makes a scratch cluster of its own (initdb with the machine's PostgreSQL 15 binaries, which
//! find the installed extension), on a free loopback port, and removes it at the end.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::cluster::Cluster;
use tests::process;
use tests::TestDb;

/// Events of the overdraft job for business dates 1 to 30 January 2020 (the recompute below
/// covers exactly those days, each of which has events): a start and a success each day, and
/// every third day a failure first, then a restart under a new run id.
fn events() -> Vec<Value> {
    let mut out = Vec::new();
    for day in 1..=30 {
        let date = format!("2020-01-{day:02}");
        let next = format!("2020-01-{:02}", day + 1);
        let e = |status: &str, time: &str, run: &str| {
            json!({"app_id": "overdrafts", "job_id": "od-calc", "status": status,
                   "status_time": format!("{next}T{time}:00Z"), "business_date": date,
                   "run_id": run, "host_id": "batch01"})
        };
        if day % 3 == 0 {
            out.push(e("start", "00:30", "r1"));
            out.push(e("fail", "01:10", "r1"));
            out.push(e("start", "01:20", "r2"));
            out.push(e("succeed", "02:40", "r2"));
        } else {
            out.push(e("start", "00:30", "r1"));
            out.push(e("succeed", "02:10", "r1"));
        }
        // Some hosts report twice.
        if day % 5 == 0 {
            out.push(e("start", "00:30", "r1"));
        }
    }
    out
}

async fn performance(db: &TestDb) -> Vec<String> {
    db.client()
        .await
        .query(
            "SELECT concat_ws(' ', slo_id, business_date, period_start, expected_start, expected_end,
                              actual_start, actual_end, failed_runs)
             FROM slo.slo_performance ORDER BY slo_id, business_date, period_start",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_immediate_restart_of_postgresql_under_load_loses_no_acknowledged_event() {
    let cluster = Cluster::start("restart", "");
    let db = TestDb::on(&cluster.url()).await;
    db.define_overdraft_slo("od-data", "UTC", "1 day 00:30", "1 day 03:00", "0")
        .await;
    let (api, base) = process::serve(
        &db.url(),
        &[
            "--insecure-no-auth",
            "--rate-limit-per-sec",
            "0",
            "--db-timeout-secs",
            "2",
        ],
    );

    // Four clients post their share of the events one request at a time, each retried with the
    // same body until it is answered 201.
    let all = events();
    let answers: Arc<std::sync::Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut clients = Vec::new();
    for share in 0..4 {
        let mine: Vec<Value> = all.iter().skip(share).step_by(4).cloned().collect();
        let (http, base, answers, acknowledged) = (
            http.clone(),
            base.clone(),
            answers.clone(),
            acknowledged.clone(),
        );
        clients.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(90);
            for event in mine {
                loop {
                    assert!(Instant::now() < deadline, "the API did not recover");
                    let answer = http
                        .post(format!("{base}/v1/job-status"))
                        .json(&event)
                        .send()
                        .await;
                    let status = answer.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
                    *answers.lock().unwrap().entry(status).or_default() += 1;
                    if status == 201 {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    assert!(
                        status == 503 || status == 0,
                        "only 503 (or no answer) while the database is away, got {status}"
                    );
                    // Slow enough that the restart lands in the middle of the stream.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }));
    }
    // Once some events are stored, PostgreSQL stops without a shutdown checkpoint and starts
    // again (crash recovery replays what was committed).
    let waiting = Instant::now();
    while acknowledged.load(Ordering::SeqCst) < 20 {
        assert!(
            waiting.elapsed() < Duration::from_secs(30) && clients.iter().all(|c| !c.is_finished()),
            "the clients stopped before 20 events were stored: {:?}",
            answers.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.pg_ctl(&["-m", "immediate", "stop"]);
        std::thread::sleep(Duration::from_secs(2));
        cluster.pg_ctl(&["start"]);
        cluster
    })
    .await
    .unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let answers = answers.lock().unwrap().clone();
    assert!(
        answers.get(&503).copied().unwrap_or(0) > 0,
        "the API answered 503 while the database was away: {answers:?}"
    );
    assert!(
        acknowledged.load(Ordering::SeqCst) > 20,
        "and 201 again afterwards, without a restart of its own: {answers:?}"
    );

    // Every event answered 201 is stored, once; the repeats of the source were no-ops.
    let client = db.client().await;
    let distinct: Vec<String> = {
        let mut keys: Vec<String> = all
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {}",
                    e["business_date"].as_str().unwrap(),
                    e["run_id"].as_str().unwrap(),
                    e["status"].as_str().unwrap(),
                    e["status_time"].as_str().unwrap()
                )
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let stored: Vec<String> = client
        .query(
            "SELECT concat_ws(' ', business_date, run_id, status,
                              to_char(status_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))
             FROM slo.job_status ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        stored, distinct,
        "each acknowledged event stored exactly once"
    );

    // The rows the trigger kept through the crash equal a rebuild from the events.
    let live = performance(&db).await;
    assert_eq!(live.len(), 30, "{live:?}");
    let complete: i64 = client
        .query_one(
            "SELECT count(*) FILTER (WHERE actual_end IS NOT NULL) + 100 * count(*) FILTER (WHERE failed_runs = 1)
             FROM slo.slo_performance",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        complete,
        30 + 100 * 10,
        "every day complete, every third with a failed run"
    );
    client
        .execute("SELECT slo.recompute('2020-01-01', '2020-01-30')", &[])
        .await
        .unwrap();
    assert_eq!(performance(&db).await, live);
    drop(api);
    drop(db); // before the cluster stops
    drop(cluster);
}
