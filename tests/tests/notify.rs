//! End to end: the real `pg-slo notify` with JSON logs. Each alert is written to the log once,
//! at a level that fits its kind, and posted to the webhook once; SIGTERM stops it cleanly.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::process::binary;
use tests::webhook::Receiver;
use tests::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alert_is_logged_once_at_its_level_and_posted_once() {
    let db = TestDb::new().await;
    db.define_overdraft_slo("s1", "UTC", "1 day 00:30", "1 day 03:00", "30 minutes")
        .await;

    let receiver = Receiver::start(0).await;
    let hook = receiver.url();

    let mut child = Command::new(binary())
        .args([
            "--log-format",
            "json",
            "notify",
            "--webhook",
            &hook,
            "--poll-secs",
            "1",
        ])
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pg-slo runs (cargo build -p api first)");
    let logs: Arc<Mutex<Vec<Value>>> = Arc::default();
    let lines = logs.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                lines.lock().unwrap().push(v);
            }
        }
    });

    db.client()
        .await
        .batch_execute(
            "SELECT slo.raise_alerts(ARRAY['s1', 's1', 's1', 's1', 's1'],
                                     ARRAY[date '2026-11-01', date '2026-11-01', date '2026-11-02', date '2026-11-01',
                                           date '2026-11-01'],
                                     ARRAY[time '00:00', time '00:00', time '00:00', time '00:00', time '00:00'],
                                     ARRAY['late_start', 'late', 'at_risk', 'recovered', 'slack_breached'],
                                     ARRAY['{}'::jsonb, '{}', '{}', '{}', '{}'], now())",
        )
        .await
        .unwrap();

    receiver.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGTERM: a clean stop.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");

    let alert_lines: Vec<(String, String, String)> = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|v| v["message"] == "SLO alert")
        .map(|v| {
            (
                v["kind"].as_str().unwrap_or("").to_owned(),
                v["level"].as_str().unwrap_or("").to_owned(),
                v["business_date"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let mut got = alert_lines.clone();
    got.sort();
    assert_eq!(
        got,
        [
            ("at_risk".into(), "WARN".into(), "2026-11-02".into()),
            ("late".into(), "ERROR".into(), "2026-11-01".into()),
            ("late_start".into(), "WARN".into(), "2026-11-01".into()),
            ("recovered".into(), "INFO".into(), "2026-11-01".into()),
            ("slack_breached".into(), "ERROR".into(), "2026-11-01".into()),
        ],
        "one log line per alert: {alert_lines:?}"
    );
    let mut kinds: Vec<String> = receiver
        .bodies()
        .iter()
        .map(|b| b["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "at_risk",
            "late",
            "late_start",
            "recovered",
            "slack_breached"
        ]
    );
    let stopped = logs
        .lock()
        .unwrap()
        .iter()
        .any(|v| v["message"] == "pg-slo notify stopped");
    assert!(stopped, "logs its stop");
}
