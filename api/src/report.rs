//! `pg-slo report`: today's SLO states as a table on a terminal, late ones first, read from
//! `slo.slo_performance_report`. Touches that view (and `slo.slo` for time zones), read only.
//!
//! "Today" is each SLO's own: the instances due today (expected end on today's date in the
//! SLO's time zone), plus instances of the days before that are still late. `--business-date`
//! shows one business date instead. An instance is taken to be due within 45 days of its
//! business date, which bounds the rows read.

use crate::dbconn::{self, DbArgs};
use crate::pg_types::PgInterval;
use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use clap::Args;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use tracing::instrument;

/// Settings of `pg-slo report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Show the instances of this business date instead of today's.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub business_date: Option<NaiveDate>,

    /// Without --business-date: also show instances due up to this many days ago that are still late.
    #[arg(long, default_value_t = 3, value_name = "DAYS")]
    pub late_days: i32,

    /// Only these SLOs (repeat the flag for several).
    #[arg(long = "slo", value_name = "SLO_ID")]
    pub slos: Vec<String>,

    /// Colour the states: auto (when standard output is a terminal and NO_COLOR is unset), always, never.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub slo_id: String,
    pub slo_name: String,
    pub business_date: NaiveDate,
    /// `None` for a daily SLO.
    pub period_start: Option<NaiveTime>,
    pub state: String,
    pub time_zone: String,
    pub expected_end: DateTime<Utc>,
    pub actual_start: Option<DateTime<Utc>>,
    pub actual_end: Option<DateTime<Utc>>,
    /// Microseconds late (negative: early); `None` before it is due.
    pub end_delay_micros: Option<i128>,
    pub failed_runs: i32,
    pub slack_breached: bool,
}

/// The order of states in the report: what needs attention first.
pub const STATE_ORDER: [&str; 5] = ["late", "missed", "running", "pending", "met"];

const REPORT: &str = "\
SELECT r.slo_id, r.slo_name, r.business_date, r.period_start, s.period IS NOT NULL, r.state, s.time_zone,
       r.expected_end, r.actual_start, r.actual_end, r.end_delay, r.failed_runs, r.slack_breached
FROM slo.slo_performance_report r
JOIN slo.slo s ON s.slo_id = r.slo_id
WHERE (cardinality($3::text[]) = 0 OR r.slo_id = ANY($3))
  AND CASE WHEN $1::date IS NOT NULL THEN r.business_date = $1
      ELSE r.business_date BETWEEN current_date - 45 - $2::int AND current_date + 1
      AND ((r.expected_end AT TIME ZONE s.time_zone)::date = (now() AT TIME ZONE s.time_zone)::date
        OR (r.state = 'late'
            AND (r.expected_end AT TIME ZONE s.time_zone)::date >= (now() AT TIME ZONE s.time_zone)::date - $2::int))
      END
ORDER BY array_position(ARRAY['late', 'missed', 'running', 'pending', 'met'], r.state),
         r.expected_end, r.slo_id, r.period_start";

/// Reads the report's rows.
#[instrument(skip_all)]
pub async fn rows(args: &ReportArgs) -> anyhow::Result<Vec<ReportRow>> {
    let client = dbconn::connect(&args.db, "report").await?;
    let rows = client
        .query(REPORT, &[&args.business_date, &args.late_days, &args.slos])
        .await
        .context("reading slo.slo_performance_report")?;
    Ok(rows
        .iter()
        .map(|r| ReportRow {
            slo_id: r.get(0),
            slo_name: r.get(1),
            business_date: r.get(2),
            period_start: if r.get::<_, bool>(4) { r.get(3) } else { None },
            state: r.get(5),
            time_zone: r.get(6),
            expected_end: r.get(7),
            actual_start: r.get(8),
            actual_end: r.get(9),
            end_delay_micros: r
                .get::<_, Option<PgInterval>>(10)
                .map(|i| i.0.comparable_micros()),
            failed_runs: r.get(11),
            slack_breached: r.get(12),
        })
        .collect())
}

/// `pg-slo report` from the command line.
pub async fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let rows = rows(args).await?;
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let title = match args.business_date {
        Some(d) => format!("SLO instances of business date {d}"),
        None => "SLO instances due today, and older ones still late".to_owned(),
    };
    let mut out = std::io::stdout();
    out.write_all(render(&title, &rows, color).as_bytes())
        .context("writing the report")?;
    Ok(())
}

/// The table: a title, a header, a row per instance, and the count of each state.
pub fn render(title: &str, rows: &[ReportRow], color: bool) -> String {
    let mut out = format!("{title} (times in each SLO's time zone)\n\n");
    if rows.is_empty() {
        out.push_str("No SLO instances.\n");
        return out;
    }
    let header = [
        "STATE",
        "SLO",
        "BUSINESS DATE",
        "PERIOD",
        "DUE",
        "STARTED",
        "ENDED",
        "END DELAY",
        "FAILED RUNS",
        "SLACK",
        "NAME",
    ];
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            let tz: Tz = r.time_zone.parse().unwrap_or(Tz::UTC);
            let local =
                |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %m-%d %H:%M").to_string();
            [
                r.state.clone(),
                r.slo_id.clone(),
                r.business_date.to_string(),
                r.period_start
                    .map(|p| p.format("%H:%M").to_string())
                    .unwrap_or_default(),
                local(r.expected_end),
                r.actual_start.map(local).unwrap_or_else(|| "-".into()),
                r.actual_end.map(local).unwrap_or_else(|| "-".into()),
                r.end_delay_micros.map(delay).unwrap_or_default(),
                r.failed_runs.to_string(),
                if r.slack_breached {
                    "breached".into()
                } else {
                    String::new()
                },
                r.slo_name.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String], paint: Option<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths.iter()).enumerate() {
            let pad = w - c.chars().count();
            let last = i + 1 == cells.len();
            match (i, paint) {
                (0, Some(code)) => {
                    let _ = write!(s, "\x1b[{code}m{c}\x1b[0m{}", " ".repeat(pad));
                }
                _ if last => s.push_str(c),
                _ => {
                    let _ = write!(s, "{c}{}", " ".repeat(pad));
                }
            }
            if !last {
                s.push_str("  ");
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(&header.map(str::to_owned), None));
    for (row, c) in rows.iter().zip(&cells) {
        let paint = color.then_some(match row.state.as_str() {
            "late" => "1;31",
            "missed" => "33",
            "running" => "36",
            "met" => "32",
            _ => "0",
        });
        out.push_str(&line(c, paint));
    }
    let counts: Vec<String> = STATE_ORDER
        .iter()
        .map(|s| format!("{} {s}", rows.iter().filter(|r| r.state == *s).count()))
        .collect();
    let _ = writeln!(out, "\n{} instances: {}", rows.len(), counts.join(", "));
    out
}

/// A delay as `+40m`, `-12m`, `+2h05m`, `+1d03h`.
fn delay(micros: i128) -> String {
    let sign = if micros < 0 { '-' } else { '+' };
    let minutes = (micros.unsigned_abs() / 60_000_000) as u64;
    let (d, h, m) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    if d > 0 {
        format!("{sign}{d}d{h:02}h")
    } else if h > 0 {
        format!("{sign}{h}h{m:02}m")
    } else {
        format!("{sign}{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(slo: &str, state: &str, delay_min: Option<i128>) -> ReportRow {
        ReportRow {
            slo_id: slo.into(),
            slo_name: format!("{slo} name"),
            business_date: "2026-11-20".parse().unwrap(),
            period_start: None,
            state: state.into(),
            time_zone: "America/New_York".into(),
            expected_end: "2026-11-23T13:00:00Z".parse().unwrap(),
            actual_start: Some("2026-11-23T10:05:00Z".parse().unwrap()),
            actual_end: None,
            end_delay_micros: delay_min.map(|m| m * 60_000_000),
            failed_runs: 0,
            slack_breached: state == "late",
        }
    }

    #[test]
    fn delays_are_short_and_signed() {
        assert_eq!(delay(40 * 60_000_000), "+40m");
        assert_eq!(delay(-12 * 60_000_000), "-12m");
        assert_eq!(delay(125 * 60_000_000), "+2h05m");
        assert_eq!(delay((27 * 60) * 60_000_000), "+1d03h");
    }

    #[test]
    fn the_table_lines_up_shows_local_times_and_counts_states() {
        let text = render(
            "T",
            &[
                row("od-report", "late", Some(95)),
                row("dss-load", "met", Some(-3)),
            ],
            false,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "T (times in each SLO's time zone)");
        assert!(
            lines[2].starts_with("STATE  SLO        BUSINESS DATE  PERIOD  DUE"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].starts_with("late   od-report  2026-11-20"),
            "{}",
            lines[3]
        );
        assert!(
            lines[3].contains("Mon 11-23 08:00"),
            "expected end in New York: {}",
            lines[3]
        );
        assert!(
            lines[3].contains("+1h35m") && lines[3].contains("breached"),
            "{}",
            lines[3]
        );
        assert_eq!(
            lines[3].find("od-report"),
            lines[4].find("dss-load"),
            "columns line up"
        );
        assert_eq!(
            lines.last().unwrap(),
            &"2 instances: 1 late, 0 missed, 0 running, 0 pending, 1 met"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colour_marks_the_state_only_when_asked() {
        let text = render("T", &[row("od-report", "late", Some(5))], true);
        assert!(text.contains("\x1b[1;31mlate\x1b[0m"), "{text:?}");
    }

    #[test]
    fn an_empty_report_says_so() {
        assert!(render("T", &[], false).ends_with("No SLO instances.\n"));
    }
}
