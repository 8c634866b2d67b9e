//! End to end: `pg-slo backfill` as an operator runs it, on files with good, duplicate and bad
//! lines, against a database of its own.

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use tests::process::binary;
use tests::{readme_event, TestDb};

fn event(run: &str, status: &str, time: &str) -> Value {
    let mut e = readme_event();
    e["run_id"] = json!(run);
    e["status"] = json!(status);
    e["status_time"] = json!(time);
    e
}

fn backfill(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(binary())
        .arg("backfill")
        .args(args)
        .env("DATABASE_URL", db.url())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pg-slo backfill starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn rejects(path: &std::path::Path) -> Vec<(u64, Vec<String>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let rules = v["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["rule"].as_str().unwrap().to_owned())
                .collect();
            (v["line"].as_u64().unwrap(), rules)
        })
        .collect()
}

#[tokio::test]
async fn a_backfill_counts_good_duplicate_and_bad_lines_and_writes_the_bad_ones_with_their_line_numbers(
) {
    let db = TestDb::new().await;
    let client = db.client().await;
    db.define_overdraft_slo("od", "America/New_York", "1 day 00:00", "1 day 03:00", "0")
        .await;
    let a = event("r1", "start", "2026-11-17T00:30:00-05:00");
    let b = event("r1", "succeed", "2026-11-17T01:30:00-05:00");
    let c = event("r2", "start", "2026-11-17T00:40:00-05:00");
    let d = event("r3", "start", "2026-11-17T00:50:00-05:00");
    let e = event("r2", "fail", "2026-11-17T00:45:00-05:00");
    let mut bad_status = event("r4", "start", "2026-11-17T00:30:00-05:00");
    bad_status["status"] = json!("done");
    let mut unknown_app = event("r5", "start", "2026-11-17T00:30:00-05:00");
    unknown_app["app_id"] = json!("payments");
    let mut other_app = event("r6", "start", "2026-11-17T00:30:00-05:00");
    other_app["app_id"] = json!("deposits");
    let mut not_granted = event("r7", "start", "2026-11-17T00:30:00-05:00");
    not_granted["app_id"] = json!("deposits");
    not_granted["job_id"] = json!("dep-new");
    // The history is posted as a client that may post for overdrafts only.
    db.issue_token("history", &["overdrafts"]).await;
    // d is stored already (by the API, say): the backfill counts it as a duplicate.
    client
        .execute(
            "INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id) \
             VALUES ('overdrafts', 'od-calc', 'start', '2026-11-17T00:50:00-05:00', '2026-11-16', 'r3', 'batch01')",
            &[],
        )
        .await
        .unwrap();
    let lines = [
        a.to_string(),              // 1 good
        b.to_string(),              // 2 good
        "{\"app_id\": ".to_owned(), // 3 malformed JSON
        c.to_string(),              // 4 good
        a.to_string(),              // 5 duplicate of 1
        String::new(),              // 6 blank: skipped
        bad_status.to_string(),     // 7 a broken rule
        d.to_string(),              // 8 already stored
        unknown_app.to_string(),    // 9 unknown application
        other_app.to_string(),      // 10 job of another application
        c.to_string(),              // 11 duplicate of 4
        e.to_string(),              // 12 good
        not_granted.to_string(),    // 13 an application the client may not post for
    ];
    let dir =
        std::env::temp_dir().join(format!("pg-slo-backfill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("history.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let reject_file = dir.join("rejects.ndjson");
    let args = [
        file.to_str().unwrap(),
        "--batch-size",
        "3",
        "--reject-file",
        reject_file.to_str().unwrap(),
        "--client-id",
        "history",
    ];

    let out = backfill(&db, &args, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit 2: some lines were rejected; {stdout}; {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("read 12: stored 4, duplicates 3, rejected 5"),
        "{stdout}"
    );
    assert_eq!(
        rejects(&reject_file),
        vec![
            (3, vec!["malformed_json".to_owned()]),
            (7, vec!["unknown_status".to_owned()]),
            (9, vec!["unknown_application".to_owned()]),
            (
                10,
                vec![
                    "job_of_other_application".to_owned(),
                    "application_not_allowed".to_owned()
                ]
            ),
            (13, vec!["application_not_allowed".to_owned()]),
        ]
    );
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&reject_file)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        first["input"], "{\"app_id\": ",
        "the refused line, as it was"
    );
    assert_eq!(first["file"], file.to_str().unwrap());
    let runs: Vec<(String, String)> = db
        .events()
        .await
        .iter()
        .map(|e| {
            (
                e["run_id"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(runs.len(), 5);
    assert!(
        db.events()
            .await
            .iter()
            .filter(|e| e["run_id"] != "r3")
            .all(|e| e["client_id"] == "history"),
        "every row the backfill stored carries its client"
    );
    // The range was recomputed: the instance of 2026-11-16 has its row, as the trigger left it.
    assert!(
        stdout.contains(
            "business dates 2026-11-16 to 2026-11-16: slo.recompute wrote 1 performance rows"
        ),
        "{stdout}"
    );
    let perf: Value = client
        .query_one(
            "SELECT to_json(p) FROM (SELECT actual_start, actual_end, failed_runs FROM slo.slo_performance \
             WHERE slo_id = 'od' AND business_date = '2026-11-16') p",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(perf["failed_runs"], 1, "{perf}");
    assert!(!perf["actual_end"].is_null(), "{perf}");

    // Run again (an interrupted backfill is simply run again): nothing new.
    let again = backfill(&db, &args, None);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("read 12: stored 0, duplicates 7, rejected 5"),
        "{stdout}"
    );
    assert_eq!(db.events().await.len(), 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_csv_backfill_from_standard_input_maps_columns_by_header_and_rejects_by_line() {
    let db = TestDb::new().await;
    let dir =
        std::env::temp_dir().join(format!("pg-slo-backfill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let reject_file = dir.join("rejects.ndjson");
    let csv = "\
job_id,app_id,status,status_time,business_date,run_id,host_id,period_start
od-calc,overdrafts,start,2026-11-17T00:30:00-05:00,2026-11-16,r1,batch01,
od-calc,overdrafts,succeed,2026-11-17 01:30:00,2026-11-16,r1,batch01,
od-calc,overdrafts,succeed,2026-11-17T01:30:00-05:00,2026-11-16,r1,batch01,
od-calc,overdrafts,start,2026-11-17T00:30:00-05:00,2026-11-16,r1,batch01,
";
    let out = backfill(
        &db,
        &[
            "--format",
            "csv",
            "--no-recompute",
            "--insecure-no-auth",
            "--reject-file",
            reject_file.to_str().unwrap(),
        ],
        Some(csv),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("read 4: stored 2, duplicates 1, rejected 1"),
        "{stdout}"
    );
    assert!(stdout.contains("slo.recompute not run"), "{stdout}");
    assert_eq!(
        rejects(&reject_file),
        vec![(3, vec!["rfc3339_with_offset".to_owned()])]
    );
    assert_eq!(db.events().await.len(), 2);

    // Neither a client nor --insecure-no-auth: refused before anything is read.
    let out = backfill(&db, &["--format", "csv"], Some("job_id\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--client-id is required"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A clean file: exit 0 and no reject file; the rows carry the client id given.
    db.issue_token("legacy-scheduler", &["overdrafts"]).await;
    let clean_rejects = dir.join("none.ndjson");
    let out = backfill(
        &db,
        &[
            "--format",
            "csv",
            "--client-id",
            "legacy-scheduler",
            "--reject-file",
            clean_rejects.to_str().unwrap(),
        ],
        Some(
            "job_id,app_id,status,status_time,business_date,run_id,host_id\n\
              od-calc,overdrafts,fail,2026-11-17T00:35:00-05:00,2026-11-16,r1,batch01\n",
        ),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!clean_rejects.exists());
    let events = db.events().await;
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2]["client_id"], "legacy-scheduler",
        "--client-id is recorded"
    );
    assert_eq!(
        events[0]["client_id"],
        Value::Null,
        "--insecure-no-auth stores no client"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn on_a_terminal_the_backfill_shows_its_progress_and_off_one_it_prints_none() {
    let db = TestDb::new().await;
    db.define_overdraft_slo("od", "America/New_York", "1 day 00:00", "1 day 03:00", "0")
        .await;
    let dir = std::env::temp_dir().join(format!("pg_slo_bf_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("history.ndjson");
    let lines: Vec<String> = (0..3000)
        .map(|i| event(&format!("run-{i}"), "start", "2026-11-17T00:30:00-05:00").to_string())
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let command = format!(
        "{} backfill --insecure-no-auth {}",
        binary().display(),
        file.display()
    );
    // `script` gives the command a terminal (a pseudo-terminal) and copies what it draws.
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("DATABASE_URL", db.url())
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let drawn = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{drawn}");
    let total = std::fs::metadata(&file).unwrap().len();
    assert!(
        drawn.contains("KiB/") && drawn.contains(" KiB (") && drawn.contains("left)"),
        "a progress bar with bytes read, the total and the time left ({total} bytes): {drawn:?}"
    );
    assert!(
        drawn.contains("3000"),
        "the summary counts the events: {drawn}"
    );
    assert_eq!(db.events().await.len(), 3000);

    // Off a terminal (a pipe, as in CI or cron): the summary only, no drawing.
    let again = backfill(&db, &["--insecure-no-auth", file.to_str().unwrap()], None);
    assert!(again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !stderr.contains("left)") && !stderr.contains('\u{1b}'),
        "no progress bar on a pipe: {stderr:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn lines_a_database_constraint_refuses_are_rejected_naming_it_and_the_others_are_stored() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "ALTER TABLE slo.job_status ADD CONSTRAINT dba_check CHECK (host_id <> 'forbidden-host')",
        )
        .await
        .unwrap();
    let mut forbidden = event("r2", "start", "2026-11-17T00:40:00-05:00");
    forbidden["host_id"] = json!("forbidden-host");
    let lines = [
        event("r1", "start", "2026-11-17T00:30:00-05:00").to_string(),
        forbidden.to_string(),
        event("r1", "succeed", "2026-11-17T01:30:00-05:00").to_string(),
        event("r3", "start", "2026-11-17T00:50:00-05:00").to_string(),
    ];
    let dir =
        std::env::temp_dir().join(format!("pg-slo-backfill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("history.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let reject_file = dir.join("rejects.ndjson");
    let args = [
        "--insecure-no-auth",
        file.to_str().unwrap(),
        "--reject-file",
        reject_file.to_str().unwrap(),
    ];
    let out = backfill(&db, &args, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit 2: a line was rejected; {stdout}; {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("read 4: stored 3, duplicates 0, rejected 1"),
        "{stdout}"
    );
    assert_eq!(
        rejects(&reject_file),
        vec![(2, vec!["database_constraint".to_owned()])]
    );
    let reject = std::fs::read_to_string(&reject_file).unwrap();
    assert!(reject.contains("dba_check"), "{reject}");
    assert!(!reject.contains("violates"), "{reject}");
    assert_eq!(db.events().await.len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
