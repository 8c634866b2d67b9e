//! A broken rule: which event (by index in the body), which field, which rule, and a sentence
//! for a person. The API lists every violation of a body in one `422` problem document.

use serde::Serialize;

/// The rules an event can break. Each has a stable machine-readable code (`Rule::code`), which
/// clients may match on; the message beside it is for people and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The body is neither a JSON object nor an array of objects, or an array element is not an object.
    NotAnObject,
    /// A batch must hold at least one event.
    EmptyBatch,
    /// A batch may hold at most [`crate::MAX_BATCH_EVENTS`] events.
    BatchTooLarge,
    /// A required field is missing or null.
    Required,
    /// A field has the wrong JSON type (for example a number where a string belongs).
    WrongType,
    /// An identifier is the empty string.
    Empty,
    /// An identifier is longer than [`crate::MAX_IDENTIFIER_LEN`] characters.
    TooLong,
    /// An identifier has leading or trailing white space.
    SurroundingWhitespace,
    /// An identifier holds a control character.
    ControlCharacter,
    /// `status` is not one of `start`, `succeed`, `fail`.
    UnknownStatus,
    /// `status_time` is not an RFC 3339 timestamp with an offset (`Z` or `+hh:mm`).
    Rfc3339WithOffset,
    /// `status_time` lies further in the future than the allowed clock skew.
    InFuture,
    /// `business_date` is not a `YYYY-MM-DD` date.
    Date,
    /// `business_date` is too far from the date of `status_time`.
    BusinessDateRange,
    /// `period_start` is not `HH:MM` or `HH:MM:SS`.
    TimeOfDay,
    /// A field that is not part of the job-status event.
    UnknownField,
    /// A field that only the server sets (`status_id`, `received_at`, `client_id`).
    ServerSet,
    /// `app_id` names no application known to the database.
    UnknownApplication,
    /// `job_id` is registered under another application.
    JobOfOtherApplication,
    /// `app_id` names an application the posting client may not post for (a `403`, not a `422`).
    ApplicationNotAllowed,
    /// A constraint of the database that the product does not check itself (for example a
    /// `CHECK` a DBA added to `slo.job_status` or `slo.slo_performance`) refused the rows the
    /// event makes; the message names the constraint and its table. Nothing was stored.
    DatabaseConstraint,
}

impl Rule {
    /// Every rule, in declaration order.
    pub const ALL: [Rule; 21] = [
        Rule::NotAnObject,
        Rule::EmptyBatch,
        Rule::BatchTooLarge,
        Rule::Required,
        Rule::WrongType,
        Rule::Empty,
        Rule::TooLong,
        Rule::SurroundingWhitespace,
        Rule::ControlCharacter,
        Rule::UnknownStatus,
        Rule::Rfc3339WithOffset,
        Rule::InFuture,
        Rule::Date,
        Rule::BusinessDateRange,
        Rule::TimeOfDay,
        Rule::UnknownField,
        Rule::ServerSet,
        Rule::UnknownApplication,
        Rule::JobOfOtherApplication,
        Rule::ApplicationNotAllowed,
        Rule::DatabaseConstraint,
    ];

    /// The stable code of the rule, as it appears in problem documents.
    pub fn code(self) -> &'static str {
        match self {
            Rule::NotAnObject => "not_an_object",
            Rule::EmptyBatch => "empty_batch",
            Rule::BatchTooLarge => "batch_too_large",
            Rule::Required => "required",
            Rule::WrongType => "wrong_type",
            Rule::Empty => "empty",
            Rule::TooLong => "too_long",
            Rule::SurroundingWhitespace => "surrounding_whitespace",
            Rule::ControlCharacter => "control_character",
            Rule::UnknownStatus => "unknown_status",
            Rule::Rfc3339WithOffset => "rfc3339_with_offset",
            Rule::InFuture => "in_future",
            Rule::Date => "date",
            Rule::BusinessDateRange => "business_date_range",
            Rule::TimeOfDay => "time_of_day",
            Rule::UnknownField => "unknown_field",
            Rule::ServerSet => "server_set",
            Rule::UnknownApplication => "unknown_application",
            Rule::JobOfOtherApplication => "job_of_other_application",
            Rule::ApplicationNotAllowed => "application_not_allowed",
            Rule::DatabaseConstraint => "database_constraint",
        }
    }
}

/// One problem with a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Index of the event in the batch (0 for a single event); `None` for a problem of the whole body.
    pub index: Option<usize>,
    /// The JSON field name, or `None` for a problem of the whole event or body.
    pub field: Option<String>,
    /// The rule that was broken.
    pub rule: Rule,
    /// A sentence for a person.
    pub message: String,
}

impl Violation {
    /// A violation of `field` in the event at `index`.
    pub fn field(index: usize, field: &str, rule: Rule, message: impl Into<String>) -> Self {
        Violation {
            index: Some(index),
            field: Some(field.to_owned()),
            rule,
            message: message.into(),
        }
    }

    /// A violation of the body as a whole.
    pub fn body(rule: Rule, message: impl Into<String>) -> Self {
        Violation {
            index: None,
            field: None,
            rule,
            message: message.into(),
        }
    }

    /// An RFC 6901 JSON pointer to the offending value, relative to the request body.
    /// `batch` says whether the body was an array (so the index is part of the path).
    pub fn pointer(&self, batch: bool) -> String {
        let mut p = String::new();
        if let (true, Some(i)) = (batch, self.index) {
            p.push('/');
            p.push_str(&i.to_string());
        }
        if let Some(f) = &self.field {
            p.push('/');
            p.push_str(&f.replace('~', "~0").replace('/', "~1"));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_includes_the_index_only_for_batches() {
        let v = Violation::field(3, "status", Rule::UnknownStatus, "x");
        assert_eq!(v.pointer(true), "/3/status");
        assert_eq!(v.pointer(false), "/status");
        assert_eq!(Violation::body(Rule::EmptyBatch, "x").pointer(true), "");
    }

    #[test]
    fn pointer_escapes_field_names_per_rfc_6901() {
        let v = Violation::field(0, "a/b~c", Rule::UnknownField, "x");
        assert_eq!(v.pointer(true), "/0/a~1b~0c");
    }

    #[test]
    fn the_list_of_all_rules_is_complete_and_their_codes_are_unique() {
        // The match has no wildcard: a new rule fails to compile here until it is listed.
        let position = |r: Rule| match r {
            Rule::NotAnObject => 0,
            Rule::EmptyBatch => 1,
            Rule::BatchTooLarge => 2,
            Rule::Required => 3,
            Rule::WrongType => 4,
            Rule::Empty => 5,
            Rule::TooLong => 6,
            Rule::SurroundingWhitespace => 7,
            Rule::ControlCharacter => 8,
            Rule::UnknownStatus => 9,
            Rule::Rfc3339WithOffset => 10,
            Rule::InFuture => 11,
            Rule::Date => 12,
            Rule::BusinessDateRange => 13,
            Rule::TimeOfDay => 14,
            Rule::UnknownField => 15,
            Rule::ServerSet => 16,
            Rule::UnknownApplication => 17,
            Rule::JobOfOtherApplication => 18,
            Rule::ApplicationNotAllowed => 19,
            Rule::DatabaseConstraint => 20,
        };
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(position(*r), i);
        }
        let codes: std::collections::HashSet<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Rule::ALL.len());
    }

    #[test]
    fn rule_codes_match_their_serde_names() {
        for rule in [
            Rule::Required,
            Rule::Rfc3339WithOffset,
            Rule::JobOfOtherApplication,
            Rule::ApplicationNotAllowed,
        ] {
            let json = serde_json::to_value(rule).unwrap();
            assert_eq!(json, serde_json::Value::String(rule.code().to_owned()));
        }
    }
}
