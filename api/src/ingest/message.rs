//! One Kafka message's value → a job-status event, with the API's own rules (`slo_core`), or
//! the reason it can never be stored. Pure: touches nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use slo_core::{JobStatusEvent, Violation};

/// Why a message goes to the dead-letter table (`slo.ingest_dead_letter.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The message has no value, or an empty one.
    EmptyMessage,
    /// The value is not UTF-8 text.
    NotUtf8,
    /// The value is not well-formed JSON.
    MalformedJson,
    /// Well-formed JSON, but not one job-status object (an array, a string, a number).
    NotOneEvent,
    /// A rule of the API is broken (every problem listed).
    InvalidEvent,
    /// The application is not in `slo.application`.
    UnknownApplication,
    /// The job belongs to another application.
    JobOfOtherApplication,
    /// The client the event is posted as may not post for its application.
    Unauthorized,
    /// A constraint of the database that the product does not check itself refused the event's
    /// rows (a `422` at the API).
    DatabaseConstraint,
}

impl Reason {
    /// The code stored in `slo.ingest_dead_letter.reason`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::EmptyMessage => "empty_message",
            Reason::NotUtf8 => "not_utf8",
            Reason::MalformedJson => "malformed_json",
            Reason::NotOneEvent => "not_one_event",
            Reason::InvalidEvent => "invalid_event",
            Reason::UnknownApplication => "unknown_application",
            Reason::JobOfOtherApplication => "job_of_other_application",
            Reason::Unauthorized => "unauthorized",
            Reason::DatabaseConstraint => "database_constraint",
        }
    }
}

/// A message that cannot be stored: the reason, and every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unstorable {
    pub reason: Reason,
    pub problems: Vec<Problem>,
}

/// One problem, as the API's `422` lists it (without the index: a message is one event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: Option<String>,
    pub rule: String,
    pub message: String,
}

impl From<&Violation> for Problem {
    fn from(v: &Violation) -> Self {
        Problem {
            field: v.field.clone(),
            rule: v.rule.code().to_owned(),
            message: v.message.clone(),
        }
    }
}

impl Unstorable {
    fn bare(reason: Reason, rule: &str, message: impl Into<String>) -> Self {
        Unstorable {
            reason,
            problems: vec![Problem {
                field: None,
                rule: rule.to_owned(),
                message: message.into(),
            }],
        }
    }

    /// The problems as the JSON stored in `slo.ingest_dead_letter.problems`.
    pub fn problems_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.problems).unwrap_or_else(|_| serde_json::json!([]))
    }
}

/// Decodes one message value: exactly one job-status object in UTF-8 JSON, checked by the same
/// rules as `POST /v1/job-status` (`slo_core::parse_events`). `now` is the clock of the
/// future-skew rule. Ownership (the application exists, the job is its own) needs the database:
/// the store checks it.
pub fn decode(payload: Option<&[u8]>, now: DateTime<Utc>) -> Result<JobStatusEvent, Unstorable> {
    let bytes = match payload {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => b,
        _ => {
            return Err(Unstorable::bare(
                Reason::EmptyMessage,
                "empty_message",
                "the message has no value",
            ))
        }
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Unstorable::bare(
            Reason::NotUtf8,
            "not_utf8",
            format!("the value is not UTF-8 text: {e}"),
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Unstorable::bare(
            Reason::MalformedJson,
            "malformed_json",
            format!("the value is not well-formed JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(Unstorable::bare(
            Reason::NotOneEvent,
            "not_an_object",
            "a message carries exactly one job-status object",
        ));
    }
    match slo_core::parse_events(&value, now) {
        Ok(batch) => Ok(batch
            .events
            .into_iter()
            .next()
            .expect("an object parses as one event")),
        Err(rejected) => Err(Unstorable {
            reason: Reason::InvalidEvent,
            problems: rejected.violations.iter().map(Problem::from).collect(),
        }),
    }
}

/// The reason for an event refused by the ownership rule (`slo.job_ownership_problems`).
pub fn ownership_unstorable(violations: &[&Violation]) -> Unstorable {
    let reason = if violations
        .iter()
        .any(|v| v.rule == slo_core::Rule::UnknownApplication)
    {
        Reason::UnknownApplication
    } else {
        Reason::JobOfOtherApplication
    };
    Unstorable {
        reason,
        problems: violations.iter().map(|v| Problem::from(*v)).collect(),
    }
}

impl Unstorable {
    /// The event's client may not post for its application (a `403` at the API).
    pub fn unauthorized(violation: &Violation) -> Unstorable {
        Unstorable {
            reason: Reason::Unauthorized,
            problems: vec![Problem::from(violation)],
        }
    }

    /// A constraint of the database refused the event's rows (a `422` at the API).
    pub fn database_constraint(violation: &Violation) -> Unstorable {
        Unstorable {
            reason: Reason::DatabaseConstraint,
            problems: vec![Problem::from(violation)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn event() -> serde_json::Value {
        json!({"app_id": "overdrafts", "job_id": "od-calc", "status": "start",
               "status_time": "2026-11-17T00:30:00-05:00", "business_date": "2026-11-16",
               "run_id": "run-1", "host_id": "batch01"})
    }

    fn reason_of(bytes: Option<&[u8]>) -> Reason {
        decode(bytes, now()).unwrap_err().reason
    }

    #[test]
    fn a_message_holding_one_valid_event_decodes_to_it() {
        let bytes = serde_json::to_vec(&event()).unwrap();
        let e = decode(Some(&bytes), now()).unwrap();
        assert_eq!(e.job_id().as_str(), "od-calc");
        assert_eq!(e.status_time().to_rfc3339(), "2026-11-17T05:30:00+00:00");
    }

    #[test]
    fn bad_bytes_are_named_by_what_is_wrong_with_them() {
        assert_eq!(reason_of(None), Reason::EmptyMessage);
        assert_eq!(reason_of(Some(b"")), Reason::EmptyMessage);
        assert_eq!(reason_of(Some(b"  \n")), Reason::EmptyMessage);
        assert_eq!(reason_of(Some(b"\xff\xfe{}")), Reason::NotUtf8);
        assert_eq!(reason_of(Some(b"{\"app_id\": ")), Reason::MalformedJson);
        assert_eq!(reason_of(Some(b"[{}]")), Reason::NotOneEvent);
        assert_eq!(reason_of(Some(b"42")), Reason::NotOneEvent);
    }

    #[test]
    fn a_broken_rule_lists_every_problem_as_the_api_does() {
        let mut e = event();
        e["status"] = json!("done");
        e["business_date"] = json!("16/11/2026");
        let bytes = serde_json::to_vec(&e).unwrap();
        let err = decode(Some(&bytes), now()).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidEvent);
        let rules: Vec<(Option<&str>, &str)> = err
            .problems
            .iter()
            .map(|p| (p.field.as_deref(), p.rule.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                (Some("status"), "unknown_status"),
                (Some("business_date"), "date")
            ]
        );
        assert_eq!(err.problems_json()[0]["rule"], "unknown_status");
    }

    #[test]
    fn reason_codes_match_their_serde_names() {
        for r in [
            Reason::EmptyMessage,
            Reason::JobOfOtherApplication,
            Reason::Unauthorized,
            Reason::DatabaseConstraint,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), json!(r.code()));
        }
    }
}
