//! Reliability of `POST /v1/job-status` end to end: the real `pg-slo serve` processes, killed
//! with SIGKILL while requests are in flight, and two instances sharing one database, against
//! the real PostgreSQL with the extension. Clients here retry a request with the same body until
//! it is answered `201`, as a scheduler is told to. Build the binary first
//! (`cargo build -p api`); `PG_SLO_BIN` overrides where it is looked for.
//!
//! Everything is on loopback, the "random" choices come from fixed seeds, and every loop is
//! bounded in count and time.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::process::{self, PgSlo};
use tests::TestDb;
use tokio::sync::watch;

/// Starts `pg-slo serve` on a free loopback port of `database_url`, with a small pool and no
/// rate limit (the tests post faster than a scheduler would); returns it and its base URL.
fn serve(database_url: &str) -> (PgSlo, String) {
    process::serve(
        database_url,
        &[
            "--db-timeout-secs",
            "2",
            "--pool-size",
            "4",
            "--rate-limit-per-sec",
            "0",
        ],
    )
}

/// An HTTP client that opens a connection per request: a connection that breaks can only be
/// the one a request was sent on, never a stale one of a killed process.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The key that makes an event unique: (job_id, business_date, run_id, status, status_time UTC).
type EventKey = (String, String, String, String, String);

fn key_of(e: &Value) -> EventKey {
    let s = |f: &str| e[f].as_str().unwrap().to_owned();
    (
        s("job_id"),
        s("business_date"),
        s("run_id"),
        s("status"),
        s("status_time"),
    )
}

/// How many rows of `slo.job_status` each event key has.
async fn stored_keys(db: &TestDb) -> BTreeMap<EventKey, i64> {
    db.client()
        .await
        .query(
            "SELECT job_id, business_date::text, run_id, status,
                    to_char(status_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), count(*)
             FROM slo.job_status GROUP BY 1, 2, 3, 4, 5",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)), r.get(5)))
        .collect()
}

/// `n` distinct events of the overdraft job: 20 business dates, each run started then ended
/// (succeeded, or failed every fifth), with status times in UTC.
fn distinct_events(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let run = i / 2;
            let day = 1 + run % 20;
            let status = match (i % 2, run % 5) {
                (0, _) => "start",
                (_, 4) => "fail",
                _ => "succeed",
            };
            let minute = run / 20;
            json!({
                "app_id": "overdrafts",
                "job_id": "od-calc",
                "status": status,
                "status_time": format!("2026-10-{:02}T{:02}:{:02}:{:02}Z", day + 1, 4 + i % 2, minute, i % 60),
                "business_date": format!("2026-10-{day:02}"),
                "run_id": format!("run-{run}"),
                "host_id": format!("batch{:02}", i % 3),
            })
        })
        .collect()
}

/// What the clients saw, counted across all of them.
#[derive(Default)]
struct Counters {
    /// Requests being sent or answered right now.
    in_flight: AtomicUsize,
    /// Connections refused: no process on the port (killed, not yet replaced).
    refused: AtomicU64,
    /// Connections that broke after the request was sent: a kill while it was in flight.
    broken: AtomicU64,
    /// `503` (or `429`) answers.
    unavailable: AtomicU64,
    /// Sum of `accepted` over the `201` answers.
    accepted: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_answered_201_is_stored_once_across_repeated_sigkills_of_the_api() {
    const EVENTS: usize = 400;
    const WORKERS: usize = 4;
    const MIN_KILLS: u32 = 5;
    const MAX_KILLS: u32 = 15;
    let db = TestDb::new().await;
    db.define_overdraft_slo("od-daily", "America/New_York", "1 day", "1 day 03:00", "0")
        .await;
    let token = db.issue_token("sched-east", &["overdrafts"]).await;
    let events = distinct_events(EVENTS);

    // The requests, fixed before any is sent: single events (as an object) and batches of 2 to
    // 5 (as an array), each body sent byte for byte the same on every retry.
    let mut rng = StdRng::seed_from_u64(20261202);
    let mut requests: Vec<(Vec<usize>, Vec<u8>)> = Vec::new();
    let mut next = 0;
    while next < EVENTS {
        let size = if rng.gen_bool(0.5) {
            1
        } else {
            rng.gen_range(2..=5)
        }
        .min(EVENTS - next);
        let members: Vec<usize> = (next..next + size).collect();
        let body = if size == 1 {
            serde_json::to_vec(&events[next]).unwrap()
        } else {
            serde_json::to_vec(&members.iter().map(|&i| &events[i]).collect::<Vec<_>>()).unwrap()
        };
        requests.push((members, body));
        next += size;
    }
    let requests = Arc::new(requests);

    let (api, base) = tokio::task::spawn_blocking({
        let url = db.url();
        move || serve(&url)
    })
    .await
    .unwrap();
    let (base_tx, base_rx) = watch::channel(base);
    let counters = Arc::new(Counters::default());
    let done = Arc::new(AtomicBool::new(false));

    // The killer: SIGKILL every 300-700 ms, when a request is in flight if one comes within
    // 200 ms, then a new process on a new port; until the clients are done (at most MAX_KILLS).
    let killer = tokio::task::spawn_blocking({
        let (counters, done, url) = (counters.clone(), done.clone(), db.url());
        move || {
            let mut rng = StdRng::seed_from_u64(7);
            let mut api = api;
            let mut kills = 0u32;
            let mut kills_in_flight = 0u32;
            while kills < MAX_KILLS && !done.load(Ordering::SeqCst) {
                let wake = Instant::now() + Duration::from_millis(rng.gen_range(300..=700));
                while Instant::now() < wake && !done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let patience = Instant::now() + Duration::from_millis(200);
                while counters.in_flight.load(Ordering::SeqCst) == 0 && Instant::now() < patience {
                    std::thread::sleep(Duration::from_micros(200));
                }
                if counters.in_flight.load(Ordering::SeqCst) > 0 {
                    kills_in_flight += 1;
                }
                api.kill_hard();
                kills += 1;
                let (replacement, base) = serve(&url);
                api = replacement;
                base_tx.send_replace(base);
            }
            (api, kills, kills_in_flight)
        }
    });

    // The clients: each takes the next request and sends it until it is answered 201.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(45);
    let next_request = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (requests, next_request, counters) =
            (requests.clone(), next_request.clone(), counters.clone());
        let (mut base_rx, token, http) = (base_rx.clone(), token.clone(), http());
        workers.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            loop {
                let index = next_request.fetch_add(1, Ordering::SeqCst);
                let Some((members, body)) = requests.get(index) else {
                    return answered;
                };
                let mut attempts = 0u32;
                loop {
                    attempts += 1;
                    assert!(
                        Instant::now() < deadline,
                        "request {index} not answered 201 within 45 s ({attempts} attempts)"
                    );
                    let base = base_rx.borrow_and_update().clone();
                    counters.in_flight.fetch_add(1, Ordering::SeqCst);
                    let sent = http
                        .post(format!("{base}/v1/job-status"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let answer = match sent {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            resp.json::<Value>().await.map(|v| (status, v))
                        }
                        Err(e) => Err(e),
                    };
                    counters.in_flight.fetch_sub(1, Ordering::SeqCst);
                    match answer {
                        Ok((201, v)) => {
                            let (accepted, duplicates) = (
                                v["accepted"].as_u64().unwrap(),
                                v["duplicates"].as_u64().unwrap(),
                            );
                            assert_eq!(
                                (accepted + duplicates) as usize,
                                members.len(),
                                "request {index}: {v}"
                            );
                            counters.accepted.fetch_add(accepted, Ordering::SeqCst);
                            answered.push(index);
                            break;
                        }
                        Ok((503 | 429, _)) => {
                            counters.unavailable.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok((status, v)) => panic!("request {index}: {status} {v}"),
                        Err(e) if e.is_connect() => {
                            counters.refused.fetch_add(1, Ordering::SeqCst);
                            // Wait for the replacement (or a short while, if it is up already).
                            let _ =
                                tokio::time::timeout(Duration::from_millis(200), base_rx.changed())
                                    .await;
                            continue;
                        }
                        Err(_) => {
                            counters.broken.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // Paced like a busy scheduler, so that the kills fall among the requests.
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
        }));
    }
    let mut answered = Vec::new();
    for worker in workers {
        answered.extend(worker.await.unwrap());
    }
    let posting_took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let (_api, kills, kills_in_flight) = killer.await.unwrap();

    let refused = counters.refused.load(Ordering::SeqCst);
    let broken = counters.broken.load(Ordering::SeqCst);
    let unavailable = counters.unavailable.load(Ordering::SeqCst);
    let accepted = counters.accepted.load(Ordering::SeqCst);
    eprintln!(
        "{} requests in {posting_took:?}: {kills} kills ({kills_in_flight} with a request in flight), \
         {broken} requests broken in flight, {refused} refused, {unavailable} answered 503/429, \
         {accepted} events accepted by a 201",
        requests.len()
    );
    assert!(
        kills >= MIN_KILLS,
        "only {kills} kills while the clients posted"
    );
    assert!(
        broken > 0,
        "no kill broke a request in flight ({kills} kills)"
    );
    assert_eq!(answered.len(), requests.len(), "every request answered 201");

    let stored = stored_keys(&db).await;
    let twice: Vec<_> = stored.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "events stored more than once: {twice:?}");
    for &index in &answered {
        for &i in &requests[index].0 {
            assert_eq!(
                stored.get(&key_of(&events[i])),
                Some(&1),
                "event {i} (request {index}) was answered 201 but is not stored once"
            );
        }
    }
    assert_eq!(stored.len(), EVENTS, "all events stored, and nothing else");
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job_status").await,
        EVENTS as i64
    );
    // A 201 counts what its request added; an event committed by a request that was killed
    // before it could answer comes back as a duplicate on the retry.
    assert!(accepted <= EVENTS as u64, "{accepted} accepted");
}

/// The time zone of the SLO and the offset of the status times (November, after DST ends).
const ZONE: &str = "America/New_York";
const OFFSET: &str = "-05:00";

/// Defines the overdraft SLO of two jobs: `od-calc` due 00:00-03:00 and `od-post` (posting the
/// charges) due 01:00-04:00 on the day after the business date, every day.
async fn define_two_job_slo(db: &TestDb) {
    db.define_overdraft_slo("od-daily", ZONE, "1 day", "1 day 03:00", "0")
        .await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.job (job_id, app_id, name) VALUES ('od-post', 'overdrafts', 'Post overdraft charges');
             INSERT INTO slo.slo_job VALUES ('od-daily', 'od-post', '1 day 01:00', '1 day 04:00', 'calendar');",
        )
        .await
        .unwrap();
}

/// One event of `job` for `business_date`, at `hh:mm` local time on the next day.
fn event(job: &str, business_date: &str, run: &str, status: &str, hh_mm: &str) -> Value {
    let date = chrono::NaiveDate::parse_from_str(business_date, "%Y-%m-%d").unwrap();
    let next_day = date.succ_opt().unwrap();
    json!({
        "app_id": "overdrafts",
        "job_id": job,
        "status": status,
        "status_time": format!("{next_day}T{hh_mm}:00{OFFSET}"),
        "business_date": business_date,
        "run_id": run,
        "host_id": "batch01",
    })
}

/// The instances of 24 business dates, eight stories repeated three times: on time; a failed
/// run restarted under a new run id; failed and never restarted; started only; late; failed
/// twice before it succeeded; a later rerun after success; nothing but duplicates. Every third
/// event is sent twice. Returns the events in their natural order, and how many are distinct.
fn scenario_events() -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let first = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    for day in 0..24u64 {
        let d = (first + chrono::Days::new(day)).to_string();
        let d = d.as_str();
        let e = |job, run, status, at| event(job, d, run, status, at);
        let story: Vec<Value> = match day % 8 {
            0 => vec![
                e("od-calc", "r1", "start", "00:05"),
                e("od-calc", "r1", "succeed", "01:10"),
                e("od-post", "r1", "start", "01:15"),
                e("od-post", "r1", "succeed", "02:20"),
            ],
            1 => vec![
                e("od-calc", "r1", "start", "00:05"),
                e("od-calc", "r1", "fail", "00:40"),
                e("od-calc", "r2", "start", "00:50"),
                e("od-calc", "r2", "succeed", "01:55"),
                e("od-post", "r1", "start", "02:00"),
                e("od-post", "r1", "succeed", "03:30"),
            ],
            2 => vec![
                e("od-calc", "r1", "start", "00:10"),
                e("od-calc", "r1", "fail", "00:30"),
            ],
            3 => vec![e("od-calc", "r1", "start", "00:20")],
            4 => vec![
                e("od-calc", "r1", "start", "01:00"),
                e("od-calc", "r1", "succeed", "03:45"),
                e("od-post", "r1", "start", "03:50"),
                e("od-post", "r1", "succeed", "05:30"),
            ],
            5 => vec![
                e("od-calc", "r1", "start", "00:00"),
                e("od-calc", "r1", "fail", "00:15"),
                e("od-calc", "r2", "start", "00:20"),
                e("od-calc", "r2", "fail", "00:35"),
                e("od-calc", "r3", "start", "00:40"),
                e("od-calc", "r3", "succeed", "01:40"),
                e("od-post", "r1", "start", "01:45"),
                e("od-post", "r1", "fail", "02:00"),
                e("od-post", "r2", "start", "02:05"),
                e("od-post", "r2", "succeed", "02:50"),
            ],
            6 => vec![
                e("od-calc", "r1", "start", "00:05"),
                e("od-calc", "r1", "succeed", "00:50"),
                e("od-post", "r1", "start", "01:00"),
                e("od-post", "r1", "succeed", "01:30"),
                e("od-calc", "r2", "start", "06:00"),
                e("od-calc", "r2", "succeed", "06:45"),
            ],
            _ => vec![
                e("od-calc", "r1", "start", "00:05"),
                e("od-calc", "r1", "start", "00:05"),
                e("od-calc", "r1", "succeed", "01:00"),
                e("od-calc", "r1", "succeed", "01:00"),
                e("od-post", "r1", "start", "01:05"),
                e("od-post", "r1", "succeed", "01:35"),
                e("od-post", "r1", "succeed", "01:35"),
            ],
        };
        events.extend(story);
    }
    let distinct = events
        .iter()
        .map(key_of)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let again: Vec<Value> = events.iter().step_by(3).cloned().collect();
    events.extend(again);
    (events, distinct)
}

/// `slo.slo_performance` of `db`, one JSON text per row.
async fn performance(db: &TestDb) -> Vec<Value> {
    db.client()
        .await
        .query(
            "SELECT row_to_json(p) FROM (
               SELECT slo_id, business_date, period_start, expected_start, expected_end,
                      actual_start, actual_end, failed_runs
               FROM slo.slo_performance) p
             ORDER BY p.slo_id, p.business_date, p.period_start",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, Value>(0))
        .collect()
}

/// Posts `event` to `base`; it must be answered 201. Returns (accepted, duplicates).
async fn post_one(http: &reqwest::Client, base: &str, token: &str, event: &Value) -> (u64, u64) {
    let resp = http
        .post(format!("{base}/v1/job-status"))
        .bearer_auth(token)
        .json(event)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{event}: {body}");
    (
        body["accepted"].as_u64().unwrap(),
        body["duplicates"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_instances_behind_a_round_robin_client_give_the_same_performance_as_one() {
    const TASKS: usize = 6;
    let (events, distinct) = scenario_events();
    let mut shuffled = events.clone();
    shuffled.shuffle(&mut StdRng::seed_from_u64(1117));

    // Two instances on one database, posted to in turn from several tasks at once.
    let shared = TestDb::new().await;
    define_two_job_slo(&shared).await;
    let token = shared.issue_token("sched-east", &["overdrafts"]).await;
    let url = shared.url();
    let ((_a, base_a), (_b, base_b)) =
        tokio::task::spawn_blocking(move || (serve(&url), serve(&url)))
            .await
            .unwrap();
    let bases = Arc::new([base_a, base_b]);
    let shuffled = Arc::new(shuffled);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (bases, shuffled, next, token) =
            (bases.clone(), shuffled.clone(), next.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let (mut accepted, mut duplicates) = (0, 0);
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(event) = shuffled.get(i) else {
                    return (accepted, duplicates);
                };
                let (a, d) = post_one(&http, &bases[i % 2], &token, event).await;
                accepted += a;
                duplicates += d;
            }
        }));
    }
    let (mut accepted, mut duplicates) = (0, 0);
    for task in tasks {
        let (a, d) = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the round-robin clients finish within 30 s")
            .unwrap();
        accepted += a;
        duplicates += d;
    }
    eprintln!(
        "{} events ({distinct} distinct) posted to two instances in {:?}",
        events.len(),
        started.elapsed()
    );
    assert_eq!(
        accepted, distinct as u64,
        "each distinct event accepted once"
    );
    assert_eq!(duplicates, (events.len() - distinct) as u64);
    assert_eq!(
        shared.count("SELECT count(*) FROM slo.job_status").await,
        distinct as i64
    );

    // One instance on a database of its own, posted to in order, one event at a time.
    let single = TestDb::new().await;
    define_two_job_slo(&single).await;
    let token = single.issue_token("sched-east", &["overdrafts"]).await;
    let url = single.url();
    let (_one, base) = tokio::task::spawn_blocking(move || serve(&url))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for event in &events {
        post_one(&http, &base, &token, event).await;
    }

    let two = performance(&shared).await;
    let one = performance(&single).await;
    assert_eq!(
        two, one,
        "the same performance through two instances as through one"
    );

    // And it is not trivially the same: every date has its row, with completions, failed runs
    // and incomplete instances among them.
    assert_eq!(one.len(), 24, "{one:#?}");
    let failed: Vec<i64> = one
        .iter()
        .map(|r| r["failed_runs"].as_i64().unwrap())
        .collect();
    let expected_failed: Vec<i64> = (0..24).map(|d| [0, 1, 1, 0, 0, 3, 0, 0][d % 8]).collect();
    assert_eq!(failed, expected_failed, "{one:#?}");
    let complete: Vec<bool> = one.iter().map(|r| !r["actual_end"].is_null()).collect();
    let expected_complete: Vec<bool> = (0..24).map(|d| ![2, 3].contains(&(d % 8))).collect();
    assert_eq!(complete, expected_complete, "{one:#?}");
    assert!(one.iter().all(|r| !r["actual_start"].is_null()));
}
