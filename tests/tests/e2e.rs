//! End to end: the real `pg-slo` binary, started as an operator would, against the real
//! PostgreSQL with the extension. Build the binary first (`cargo build -p api`); the test
//! script does. `PG_SLO_BIN` overrides where it is looked for.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::process::binary;
use tests::{readme_event, TestDb};

/// A running `pg-slo serve` with JSON logs, its log lines collected.
struct Service {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl Service {
    fn start(database_url: &str) -> Service {
        Self::start_with(database_url, &[])
    }

    /// `pg-slo serve` with `extra` flags after the usual ones.
    fn start_with(database_url: &str, extra: &[&str]) -> Service {
        let mut child = Command::new(binary())
            .args([
                "--log-format",
                "json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--db-timeout-secs",
                "2",
            ])
            .args(extra)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pg-slo starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    panic!("a log line that is not JSON: {line}");
                };
                if v["message"] == "pg-slo API listening" {
                    let _ = addr_tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                }
                sink.lock().unwrap().push(v);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("pg-slo logs its address");
        Service {
            child,
            base: format!("http://{addr}"),
            logs,
        }
    }

    fn logs_with(&self, message: &str) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["message"] == message)
            .cloned()
            .collect()
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `pg-slo token ARGS` against `database_url`; returns its exit code, standard output and
/// standard error.
fn token_command(database_url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(binary())
        .arg("token")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("pg-slo token runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Issues a token as the README and scripts/run.sh do; returns it.
fn issue_token(database_url: &str, client: &str, apps: &str) -> String {
    let (code, stdout, stderr) =
        token_command(database_url, &["issue", "--client", client, "--apps", apps]);
    assert_eq!(code, Some(0), "{stderr}");
    stdout.trim().to_owned()
}

#[tokio::test]
async fn the_readme_example_is_stored_and_the_request_is_logged_as_one_json_line() {
    let db = TestDb::new().await;
    let token = issue_token(&db.url(), "readme-demo", "overdrafts");
    let service = Service::start(&db.url());
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/v1/job-status", service.base))
        .header("x-request-id", "e2e-1")
        .header("authorization", format!("Bearer {token}"))
        .json(&readme_event())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"accepted": 1, "duplicates": 0})
    );
    assert_eq!(db.events().await.len(), 1);
    assert_eq!(
        db.events().await[0]["status_time"],
        "2026-11-17T05:30:00.000000Z"
    );

    let done = service.logs_with("request completed");
    let line = done
        .iter()
        .find(|l| l["span"]["request_id"] == "e2e-1")
        .expect("a log line for the request");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["span"]["method"], "POST");
    assert_eq!(line["span"]["route"], "/v1/job-status");
    assert_eq!(line["span"]["status"], 201);
    assert_eq!(line["span"]["client_id"], "readme-demo");
    assert!(line["span"]["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(db.events().await[0]["client_id"], "readme-demo");
}

#[tokio::test]
async fn a_5xx_is_logged_once_with_its_cause_and_the_client_sees_no_database_text() {
    // A port with nothing listening: the database is unreachable.
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let service = Service::start(&format!(
        "host=127.0.0.1 port={unused} user=postgres dbname=postgres"
    ));
    // A well-formed token: checking it needs the database.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/job-status", service.base))
        .header("x-request-id", "e2e-503")
        .header("authorization", format!("Bearer pgslo_{}", "0".repeat(64)))
        .json(&readme_event())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body = resp.text().await.unwrap();
    assert!(
        !body.contains(&unused.to_string()) && !body.to_lowercase().contains("refused"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let failures: Vec<Value> = service
        .logs_with("request failed")
        .into_iter()
        .filter(|l| l["span"]["request_id"] == "e2e-503")
        .collect();
    assert_eq!(failures.len(), 1, "logged once");
    assert_eq!(failures[0]["level"], "ERROR");
    assert_eq!(failures[0]["span"]["status"], 503);
    assert!(
        failures[0]["cause"].as_str().unwrap().contains("database"),
        "{}",
        failures[0]
    );
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_commit_then_exits_cleanly() {
    let db = TestDb::new().await;
    let token = db.issue_token("sched", &["overdrafts"]).await;
    let mut service = Service::start(&db.url());

    // Hold a lock that blocks inserts, so the request is in flight when SIGTERM arrives.
    let mut blocker = db.client().await;
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE slo.job_status IN SHARE ROW EXCLUSIVE MODE")
        .await
        .unwrap();

    let url = format!("{}/v1/job-status", service.base);
    let request = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&readme_event())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    let observer = db.client().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg-slo' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the request never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    service.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "it waits for the request in flight"
    );

    tx.commit().await.unwrap();
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(body, json!({"accepted": 1, "duplicates": 0}));
    assert_eq!(
        service.wait_exit(Duration::from_secs(10)),
        Some(0),
        "a clean exit after SIGTERM"
    );
    assert_eq!(
        db.events().await.len(),
        1,
        "the answered event is committed"
    );
    assert_eq!(service.logs_with("pg-slo API stopped").len(), 1);
}

#[tokio::test]
async fn token_issue_list_and_revoke_work_end_to_end_and_a_revoked_token_is_refused() {
    let db = TestDb::new().await;
    let url = db.url();
    let (code, stdout, stderr) = token_command(
        &url,
        &[
            "issue",
            "--client",
            "sched-east",
            "--apps",
            "overdrafts,deposits",
            "--expires-in",
            "30d",
            "--note",
            "batch01 scheduler",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let token = stdout.trim().to_owned();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the token on standard output"
    );
    assert!(token.starts_with("pgslo_") && token.len() == 70, "{token}");
    assert!(stderr.contains("only time the token is shown"), "{stderr}");
    assert!(stderr.contains("deposits, overdrafts"), "{stderr}");

    let (code, table, _) = token_command(&url, &["list"]);
    assert_eq!(code, Some(0));
    assert!(
        table.contains("sched-east") && table.contains("active"),
        "{table}"
    );
    assert!(
        table.contains(&token[..12]) && !table.contains(&token),
        "{table}"
    );
    let (code, json_out, _) = token_command(&url, &["list", "--json", "--client", "sched-east"]);
    assert_eq!(code, Some(0));
    let rows: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(rows[0]["client_id"], "sched-east");
    assert_eq!(rows[0]["note"], "batch01 scheduler");
    assert!(rows[0]["expires_at"].is_string());
    assert!(!json_out.contains(&token));

    let service = Service::start_with(&url, &["--auth-cache-secs", "0"]);
    let post = || async {
        reqwest::Client::new()
            .post(format!("{}/v1/job-status", service.base))
            .bearer_auth(&token)
            .json(&readme_event())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post().await, 201);

    let id = rows[0]["token_id"].to_string();
    let (code, _, stderr) = token_command(&url, &["revoke", &id]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("Token {id} is revoked")),
        "{stderr}"
    );
    assert_eq!(post().await, 401);
    let (_, table, _) = token_command(&url, &["list"]);
    assert!(table.contains("revoked"), "{table}");
}

#[tokio::test]
async fn token_commands_name_what_is_wrong_and_exit_non_zero() {
    let db = TestDb::new().await;
    let url = db.url();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["issue", "--client", "s", "--apps", "payments"],
            "application 'payments': no such application",
        ),
        (
            vec!["issue", "--client", "brand-new"],
            "a new client needs at least one application",
        ),
        (
            vec![
                "issue",
                "--client",
                "s",
                "--apps",
                "overdrafts",
                "--expires-in",
                "soon",
            ],
            "--expires-in \"soon\"",
        ),
        (vec!["revoke", "424242"], "token 424242: no such token"),
        (
            vec!["revoke", "--client", "nobody"],
            "client 'nobody': no such client",
        ),
    ];
    for (args, says) in cases {
        let (code, stdout, stderr) = token_command(&url, &args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(db.count("SELECT count(*) FROM slo.client_token").await, 0);
}

#[tokio::test]
async fn authentication_is_on_unless_turned_off_by_its_flag_which_logs_a_warning() {
    let db = TestDb::new().await;
    let on = Service::start(&db.url());
    let status = reqwest::Client::new()
        .post(format!("{}/v1/job-status", on.base))
        .json(&readme_event())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    assert!(!on
        .logs_with("authentication on: POST /v1/job-status needs Authorization: Bearer <token>")
        .is_empty());

    let off = Service::start_with(&db.url(), &["--insecure-no-auth"]);
    let warning = off
        .logs
        .lock()
        .unwrap()
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("authentication is OFF"))
        })
        .cloned()
        .expect("a warning at start");
    assert_eq!(warning["level"], "WARN");
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/job-status", off.base))
        .json(&readme_event())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(db.events().await[0]["client_id"], Value::Null);
}
