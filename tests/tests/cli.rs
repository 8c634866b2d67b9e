//! End to end: the `pg-slo` commands an operator types (`apply`, `export`, `report`, `demo`),
//! run as processes against the real PostgreSQL, checked by exit code and output. Build the
//! binary first (`cargo build -p api`); the test script does. `PG_SLO_BIN` overrides its path.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use tests::process::binary;
use tests::TestDb;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/foxfire.toml")
}

fn pg_slo(db: &TestDb, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("DATABASE_URL", db.url())
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("pg-slo runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "pg_slo_cli_{}_{name}",
        uuid::Uuid::new_v4().simple()
    ))
}

#[test]
fn help_names_every_command_a_newcomer_needs() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in [
        "serve", "apply", "export", "report", "demo", "token", "backfill", "notify", "ingest",
    ] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} in:\n{help}"
        );
    }
    let out = Command::new(binary())
        .args(["apply", "--help"])
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for flag in ["--dry-run", "--allow-delete", "--database-url", "<FILE>"] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
}

#[tokio::test]
async fn apply_export_and_apply_again_from_the_command_line() {
    let db = TestDb::new().await;
    let file = example();
    let file = file.to_str().unwrap();

    let dry = pg_slo(&db, &["apply", "--dry-run", file]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("Dry run: nothing was changed."));
    assert_eq!(db.count("SELECT count(*) FROM slo.slo").await, 0);

    let applied = pg_slo(&db, &["apply", file]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert!(
        text(&applied.stdout).contains("Applied: 12 added, 2 changed, 0 removed."),
        "{}",
        text(&applied.stdout)
    );

    let exported = temp_file("export.toml");
    let out = pg_slo(&db, &["export", "--output", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = pg_slo(&db, &["apply", exported.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("No changes: the database matches the file."),
        "{}",
        text(&again.stdout)
    );
    let stdout_export = pg_slo(&db, &["export"]);
    assert_eq!(
        text(&stdout_export.stdout),
        std::fs::read_to_string(&exported).unwrap()
    );
}

#[tokio::test]
async fn a_broken_file_exits_with_an_error_per_problem_naming_file_line_and_field() {
    let db = TestDb::new().await;
    let broken = temp_file("broken.toml");
    std::fs::write(
        &broken,
        "[[application]]\napp_id = \"ops\"\nname = \"Ops\"\n\n[[job]]\njob_id = \"j\"\napp_id = \"opz\"\nname = \"J\"\nowner = \"me\"\n",
    )
    .unwrap();
    let path = broken.to_str().unwrap();
    let out = pg_slo(&db, &["apply", path]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{path}:7:10: job \"j\": app_id: names application \"opz\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{path}:9:1: job \"j\": owner: unknown field")),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 problems found; nothing was applied"),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty(), "no plan for a broken file");
}

/// `pg-slo serve` on a free port, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(db: &TestDb) -> Server {
        let mut child = Command::new(binary())
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", db.url())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "pg-slo API listening" {
                        let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("pg-slo serve starts");
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_demo_posts_the_day_and_report_shows_late_ones_first() {
    let db = TestDb::new().await;
    let file = example();
    assert!(pg_slo(&db, &["apply", file.to_str().unwrap()])
        .status
        .success());
    // The token the demo posts with, issued as an operator would.
    let issued = pg_slo(
        &db,
        &[
            "token",
            "issue",
            "--client",
            "demo",
            "--apps",
            "overdrafts,decision_support,deposits",
        ],
    );
    assert!(issued.status.success(), "{}", text(&issued.stderr));
    let token = text(&issued.stdout).trim().to_owned();
    let server = Server::start(&db);
    let out = Command::new(binary())
        .env("PG_SLO_TOKEN", &token)
        .args([
            "demo",
            "--api-url",
            &server.url,
            "--business-date",
            "2026-11-20",
        ])
        .args(["--definitions", file.to_str().unwrap()])
        .env("DATABASE_URL", db.url())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("Posted in 1 request: 56 stored, 0 already there."),
        "{stdout}"
    );
    // The demo ends with the day's report; `report` prints the same table.
    let report = pg_slo(&db, &["report", "--business-date", "2026-11-20"]);
    assert!(report.status.success());
    let table = text(&report.stdout);
    assert!(stdout.ends_with(&table), "{stdout}\n---\n{table}");
    let rows: Vec<&str> = table.lines().skip(3).take(3).collect();
    assert!(rows[0].starts_with("late    od-report"), "{table}");
    assert!(rows[1].starts_with("missed  "), "{table}");
    assert!(
        table.contains("28 instances: 1 late, 2 missed, 0 running, 0 pending, 25 met"),
        "{table}"
    );
}
