//! `pg-slo notify` against the real database and a webhook receiver of the test's own: each
//! alert is posted once, across a restart and with two notifiers at once; a failing webhook is
//! retried with backoff, and given up after the maximum attempts; muted and old alerts are not
//! delivered; each new alert is sent with pg_notify; and a job that never starts reaches the
//! webhook as late_start, late and slack_breached with no event at all.

use api::dbconn::DbArgs;
use api::notify::{Notifier, NotifyArgs};
use futures_util::{stream, StreamExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tests::webhook::Receiver;
use tests::TestDb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn settings(db: &TestDb, webhooks: &[String]) -> NotifyArgs {
    NotifyArgs {
        db: DbArgs {
            database_url: db.url(),
        },
        webhooks: webhooks.to_vec(),
        max_attempts: 12,
        retry_base_ms: 100,
        max_age_hours: 24,
        poll_secs: 1,
        webhook_timeout_secs: 5,
    }
}

/// A notifier running in the test, stopped (gracefully) when `stop` is called.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

fn start(args: NotifyArgs) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let notifier = Notifier::new(args).expect("valid settings");
    let task = tokio::spawn(notifier.run_until(async {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// A daily SLO `s1` of the overdraft job on an every-day calendar, due 00:30 to 03:00 the next
/// day (UTC), with 30 minutes of slack.
async fn define_slo(db: &TestDb) {
    db.define_overdraft_slo("s1", "UTC", "1 day 00:30", "1 day 03:00", "30 minutes")
        .await;
}

/// A session that LISTENs on `slo_alert`; each notification arrives as (channel, payload).
async fn listen(
    db: &TestDb,
) -> (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    let (listener, mut connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = m {
                let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    listener.batch_execute("LISTEN slo_alert").await.unwrap();
    (listener, rx)
}

/// Raises `late` alerts now for the given business dates of `s1`; returns their ids.
async fn raise(db: &TestDb, dates: &[&str]) -> Vec<i64> {
    let client = db.client().await;
    let mut ids = Vec::new();
    for d in dates {
        client
            .execute(
                "SELECT slo.raise_alerts(ARRAY['s1'], ARRAY[$1::text::date], ARRAY[time '00:00'],
                                         ARRAY['late'], ARRAY['{\"test\": true}'::jsonb], now())",
                &[d],
            )
            .await
            .unwrap();
        let row = client
            .query_one(
                "SELECT alert_id FROM slo.alert WHERE slo_id = 's1' AND business_date = $1::text::date",
                &[d],
            )
            .await
            .unwrap();
        ids.push(row.get(0));
    }
    ids
}

async fn deliveries(db: &TestDb) -> BTreeMap<String, i64> {
    db.client()
        .await
        .query(
            "SELECT target || ' ' || state, count(*) FROM slo.alert_delivery GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let key: String = r.get(0);
            let n: i64 = r.get(1);
            (key, n)
        })
        .collect()
}

async fn within<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_alert_is_posted_once_across_a_restart_and_with_two_notifiers_at_once() {
    let db = TestDb::new().await;
    define_slo(&db).await;
    let hook = Receiver::start(0).await;

    let first = start(settings(&db, &[hook.url()]));
    let mut raised = raise(&db, &["2026-11-01", "2026-11-02", "2026-11-03"]).await;
    hook.wait_for(3).await;
    first.stop().await;

    // Raised while no notifier runs: delivered when one starts. Two start at once.
    raised.extend(raise(&db, &["2026-11-04", "2026-11-05"]).await);
    let a = start(settings(&db, &[hook.url()]));
    let b = start(settings(&db, &[hook.url()]));
    raised.extend(raise(&db, &["2026-11-06", "2026-11-07", "2026-11-08"]).await);
    hook.wait_for(8).await;
    // Time for a second delivery of anything to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.stop().await;
    b.stop().await;

    raised.sort();
    assert_eq!(hook.alert_ids(), raised, "each alert posted exactly once");
    for (body, key) in hook.accepted.lock().unwrap().iter() {
        assert_eq!(body["slo_id"], "s1");
        assert_eq!(body["kind"], "late");
        assert_eq!(body["detail"]["test"], true);
        assert_eq!(key, &format!("pg-slo-alert-{}", body["alert_id"]));
    }
    let want: BTreeMap<String, i64> = [
        (format!("{} delivered", hook.url()), 8),
        ("log delivered".to_owned(), 8),
    ]
    .into();
    assert_eq!(deliveries(&db).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_retried_with_backoff_until_it_accepts() {
    let db = TestDb::new().await;
    define_slo(&db).await;
    let hook = Receiver::start(3).await;
    let notifier = start(settings(&db, &[hook.url()]));
    let started = Instant::now();
    let raised = raise(&db, &["2026-11-01"]).await;
    hook.wait_for(1).await;
    // Waits of 100, 200 and 400 ms before the second, third and fourth attempts.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    notifier.stop().await;
    assert_eq!(hook.alert_ids(), raised);
    assert_eq!(hook.posts.load(Ordering::SeqCst), 4);
    let row = db
        .client()
        .await
        .query_one(
            "SELECT state, attempts, last_error IS NULL FROM slo.alert_delivery WHERE target <> 'log'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "delivered");
    assert_eq!(row.get::<_, i32>(1), 4);
    assert!(row.get::<_, bool>(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_accepts_is_given_up_after_the_maximum_attempts() {
    let db = TestDb::new().await;
    define_slo(&db).await;
    let hook = Receiver::start(usize::MAX).await;
    let mut args = settings(&db, &[hook.url()]);
    args.max_attempts = 3;
    let notifier = start(args);
    raise(&db, &["2026-11-01"]).await;
    within("the delivery is given up", || async {
        deliveries(&db)
            .await
            .contains_key(&format!("{} failed", hook.url()))
    })
    .await;
    notifier.stop().await;
    assert_eq!(hook.posts.load(Ordering::SeqCst), 3);
    let error: String = db
        .client()
        .await
        .query_one(
            "SELECT last_error FROM slo.alert_delivery WHERE target <> 'log'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(error.contains("500"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_alerts_and_alerts_older_than_the_maximum_age_are_not_delivered() {
    let db = TestDb::new().await;
    define_slo(&db).await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO slo.alert_mute (slo_id, from_date, to_date, reason)
             VALUES ('s1', '2026-11-02', '2026-11-02', 'maintenance');
             SELECT slo.raise_alerts(ARRAY['s1'], ARRAY[date '2026-10-01'], ARRAY[time '00:00'], ARRAY['late'],
                                     ARRAY['{}'::jsonb], now() - interval '3 days');",
        )
        .await
        .unwrap();
    let hook = Receiver::start(0).await;
    let notifier = start(settings(&db, &[hook.url()]));
    let delivered = raise(&db, &["2026-11-01", "2026-11-02", "2026-11-03"]).await;
    hook.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    notifier.stop().await;
    assert_eq!(hook.alert_ids(), vec![delivered[0], delivered[2]]);
    let muted: bool = client
        .query_one(
            "SELECT muted FROM slo.alert WHERE business_date = '2026-11-02'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(muted, "recorded, marked muted");
}

#[tokio::test]
async fn each_new_alert_is_sent_with_pg_notify_as_json() {
    let db = TestDb::new().await;
    define_slo(&db).await;
    let (_listener, mut rx) = listen(&db).await;
    let ids = raise(&db, &["2026-11-01"]).await;
    // Raised again: no second notification.
    raise(&db, &["2026-11-01"]).await;
    let (channel, payload) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert_eq!(channel, "slo_alert");
    let alert: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(alert["alert_id"], ids[0]);
    assert_eq!(alert["slo_id"], "s1");
    assert_eq!(alert["business_date"], "2026-11-01");
    assert_eq!(alert["period_start"], "00:00:00");
    assert_eq!(alert["kind"], "late");
    assert_eq!(alert["muted"], false);
    assert_eq!(alert["detail"]["test"], true);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "one notification per new alert"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_never_starts_reaches_the_webhook_as_late_start_late_and_slack_breached() {
    let db = TestDb::new().await;
    define_slo(&db).await;
    let hook = Receiver::start(0).await;
    let notifier = start(settings(&db, &[hook.url()]));
    // Yesterday's instance (UTC) is due today 00:30 to 03:00, with 30 minutes of slack. Nothing
    // arrives; the evaluator, run as of 03:31 today, finds all three.
    let client = db.client().await;
    client
        .execute(
            "SELECT slo.evaluate(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '3 hours 31 minutes')",
            &[],
        )
        .await
        .unwrap();
    hook.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    notifier.stop().await;
    let mut kinds: Vec<String> = hook
        .accepted
        .lock()
        .unwrap()
        .iter()
        .filter(|(b, _)| b["slo_id"] == "s1")
        .map(|(b, _)| {
            format!(
                "{} {}",
                b["business_date"].as_str().unwrap(),
                b["kind"].as_str().unwrap()
            )
        })
        .collect();
    kinds.sort();
    let yesterday: String = client
        .query_one("SELECT ((now() AT TIME ZONE 'UTC')::date - 1)::text", &[])
        .await
        .unwrap()
        .get(0);
    let yesterdays: Vec<&String> = kinds.iter().filter(|k| k.starts_with(&yesterday)).collect();
    assert_eq!(
        yesterdays,
        [
            &format!("{yesterday} late"),
            &format!("{yesterday} late_start"),
            &format!("{yesterday} slack_breached")
        ],
        "all: {kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_sessions_evaluating_at_once_raise_and_notify_each_alert_once() {
    let db = TestDb::new().await;
    define_slo(&db).await;
    let (_listener, mut rx) = listen(&db).await;
    // Four sessions call slo.evaluate at once, each for the same times in turn (as several
    // background workers or cron jobs would): the instances of the last days of `s1`, none with
    // an event, become late_start, late and slack_breached.
    let sessions: Vec<JoinHandle<()>> = (0..4)
        .map(|_| {
            let url = db.url();
            tokio::spawn(async move {
                let client = tests::connect(&url).await;
                for minutes in [31, 181, 211, 212, 240] {
                    client
                        .execute(
                            "SELECT slo.evaluate(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                                                 + make_interval(mins => $1))",
                            &[&minutes],
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for s in sessions {
        s.await.unwrap();
    }
    let client = db.client().await;
    let rows = client
        .query(
            "SELECT alert_id, business_date::text, kind FROM slo.alert ORDER BY alert_id",
            &[],
        )
        .await
        .unwrap();
    let alerts: Vec<(i64, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let yesterday: String = client
        .query_one("SELECT ((now() AT TIME ZONE 'UTC')::date - 1)::text", &[])
        .await
        .unwrap()
        .get(0);
    let mut yesterdays: Vec<&str> = alerts
        .iter()
        .filter(|(_, d, _)| *d == yesterday)
        .map(|(_, _, k)| k.as_str())
        .collect();
    yesterdays.sort();
    assert_eq!(
        yesterdays,
        ["late", "late_start", "slack_breached"],
        "each kind once: {alerts:?}"
    );
    // One notification per alert, none twice.
    let mut notified: Vec<i64> = Vec::new();
    while let Ok(Some((_, payload))) =
        tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await
    {
        let alert: Value = serde_json::from_str(&payload).unwrap();
        notified.push(alert["alert_id"].as_i64().unwrap());
    }
    notified.sort();
    let ids: Vec<i64> = alerts.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(notified, ids, "each alert notified once");
}
