//! Job-status events: the shape schedulers post (CONTRACT section 3), parsed from JSON with every
//! problem collected, so one `422` can list them all by index and field.
//!
//! The parser works on an already-parsed [`serde_json::Value`]: malformed JSON is the caller's
//! `400`; everything here is a rule of a well-formed body. Checks that need the database (the
//! application exists, the job belongs to it) are made by the database itself; this module
//! only names their rules.

use crate::ident::Identifier;
use crate::violation::{Rule, Violation};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, SubsecRound, Utc};
use serde_json::{Map, Value};
use std::fmt;

/// The most events one request may carry.
pub const MAX_BATCH_EVENTS: usize = 1000;

/// How far in the future (by the server's clock) a `status_time` may lie: senders' clocks drift.
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(15);

/// How many days `business_date` may lie from the calendar date of `status_time` (either way).
/// A job for Friday that runs on the Tuesday after a long weekend is four days off; a month
/// covers every real case while catching swapped or mistyped dates.
pub const MAX_BUSINESS_DATE_DISTANCE_DAYS: i64 = 31;

/// Fields of the event, in the order they are documented.
pub const EVENT_FIELDS: [&str; 8] = [
    "app_id",
    "job_id",
    "status",
    "status_time",
    "business_date",
    "run_id",
    "host_id",
    "period_start",
];

/// Fields that only the server sets; a client sending them is told so.
const SERVER_FIELDS: [&str; 3] = ["status_id", "received_at", "client_id"];

/// What happened to a job run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Start,
    Succeed,
    Fail,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 3] = [Status::Start, Status::Succeed, Status::Fail];

    /// The status as stored in `slo.job_status.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Start => "start",
            Status::Succeed => "succeed",
            Status::Fail => "fail",
        }
    }

    /// Parses the stored spelling; nothing else (no case folding: the contract names three words).
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid job-status event. Only [`parse_events`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatusEvent {
    app_id: Identifier,
    job_id: Identifier,
    status: Status,
    status_time: DateTime<Utc>,
    business_date: NaiveDate,
    run_id: Identifier,
    host_id: Identifier,
    period_start: Option<NaiveTime>,
}

impl JobStatusEvent {
    pub fn app_id(&self) -> &Identifier {
        &self.app_id
    }
    pub fn job_id(&self) -> &Identifier {
        &self.job_id
    }
    pub fn status(&self) -> Status {
        self.status
    }
    /// The instant, truncated to microseconds (PostgreSQL's precision), so that two deliveries
    /// of the same event compare equal in the database.
    pub fn status_time(&self) -> DateTime<Utc> {
        self.status_time
    }
    pub fn business_date(&self) -> NaiveDate {
        self.business_date
    }
    pub fn run_id(&self) -> &Identifier {
        &self.run_id
    }
    pub fn host_id(&self) -> &Identifier {
        &self.host_id
    }
    pub fn period_start(&self) -> Option<NaiveTime> {
        self.period_start
    }
}

/// A body that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBatch {
    /// Whether the body was an array (a single object is a batch of one that is not an array).
    pub is_batch: bool,
    pub events: Vec<JobStatusEvent>,
}

/// A body that broke at least one rule: every problem found, in body order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedBatch {
    pub is_batch: bool,
    pub violations: Vec<Violation>,
}

/// Parses a request body: one event object, or an array of 1 to [`MAX_BATCH_EVENTS`] of them.
/// `now` is the server's clock, for the future-skew rule.
pub fn parse_events(body: &Value, now: DateTime<Utc>) -> Result<ParsedBatch, RejectedBatch> {
    let (is_batch, items): (bool, Vec<&Value>) = match body {
        Value::Array(items) => (true, items.iter().collect()),
        Value::Object(_) => (false, vec![body]),
        _ => {
            return Err(RejectedBatch {
                is_batch: false,
                violations: vec![Violation::body(
                    Rule::NotAnObject,
                    "the body must be a job-status object or an array of them",
                )],
            })
        }
    };
    let reject = |violations| RejectedBatch {
        is_batch,
        violations,
    };
    if items.is_empty() {
        return Err(reject(vec![Violation::body(
            Rule::EmptyBatch,
            "a batch must hold at least one event",
        )]));
    }
    if items.len() > MAX_BATCH_EVENTS {
        return Err(reject(vec![Violation::body(
            Rule::BatchTooLarge,
            format!(
                "a batch may hold at most {MAX_BATCH_EVENTS} events (got {})",
                items.len()
            ),
        )]));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut violations = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match parse_event(index, item, now) {
            Ok(ev) => events.push(ev),
            Err(mut v) => violations.append(&mut v),
        }
    }
    if violations.is_empty() {
        Ok(ParsedBatch { is_batch, events })
    } else {
        Err(reject(violations))
    }
}

/// Parses one event; collects every problem of it.
fn parse_event(
    index: usize,
    item: &Value,
    now: DateTime<Utc>,
) -> Result<JobStatusEvent, Vec<Violation>> {
    let Some(obj) = item.as_object() else {
        return Err(vec![Violation {
            index: Some(index),
            field: None,
            rule: Rule::NotAnObject,
            message: "each event must be a JSON object".into(),
        }]);
    };
    let mut p = EventParser {
        index,
        fields: Fields::Json(obj),
        violations: Vec::new(),
    };
    p.reject_extra_fields(obj);
    p.event(now)
}

/// One field of an event as sent.
enum Field<'a> {
    Missing,
    Null,
    Str(&'a str),
    /// Another JSON type, named.
    Other(&'static str),
}

/// Where an event's fields come from: a parsed JSON object, or the typed fast path.
enum Fields<'a> {
    Json(&'a Map<String, Value>),
    Typed(&'a RawEvent<'a>),
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Field<'a> {
        match self {
            Fields::Json(obj) => match obj.get(name) {
                None => Field::Missing,
                Some(Value::Null) => Field::Null,
                Some(Value::String(s)) => Field::Str(s.as_str()),
                Some(other) => Field::Other(json_kind(other)),
            },
            Fields::Typed(raw) => {
                let s: &'a str = match name {
                    "app_id" => &raw.app_id,
                    "job_id" => &raw.job_id,
                    "status" => &raw.status,
                    "status_time" => &raw.status_time,
                    "business_date" => &raw.business_date,
                    "run_id" => &raw.run_id,
                    "host_id" => &raw.host_id,
                    "period_start" => match &raw.period_start {
                        Some(p) => p,
                        None => return Field::Null,
                    },
                    _ => return Field::Missing,
                };
                Field::Str(s)
            }
        }
    }
}

/// An event as the fast path reads it: every field a string (`period_start` may be null or
/// absent), no other field. Anything else fails to deserialize, and the body is read again as
/// a [`Value`] to name every problem.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent<'a> {
    #[serde(borrow)]
    app_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    job_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    status_time: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    business_date: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    run_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    host_id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    period_start: Option<std::borrow::Cow<'a, str>>,
}

/// The fast path of [`parse_events`] for a body that breaks no rule: read straight into typed
/// events (no [`Value`] tree), checked by the same rules. `None` when the body is anything else
/// (malformed, an unexpected shape or type, a broken rule): then parse it as a [`Value`] and
/// call [`parse_events`], which names every problem. When it returns a batch, [`parse_events`]
/// returns the same one.
pub fn parse_valid_events(body: &[u8], now: DateTime<Utc>) -> Option<ParsedBatch> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    let (is_batch, raw): (bool, Vec<RawEvent>) = match first {
        b'[' => (true, serde_json::from_slice(body).ok()?),
        b'{' => (false, vec![serde_json::from_slice(body).ok()?]),
        _ => return None,
    };
    if raw.is_empty() || raw.len() > MAX_BATCH_EVENTS {
        return None;
    }
    let mut events = Vec::with_capacity(raw.len());
    for (index, r) in raw.iter().enumerate() {
        let mut p = EventParser {
            index,
            fields: Fields::Typed(r),
            violations: Vec::new(),
        };
        events.push(p.event(now).ok()?);
    }
    Some(ParsedBatch { is_batch, events })
}

impl EventParser<'_> {
    /// Every field, checked; the event, or every problem of it (with those recorded before).
    fn event(&mut self, now: DateTime<Utc>) -> Result<JobStatusEvent, Vec<Violation>> {
        let p = self;
        let app_id = p.identifier("app_id");
        let job_id = p.identifier("job_id");
        let status = p.status();
        let status_time = p.status_time(now);
        let business_date = p.business_date();
        let run_id = p.identifier("run_id");
        let host_id = p.identifier("host_id");
        let period_start = p.period_start();
        if let (Some(time), Some(date)) = (status_time, business_date) {
            p.check_business_date_distance(time.1, date);
        }
        match (
            app_id,
            job_id,
            status,
            status_time,
            business_date,
            run_id,
            host_id,
            period_start,
        ) {
            (
                Some(app_id),
                Some(job_id),
                Some(status),
                Some((status_time, _)),
                Some(business_date),
                Some(run_id),
                Some(host_id),
                Some(period_start),
            ) if p.violations.is_empty() => Ok(JobStatusEvent {
                app_id,
                job_id,
                status,
                status_time,
                business_date,
                run_id,
                host_id,
                period_start,
            }),
            _ => Err(std::mem::take(&mut p.violations)),
        }
    }
}

/// Reads the fields of one event object, recording each violation.
struct EventParser<'a> {
    index: usize,
    fields: Fields<'a>,
    violations: Vec<Violation>,
}

impl<'a> EventParser<'a> {
    fn violation(&mut self, field: &str, rule: Rule, message: impl Into<String>) {
        self.violations
            .push(Violation::field(self.index, field, rule, message));
    }

    fn reject_extra_fields(&mut self, obj: &Map<String, Value>) {
        let mut extra: Vec<&String> = obj
            .keys()
            .filter(|k| !EVENT_FIELDS.contains(&k.as_str()))
            .collect();
        extra.sort();
        for key in extra {
            if SERVER_FIELDS.contains(&key.as_str()) {
                self.violation(
                    key,
                    Rule::ServerSet,
                    "is set by the server and must not be sent",
                );
            } else {
                self.violation(
                    key,
                    Rule::UnknownField,
                    format!(
                        "is not a job-status field (expected one of {})",
                        EVENT_FIELDS.join(", ")
                    ),
                );
            }
        }
    }

    /// A required string field; records `required` or `wrong_type`.
    fn string(&mut self, field: &str) -> Option<&'a str> {
        match self.fields.get(field) {
            Field::Missing | Field::Null => {
                self.violation(field, Rule::Required, "is required");
                None
            }
            Field::Str(s) => Some(s),
            Field::Other(kind) => {
                self.violation(
                    field,
                    Rule::WrongType,
                    format!("must be a string, not {kind}"),
                );
                None
            }
        }
    }

    fn identifier(&mut self, field: &str) -> Option<Identifier> {
        let s = self.string(field)?;
        match Identifier::parse(s) {
            Ok(id) => Some(id),
            Err((rule, msg)) => {
                self.violation(field, rule, msg);
                None
            }
        }
    }

    fn status(&mut self) -> Option<Status> {
        let s = self.string("status")?;
        let parsed = Status::parse(s);
        if parsed.is_none() {
            let shown = truncate_for_message(s);
            self.violation(
                "status",
                Rule::UnknownStatus,
                format!("must be one of start, succeed, fail (got {shown:?})"),
            );
        }
        parsed
    }

    /// Returns the instant (UTC, microseconds) and the sender's local calendar date.
    fn status_time(&mut self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, NaiveDate)> {
        let s = self.string("status_time")?;
        let Some(parsed) = parse_rfc3339_with_offset(s) else {
            self.violation(
                "status_time",
                Rule::Rfc3339WithOffset,
                "must be an RFC 3339 timestamp with an offset, such as 2026-11-24T03:05:00-05:00 or 2026-11-24T08:05:00Z",
            );
            return None;
        };
        let utc = parsed.with_timezone(&Utc).trunc_subsecs(6);
        if utc > now + MAX_FUTURE_SKEW {
            self.violation(
                "status_time",
                Rule::InFuture,
                format!(
                    "must not be more than {} minutes ahead of the server's clock",
                    MAX_FUTURE_SKEW.num_minutes()
                ),
            );
            return None;
        }
        Some((utc, parsed.date_naive()))
    }

    fn business_date(&mut self) -> Option<NaiveDate> {
        let s = self.string("business_date")?;
        let parsed = parse_iso_date(s);
        if parsed.is_none() {
            self.violation("business_date", Rule::Date, "must be a date as YYYY-MM-DD");
        }
        parsed
    }

    fn check_business_date_distance(&mut self, local_date: NaiveDate, business_date: NaiveDate) {
        let days = (business_date - local_date).num_days().abs();
        if days > MAX_BUSINESS_DATE_DISTANCE_DAYS {
            self.violation(
                "business_date",
                Rule::BusinessDateRange,
                format!(
                    "must be within {MAX_BUSINESS_DATE_DISTANCE_DAYS} days of the date of status_time (it is {days} days away)"
                ),
            );
        }
    }

    /// Optional: absent or null is `Some(None)`; a bad value is `None` (a violation was recorded).
    fn period_start(&mut self) -> Option<Option<NaiveTime>> {
        match self.fields.get("period_start") {
            Field::Missing | Field::Null => Some(None),
            Field::Str(s) => match parse_time_of_day(s) {
                Some(t) => Some(Some(t)),
                None => {
                    self.violation(
                        "period_start",
                        Rule::TimeOfDay,
                        "must be a time of day as HH:MM or HH:MM:SS (00:00 to 23:59:59)",
                    );
                    None
                }
            },
            Field::Other(kind) => {
                self.violation(
                    "period_start",
                    Rule::WrongType,
                    format!("must be a string or null, not {kind}"),
                );
                None
            }
        }
    }
}

/// One row of `slo.job_ownership_problems(jobs, apps)`, the database function that is the one
/// home of the rule "a job belongs to its application": the event at `index` (0-based here; the
/// function's `ord` is 1-based) breaks it. This crate does not decide the rule; it only words
/// the rows for people ([`ownership_violations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipProblem {
    /// The event's index in the batch.
    pub index: usize,
    /// [`Rule::UnknownApplication`] or [`Rule::JobOfOtherApplication`].
    pub rule: Rule,
    /// For [`Rule::JobOfOtherApplication`], the application the job belongs to (registered, or
    /// the one a first delivery registers it under).
    pub owner: Option<String>,
}

impl OwnershipProblem {
    /// The problem of the function's row (`ord` 1-based, `rule` its code), or `None` when the row
    /// names no event of `events` or a rule this crate does not know.
    pub fn from_row(
        events: &[JobStatusEvent],
        ord: i32,
        rule: &str,
        owner: Option<String>,
    ) -> Option<Self> {
        let index = usize::try_from(ord).ok()?.checked_sub(1)?;
        if index >= events.len() {
            return None;
        }
        let rule = match rule {
            "unknown_application" => Rule::UnknownApplication,
            "job_of_other_application" => Rule::JobOfOtherApplication,
            _ => return None,
        };
        Some(OwnershipProblem { index, rule, owner })
    }
}

/// The events of a batch that name an unknown application, or a job that belongs to another
/// application, as the database found them (`slo.job_ownership_problems`), worded for the
/// `422`: one violation per problem, by index and field, in the order given.
pub fn ownership_violations(
    events: &[JobStatusEvent],
    problems: &[OwnershipProblem],
) -> Vec<Violation> {
    problems
        .iter()
        .filter_map(|p| {
            let e = events.get(p.index)?;
            let (job, app) = (e.job_id.as_str(), e.app_id.as_str());
            Some(match p.rule {
                Rule::UnknownApplication => Violation::field(
                    p.index,
                    "app_id",
                    Rule::UnknownApplication,
                    format!("names no known application ({app:?})"),
                ),
                rule => Violation::field(
                    p.index,
                    "job_id",
                    rule,
                    format!(
                        "job {job:?} belongs to application {:?}, not {app:?}",
                        p.owner.as_deref().unwrap_or_default()
                    ),
                ),
            })
        })
        .collect()
}

/// The events of a batch whose application the client may not post for, given the applications
/// the database denied it (`slo.denied_applications`), so that a `403` can point at each one.
pub fn denied_violations(
    events: &[JobStatusEvent],
    client_id: &str,
    denied: &[String],
) -> Vec<Violation> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| denied.iter().any(|d| d == e.app_id.as_str()))
        .map(|(index, e)| {
            Violation::field(
                index,
                "app_id",
                Rule::ApplicationNotAllowed,
                format!(
                    "client {client_id:?} may not post for application {:?}",
                    e.app_id.as_str()
                ),
            )
        })
        .collect()
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), strictly: the `T` separator, seconds
/// present, an explicit offset. A naive local time is refused, since it names no instant.
pub fn parse_rfc3339_with_offset(s: &str) -> Option<DateTime<chrono::FixedOffset>> {
    let b = s.as_bytes();
    // The date-time separator must be 'T' or 't' (RFC 3339 section 5.6); chrono also takes a space.
    if b.len() < 20 || !(b[10] == b'T' || b[10] == b't') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// `YYYY-MM-DD`, exactly: four-digit year, two-digit month and day.
pub fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `HH:MM` or `HH:MM:SS`, two digits each, 00:00 to 23:59:59 (no leap second, no fraction).
pub fn parse_time_of_day(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let (h, m, sec) = match b.len() {
        5 if b[2] == b':' && digits(0..2) && digits(3..5) => (num(0..2)?, num(3..5)?, 0),
        8 if b[2] == b':' && b[5] == b':' && digits(0..2) && digits(3..5) && digits(6..8) => {
            (num(0..2)?, num(3..5)?, num(6..8)?)
        }
        _ => return None,
    };
    if sec > 59 {
        return None;
    }
    NaiveTime::from_hms_opt(h, m, sec)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Echoes at most 40 characters of client input in a message.
fn truncate_for_message(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn valid() -> Value {
        json!({
            "app_id": "overdrafts",
            "job_id": "od-calc",
            "status": "start",
            "status_time": "2026-11-24T00:30:00-05:00",
            "business_date": "2026-11-23",
            "run_id": "run-1",
            "host_id": "batch01",
            "period_start": null
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = valid();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    /// The single violation of a body, or a panic naming what came instead.
    fn only_violation(body: &Value) -> Violation {
        let rejected = parse_events(body, now()).expect_err("body should be rejected");
        assert_eq!(rejected.violations.len(), 1, "{:?}", rejected.violations);
        rejected.violations.into_iter().next().unwrap()
    }

    fn rule_of(field: &str, value: Value) -> Rule {
        let v = only_violation(&with(field, value));
        assert_eq!(v.field.as_deref(), Some(field));
        v.rule
    }

    #[test]
    fn a_valid_event_is_parsed_with_its_instant_in_utc() {
        let batch = parse_events(&valid(), now()).unwrap();
        assert!(!batch.is_batch);
        let ev = &batch.events[0];
        assert_eq!(ev.app_id().as_str(), "overdrafts");
        assert_eq!(ev.job_id().as_str(), "od-calc");
        assert_eq!(ev.status(), Status::Start);
        assert_eq!(
            ev.status_time(),
            "2026-11-24T05:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            ev.business_date(),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
        assert_eq!(ev.run_id().as_str(), "run-1");
        assert_eq!(ev.host_id().as_str(), "batch01");
        assert_eq!(ev.period_start(), None);
    }

    #[test]
    fn a_batch_keeps_its_order_and_says_it_is_a_batch() {
        let body = json!([
            valid(),
            with("status", json!("succeed")),
            with("status", json!("fail"))
        ]);
        let batch = parse_events(&body, now()).unwrap();
        assert!(batch.is_batch);
        let statuses: Vec<_> = batch.events.iter().map(|e| e.status()).collect();
        assert_eq!(statuses, vec![Status::Start, Status::Succeed, Status::Fail]);
    }

    #[test]
    fn each_status_word_is_accepted_and_nothing_else() {
        for s in ["start", "succeed", "fail"] {
            assert!(parse_events(&with("status", json!(s)), now()).is_ok());
        }
        for s in ["Start", "success", "failed", "", "end"] {
            assert_eq!(rule_of("status", json!(s)), Rule::UnknownStatus, "{s}");
        }
    }

    #[test]
    fn every_required_field_missing_or_null_is_named() {
        for field in [
            "app_id",
            "job_id",
            "status",
            "status_time",
            "business_date",
            "run_id",
            "host_id",
        ] {
            let v = only_violation(&without(field));
            assert_eq!((v.field.as_deref(), v.rule), (Some(field), Rule::Required));
            let v = only_violation(&with(field, Value::Null));
            assert_eq!((v.field.as_deref(), v.rule), (Some(field), Rule::Required));
        }
    }

    #[test]
    fn period_start_may_be_absent_or_null() {
        assert!(parse_events(&without("period_start"), now()).is_ok());
        assert!(parse_events(&with("period_start", Value::Null), now()).is_ok());
    }

    #[test]
    fn a_field_of_the_wrong_json_type_is_named() {
        assert_eq!(rule_of("job_id", json!(42)), Rule::WrongType);
        assert_eq!(
            rule_of("status_time", json!(1_700_000_000)),
            Rule::WrongType
        );
        assert_eq!(rule_of("period_start", json!(630)), Rule::WrongType);
        assert_eq!(rule_of("host_id", json!(["a"])), Rule::WrongType);
    }

    #[test]
    fn identifiers_follow_the_identifier_rules() {
        for field in ["app_id", "job_id", "run_id", "host_id"] {
            assert_eq!(rule_of(field, json!("")), Rule::Empty);
            assert_eq!(rule_of(field, json!("x".repeat(129))), Rule::TooLong);
            assert_eq!(rule_of(field, json!(" x")), Rule::SurroundingWhitespace);
            assert_eq!(rule_of(field, json!("a\u{1}b")), Rule::ControlCharacter);
        }
    }

    #[test]
    fn status_time_needs_rfc3339_with_an_offset() {
        for s in [
            "2026-11-24T00:30:00",       // no offset: names no instant
            "2026-11-24 00:30:00Z",      // space separator
            "2026-11-24T00:30Z",         // no seconds
            "2026-11-24",                // a date
            "24/11/2026 00:30",          // not RFC 3339
            "2026-11-31T00:30:00Z",      // no such day
            "2026-11-24T24:30:00Z",      // no such hour
            "2026-11-24T00:30:00+25:00", // no such offset
        ] {
            assert_eq!(
                rule_of("status_time", json!(s)),
                Rule::Rfc3339WithOffset,
                "{s}"
            );
        }
    }

    #[test]
    fn status_time_accepts_z_offsets_and_fractions_truncated_to_microseconds() {
        for (s, utc) in [
            ("2026-11-24T05:30:00Z", "2026-11-24T05:30:00Z"),
            ("2026-11-24T05:30:00z", "2026-11-24T05:30:00Z"),
            ("2026-11-24T06:30:00+01:00", "2026-11-24T05:30:00Z"),
            (
                "2026-11-24T05:30:00.123456789Z",
                "2026-11-24T05:30:00.123456Z",
            ),
        ] {
            let ev = &parse_events(&with("status_time", json!(s)), now())
                .unwrap()
                .events[0];
            assert_eq!(
                ev.status_time(),
                utc.parse::<DateTime<Utc>>().unwrap(),
                "{s}"
            );
        }
    }

    #[test]
    fn status_time_may_be_ahead_of_the_server_by_the_skew_but_not_more() {
        let at_limit = (now() + MAX_FUTURE_SKEW).to_rfc3339();
        let body = json!({"status_time": at_limit, "business_date": "2026-11-24"});
        let mut ok = valid();
        ok.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        assert!(parse_events(&ok, now()).is_ok());
        let beyond = (now() + MAX_FUTURE_SKEW + Duration::seconds(1)).to_rfc3339();
        assert_eq!(rule_of("status_time", json!(beyond)), Rule::InFuture);
    }

    #[test]
    fn business_date_must_be_a_real_iso_date() {
        for s in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-5",
            "20261123",
            "23/11/2026",
            "2026-11-23T00:00:00Z",
        ] {
            assert_eq!(rule_of("business_date", json!(s)), Rule::Date, "{s}");
        }
        assert!(parse_events(&with("business_date", json!("2024-02-29")), now()).is_err());
        // far from status_time
    }

    #[test]
    fn business_date_is_measured_from_the_senders_local_date() {
        // 00:30 on the 24th in New York is 05:30 UTC; 31 days before the 24th is fine,
        // 32 days is not.
        assert!(parse_events(&with("business_date", json!("2026-10-24")), now()).is_ok());
        let v = only_violation(&with("business_date", json!("2026-10-23")));
        assert_eq!(
            (v.field.as_deref(), v.rule),
            (Some("business_date"), Rule::BusinessDateRange)
        );
        // The local date decides: 23:30 on the 23rd at -05:00 is the 24th in UTC.
        let mut body = with("status_time", json!("2026-11-23T23:30:00-05:00"));
        body["business_date"] = json!("2026-10-23");
        assert!(parse_events(&body, now()).is_ok());
    }

    #[test]
    fn period_start_takes_hh_mm_or_hh_mm_ss_only() {
        for (s, t) in [
            ("06:00", (6, 0, 0)),
            ("18:30:15", (18, 30, 15)),
            ("00:00", (0, 0, 0)),
            ("23:59:59", (23, 59, 59)),
        ] {
            let ev = &parse_events(&with("period_start", json!(s)), now())
                .unwrap()
                .events[0];
            assert_eq!(
                ev.period_start(),
                NaiveTime::from_hms_opt(t.0, t.1, t.2),
                "{s}"
            );
        }
        for s in [
            "6:00",
            "24:00",
            "12:60",
            "12:00:60",
            "12:00:00.5",
            "noon",
            "",
            "12:00Z",
        ] {
            assert_eq!(rule_of("period_start", json!(s)), Rule::TimeOfDay, "{s}");
        }
    }

    #[test]
    fn unknown_and_server_set_fields_are_refused() {
        assert_eq!(
            rule_of("bussiness_date", json!("2026-11-23")),
            Rule::UnknownField
        );
        for f in ["status_id", "received_at", "client_id"] {
            assert_eq!(rule_of(f, json!("x")), Rule::ServerSet, "{f}");
        }
    }

    #[test]
    fn every_problem_of_every_event_is_listed_by_index_and_field() {
        let mut second = with("status", json!("done"));
        second["host_id"] = json!("");
        let body = json!([valid(), second, without("run_id"), 17]);
        let rejected = parse_events(&body, now()).unwrap_err();
        assert!(rejected.is_batch);
        let got: Vec<(Option<usize>, Option<&str>, Rule)> = rejected
            .violations
            .iter()
            .map(|v| (v.index, v.field.as_deref(), v.rule))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1), Some("status"), Rule::UnknownStatus),
                (Some(1), Some("host_id"), Rule::Empty),
                (Some(2), Some("run_id"), Rule::Required),
                (Some(3), None, Rule::NotAnObject),
            ]
        );
    }

    #[test]
    fn batches_must_hold_one_to_a_thousand_events() {
        let v = only_violation(&json!([]));
        assert_eq!(v.rule, Rule::EmptyBatch);
        let full: Vec<Value> = (0..MAX_BATCH_EVENTS).map(|_| valid()).collect();
        assert_eq!(
            parse_events(&Value::Array(full.clone()), now())
                .unwrap()
                .events
                .len(),
            1000
        );
        let mut over = full;
        over.push(valid());
        assert_eq!(
            only_violation(&Value::Array(over)).rule,
            Rule::BatchTooLarge
        );
    }

    #[test]
    fn a_body_that_is_neither_object_nor_array_is_refused() {
        for body in [json!("x"), json!(1), json!(null), json!(true)] {
            assert_eq!(only_violation(&body).rule, Rule::NotAnObject);
        }
    }

    fn event(app: &str, job: &str) -> JobStatusEvent {
        let body = with("app_id", json!(app));
        let mut body = body;
        body["job_id"] = json!(job);
        parse_events(&body, now()).unwrap().events.remove(0)
    }

    #[test]
    fn the_rows_of_the_ownership_function_are_worded_by_index_and_field() {
        let events = [
            event("overdrafts", "od-calc"),
            event("nope", "x"),
            event("deposits", "od-calc"),
        ];
        let problems: Vec<OwnershipProblem> = [
            (2, "unknown_application", None),
            (3, "job_of_other_application", Some("overdrafts".to_owned())),
        ]
        .into_iter()
        .filter_map(|(ord, rule, owner)| OwnershipProblem::from_row(&events, ord, rule, owner))
        .collect();
        let v = ownership_violations(&events, &problems);
        let got: Vec<_> = v
            .iter()
            .map(|v| (v.index, v.field.as_deref(), v.rule))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1), Some("app_id"), Rule::UnknownApplication),
                (Some(2), Some("job_id"), Rule::JobOfOtherApplication)
            ]
        );
        assert!(v[0].message.contains("\"nope\""), "{}", v[0].message);
        assert!(
            v[1].message.contains("\"overdrafts\", not \"deposits\""),
            "{}",
            v[1].message
        );
    }

    #[test]
    fn a_row_of_no_event_or_of_an_unknown_rule_is_not_a_problem() {
        let events = [event("overdrafts", "od-calc")];
        assert_eq!(
            OwnershipProblem::from_row(&events, 0, "unknown_application", None),
            None
        );
        assert_eq!(
            OwnershipProblem::from_row(&events, 2, "unknown_application", None),
            None
        );
        assert_eq!(OwnershipProblem::from_row(&events, 1, "other", None), None);
        assert!(ownership_violations(&events, &[]).is_empty());
    }

    #[test]
    fn each_event_of_a_denied_application_is_pointed_at_and_no_other() {
        let events = [
            event("overdrafts", "od-calc"),
            event("deposits", "txn"),
            event("overdrafts", "od-new"),
            event("deposits", "txn-2"),
        ];
        let v = denied_violations(&events, "sched-east", &["deposits".to_owned()]);
        let got: Vec<_> = v
            .iter()
            .map(|v| (v.index, v.field.as_deref(), v.rule))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1), Some("app_id"), Rule::ApplicationNotAllowed),
                (Some(3), Some("app_id"), Rule::ApplicationNotAllowed)
            ]
        );
        assert!(v[0].message.contains("\"sched-east\""), "{}", v[0].message);
        assert!(denied_violations(&events, "sched-east", &[]).is_empty());
    }

    proptest! {
        /// Whatever JSON comes in, the parser answers (never panics), and an accepted event
        /// re-serialised from its parts parses to the same event.
        #[test]
        fn the_parser_never_panics_on_arbitrary_field_values(
            app in ".{0,10}", job in ".{0,10}", status in "(start|succeed|fail|[a-z]{0,6})",
            time in "[0-9T:.+Zz -]{0,30}", date in "[0-9-]{0,12}", period in "[0-9:]{0,9}",
        ) {
            let body = json!({"app_id": app, "job_id": job, "status": status, "status_time": time,
                "business_date": date, "run_id": "r", "host_id": "h", "period_start": period});
            if let Ok(batch) = parse_events(&body, now()) {
                let ev = &batch.events[0];
                let again = json!({"app_id": ev.app_id().as_str(), "job_id": ev.job_id().as_str(),
                    "status": ev.status().as_str(), "status_time": ev.status_time().to_rfc3339(),
                    "business_date": ev.business_date().to_string(), "run_id": "r", "host_id": "h",
                    "period_start": ev.period_start().map(|t| t.format("%H:%M:%S").to_string())});
                let reparsed = parse_events(&again, now());
                prop_assert!(reparsed.is_ok());
                prop_assert_eq!(&reparsed.unwrap().events[0], ev);
            }
        }
    }
}
