//! Writing definitions as a definitions file: the format [`super::parse_file`] reads, objects
//! sorted by id, offsets in clock style (`"1 day 03:00"`) and durations in words
//! (`"30 minutes"`), holiday sets as their rule where the rows are a rule's.

use super::{format_time, Definitions, HolidaySet};
use std::fmt::Write as _;

/// The definitions as a file; `parse_file(&render(d)) == Ok(d)` for definitions that are valid.
pub fn render(defs: &Definitions) -> String {
    let mut out = String::new();
    out.push_str(
        "# pg_slo definitions. Apply with `pg-slo apply FILE`; written by `pg-slo export`.\n\
         # Field names are the columns of the slo.* tables (CONTRACT section 2).\n",
    );
    for (id, a) in &defs.applications {
        out.push_str("\n[[application]]\n");
        kv(&mut out, "app_id", &q(id));
        kv(&mut out, "name", &q(&a.name));
    }
    for (id, j) in &defs.jobs {
        out.push_str("\n[[job]]\n");
        kv(&mut out, "job_id", &q(id));
        kv(&mut out, "app_id", &q(&j.app_id));
        kv(&mut out, "name", &q(&j.name));
    }
    for (id, set) in &defs.holiday_sets {
        holiday_set(&mut out, id, set);
    }
    for (id, c) in &defs.calendars {
        out.push_str("\n[[calendar]]\n");
        kv(&mut out, "calendar_id", &q(id));
        kv(&mut out, "name", &q(&c.name));
        let days: Vec<String> = c.run_weekdays.iter().map(i32::to_string).collect();
        kv(&mut out, "run_weekdays", &format!("[{}]", days.join(", ")));
        if let Some(h) = &c.holiday_set {
            kv(&mut out, "holiday_set", &q(h));
        }
        kv(
            &mut out,
            "runs_on_holidays",
            &c.runs_on_holidays.to_string(),
        );
        for (date, runs) in &c.exceptions {
            out.push_str("\n[[calendar.exception]]\n");
            kv(&mut out, "exception_date", &date.to_string());
            kv(&mut out, "runs", &runs.to_string());
        }
    }
    for (id, s) in &defs.slos {
        out.push_str("\n[[slo]]\n");
        kv(&mut out, "slo_id", &q(id));
        kv(&mut out, "name", &q(&s.name));
        kv(&mut out, "app_id", &q(&s.app_id));
        kv(&mut out, "calendar_id", &q(&s.calendar_id));
        kv(&mut out, "time_zone", &q(&s.time_zone));
        if let Some(i) = &s.intraday {
            kv(&mut out, "period", &q(&i.period.to_words_string()));
            kv(&mut out, "window_start", &q(&format_time(i.window_start)));
            kv(&mut out, "window_end", &q(&format_time(i.window_end)));
        }
        kv(&mut out, "slack", &q(&s.slack.to_words_string()));
        kv(&mut out, "active", &s.active.to_string());
        for (job, j) in &s.jobs {
            out.push_str("\n[[slo.job]]\n");
            kv(&mut out, "job_id", &q(job));
            kv(
                &mut out,
                "expected_start",
                &q(&j.expected_start.to_clock_string()),
            );
            kv(
                &mut out,
                "expected_end",
                &q(&j.expected_end.to_clock_string()),
            );
            kv(&mut out, "day_unit", &q(&j.day_unit));
        }
    }
    out
}

fn holiday_set(out: &mut String, id: &str, set: &HolidaySet) {
    out.push_str("\n[[holiday_set]]\n");
    kv(out, "holiday_set", &q(id));
    if let Some(r) = &set.rule {
        kv(out, "rule", &q(&r.rule));
        kv(out, "from_year", &r.from_year.to_string());
        kv(out, "to_year", &r.to_year.to_string());
    }
    for (date, name) in &set.listed {
        out.push_str("\n[[holiday_set.holiday]]\n");
        kv(out, "holiday_date", &date.to_string());
        kv(out, "name", &q(name));
    }
}

fn kv(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key} = {value}");
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
