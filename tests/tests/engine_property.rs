//! The engine in the database against the reference: for random definitions and random events,
//! delivered in random orders and batches over two concurrent connections, with repeats, the rows
//! the extension keeps in `slo.slo_performance` equal `slo_core::engine::performance` computed
//! once over all the events.
//!
//! The extension's trigger applies the same rules (it calls `slo_core::engine` for each SLO day
//! it touches), so what this proves is everything around them: that each statement finds the
//! right SLO days, reads every event of each day (its own, and those other sessions committed),
//! writes exactly the rows that changed, and that no order, batch size, repetition or
//! concurrency changes the outcome. The rules themselves are checked by `slo_core`'s unit tests
//! and by the hand-computed rows of the `engine` regression file.
//!
//! Nothing here calls `slo.evaluate`, so every row comes from events. Each case prints its seed
//! when it fails, with the definitions, the events and a diff of the rows.
//!
//! Knobs (environment): `PG_SLO_ENGINE_SEED=n` runs that one seed; `PG_SLO_ENGINE_CASES=n` runs
//! n seeds instead of the default 12; `PG_SLO_ENGINE_MINIMISE=1` shrinks a failing case to a
//! small set of events (each try on a fresh database; slow, for investigation).

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use slo_core::calendar::Calendar;
use slo_core::engine::{self, EngineEvent, PerformanceRow, SloDef, SloJobDef};
use slo_core::schedule::{DayUnit, Offset, SloSchedule, Window};
use slo_core::Status;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write as _};
use std::sync::Arc;
use tests::TestDb;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

const DEFAULT_CASES: u64 = 12;
const BASE_SEED: u64 = 20_261_101;

/// Stretches of business dates around a daylight-saving change (first date, what changes).
const ERAS: [(&str, &str); 4] = [
    (
        "2026-10-30",
        "New York falls back on Sunday 1 November 2026",
    ),
    (
        "2027-03-12",
        "New York springs forward on Sunday 14 March 2027",
    ),
    ("2026-10-23", "London falls back on Sunday 25 October 2026"),
    (
        "2027-03-26",
        "London springs forward on Sunday 28 March 2027",
    ),
];
const TIME_ZONES: [&str; 3] = ["America/New_York", "Europe/London", "UTC"];
const JOB_POOL: [&str; 6] = [
    "od-calc",
    "od-post",
    "od-fees",
    "od-report",
    "od-extract",
    "od-notify",
];
/// Intraday windows: (start, end, period in minutes). Three of them cover the small hours, where
/// the clocks change; two have periods that do not divide them (the last period starts before
/// the window's end: 08:15 and 02:40).
const WINDOWS: [(&str, &str, i64); 7] = [
    ("06:00", "09:00", 30),
    ("06:00", "09:00", 60),
    ("00:00", "03:00", 30),
    ("00:00", "03:00", 60),
    ("01:00", "02:30", 30),
    ("06:00", "08:45", 45),
    ("00:00", "02:50", 40),
];
/// Periods senders name: on period starts, between them, and outside every window.
const GIVEN_PERIODS: [&str; 9] = [
    "00:30", "01:30", "02:00", "02:45", "06:00", "06:30", "07:15", "08:59", "10:00",
];

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}
fn time(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

// ---- Random definitions --------------------------------------------------------------------

#[derive(Debug, Clone)]
struct CalendarSpec {
    id: String,
    weekdays: Vec<i32>,
    holiday_set: Option<String>,
    runs_on_holidays: bool,
    exceptions: BTreeMap<NaiveDate, bool>,
}

#[derive(Debug, Clone)]
struct JobSpec {
    job_id: String,
    start: Offset,
    end: Offset,
    unit: DayUnit,
}

#[derive(Debug, Clone)]
struct SloSpec {
    id: String,
    calendar: usize,
    time_zone: &'static str,
    /// (window_start, window_end, period in minutes); `None` for a daily SLO.
    window: Option<(NaiveTime, NaiveTime, i64)>,
    active: bool,
    jobs: Vec<JobSpec>,
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    era: &'static str,
    dates: Vec<NaiveDate>,
    holidays: BTreeMap<String, BTreeSet<NaiveDate>>,
    calendars: Vec<CalendarSpec>,
    jobs: Vec<String>,
    slos: Vec<SloSpec>,
}

fn add(o: Offset, days: i64, minutes: i64) -> Offset {
    Offset {
        days: o.days + days,
        micros: o.micros + minutes * 60_000_000,
    }
}

/// An offset as PostgreSQL interval input: `'1 days 03:00:00'`, `'0 days 27:00:00'`,
/// `'0 days -02:00:00'`.
fn interval_text(o: Offset) -> String {
    let sign = if o.micros < 0 { "-" } else { "" };
    let us = o.micros.unsigned_abs();
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    format!(
        "{} days {sign}{:02}:{:02}:{:02}.{frac:06}",
        o.days,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl Scenario {
    fn random(seed: u64, rng: &mut StdRng) -> Scenario {
        let (first, era) = *ERAS.choose(rng).unwrap();
        let first = date(first);
        let dates: Vec<NaiveDate> = (0..5).map(|i| first + Days::new(i)).collect();
        // Holidays and exceptions fall on the dates used and the week after (for run days).
        let nearby: Vec<NaiveDate> = (0..10)
            .map(|i| first - Days::new(2) + Days::new(i))
            .collect();

        let mut holidays = BTreeMap::new();
        for set in ["hol-a", "hol-b"] {
            let n = rng.gen_range(0..=2);
            let dates: BTreeSet<NaiveDate> = nearby.choose_multiple(rng, n).copied().collect();
            holidays.insert(set.to_owned(), dates);
        }

        let calendars: Vec<CalendarSpec> = (0..rng.gen_range(1..=2))
            .map(|i| {
                let mut weekdays: Vec<i32> = (1..=7).filter(|_| rng.gen_bool(0.75)).collect();
                if weekdays.is_empty() {
                    weekdays.push(rng.gen_range(1..=7));
                }
                let holiday_set = if rng.gen_bool(0.7) {
                    Some(["hol-a", "hol-b"].choose(rng).unwrap().to_string())
                } else {
                    None
                };
                let exceptions = (0..rng.gen_range(0..=2))
                    .map(|_| (*nearby.choose(rng).unwrap(), rng.gen_bool(0.5)))
                    .collect();
                CalendarSpec {
                    id: format!("cal-{}", i + 1),
                    weekdays,
                    holiday_set,
                    runs_on_holidays: rng.gen_bool(0.25),
                    exceptions,
                }
            })
            .collect();

        let n_jobs = rng.gen_range(3..=6);
        let jobs: Vec<String> = JOB_POOL[..n_jobs].iter().map(|s| s.to_string()).collect();

        let slos = (0..rng.gen_range(2..=5))
            .map(|i| {
                let window = if rng.gen_bool(0.45) {
                    let (s, e, p) = *WINDOWS.choose(rng).unwrap();
                    Some((time(s), time(e), p))
                } else {
                    None
                };
                let k = rng.gen_range(1..=3.min(jobs.len()));
                let slo_jobs = jobs
                    .choose_multiple(rng, k)
                    .map(|job_id| {
                        let (start, end, unit) = if window.is_some() {
                            let start = Offset::hours_minutes(
                                i64::from(rng.gen_bool(0.1)),
                                0,
                                *[0, 5, 10].choose(rng).unwrap(),
                            );
                            let end = add(start, 0, *[10, 20, 45].choose(rng).unwrap());
                            let unit = if rng.gen_bool(0.2) {
                                DayUnit::Run
                            } else {
                                DayUnit::Calendar
                            };
                            (start, end, unit)
                        } else {
                            let (d, h, m) = *[
                                (0, 22, 0),
                                (1, 0, 30),
                                (1, 1, 30),
                                (1, 2, 30),
                                (1, 3, 0),
                                (0, 27, 0),
                                (0, 0, 10),
                                (2, 5, 0),
                            ]
                            .choose(rng)
                            .unwrap();
                            let start = Offset::hours_minutes(d, h, m);
                            let (dd, dm) =
                                *[(0, 0), (0, 30), (0, 120), (1, 0)].choose(rng).unwrap();
                            let unit = if rng.gen_bool(0.35) {
                                DayUnit::Run
                            } else {
                                DayUnit::Calendar
                            };
                            (start, add(start, dd, dm), unit)
                        };
                        JobSpec {
                            job_id: job_id.clone(),
                            start,
                            end,
                            unit,
                        }
                    })
                    .collect();
                SloSpec {
                    id: format!("slo-{}", i + 1),
                    calendar: rng.gen_range(0..calendars.len()),
                    time_zone: TIME_ZONES.choose(rng).unwrap(),
                    window,
                    active: rng.gen_bool(0.8),
                    jobs: slo_jobs,
                }
            })
            .collect();

        Scenario {
            seed,
            era,
            dates,
            holidays,
            calendars,
            jobs,
            slos,
        }
    }

    fn calendar(&self, spec: &CalendarSpec) -> Calendar {
        let holidays = spec
            .holiday_set
            .as_ref()
            .map(|set| self.holidays[set].iter().copied().collect::<Vec<_>>())
            .unwrap_or_default();
        Calendar::new(
            &spec.weekdays,
            spec.runs_on_holidays,
            holidays,
            spec.exceptions.iter().map(|(d, r)| (*d, *r)),
        )
        .unwrap()
    }

    /// The same definitions, for the reference engine.
    fn slo_defs(&self) -> Vec<SloDef<'static>> {
        self.slos
            .iter()
            .map(|s| SloDef {
                slo_id: s.id.clone(),
                schedule: SloSchedule {
                    time_zone: s.time_zone.parse::<Tz>().unwrap(),
                    window: s
                        .window
                        .map(|(a, b, p)| Window::new(a, b, Duration::minutes(p)).unwrap()),
                    calendar: Cow::Owned(self.calendar(&self.calendars[s.calendar])),
                },
                active: s.active,
                jobs: s
                    .jobs
                    .iter()
                    .map(|j| SloJobDef {
                        job_id: j.job_id.clone(),
                        expected_start: j.start,
                        expected_end: j.end,
                        day_unit: j.unit,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Writes the definitions into the database.
    async fn install(&self, client: &Client) {
        for (set, dates) in &self.holidays {
            for d in dates {
                client
                    .execute(
                        "INSERT INTO slo.holiday (holiday_set, holiday_date, name) VALUES ($1, $2, 'holiday')",
                        &[set, d],
                    )
                    .await
                    .unwrap();
            }
        }
        for c in &self.calendars {
            client
                .execute(
                    "INSERT INTO slo.calendar (calendar_id, name, run_weekdays, holiday_set, runs_on_holidays)
                     VALUES ($1, $1, $2, $3, $4)",
                    &[&c.id, &c.weekdays, &c.holiday_set, &c.runs_on_holidays],
                )
                .await
                .unwrap();
            for (d, runs) in &c.exceptions {
                client
                    .execute(
                        "INSERT INTO slo.calendar_exception (calendar_id, exception_date, runs) VALUES ($1, $2, $3)",
                        &[&c.id, d, runs],
                    )
                    .await
                    .unwrap();
            }
        }
        for j in &self.jobs {
            client
                .execute(
                    "INSERT INTO slo.job (job_id, app_id, name) VALUES ($1, 'overdrafts', $1)
                     ON CONFLICT (job_id) DO NOTHING",
                    &[j],
                )
                .await
                .unwrap();
        }
        for s in &self.slos {
            let period = s.window.map(|(_, _, p)| format!("{p} minutes"));
            let (ws, we) = (s.window.map(|w| w.0), s.window.map(|w| w.1));
            client
                .execute(
                    "INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end, active)
                     VALUES ($1, $1, 'overdrafts', $2, $3, ($4::text)::interval, $5, $6, $7)",
                    &[&s.id, &self.calendars[s.calendar].id, &s.time_zone, &period, &ws, &we, &s.active],
                )
                .await
                .unwrap();
            for j in &s.jobs {
                let unit = match j.unit {
                    DayUnit::Calendar => "calendar",
                    DayUnit::Run => "run",
                };
                client
                    .execute(
                        "INSERT INTO slo.slo_job (slo_id, job_id, expected_start, expected_end, day_unit)
                         VALUES ($1, $2, ($3::text)::interval, ($4::text)::interval, $5)",
                        &[&s.id, &j.job_id, &interval_text(j.start), &interval_text(j.end), &unit],
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} ({}), business dates {} .. {}",
            self.seed,
            self.era,
            self.dates[0],
            self.dates[self.dates.len() - 1]
        )?;
        for (set, dates) in &self.holidays {
            let list: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
            writeln!(f, "  holiday set {set}: [{}]", list.join(", "))?;
        }
        for c in &self.calendars {
            let exc: Vec<String> = c
                .exceptions
                .iter()
                .map(|(d, r)| format!("{d} {}", if *r { "runs" } else { "off" }))
                .collect();
            writeln!(
                f,
                "  calendar {}: weekdays {:?}, holiday_set {:?}, runs_on_holidays {}, exceptions [{}]",
                c.id,
                c.weekdays,
                c.holiday_set,
                c.runs_on_holidays,
                exc.join(", ")
            )?;
        }
        for s in &self.slos {
            let shape = match s.window {
                None => "daily".to_owned(),
                Some((a, b, p)) => format!(
                    "intraday {}..{} every {p} min",
                    a.format("%H:%M"),
                    b.format("%H:%M")
                ),
            };
            writeln!(
                f,
                "  slo {}: calendar {}, {}, {shape}, {}",
                s.id,
                self.calendars[s.calendar].id,
                s.time_zone,
                if s.active { "active" } else { "INACTIVE" }
            )?;
            for j in &s.jobs {
                writeln!(
                    f,
                    "    job {}: expected_start '{}', expected_end '{}', day_unit {:?}",
                    j.job_id,
                    interval_text(j.start),
                    interval_text(j.end),
                    j.unit
                )?;
            }
        }
        Ok(())
    }
}

// ---- Random events -------------------------------------------------------------------------

type EventKey = (String, NaiveDate, String, Status, DateTime<Utc>);

fn key(e: &EngineEvent) -> EventKey {
    (
        e.job_id.clone(),
        e.business_date,
        e.run_id.clone(),
        e.status,
        e.status_time,
    )
}

/// Runs of the scenario's jobs: starts, successes, failures and restarts under new run ids,
/// some starts missing or sent twice, some successes timed before their starts, some events
/// naming their period. One event per key (a repeat delivery is an exact copy, made later).
fn random_events(sc: &Scenario, rng: &mut StdRng) -> Vec<EngineEvent> {
    let target = rng.gen_range(30..=120);
    let mut events: Vec<EngineEvent> = Vec::new();
    let mut seen: HashSet<EventKey> = HashSet::new();
    let mut run_no = 0;
    let mut push = |e: EngineEvent, events: &mut Vec<EngineEvent>| {
        if seen.insert(key(&e)) {
            events.push(e);
        }
    };
    while events.len() < target {
        let job = sc.jobs.choose(rng).unwrap().clone();
        let bd = *sc.dates.choose(rng).unwrap();
        let midnight = bd.and_time(NaiveTime::MIN).and_utc();
        let minutes = if rng.gen_bool(0.5) {
            rng.gen_range(180..900)
        } else {
            rng.gen_range(-180..2160)
        };
        let mut at =
            midnight + Duration::minutes(minutes) + Duration::seconds(rng.gen_range(0..60));
        if rng.gen_bool(0.1) {
            at += Duration::microseconds(rng.gen_range(1..1_000_000));
        }
        let run_period = rng
            .gen_bool(0.2)
            .then(|| time(GIVEN_PERIODS.choose(rng).unwrap()));
        for _attempt in 0..3 {
            run_no += 1;
            // Mostly unique run ids; some small ones, reused across jobs, dates and runs.
            let run_id = if rng.gen_bool(0.2) {
                format!("r{}", rng.gen_range(0..3))
            } else {
                format!("run-{run_no}")
            };
            let event = |status: Status, at: DateTime<Utc>, rng: &mut StdRng| {
                let period_start = match run_period {
                    Some(p) if rng.gen_bool(0.8) => Some(p),
                    _ if rng.gen_bool(0.05) => Some(time(GIVEN_PERIODS.choose(rng).unwrap())),
                    _ => None,
                };
                EngineEvent {
                    job_id: job.clone(),
                    status,
                    status_time: at,
                    business_date: bd,
                    run_id: run_id.clone(),
                    period_start,
                }
            };
            if rng.gen_bool(0.9) {
                let e = event(Status::Start, at, rng);
                push(e, &mut events);
                if rng.gen_bool(0.1) {
                    let again = at + Duration::minutes(rng.gen_range(1..6));
                    let e = event(Status::Start, again, rng);
                    push(e, &mut events);
                }
            }
            let took = if rng.gen_bool(0.05) {
                -Duration::minutes(rng.gen_range(1..10)) // clocks disagree: done "before" start
            } else {
                Duration::minutes(rng.gen_range(1..150))
            };
            let done = at + took;
            let outcome = rng.gen_range(0..10);
            match outcome {
                0..=5 => {
                    let e = event(Status::Succeed, done, rng);
                    push(e, &mut events);
                    if rng.gen_bool(0.1) {
                        let e = event(Status::Succeed, done + Duration::minutes(7), rng);
                        push(e, &mut events);
                    }
                }
                6..=8 => {
                    let e = event(Status::Fail, done, rng);
                    push(e, &mut events);
                    if rng.gen_bool(0.2) {
                        let e = event(Status::Fail, done + Duration::seconds(1), rng);
                        push(e, &mut events);
                    }
                }
                _ => {}
            }
            if outcome <= 5 || outcome == 9 || rng.gen_bool(0.3) {
                break; // no restart (a failed run is sometimes left alone too)
            }
            at = done.max(at) + Duration::minutes(rng.gen_range(1..30));
        }
    }
    events
}

fn show_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn show_events(events: &[EngineEvent]) -> String {
    let mut out = String::new();
    for e in events {
        let _ = writeln!(
            out,
            "    {:<10} {:<7} {} bd {} run {:<8} period {}",
            e.job_id,
            e.status.as_str(),
            show_time(e.status_time),
            e.business_date,
            e.run_id,
            e.period_start
                .map(|p| p.format("%H:%M").to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    out
}

/// Every event once, some twice or three times, shuffled.
fn deliveries(events: &[EngineEvent], rng: &mut StdRng) -> Vec<EngineEvent> {
    let mut out = events.to_vec();
    for e in events {
        if rng.gen_bool(0.15) {
            out.push(e.clone());
            if rng.gen_bool(0.2) {
                out.push(e.clone());
            }
        }
    }
    out.shuffle(rng);
    out
}

// ---- Writing events --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `INSERT ... SELECT ... FROM unnest($1::text[], ...)`.
    Unnest,
    /// `INSERT ... SELECT ... FROM (VALUES (...), (...))`.
    Values,
}

fn db_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!(
            "{} {}: {} (detail {:?}, where {:?})",
            d.severity(),
            d.code().code(),
            d.message(),
            d.detail(),
            d.where_()
        ),
        None => e.to_string(),
    }
}

/// One INSERT statement of `batch`, autocommitted; a repeat is a no-op. Like the API's
/// statement (api/src/store.rs), rows go in sorted by the event key: two concurrent batches that
/// share keys then take their unique-index locks in the same order. (Unsorted, such batches
/// deadlock in PostgreSQL itself, `40P01` while inserting the index tuple: a writer's concern,
/// not the engine's.)
async fn insert(client: &Client, batch: &[EngineEvent], form: Form) -> Result<u64, String> {
    let result = match form {
        Form::Unnest => {
            let job: Vec<&str> = batch.iter().map(|e| e.job_id.as_str()).collect();
            let status: Vec<&str> = batch.iter().map(|e| e.status.as_str()).collect();
            let at: Vec<DateTime<Utc>> = batch.iter().map(|e| e.status_time).collect();
            let bd: Vec<NaiveDate> = batch.iter().map(|e| e.business_date).collect();
            let run: Vec<&str> = batch.iter().map(|e| e.run_id.as_str()).collect();
            let period: Vec<Option<NaiveTime>> = batch.iter().map(|e| e.period_start).collect();
            client
                .execute(
                    "INSERT INTO slo.job_status
                       (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
                     SELECT 'overdrafts', u.job_id, u.status, u.status_time, u.business_date, u.run_id, 'host-1', u.period_start
                     FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::date[], $5::text[], $6::time[])
                          AS u(job_id, status, status_time, business_date, run_id, period_start)
                     ORDER BY u.job_id, u.business_date, u.run_id, u.status, u.status_time
                     ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING",
                    &[&job, &status, &at, &bd, &run, &period],
                )
                .await
        }
        Form::Values => {
            let mut sql = String::from(
                "INSERT INTO slo.job_status
                   (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
                 SELECT 'overdrafts', v.job_id, v.status, v.status_time, v.business_date, v.run_id, 'host-1', v.period_start
                 FROM (VALUES ",
            );
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
            for (i, e) in batch.iter().enumerate() {
                let b = i * 6;
                let _ = write!(
                    sql,
                    "{}(${}::text, ${}::text, ${}::timestamptz, ${}::date, ${}::text, ${}::time)",
                    if i == 0 { "" } else { ", " },
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                );
                params.push(Box::new(e.job_id.clone()));
                params.push(Box::new(e.status.as_str().to_owned()));
                params.push(Box::new(e.status_time));
                params.push(Box::new(e.business_date));
                params.push(Box::new(e.run_id.clone()));
                params.push(Box::new(e.period_start));
            }
            sql.push_str(
                ") AS v(job_id, status, status_time, business_date, run_id, period_start)
                 ORDER BY v.job_id, v.business_date, v.run_id, v.status, v.status_time
                 ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING",
            );
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
            client.execute(&sql, &refs).await
        }
    };
    result.map_err(|e| format!("{} event(s) as {form:?}: {}", batch.len(), db_error(&e)))
}

/// Splits `list` into batches of 1 to `largest`, each with a random statement form.
fn batches(
    list: Vec<EngineEvent>,
    rng: &mut StdRng,
    largest: usize,
) -> Vec<(Vec<EngineEvent>, Form)> {
    let mut out = Vec::new();
    let mut rest = list.as_slice();
    while !rest.is_empty() {
        let n = rng.gen_range(1..=largest).min(rest.len());
        let form = if rng.gen_bool(0.5) {
            Form::Unnest
        } else {
            Form::Values
        };
        out.push((rest[..n].to_vec(), form));
        rest = &rest[n..];
    }
    out
}

/// Delivers `list` over two connections at once, each in its own task, in random batches.
async fn deliver_concurrently(
    db: &TestDb,
    list: Vec<EngineEvent>,
    rng: &mut StdRng,
) -> Result<(), String> {
    deliver_over(db, list, rng, 2, 20).await
}

/// Delivers `list` over `connections` connections at once, each in its own task, in random
/// batches of 1 to `largest` events.
async fn deliver_over(
    db: &TestDb,
    list: Vec<EngineEvent>,
    rng: &mut StdRng,
    connections: usize,
    largest: usize,
) -> Result<(), String> {
    let mut parts: Vec<Vec<EngineEvent>> = vec![Vec::new(); connections];
    for e in list {
        parts[rng.gen_range(0..connections)].push(e);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(connections));
    let mut tasks = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let name = char::from(b'A' + i as u8);
        let plan = batches(part, rng, largest);
        let client = db.client().await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for (batch, form) in plan {
                insert(&client, &batch, form)
                    .await
                    .map_err(|e| format!("connection {name}: {e}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("task: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

// ---- Comparing -----------------------------------------------------------------------------

/// A performance row with instants as UTC microseconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    key: (String, NaiveDate, NaiveTime),
    expected_start: i64,
    expected_end: i64,
    actual_start: Option<i64>,
    actual_end: Option<i64>,
    failed_runs: i64,
}

impl From<&PerformanceRow> for Row {
    fn from(r: &PerformanceRow) -> Row {
        Row {
            key: (r.slo_id.clone(), r.business_date, r.period_start),
            expected_start: r.expected_start.timestamp_micros(),
            expected_end: r.expected_end.timestamp_micros(),
            actual_start: r.actual_start.map(|t| t.timestamp_micros()),
            actual_end: r.actual_end.map(|t| t.timestamp_micros()),
            failed_runs: r.failed_runs,
        }
    }
}

fn show_us(us: i64) -> String {
    show_time(DateTime::from_timestamp_micros(us).unwrap())
}

fn show_opt(us: Option<i64>) -> String {
    us.map(show_us).unwrap_or_else(|| "NULL".into())
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: expected {} .. {}, actual {} .. {}, failed_runs {}",
            self.key.0,
            self.key.1,
            self.key.2.format("%H:%M"),
            show_us(self.expected_start),
            show_us(self.expected_end),
            show_opt(self.actual_start),
            show_opt(self.actual_end),
            self.failed_runs
        )
    }
}

async fn db_rows(db: &TestDb) -> Vec<Row> {
    let rows = db
        .client()
        .await
        .query(
            "SELECT slo_id, business_date, period_start, expected_start, expected_end,
                    actual_start, actual_end, failed_runs::bigint
             FROM slo.slo_performance ORDER BY slo_id, business_date, period_start",
            &[],
        )
        .await
        .unwrap();
    let mut out: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            key: (r.get(0), r.get(1), r.get(2)),
            expected_start: r.get::<_, DateTime<Utc>>(3).timestamp_micros(),
            expected_end: r.get::<_, DateTime<Utc>>(4).timestamp_micros(),
            actual_start: r
                .get::<_, Option<DateTime<Utc>>>(5)
                .map(|t| t.timestamp_micros()),
            actual_end: r
                .get::<_, Option<DateTime<Utc>>>(6)
                .map(|t| t.timestamp_micros()),
            failed_runs: r.get(7),
        })
        .collect();
    // The key order, independent of the database's collation.
    out.sort();
    out
}

fn reference_rows(sc: &Scenario, events: &[EngineEvent]) -> Vec<Row> {
    let mut rows: Vec<Row> = engine::performance(&sc.slo_defs(), events)
        .iter()
        .map(Row::from)
        .collect();
    rows.sort();
    rows
}

/// The differences, keyed by instance; empty when equal.
fn diff(db: &[Row], reference: &[Row]) -> String {
    let db_map: BTreeMap<_, _> = db.iter().map(|r| (&r.key, r)).collect();
    let ref_map: BTreeMap<_, _> = reference.iter().map(|r| (&r.key, r)).collect();
    let keys: BTreeSet<_> = db_map.keys().chain(ref_map.keys()).copied().collect();
    let mut out = String::new();
    for k in keys {
        match (db_map.get(k), ref_map.get(k)) {
            (Some(d), None) => {
                let _ = writeln!(out, "  only in the database:  {d}");
            }
            (None, Some(r)) => {
                let _ = writeln!(out, "  only in the reference: {r}");
            }
            (Some(d), Some(r)) if d != r => {
                let _ = writeln!(out, "  differs:\n    database:  {d}\n    reference: {r}");
            }
            _ => {}
        }
    }
    out
}

// ---- Minimising a failing case --------------------------------------------------------------

/// How events go in when reproducing a failure: all in one statement, or one row a statement.
#[derive(Debug, Clone, Copy)]
enum Replay {
    OneStatement,
    OneRowEach,
}

/// Delivers `events` (in order) into a fresh database with the scenario; its rows.
async fn replay(sc: &Scenario, events: &[EngineEvent], how: Replay) -> Result<Vec<Row>, String> {
    let db = TestDb::new().await;
    let client = db.client().await;
    sc.install(&client).await;
    match how {
        Replay::OneStatement => {
            if !events.is_empty() {
                insert(&client, events, Form::Unnest).await?;
            }
        }
        Replay::OneRowEach => {
            for e in events {
                insert(&client, std::slice::from_ref(e), Form::Values).await?;
            }
        }
    }
    Ok(db_rows(&db).await)
}

async fn fails(sc: &Scenario, events: &[EngineEvent], how: Replay) -> bool {
    match replay(sc, events, how).await {
        Ok(rows) => rows != reference_rows(sc, events),
        Err(_) => true,
    }
}

/// Removes chunks of events while the mismatch persists (delta debugging, greedy).
async fn minimise(sc: &Scenario, events: &[EngineEvent]) -> String {
    let mut how = Replay::OneStatement;
    if !fails(sc, events, how).await {
        how = Replay::OneRowEach;
        if !fails(sc, events, how).await {
            return "  (does not reproduce with one statement nor with one-row statements: \
                    the mismatch depends on batching or concurrency)\n"
                .into();
        }
    }
    let mut current = events.to_vec();
    let mut chunk = current.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        let mut removed_any = false;
        while i < current.len() {
            let mut candidate = current.clone();
            candidate.drain(i..(i + chunk).min(current.len()));
            if fails(sc, &candidate, how).await {
                current = candidate;
                removed_any = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 && !removed_any {
            break;
        }
        if !removed_any {
            chunk = (chunk / 2).max(1);
        }
    }
    let rows = replay(sc, &current, how).await;
    let reference = reference_rows(sc, &current);
    let mut out = format!(
        "  minimal case ({} events, inserted {how:?}, in this order):\n{}",
        current.len(),
        show_events(&current)
    );
    match rows {
        Ok(rows) => {
            let _ = write!(out, "  its diff:\n{}", diff(&rows, &reference));
        }
        Err(e) => {
            let _ = writeln!(out, "  its insert fails: {e}");
        }
    }
    out
}

// ---- The tests ------------------------------------------------------------------------------

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("PG_SLO_ENGINE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let cases = std::env::var("PG_SLO_ENGINE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    (0..cases).map(|i| BASE_SEED + i).collect()
}

fn minimise_wanted() -> bool {
    std::env::var("PG_SLO_ENGINE_MINIMISE").is_ok_and(|v| v == "1")
}

/// One random case: `None` when the database equals the reference, else the report.
async fn run_case(seed: u64) -> Option<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let sc = Scenario::random(seed, &mut rng);
    let events = random_events(&sc, &mut rng);
    let delivered = deliveries(&events, &mut rng);
    let db = TestDb::new().await;
    sc.install(&db.client().await).await;
    let delivery = deliver_concurrently(&db, delivered.clone(), &mut rng).await;
    let header = || {
        format!(
            "==== seed {seed}: rerun with PG_SLO_ENGINE_SEED={seed}\n{sc}  events ({} distinct, {} delivered):\n{}",
            events.len(),
            delivered.len(),
            show_events(&events)
        )
    };
    if let Err(e) = delivery {
        return Some(format!("{}  delivery failed: {e}\n", header()));
    }
    let stored = db.count("SELECT count(*) FROM slo.job_status").await;
    let got = db_rows(&db).await;
    let want = reference_rows(&sc, &events);
    let mut problems = String::new();
    if stored != events.len() as i64 {
        let _ = writeln!(
            problems,
            "  slo.job_status holds {stored} rows for {} distinct events",
            events.len()
        );
    }
    if got != want {
        let _ = write!(
            problems,
            "  slo.slo_performance ({} rows) differs from the reference ({} rows):\n{}",
            got.len(),
            want.len(),
            diff(&got, &want)
        );
        if minimise_wanted() {
            problems.push_str(&minimise(&sc, &events).await);
        }
    }
    (!problems.is_empty()).then(|| format!("{}{problems}", header()))
}

/// What the compared rows covered, so that a generator that drifts into trivial cases fails.
#[derive(Debug, Default)]
struct Coverage {
    rows: usize,
    intraday: usize,
    complete: usize,
    not_started: usize,
    with_failures: usize,
}

impl Coverage {
    fn add(&mut self, rows: &[Row]) {
        for r in rows {
            self.rows += 1;
            self.intraday += usize::from(r.key.2 != NaiveTime::MIN);
            self.complete += usize::from(r.actual_end.is_some());
            self.not_started += usize::from(r.actual_start.is_none());
            self.with_failures += usize::from(r.failed_runs > 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_matches_the_reference_for_random_definitions_and_event_orders() {
    let mut failures = Vec::new();
    let mut coverage = Coverage::default();
    let seeds = seeds();
    for &seed in &seeds {
        match run_case(seed).await {
            None => {
                let mut rng = StdRng::seed_from_u64(seed);
                let sc = Scenario::random(seed, &mut rng);
                let events = random_events(&sc, &mut rng);
                let rows = reference_rows(&sc, &events);
                eprintln!(
                    "seed {seed}: {} events, {} rows equal ({})",
                    events.len(),
                    rows.len(),
                    sc.era
                );
                coverage.add(&rows);
            }
            Some(report) => {
                eprintln!("{report}");
                failures.push(seed);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the database differs from the reference for seeds {failures:?} (reports above)"
    );
    eprintln!("compared: {coverage:?}");
    // The cases must exercise the engine, not compare empty tables.
    if seeds.len() >= 4 {
        assert!(
            coverage.rows >= 50
                && coverage.intraday >= 5
                && coverage.complete >= 5
                && coverage.not_started >= 1
                && coverage.with_failures >= 5,
            "the generated cases cover too little: {coverage:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_and_one_row_statements_give_the_same_rows() {
    for seed in [7, 8, 9] {
        let mut rng = StdRng::seed_from_u64(seed);
        let sc = Scenario::random(seed, &mut rng);
        let events = random_events(&sc, &mut rng);
        let delivered = deliveries(&events, &mut rng);
        let together = replay(&sc, &delivered, Replay::OneStatement).await;
        let one_by_one = replay(&sc, &delivered, Replay::OneRowEach).await;
        let (together, one_by_one) = match (together, one_by_one) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => panic!(
                "seed {seed}: an insert failed: one statement {:?}, one-row statements {:?}\n{sc}",
                a.err(),
                b.err()
            ),
        };
        assert!(
            !together.is_empty(),
            "seed {seed}: no rows at all\n{sc}{}",
            show_events(&events)
        );
        assert!(
            together == one_by_one,
            "seed {seed}: one statement and one-row statements differ (left: one statement, right: one row each)\n{sc}{}{}",
            show_events(&delivered),
            diff(&together, &one_by_one)
        );
        let want = reference_rows(&sc, &events);
        assert!(
            together == want,
            "seed {seed}: the database differs from the reference\n{sc}{}{}",
            show_events(&delivered),
            diff(&together, &want)
        );
    }
}

/// Many writers on few SLO days at once, with `slo.evaluate` adding the due instances beside
/// them: the rows that events call for equal the reference, and every other row is a due
/// instance without anything actual. One-row statements from six connections meet on the same
/// rows all the time (the engine's writers merge into each other's versions, and into the rows
/// the evaluator inserts).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_writers_and_the_evaluator_at_once_give_the_reference_rows() {
    // Six cases by default (PG_SLO_ENGINE_CASES or PG_SLO_ENGINE_SEED choose others).
    let many =
        std::env::var("PG_SLO_ENGINE_CASES").is_ok() || std::env::var("PG_SLO_ENGINE_SEED").is_ok();
    let seeds: Vec<u64> = seeds()
        .into_iter()
        .map(|s| s + 1_000)
        .take(if many { usize::MAX } else { 6 })
        .collect();
    for seed in seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let sc = Scenario::random(seed, &mut rng);
        let events = random_events(&sc, &mut rng);
        let delivered = deliveries(&events, &mut rng);
        let db = TestDb::new().await;
        sc.install(&db.client().await).await;
        // Every instance of the stretch is due a week after its last date.
        let as_of = sc.dates[sc.dates.len() - 1]
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            + Duration::days(7);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let evaluator = {
            let client = db.client().await;
            let done = done.clone();
            tokio::spawn(async move {
                let mut calls = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || calls == 0 {
                    client
                        .execute("SELECT slo.evaluate($1)", &[&as_of])
                        .await
                        .map_err(|e| format!("slo.evaluate: {}", db_error(&e)))?;
                    calls += 1;
                }
                Ok::<usize, String>(calls)
            })
        };
        let delivery = deliver_over(&db, delivered.clone(), &mut rng, 6, 3).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let calls = evaluator.await.expect("evaluator task");
        if let Err(e) = delivery.clone().and(calls.clone().map(|_| ())) {
            panic!("seed {seed}: {e}\n{sc}{}", show_events(&delivered));
        }
        let want = reference_rows(&sc, &events);
        let keys: HashSet<_> = want.iter().map(|r| r.key.clone()).collect();
        let got = db_rows(&db).await;
        let (from_events, due): (Vec<Row>, Vec<Row>) =
            got.into_iter().partition(|r| keys.contains(&r.key));
        assert!(
            from_events == want,
            "seed {seed}: the rows events call for differ from the reference\n{sc}{}{}",
            show_events(&delivered),
            diff(&from_events, &want)
        );
        // Every index of the table holds every row version it should (amcheck raises if not).
        let client = db.client().await;
        client
            .batch_execute(
                "CREATE EXTENSION IF NOT EXISTS amcheck;
                 SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
                 WHERE i.indrelid = 'slo.slo_performance'::regclass;",
            )
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: amcheck: {}", db_error(&e)));
        let actual: Vec<&Row> = due
            .iter()
            .filter(|r| r.actual_start.is_some() || r.actual_end.is_some() || r.failed_runs > 0)
            .collect();
        assert!(
            actual.is_empty(),
            "seed {seed}: rows of instances without events show something actual: {actual:?}"
        );
        eprintln!(
            "seed {seed}: {} events over 6 connections, {} rows equal, {} due instances added, {} evaluations",
            events.len(),
            want.len(),
            due.len(),
            calls.unwrap_or(0)
        );
    }
}

/// A REPEATABLE READ writer whose snapshot is older than the deletion of an SLO: its insert fails
/// with a serialization failure (as PostgreSQL's own foreign-key check fails it), instead of
/// writing back a row of the SLO the deletion took away. Retried, the event is stored and no row
/// comes back.
#[tokio::test]
async fn a_repeatable_read_writer_older_than_an_slo_deletion_writes_no_row_of_it() {
    let db = TestDb::new().await;
    db.define_overdraft_slo("od", "UTC", "1 day 00:30", "1 day 03:00", "0")
        .await;
    let insert = "INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
                  VALUES ('overdrafts', 'od-calc', 'start', '2026-04-21 00:40Z', '2026-04-20', 'r1', 'h1')
                  ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING";
    let writer = db.client().await;
    let admin = db.client().await;
    // The writer's backend has the definitions cached, and its snapshot is taken before the
    // deletion commits.
    writer
        .batch_execute(
            "INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
               VALUES ('overdrafts', 'od-calc', 'start', '2026-04-20 00:40Z', '2026-04-19', 'r1', 'h1')",
        )
        .await
        .unwrap();
    writer
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM slo.slo;")
        .await
        .unwrap();
    admin
        .batch_execute("DELETE FROM slo.slo WHERE slo_id = 'od'")
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM slo.slo_performance").await,
        0
    );
    let err = writer.batch_execute(insert).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE),
        "{}",
        db_error(&err)
    );
    writer.batch_execute("ROLLBACK").await.unwrap();

    writer.batch_execute(insert).await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM slo.job_status").await,
        2,
        "both events are stored"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM slo.slo_performance").await,
        0,
        "no row of the deleted SLO"
    );
}
