//! Unit tests of the definitions file, its writer and the plan.

use super::*;

const FOXFIRE: &str = include_str!("../../../examples/foxfire.toml");

fn parse_ok(src: &str) -> Definitions {
    parse_file(src).unwrap_or_else(|p| {
        panic!(
            "{}",
            p.iter()
                .map(|x| x.located("test"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// (line, field, rule) of each problem.
fn problems(src: &str) -> Vec<(usize, String, &'static str)> {
    parse_file(src)
        .expect_err("the file is refused")
        .into_iter()
        .map(|p| (p.line, p.field, p.rule))
        .collect()
}

#[test]
fn the_briefs_example_file_holds_the_briefs_definitions() {
    let d = parse_ok(FOXFIRE);
    assert_eq!(
        d.applications.keys().collect::<Vec<_>>(),
        ["decision_support", "deposits", "overdrafts"]
    );
    assert_eq!(d.jobs.len(), 4);
    assert_eq!(d.calendars["standard"].run_weekdays, [1, 2, 3, 4, 5]);
    assert!(d.calendars["every_day"].runs_on_holidays);
    let fed = d.holiday_sets["us_federal_reserve"].holidays();
    assert!(
        fed.contains_key(&"2026-11-26".parse().unwrap()),
        "Thanksgiving 2026"
    );
    let dss = &d.slos["dss-load"];
    assert_eq!(dss.slack, Interval::parse("30 minutes").unwrap());
    assert_eq!(dss.jobs["dss-load-od"].day_unit, "run");
    assert_eq!(
        dss.jobs["od-calc"].day_unit, "calendar",
        "the default day unit"
    );
    let txn = d.slos["txn-summary-30m"].intraday.unwrap();
    assert_eq!(txn.period, Interval::parse("00:30").unwrap());
    assert_eq!(format_time(txn.window_end), "18:00");
    assert!(d.slos.values().all(|s| s.active), "active by default");
}

#[test]
fn definitions_written_out_read_back_equal() {
    let d = parse_ok(FOXFIRE);
    assert_eq!(parse_ok(&render(&d)), d);
}

#[test]
fn a_syntax_error_is_located() {
    let p = parse_file("[[application]]\napp_id = \"x\"\nname = \n").unwrap_err();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].line, p[0].rule), (3, "syntax"));
}

#[test]
fn every_problem_of_a_broken_file_is_reported_with_its_line_and_field() {
    let src = r#"
[[application]]
app_id = "ops"
name = "Operations"
colour = "red"

[[application]]
app_id = "ops"
name = "Again"

[[job]]
job_id = "j1"
app_id = "nobody"
name = " "

[[calendar]]
calendar_id = "cal"
name = "Cal"
run_weekdays = [1, 8]
holiday_set = "missing"

[[slo]]
slo_id = "s1"
name = "S1"
app_id = "ops"
calendar_id = "cal"
time_zone = "America/NewYork"
period = "0 minutes"
window_start = "06:00"
window_end = "18:00"
slack = "-5 minutes"

[[slo.job]]
job_id = "j1"
expected_start = "1 day 05:00"
expected_end = "1 day 03:00"
day_unit = "business"

[[slo.job]]
job_id = "j2"
expected_start = "1 month"
expected_end = "soon"
"#;
    assert_eq!(
        problems(src),
        vec![
            (5, "colour".into(), "unknown_field"),
            (8, "app_id".into(), "duplicate"),
            (13, "app_id".into(), "unknown_reference"),
            (14, "name".into(), "blank"),
            (19, "run_weekdays".into(), "weekday"),
            (20, "holiday_set".into(), "unknown_reference"),
            (27, "time_zone".into(), "time_zone"),
            (28, "period".into(), "window"),
            (31, "slack".into(), "negative"),
            (36, "expected_end".into(), "expected_order"),
            (37, "day_unit".into(), "day_unit"),
            (40, "job_id".into(), "unknown_reference"),
            (41, "expected_start".into(), "months"),
            (42, "expected_end".into(), "interval"),
        ]
    );
}

#[test]
fn a_problem_names_the_file_line_column_object_and_field() {
    let src = "[[job]]\njob_id = \"j\"\napp_id = \"a\"\nname = \"J\"\n";
    let p = parse_file(src).unwrap_err();
    assert_eq!(
        p[0].located("defs.toml"),
        "defs.toml:3:10: job \"j\": app_id: names application \"a\", which this file does not define \
         (add a [[application]] with that id) [unknown_reference]"
    );
}

#[test]
fn missing_fields_are_reported_at_their_table_and_wrong_types_at_their_value() {
    let src = "[[application]]\napp_id = 7\n\n[[slo]]\nslo_id = \"s\"\nactive = \"yes\"\n";
    let got = problems(src);
    assert!(got.contains(&(2, "app_id".into(), "wrong_type")), "{got:?}");
    assert!(got.contains(&(1, "name".into(), "required")), "{got:?}");
    for field in ["name", "app_id", "calendar_id", "time_zone"] {
        assert!(
            got.contains(&(4, field.into(), "required")),
            "{field}: {got:?}"
        );
    }
    assert!(got.contains(&(6, "active".into(), "wrong_type")), "{got:?}");
}

#[test]
fn identifiers_follow_the_databases_rule() {
    let src = "[[application]]\napp_id = \" padded\"\nname = \"P\"\n";
    assert_eq!(
        problems(src),
        vec![(2, "app_id".into(), "surrounding_whitespace")]
    );
}

#[test]
fn a_window_needs_all_three_fields() {
    let src = r#"
[[application]]
app_id = "a"
name = "A"
[[calendar]]
calendar_id = "c"
name = "C"
run_weekdays = [1]
[[slo]]
slo_id = "s"
name = "S"
app_id = "a"
calendar_id = "c"
time_zone = "UTC"
period = "30 minutes"
"#;
    let got = problems(src);
    assert_eq!(
        got,
        vec![
            (9, "window_start".into(), "window"),
            (9, "window_end".into(), "window")
        ]
    );
}

#[test]
fn a_period_need_not_divide_its_window() {
    let src = r#"
[[application]]
app_id = "a"
name = "A"
[[calendar]]
calendar_id = "c"
name = "C"
run_weekdays = [1]
[[slo]]
slo_id = "s"
name = "S"
app_id = "a"
calendar_id = "c"
time_zone = "UTC"
period = "45 minutes"
window_start = "06:00"
window_end = "17:45"
"#;
    let d = parse_ok(src);
    let w = d.slos["s"].intraday.unwrap();
    assert_eq!(w.period, Interval::parse("45 minutes").unwrap());
    assert_eq!(format_time(w.window_end), "17:45");
    let longer = src.replace("45 minutes", "1 day");
    assert_eq!(problems(&longer), vec![(15, "period".into(), "window")]);
}

#[test]
fn holiday_sets_check_their_rule_years_and_listed_dates() {
    let src = r#"
[[holiday_set]]
holiday_set = "fed"
rule = "us_federal_reserve"
from_year = 2026
to_year = 2026

[[holiday_set.holiday]]
holiday_date = 2026-12-25
name = "Christmas again"

[[holiday_set.holiday]]
holiday_date = 2026-12-24
name = "Christmas Eve"

[[holiday_set.holiday]]
holiday_date = "2026-12-24"
name = "Twice"

[[holiday_set]]
holiday_set = "bad"
rule = "moon_phases"
from_year = 2026
to_year = 2026

[[holiday_set]]
holiday_set = "early"
rule = "us_federal_reserve"
from_year = 1066
to_year = 2026
"#;
    assert_eq!(
        problems(src),
        vec![
            (9, "holiday_date".into(), "duplicate"),
            (17, "holiday_date".into(), "duplicate"),
            (22, "rule".into(), "holiday_rule"),
            (29, "from_year".into(), "year"),
        ]
    );
}

#[test]
fn a_holiday_set_reads_back_as_its_rule_plus_the_listed_dates() {
    let src = "[[holiday_set]]\nholiday_set = \"fed\"\nrule = \"us_federal_reserve\"\nfrom_year = 2025\nto_year = 2027\n\
               [[holiday_set.holiday]]\nholiday_date = 2026-12-24\nname = \"Christmas Eve\"\n";
    let set = parse_ok(src).holiday_sets["fed"].clone();
    let rows = set.holidays();
    assert_eq!(HolidaySet::from_rows(&rows), set);
    // Rows that are no rule's stay listed.
    let mut odd = BTreeMap::new();
    odd.insert("2026-03-03".parse().unwrap(), "Founders' Day".to_owned());
    assert_eq!(HolidaySet::from_rows(&odd).rule, None);
}

#[test]
fn dates_and_times_may_be_toml_values_or_strings() {
    let src = r#"
[[calendar]]
calendar_id = "c"
name = "C"
run_weekdays = [5, 1, 1]
[[calendar.exception]]
exception_date = "2026-11-27"
runs = false
[[calendar.exception]]
exception_date = 2026-11-28
runs = true
"#;
    let c = &parse_ok(src).calendars["c"];
    assert_eq!(c.run_weekdays, [1, 5], "sorted, without repeats");
    assert_eq!(c.exceptions.len(), 2);
}

// ---- The plan ------------------------------------------------------------------------------

fn foxfire() -> Definitions {
    parse_ok(FOXFIRE)
}

#[test]
fn equal_definitions_plan_nothing() {
    let p = plan(&foxfire(), &foxfire(), &Usage::default(), false);
    assert!(
        p.is_empty() && p.kept.is_empty() && p.blocked.is_empty(),
        "{p:?}"
    );
}

#[test]
fn an_empty_database_plans_every_object_as_added_in_dependency_order() {
    let p = plan(
        &foxfire(),
        &Definitions::default(),
        &Usage::default(),
        false,
    );
    assert_eq!(p.counts(), (3 + 4 + 1 + 3 + 4, 0, 0));
    let kinds: Vec<Kind> = p.changes.iter().map(|c| c.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
}

#[test]
fn a_changed_field_and_sub_rows_are_shown_as_one_change() {
    let mut wanted = foxfire();
    let s = wanted.slos.get_mut("dss-load").unwrap();
    s.slack = Interval::parse("45 minutes").unwrap();
    s.jobs.get_mut("dss-load-od").unwrap().expected_end = Interval::parse("1 day 05:30").unwrap();
    wanted
        .calendars
        .get_mut("standard")
        .unwrap()
        .exceptions
        .insert("2026-12-24".parse().unwrap(), false);
    let p = plan(&wanted, &foxfire(), &Usage::default(), false);
    assert_eq!(p.counts(), (0, 2, 0));
    let text: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        text,
        [
            "~ calendar \"standard\"\n    + exception 2026-12-24: runs = false",
            "~ slo \"dss-load\"\n    slack: 30 minutes -> 45 minutes\n    \
             ~ job \"dss-load-od\": 1 day 03:00 .. 1 day 05:00 (run days) -> 1 day 03:00 .. 1 day 05:30 (run days)",
        ]
    );
    assert!(p.affects_expected_times());
}

#[test]
fn removing_an_slo_with_history_is_blocked_unless_deletion_is_allowed() {
    let mut wanted = foxfire();
    wanted.slos.remove("od-report");
    let mut usage = Usage::default();
    usage.slo_performance_rows.insert("od-report".into(), 12);
    let p = plan(&wanted, &foxfire(), &usage, false);
    assert_eq!(p.blocked.len(), 1);
    assert!(p.blocked[0].contains("--allow-delete"), "{}", p.blocked[0]);
    let p = plan(&wanted, &foxfire(), &usage, true);
    assert!(p.blocked.is_empty());
    assert_eq!(
        p.changes.last().unwrap().to_string(),
        "- slo \"od-report\"\n    deletes its 12 rows of slo.slo_performance"
    );
}

#[test]
fn jobs_and_applications_that_events_name_stay_when_left_out() {
    let mut current = foxfire();
    current.applications.insert(
        "cards".into(),
        Application {
            name: "Cards".into(),
        },
    );
    current.jobs.insert(
        "card-batch".into(),
        Job {
            app_id: "cards".into(),
            name: "card-batch".into(),
        },
    );
    current.jobs.insert(
        "unused".into(),
        Job {
            app_id: "cards".into(),
            name: "Unused".into(),
        },
    );
    let mut usage = Usage::default();
    usage.job_events.insert("card-batch".into(), 3);
    usage.app_events.insert("cards".into(), 3);
    let p = plan(&foxfire(), &current, &usage, true);
    assert_eq!(p.changes.len(), 1, "{p:?}");
    assert_eq!(p.changes[0].to_string(), "- job \"unused\"");
    assert_eq!(p.kept.len(), 2, "{:?}", p.kept);
}

#[test]
fn a_job_with_events_cannot_move_to_another_application() {
    let mut wanted = foxfire();
    wanted.jobs.get_mut("od-calc").unwrap().app_id = "deposits".into();
    let mut usage = Usage::default();
    usage.job_events.insert("od-calc".into(), 5);
    let p = plan(&wanted, &foxfire(), &usage, true);
    assert_eq!(p.blocked.len(), 1);
    assert!(p.blocked[0].contains("cannot move"), "{}", p.blocked[0]);
}
