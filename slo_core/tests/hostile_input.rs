//! Hostile input (issue 10): the request parser and the validators never panic, whatever they
//! are given, and what they accept obeys the rules they enforce. Property tests with proptest:
//! random JSON built around the event's own field names (so that most cases get past the shape
//! checks and reach the rules), random text for every field parser, and random definitions files.
//! `PROPTEST_CASES` raises the number of cases (proptest's default: 256 per property).

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value};
use slo_core::definitions::{parse_file, Interval};
use slo_core::event::{
    parse_iso_date, parse_rfc3339_with_offset, parse_time_of_day, parse_valid_events, EVENT_FIELDS,
};
use slo_core::{parse_events, Identifier, MAX_IDENTIFIER_LEN};

/// The event's fields, and one only the server may set.
fn field_names() -> Vec<&'static str> {
    let mut all = EVENT_FIELDS.to_vec();
    all.push("client_id");
    all
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap()
}

/// Text that is sometimes right and often nearly right: real values, their edges, and noise.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("overdrafts".to_owned()),
        Just("od-calc".to_owned()),
        Just("start".to_owned()),
        Just("succeed".to_owned()),
        Just("fail".to_owned()),
        Just("2026-11-17T00:30:00-05:00".to_owned()),
        Just("2026-11-17T00:30:00Z".to_owned()),
        Just("2026-11-17T00:30:00".to_owned()),
        Just("9999-12-31T23:59:59+14:00".to_owned()),
        Just("2026-02-30".to_owned()),
        Just("2026-11-17".to_owned()),
        Just("24:00".to_owned()),
        Just("06:30".to_owned()),
        Just("06:30:60".to_owned()),
        Just(String::new()),
        Just("x".repeat(MAX_IDENTIFIER_LEN + 1)),
        Just("\u{0}".to_owned()),
        Just("é\u{200b}\u{202e}".to_owned()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
        "[0-9:T+\\-Z.]{0,30}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        texty().prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with some of the event's fields (each any JSON value) and maybe a stranger.
fn event_like() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(
            (
                0..field_names().len(),
                prop_oneof![3 => texty().prop_map(Value::String), 1 => json()],
            ),
            0..12,
        ),
        proptest::option::of(("[a-z_]{1,10}", leaf())),
    )
        .prop_map(|(fields, extra)| {
            let mut m = Map::new();
            for (i, v) in fields {
                m.insert(field_names()[i].to_owned(), v);
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

fn body() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => event_like(),
        2 => prop::collection::vec(prop_oneof![4 => event_like(), 1 => json()], 0..6).prop_map(Value::Array),
        1 => json(),
    ]
}

/// An event that is usually valid: each field mostly a good value, sometimes a bad one, the
/// period sometimes null or absent, and now and then a stranger or a number.
fn nearly_valid_event() -> impl Strategy<Value = Value> {
    let pick = |good: &'static [&'static str], bad: &'static [&'static str]| {
        prop_oneof![
            8 => prop::sample::select(good).prop_map(|s| Value::String(s.to_owned())),
            1 => prop::sample::select(bad).prop_map(|s| Value::String(s.to_owned())),
            1 => leaf(),
        ]
    };
    (
        pick(&["overdrafts", "deposits", "a\\\"b"], &["", " x", "\u{7}"]),
        pick(&["od-calc", "dss-load"], &[""]),
        pick(&["start", "succeed", "fail"], &["Start", "done"]),
        pick(
            &["2026-11-17T00:30:00-05:00", "2026-12-02T11:00:00.123456789Z"],
            &["2026-11-17T00:30:00", "2027-06-01T00:00:00Z"],
        ),
        pick(&["2026-11-16", "2026-12-01"], &["2026-02-30", "2025-01-01"]),
        pick(&["run-1", "r"], &[""]),
        pick(&["h1"], &[""]),
        prop_oneof![
            3 => Just(None),
            2 => Just(Some(Value::Null)),
            3 => prop::sample::select(&["06:30", "23:59:59"][..]).prop_map(|s| Some(Value::String(s.to_owned()))),
            1 => prop::sample::select(&["24:00", "6"][..]).prop_map(|s| Some(Value::String(s.to_owned()))),
        ],
        proptest::option::weighted(0.1, ("[a-z_]{1,10}", leaf())),
    )
        .prop_map(|(app, job, status, time, date, run, host, period, extra)| {
            let mut m = Map::new();
            for (k, v) in [
                ("app_id", app),
                ("job_id", job),
                ("status", status),
                ("status_time", time),
                ("business_date", date),
                ("run_id", run),
                ("host_id", host),
            ] {
                m.insert(k.to_owned(), v);
            }
            if let Some(p) = period {
                m.insert("period_start".to_owned(), p);
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

proptest! {
    /// The fast path accepts exactly the bodies the full parser accepts when they hold only
    /// string fields, and returns what it returns; anything it does not take goes to the full
    /// parser, which names every problem.
    #[test]
    fn the_fast_path_returns_what_the_full_parser_returns(
        body in prop_oneof![
            2 => nearly_valid_event(),
            2 => prop::collection::vec(nearly_valid_event(), 0..5).prop_map(Value::Array),
            1 => body(),
        ]
    ) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let full = parse_events(&body, now());
        match parse_valid_events(&bytes, now()) {
            Some(fast) => prop_assert_eq!(Ok(fast), full),
            None => {
                // Only a body the full parser refuses, or one with a value that is not a string
                // (a null or absent period is a string field's absence, not a refusal).
                let only_strings = |e: &Value| {
                    e.as_object().is_some_and(|o| {
                        o.iter().all(|(k, v)| {
                            slo_core::event::EVENT_FIELDS.contains(&k.as_str())
                                && (v.is_string() || (k == "period_start" && v.is_null()))
                        })
                    })
                };
                let simple = match &body {
                    Value::Array(items) => items.iter().all(only_strings),
                    other => only_strings(other),
                };
                prop_assert!(full.is_err() || !simple, "the fast path refused a valid body: {body}");
            }
        }
    }

    #[test]
    fn the_request_parser_never_panics_and_what_it_accepts_follows_the_rules(body in body()) {
        match parse_events(&body, now()) {
            Ok(batch) => {
                prop_assert!(!batch.events.is_empty());
                prop_assert_eq!(batch.is_batch, body.is_array());
                for e in &batch.events {
                    prop_assert!(!e.app_id().as_str().is_empty());
                    prop_assert!(e.job_id().as_str().chars().count() <= MAX_IDENTIFIER_LEN);
                    // The future-skew rule: nothing far ahead of the server's clock.
                    prop_assert!(e.status_time() <= now() + chrono::Duration::days(1));
                }
            }
            Err(rejected) => {
                prop_assert!(!rejected.violations.is_empty(), "a rejection names its problems");
                prop_assert_eq!(rejected.is_batch, body.is_array());
            }
        }
    }

    #[test]
    fn the_field_parsers_never_panic(text in prop_oneof![texty(), "\\PC{0,64}"]) {
        let _ = parse_rfc3339_with_offset(&text);
        let _ = parse_iso_date(&text);
        let _ = parse_time_of_day(&text);
        let _ = Interval::parse(&text);
        if let Ok(id) = Identifier::parse(&text) {
            prop_assert_eq!(id.as_str(), text.as_str());
            let chars = text.chars().count();
            prop_assert!((1..=MAX_IDENTIFIER_LEN).contains(&chars));
            prop_assert!(!text.chars().any(char::is_control) && text.trim() == text);
        }
    }

    #[test]
    fn the_definitions_file_parser_never_panics(source in prop_oneof![
        "\\PC{0,200}",
        // Near-TOML: known tables and keys with random values.
        prop::collection::vec((
            prop_oneof![Just("[[slo]]"), Just("[[calendar]]"), Just("[[slo.job]]"), Just("[[holiday_set]]"),
                        Just("[[calendar.exception]]"), Just("[[application]]"), Just("[[job]]"), Just("")],
            prop_oneof![Just("slo_id"), Just("calendar_id"), Just("run_weekdays"), Just("period"),
                        Just("expected_end"), Just("time_zone"), Just("window_start"), Just("rule"),
                        Just("from_year"), Just("exception_date"), Just("job_id"), Just("app_id")],
            prop_oneof![Just("\"x\"".to_owned()), Just("[1, 8]".to_owned()), Just("2026-13-01".to_owned()),
                        Just("\"30 minutes\"".to_owned()), Just("\"1 day 25:00\"".to_owned()),
                        Just("-1".to_owned()), Just("\"Mars/Olympus\"".to_owned()), "[ -~]{0,12}"],
        ), 0..12).prop_map(|lines| lines.into_iter()
            .map(|(t, k, v)| format!("{t}\n{k} = {v}\n"))
            .collect::<String>()),
    ]) {
        if let Err(problems) = parse_file(&source) {
            prop_assert!(!problems.is_empty());
        }
    }
}
