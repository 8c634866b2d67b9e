//! Intervals as the definitions file writes them (`"1 day 03:00"`, `"30 minutes"`, `"0"`), held
//! the way PostgreSQL stores an `interval`: months, days and microseconds, each kept apart, so a
//! value read back from the database compares equal to the one written, field by field.
//!
//! Accepted text: `0`, or a sequence of `<integer> <unit>` (`years`, `months`, `weeks`, `days`,
//! `hours`, `minutes`, `seconds`; singular, plural and the usual short forms; seconds may have a
//! fraction), and at most one clock part `[-]H:MM[:SS[.ffffff]]` (hours may pass 24). A leading
//! `-` on a number or the clock negates that part alone, as in PostgreSQL. Pure.

use std::fmt;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// A PostgreSQL `interval`: months, days and microseconds, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    pub const ZERO: Interval = Interval {
        months: 0,
        days: 0,
        micros: 0,
    };

    pub fn new(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    /// The length PostgreSQL uses to compare intervals: a month is 30 days, a day 24 hours.
    pub fn comparable_micros(self) -> i128 {
        i128::from(self.months) * 30 * i128::from(MICROS_PER_DAY)
            + i128::from(self.days) * i128::from(MICROS_PER_DAY)
            + i128::from(self.micros)
    }

    /// Parses the text form (see the module doc); the message says what is wrong.
    pub fn parse(text: &str) -> Result<Interval, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err("must not be empty (write \"0\" for none)".into());
        }
        if s == "0" {
            return Ok(Interval::ZERO);
        }
        let tokens: Vec<&str> = s.split_whitespace().collect();
        let mut out = Interval::ZERO;
        let mut seen_clock = false;
        let mut seen_units: Vec<&'static str> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let tok = tokens[i];
            if tok.contains(':') {
                if seen_clock {
                    return Err(format!("has two clock parts in {text:?}"));
                }
                seen_clock = true;
                out.micros = out
                    .micros
                    .checked_add(parse_clock(tok).map_err(|m| format!("{m} in {text:?}"))?)
                    .ok_or_else(|| format!("is out of range: {text:?}"))?;
                i += 1;
                continue;
            }
            // A number, with its unit attached ("30min") or as the next token ("30 minutes").
            let split = tok
                .char_indices()
                .find(|(k, c)| {
                    !(c.is_ascii_digit() || *c == '.' || (*k == 0 && (*c == '-' || *c == '+')))
                })
                .map(|(k, _)| k)
                .unwrap_or(tok.len());
            let (number, attached) = tok.split_at(split);
            if number.is_empty() || number == "-" || number == "+" {
                return Err(format!(
                    "expected a number before {tok:?} in {text:?} (for example \"30 minutes\" or \"1 day 03:00\")"
                ));
            }
            let unit_word = if attached.is_empty() {
                i += 1;
                match tokens.get(i) {
                    Some(u) => *u,
                    None => {
                        return Err(format!(
                        "the number {number} in {text:?} has no unit (days, hours, minutes, ...)"
                    ))
                    }
                }
            } else {
                attached
            };
            i += 1;
            let unit = Unit::parse(unit_word).ok_or_else(|| {
                format!(
                    "unknown unit {unit_word:?} in {text:?}; use years, months, weeks, days, hours, minutes or seconds"
                )
            })?;
            if seen_units.contains(&unit.name()) {
                return Err(format!("gives {} twice in {text:?}", unit.name()));
            }
            seen_units.push(unit.name());
            unit.add(number, &mut out)
                .map_err(|m| format!("{m} in {text:?}"))?;
        }
        Ok(out)
    }

    /// The clock style used for offsets: `"1 day 03:00"`, `"00:10"`, `"00:00"`.
    pub fn to_clock_string(self) -> String {
        let mut parts = Vec::new();
        push_months_days(self, &mut parts);
        if self.micros != 0 || parts.is_empty() {
            parts.push(clock(self.micros));
        }
        parts.join(" ")
    }

    /// The word style used for durations: `"30 minutes"`, `"1 hour 30 minutes"`, `"0"`; a
    /// remainder that is not whole minutes is written as a clock part.
    pub fn to_words_string(self) -> String {
        let mut parts = Vec::new();
        push_months_days(self, &mut parts);
        let m = self.micros;
        if m != 0 {
            if m % MICROS_PER_MINUTE == 0 {
                let hours = m / MICROS_PER_HOUR;
                let minutes = (m % MICROS_PER_HOUR) / MICROS_PER_MINUTE;
                if hours != 0 {
                    parts.push(plural(hours, "hour"));
                }
                if minutes != 0 {
                    parts.push(plural(minutes, "minute"));
                }
            } else {
                parts.push(clock(m));
            }
        }
        if parts.is_empty() {
            "0".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_words_string())
    }
}

fn push_months_days(iv: Interval, parts: &mut Vec<String>) {
    if iv.months != 0 {
        parts.push(plural(i64::from(iv.months), "month"));
    }
    if iv.days != 0 {
        parts.push(plural(i64::from(iv.days), "day"));
    }
}

fn plural(n: i64, word: &str) -> String {
    if n == 1 || n == -1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `[-]HH:MM[:SS[.ffffff]]`.
fn clock(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    let hours = m / MICROS_PER_HOUR as u64;
    let minutes = (m % MICROS_PER_HOUR as u64) / MICROS_PER_MINUTE as u64;
    let rest = m % MICROS_PER_MINUTE as u64;
    let (seconds, fraction) = (rest / 1_000_000, rest % 1_000_000);
    let mut s = format!("{sign}{hours:02}:{minutes:02}");
    if rest != 0 {
        s.push_str(&format!(":{seconds:02}"));
        if fraction != 0 {
            let f = format!("{fraction:06}");
            s.push('.');
            s.push_str(f.trim_end_matches('0'));
        }
    }
    s
}

fn parse_clock(tok: &str) -> Result<i64, String> {
    let (negative, body) = match tok.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, tok.strip_prefix('+').unwrap_or(tok)),
    };
    let parts: Vec<&str> = body.split(':').collect();
    let bad = || format!("{tok:?} is not a clock time H:MM or H:MM:SS");
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if !digits(parts[0]) || !digits(parts[1]) || parts[1].len() != 2 {
        return Err(bad());
    }
    let hours: i64 = parts[0].parse().map_err(|_| bad())?;
    let minutes: i64 = parts[1].parse().map_err(|_| bad())?;
    if minutes > 59 {
        return Err(format!("{tok:?} has minutes past 59"));
    }
    let mut micros =
        hours.checked_mul(MICROS_PER_HOUR).ok_or_else(bad)? + minutes * MICROS_PER_MINUTE;
    if let Some(sec) = parts.get(2) {
        let s = parse_seconds(sec).ok_or_else(bad)?;
        if s >= 60 * MICROS_PER_SECOND {
            return Err(format!("{tok:?} has seconds past 59"));
        }
        micros += s;
    }
    Ok(if negative { -micros } else { micros })
}

/// Seconds with an optional fraction of up to six digits, as microseconds.
fn parse_seconds(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    w.checked_mul(MICROS_PER_SECOND)?.checked_add(f)
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
}

impl Unit {
    fn parse(word: &str) -> Option<Unit> {
        Some(match word.to_ascii_lowercase().as_str() {
            "y" | "yr" | "yrs" | "year" | "years" => Unit::Year,
            "mon" | "mons" | "month" | "months" => Unit::Month,
            "w" | "week" | "weeks" => Unit::Week,
            "d" | "day" | "days" => Unit::Day,
            "h" | "hr" | "hrs" | "hour" | "hours" => Unit::Hour,
            "m" | "min" | "mins" | "minute" | "minutes" => Unit::Minute,
            "s" | "sec" | "secs" | "second" | "seconds" => Unit::Second,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Year => "years",
            Unit::Month => "months",
            Unit::Week => "weeks",
            Unit::Day => "days",
            Unit::Hour => "hours",
            Unit::Minute => "minutes",
            Unit::Second => "seconds",
        }
    }

    fn add(self, number: &str, out: &mut Interval) -> Result<(), String> {
        let (negative, digits) = match number.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, number.strip_prefix('+').unwrap_or(number)),
        };
        let range = || format!("{number} {} is out of range", self.name());
        if let Unit::Second = self {
            let us = parse_seconds(digits)
                .ok_or_else(|| format!("{number:?} is not a number of seconds"))?;
            let us = if negative { -us } else { us };
            out.micros = out.micros.checked_add(us).ok_or_else(range)?;
            return Ok(());
        }
        if digits.contains('.') {
            return Err(format!(
                "{number} {} is not a whole number (use a smaller unit, e.g. 90 minutes)",
                self.name()
            ));
        }
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("{number:?} is not a number"))?;
        let n = if negative { -n } else { n };
        let small = |v: i64| i32::try_from(v).map_err(|_| range());
        match self {
            Unit::Year => {
                out.months = out
                    .months
                    .checked_add(small(n.checked_mul(12).ok_or_else(range)?)?)
                    .ok_or_else(range)?
            }
            Unit::Month => out.months = out.months.checked_add(small(n)?).ok_or_else(range)?,
            Unit::Week => {
                out.days = out
                    .days
                    .checked_add(small(n.checked_mul(7).ok_or_else(range)?)?)
                    .ok_or_else(range)?
            }
            Unit::Day => out.days = out.days.checked_add(small(n)?).ok_or_else(range)?,
            Unit::Hour => {
                out.micros = out
                    .micros
                    .checked_add(n.checked_mul(MICROS_PER_HOUR).ok_or_else(range)?)
                    .ok_or_else(range)?
            }
            Unit::Minute => {
                out.micros = out
                    .micros
                    .checked_add(n.checked_mul(MICROS_PER_MINUTE).ok_or_else(range)?)
                    .ok_or_else(range)?
            }
            Unit::Second => unreachable!("handled above"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn iv(m: i32, d: i32, h: i64, min: i64) -> Interval {
        Interval::new(m, d, h * MICROS_PER_HOUR + min * MICROS_PER_MINUTE)
    }

    #[test]
    fn the_briefs_offsets_and_durations_parse_as_postgresql_stores_them() {
        assert_eq!(Interval::parse("1 day 03:00"), Ok(iv(0, 1, 3, 0)));
        assert_eq!(Interval::parse("1 day 00:30"), Ok(iv(0, 1, 0, 30)));
        assert_eq!(Interval::parse("00:10"), Ok(iv(0, 0, 0, 10)));
        assert_eq!(Interval::parse("30 minutes"), Ok(iv(0, 0, 0, 30)));
        assert_eq!(Interval::parse("0"), Ok(Interval::ZERO));
        assert_eq!(Interval::parse("27:00"), Ok(iv(0, 0, 27, 0)));
        assert_eq!(Interval::parse("1 hour 30 minutes"), Ok(iv(0, 0, 1, 30)));
        assert_eq!(Interval::parse("2 weeks"), Ok(iv(0, 14, 0, 0)));
        assert_eq!(Interval::parse("1 year 2 months"), Ok(iv(14, 0, 0, 0)));
        assert_eq!(Interval::parse("90min"), Ok(iv(0, 0, 1, 30)));
        assert_eq!(
            Interval::parse("1.5 seconds"),
            Ok(Interval::new(0, 0, 1_500_000))
        );
        assert_eq!(
            Interval::parse("00:00:01.25"),
            Ok(Interval::new(0, 0, 1_250_000))
        );
    }

    #[test]
    fn a_minus_sign_negates_only_its_own_part() {
        assert_eq!(Interval::parse("-02:00"), Ok(iv(0, 0, -2, 0)));
        assert_eq!(Interval::parse("1 day -03:00"), Ok(iv(0, 1, -3, 0)));
        assert_eq!(Interval::parse("-1 day 03:00"), Ok(iv(0, -1, 3, 0)));
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        for (text, says) in [
            ("", "empty"),
            ("soon", "expected a number"),
            ("30", "no unit"),
            ("30 fortnights", "unknown unit"),
            ("1.5 days", "whole number"),
            ("03:75", "minutes past 59"),
            ("1:00 2:00", "two clock parts"),
            ("1 day 2 days", "twice"),
            ("3:0", "clock time"),
        ] {
            let err = Interval::parse(text).unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn intervals_are_written_in_clock_or_word_style() {
        assert_eq!(iv(0, 1, 3, 0).to_clock_string(), "1 day 03:00");
        assert_eq!(iv(0, 0, 0, 10).to_clock_string(), "00:10");
        assert_eq!(iv(0, 2, 0, 0).to_clock_string(), "2 days");
        assert_eq!(Interval::ZERO.to_clock_string(), "00:00");
        assert_eq!(iv(0, 0, 0, 30).to_words_string(), "30 minutes");
        assert_eq!(iv(0, 0, 1, 30).to_words_string(), "1 hour 30 minutes");
        assert_eq!(iv(1, 0, 0, 0).to_words_string(), "1 month");
        assert_eq!(
            Interval::new(0, 0, 1_500_000).to_words_string(),
            "00:00:01.5"
        );
        assert_eq!(iv(0, 1, -3, 0).to_clock_string(), "1 day -03:00");
    }

    #[test]
    fn postgresql_compares_a_month_as_thirty_days() {
        assert_eq!(
            iv(1, 0, 0, 0).comparable_micros(),
            iv(0, 30, 0, 0).comparable_micros()
        );
        assert!(iv(0, 1, -25, 0).comparable_micros() < 0);
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back_the_same(months in -24i32..24, days in -40i32..40, micros in -200_000_000_000i64..200_000_000_000) {
            let v = Interval::new(months, days, micros);
            prop_assert_eq!(Interval::parse(&v.to_clock_string()), Ok(v));
            prop_assert_eq!(Interval::parse(&v.to_words_string()), Ok(v));
        }
    }
}
