//! Identifiers: application, job, run and host ids, as a validated newtype.
//!
//! Parse, don't validate: an [`Identifier`] can only be made by [`Identifier::parse`], so code
//! that holds one knows it is non-empty, at most [`MAX_IDENTIFIER_LEN`] characters, free of
//! control characters and of leading or trailing white space. The database checks the same
//! rules (`slo.is_identifier`) so no writer can store what the API would refuse.

use crate::violation::Rule;
use std::fmt;

/// The longest identifier accepted, in characters (not bytes).
pub const MAX_IDENTIFIER_LEN: usize = 128;

/// A validated identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

impl Identifier {
    /// Checks `s` against the identifier rules; returns the first rule it breaks and a message.
    pub fn parse(s: &str) -> Result<Self, (Rule, String)> {
        if s.is_empty() {
            return Err((Rule::Empty, "must not be empty".into()));
        }
        let len = s.chars().count();
        if len > MAX_IDENTIFIER_LEN {
            return Err((
                Rule::TooLong,
                format!("must be at most {MAX_IDENTIFIER_LEN} characters (got {len})"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err((
                Rule::ControlCharacter,
                "must not contain control characters".into(),
            ));
        }
        if s.trim() != s {
            return Err((
                Rule::SurroundingWhitespace,
                "must not start or end with white space".into(),
            ));
        }
        Ok(Identifier(s.to_owned()))
    }

    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identifier as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Identifier {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_ids_are_accepted() {
        for s in [
            "overdrafts",
            "OD-CALC.01",
            "job 7",
            "дебет",
            "run:2026-11-24#2",
        ] {
            assert_eq!(Identifier::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn an_empty_id_is_rejected() {
        assert_eq!(Identifier::parse("").unwrap_err().0, Rule::Empty);
    }

    #[test]
    fn an_id_of_exactly_the_limit_is_accepted_and_one_more_is_rejected() {
        let ok = "x".repeat(MAX_IDENTIFIER_LEN);
        assert!(Identifier::parse(&ok).is_ok());
        let long = "x".repeat(MAX_IDENTIFIER_LEN + 1);
        assert_eq!(Identifier::parse(&long).unwrap_err().0, Rule::TooLong);
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let s = "é".repeat(MAX_IDENTIFIER_LEN);
        assert!(s.len() > MAX_IDENTIFIER_LEN);
        assert!(Identifier::parse(&s).is_ok());
    }

    #[test]
    fn control_characters_are_rejected() {
        for s in ["a\nb", "a\u{0}b", "tab\there", "\u{7f}"] {
            assert_eq!(
                Identifier::parse(s).unwrap_err().0,
                Rule::ControlCharacter,
                "{s:?}"
            );
        }
    }

    #[test]
    fn surrounding_white_space_is_rejected() {
        for s in [" a", "a ", "\u{a0}a"] {
            assert_eq!(
                Identifier::parse(s).unwrap_err().0,
                Rule::SurroundingWhitespace,
                "{s:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn whatever_is_accepted_round_trips_and_obeys_every_rule(s in "\\PC{0,140}") {
            if let Ok(id) = Identifier::parse(&s) {
                prop_assert_eq!(id.as_str(), s.as_str());
                prop_assert!(!s.is_empty());
                prop_assert!(s.chars().count() <= MAX_IDENTIFIER_LEN);
                prop_assert_eq!(s.trim(), s.as_str());
            }
        }
    }
}
