//! `apply` and `export` against the real database: the plan, the transaction, the guards on
//! history, and the round trip export -> apply that changes nothing.

use crate::helpers::TestDb;
use api::dbconn::DbArgs;
use api::definitions::{self, ApplyArgs, ApplyError, ExportArgs};
use slo_core::definitions::{parse_file, Action};
use std::path::PathBuf;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/foxfire.toml")
}

fn args(db: &TestDb, file: PathBuf) -> ApplyArgs {
    ApplyArgs {
        file,
        dry_run: false,
        allow_delete: false,
        recompute_from: None,
        db: DbArgs {
            database_url: db.url(),
        },
    }
}

/// Writes `text` to a file of its own and returns the path.
fn file_with(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "pg_slo_defs_{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

async fn apply(a: &ApplyArgs) -> (Result<definitions::Applied, ApplyError>, String) {
    let mut out = Vec::new();
    let r = definitions::apply(a, &mut out).await;
    (r, String::from_utf8(out).unwrap())
}

async fn export(db: &TestDb) -> String {
    definitions::export(&ExportArgs {
        output: None,
        db: DbArgs {
            database_url: db.url(),
        },
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn applying_the_example_file_then_its_export_changes_nothing_the_second_time() {
    let db = TestDb::new().await;
    let (r, out) = apply(&args(&db, example())).await;
    let applied = r.unwrap();
    assert!(applied.applied);
    assert!(out.contains("+ slo \"txn-summary-30m\""), "{out}");
    assert!(out.contains("Applied:"), "{out}");
    assert_eq!(db.count("SELECT count(*) FROM slo.slo").await, 4);
    assert_eq!(db.count("SELECT count(*) FROM slo.slo_job").await, 6);
    assert_eq!(
        db.count("SELECT count(*) FROM slo.holiday WHERE holiday_set = 'us_federal_reserve'")
            .await,
        db.count("SELECT count(*) FROM slo.holiday_rule_dates('us_federal_reserve', 2020, 2035)")
            .await
    );
    // The fixture's application names differed from the file's: changed, not duplicated.
    assert_eq!(db.count("SELECT count(*) FROM slo.application").await, 3);

    // The database's definitions, written out, are the file's definitions.
    let exported = export(&db).await;
    let from_file = parse_file(&std::fs::read_to_string(example()).unwrap()).unwrap();
    assert_eq!(parse_file(&exported).unwrap(), from_file);

    // Applying the export (and the file again) is a no-op.
    for file in [file_with(&exported), example()] {
        let (r, out) = apply(&args(&db, file)).await;
        let applied = r.unwrap();
        assert!(applied.plan.is_empty(), "{out}");
        assert!(
            out.contains("No changes: the database matches the file."),
            "{out}"
        );
    }
    assert_eq!(export(&db).await, exported, "export is stable");
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let db = TestDb::new().await;
    let mut a = args(&db, example());
    a.dry_run = true;
    let (r, out) = apply(&a).await;
    let applied = r.unwrap();
    assert!(!applied.applied);
    assert_eq!(applied.plan.counts(), (12, 2, 0), "{out}");
    assert!(
        out.contains("Plan: 12 to add, 2 to change, 0 to remove."),
        "{out}"
    );
    assert!(out.contains("Dry run: nothing was changed."), "{out}");
    assert_eq!(db.count("SELECT count(*) FROM slo.slo").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM slo.calendar").await, 0);
}

#[tokio::test]
async fn a_broken_file_is_refused_with_every_problem_located_and_nothing_is_written() {
    let db = TestDb::new().await;
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replacen(
            "time_zone = \"America/New_York\"",
            "time_zone = \"America/NewYork\"",
            1,
        )
        .replace(
            "run_weekdays = [1, 2, 3, 4, 5, 6, 7]",
            "run_weekdays = [0, 1]",
        )
        .replace("expected_end = \"00:10\"", "expected_end = \"-00:10\"");
    let file = file_with(&text);
    let (r, _) = apply(&args(&db, file.clone())).await;
    let Err(ApplyError::Invalid {
        file: name,
        problems,
    }) = r
    else {
        panic!("the file is refused: {r:?}");
    };
    assert_eq!(name, file.display().to_string());
    let located: Vec<(usize, &str, &str)> = problems
        .iter()
        .map(|p| (p.line, p.field.as_str(), p.rule))
        .collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_eq!(
        located,
        vec![
            (line_of("[0, 1]"), "run_weekdays", "weekday"),
            (line_of("America/NewYork"), "time_zone", "time_zone"),
            (line_of("\"-00:10\""), "expected_end", "expected_order"),
        ]
    );
    assert!(problems[1]
        .located(&name)
        .starts_with(&format!("{name}:{}:", line_of("America/NewYork"))));
    assert_eq!(db.count("SELECT count(*) FROM slo.calendar").await, 0);
}

#[tokio::test]
async fn removing_an_slo_with_history_needs_allow_delete_and_events_keep_their_jobs() {
    let db = TestDb::new().await;
    apply(&args(&db, example())).await.0.unwrap();
    // An overdraft run for Monday 16 November 2026, and an unknown job registered by its event.
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id) VALUES
               ('overdrafts', 'od-calc', 'start', '2026-11-17 00:35-05', '2026-11-16', 'r1', 'h1'),
               ('overdrafts', 'od-calc', 'succeed', '2026-11-17 02:40-05', '2026-11-16', 'r1', 'h1'),
               ('deposits', 'adhoc-extract', 'start', '2026-11-17 09:00-05', '2026-11-17', 'r1', 'h1');",
        )
        .await
        .unwrap();
    assert!(
        db.count("SELECT count(*) FROM slo.slo_performance WHERE slo_id = 'od-data-for-dss'")
            .await
            > 0
    );

    let text = std::fs::read_to_string(example()).unwrap();
    let start = text.find("[[slo]]\nslo_id = \"od-data-for-dss\"").unwrap();
    let end = text.find("# The load into decision support").unwrap();
    let without = format!("{}{}", &text[..start], &text[end..]);
    let file = file_with(&without);

    let (r, _) = apply(&args(&db, file.clone())).await;
    let Err(ApplyError::Blocked { reasons }) = r else {
        panic!("removal without --allow-delete is blocked: {r:?}");
    };
    assert!(
        reasons[0].contains("od-data-for-dss") && reasons[0].contains("--allow-delete"),
        "{reasons:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.slo").await,
        4,
        "nothing changed"
    );

    let mut a = args(&db, file);
    a.allow_delete = true;
    let (r, out) = apply(&a).await;
    let plan = r.unwrap().plan;
    assert_eq!(plan.counts(), (0, 0, 1), "{out}");
    assert_eq!(plan.changes[0].action, Action::Remove);
    assert!(
        out.contains("! job \"adhoc-extract\" is not in the file but stays"),
        "{out}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.slo_performance WHERE slo_id = 'od-data-for-dss'")
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job WHERE job_id = 'adhoc-extract'")
            .await,
        1
    );

    // The job registered by its event is exported, so an export applies cleanly.
    let exported = export(&db).await;
    assert!(
        exported.contains("job_id = \"adhoc-extract\""),
        "{exported}"
    );
    let (r, out) = apply(&args(&db, file_with(&exported))).await;
    assert!(r.unwrap().plan.is_empty(), "{out}");
}

#[tokio::test]
async fn a_changed_deadline_is_applied_in_place_and_recompute_moves_existing_rows() {
    let db = TestDb::new().await;
    apply(&args(&db, example())).await.0.unwrap();
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id) VALUES
               ('overdrafts', 'od-calc', 'start', '2026-11-17 00:35-05', '2026-11-16', 'r1', 'h1');",
        )
        .await
        .unwrap();
    let expected_end = || async {
        db.client()
            .await
            .query_one(
                "SELECT to_char(expected_end AT TIME ZONE 'America/New_York', 'HH24:MI') FROM slo.slo_performance \
                 WHERE slo_id = 'od-data-for-dss' AND business_date = '2026-11-16'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    assert_eq!(expected_end().await, "03:00");
    let text = std::fs::read_to_string(example()).unwrap().replacen(
        "expected_end = \"1 day 03:00\"",
        "expected_end = \"1 day 03:30\"",
        1,
    );
    let mut a = args(&db, file_with(&text));
    a.recompute_from = Some("2026-11-16".parse().unwrap());
    let (r, out) = apply(&a).await;
    let plan = r.unwrap().plan;
    assert_eq!(plan.counts(), (0, 1, 0), "{out}");
    assert!(out.contains("~ job \"od-calc\": 1 day 00:30 .. 1 day 03:00 (calendar days) -> 1 day 00:30 .. 1 day 03:30 (calendar days)"), "{out}");
    assert!(out.contains("Recomputed"), "{out}");
    assert_eq!(expected_end().await, "03:30");
}

#[tokio::test]
async fn the_regression_fixture_holds_the_example_files_definitions() {
    let db = TestDb::new().await;
    let fixture = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pg_slo/tests/pg_regress/foxfire.sql"),
    )
    .unwrap();
    let client = db.client().await;
    client
        .batch_execute("DELETE FROM slo.job; DELETE FROM slo.application;")
        .await
        .unwrap();
    client.batch_execute(&fixture).await.unwrap();
    let from_sql = parse_file(&export(&db).await).unwrap();
    let from_toml = parse_file(&std::fs::read_to_string(example()).unwrap()).unwrap();
    assert_eq!(from_sql, from_toml);
}

#[tokio::test]
async fn two_applies_at_once_take_turns_and_the_second_finds_nothing_to_do() {
    let db = TestDb::new().await;
    let a = args(&db, example());
    let b = args(&db, example());
    let (ra, rb) = tokio::join!(apply(&a), apply(&b));
    let (pa, pb) = (ra.0.unwrap().plan, rb.0.unwrap().plan);
    // Without the lock both would plan the same additions and one would hit a unique key.
    let sizes = [pa.changes.len(), pb.changes.len()];
    assert!(
        sizes.contains(&0) && sizes.iter().any(|n| *n > 0),
        "{sizes:?}"
    );
    assert_eq!(db.count("SELECT count(*) FROM slo.slo").await, 4);
}

#[tokio::test]
async fn listed_holidays_and_calendar_exceptions_round_trip_and_their_changes_are_applied() {
    let db = TestDb::new().await;
    let base = std::fs::read_to_string(example()).unwrap();
    // The bank's own holidays (a set of listed dates, and a date added to the rule's set), and
    // one-off exceptions on the standard calendar.
    let with = |christmas_eve_runs: bool, boxing_day: bool| {
        let mut text = base.replace(
            "[[holiday_set]]\nholiday_set = \"us_federal_reserve\"\nrule = \"us_federal_reserve\"\nfrom_year = 2020\nto_year = 2035\n",
            "[[holiday_set]]\nholiday_set = \"us_federal_reserve\"\nrule = \"us_federal_reserve\"\nfrom_year = 2020\nto_year = 2035\n\
             [[holiday_set.holiday]]\nholiday_date = 2026-12-24\nname = \"Christmas Eve (board decision)\"\n\n\
             [[holiday_set]]\nholiday_set = \"bank_own\"\n\
             [[holiday_set.holiday]]\nholiday_date = 2026-08-14\nname = \"Founders' day\"\n",
        );
        if boxing_day {
            text = text.replace(
                "name = \"Founders' day\"\n",
                "name = \"Founders' day\"\n[[holiday_set.holiday]]\nholiday_date = 2026-12-26\nname = \"Boxing day\"\n",
            );
        }
        text.replace(
            "holiday_set = \"us_federal_reserve\"\nruns_on_holidays = false\n# One-off overrides",
            &format!(
                "holiday_set = \"us_federal_reserve\"\nruns_on_holidays = false\n\
                 [[calendar.exception]]\nexception_date = 2026-11-27\nruns = false\n\
                 [[calendar.exception]]\nexception_date = 2026-12-24\nruns = {christmas_eve_runs}\n\
                 # One-off overrides"
            ),
        )
    };
    let first = with(false, true);
    assert_ne!(
        first, base,
        "the example file's layout changed: update this test"
    );
    let (r, out) = apply(&args(&db, file_with(&first))).await;
    r.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM slo.holiday WHERE holiday_set = 'bank_own'")
            .await,
        2,
        "{out}"
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM slo.holiday WHERE holiday_set = 'us_federal_reserve'
             AND holiday_date = '2026-12-24' AND name = 'Christmas Eve (board decision)'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM slo.calendar_exception WHERE calendar_id = 'standard' AND NOT runs
             AND exception_date IN ('2026-11-27', '2026-12-24')"
        )
        .await,
        2
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.is_run_date('standard', '2026-11-27') AS r WHERE NOT r")
            .await,
        1,
        "the exception rules the calendar"
    );

    // Exported, the same definitions; applied again, nothing to do.
    let exported = export(&db).await;
    assert_eq!(parse_file(&exported).unwrap(), parse_file(&first).unwrap());
    let (r, out) = apply(&args(&db, file_with(&exported))).await;
    assert!(r.unwrap().plan.is_empty(), "{out}");

    // Changed: Christmas Eve runs after all, Boxing day is no longer a holiday.
    let second = with(true, false);
    let (r, out) = apply(&args(&db, file_with(&second))).await;
    assert!(!r.unwrap().plan.is_empty(), "{out}");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM slo.calendar_exception WHERE calendar_id = 'standard'
             AND exception_date = '2026-12-24' AND runs"
        )
        .await,
        1,
        "{out}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.holiday WHERE holiday_set = 'bank_own'")
            .await,
        1,
        "{out}"
    );
    assert_eq!(
        parse_file(&export(&db).await).unwrap(),
        parse_file(&second).unwrap()
    );
}
