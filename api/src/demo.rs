//! `pg-slo demo`: a simulated job scheduler. It reads a definitions file, works out when each
//! job runs for each business date from its SLOs' calendars and expected times (slo_core, the
//! same rules as the database), and posts the job-status events a scheduler would send through
//! the HTTP API, in time order, in batches.
//!
//! The story of the demo day (by default the latest business date whose SLOs are all due):
//! one job fails and is restarted under a new run id (`--fail-job`), one runs late
//! (`--late-job`), one never starts (`--skip-job`), and one intraday period ends late; every
//! other run ends in time. `--history-days N` first replays N days of generated history: runs
//! with some jitter, a few failures and restarts, and the late job slowing down day by day, so
//! trend views have something to show. Everything is deterministic for a given `--seed`, and
//! run ids are stable, so running the demo again only posts duplicates (no-ops).
//!
//! Touches the HTTP API (POST /v1/job-status, with `Authorization: Bearer` when a token is
//! given), the definitions file, and, when a database URL is given, `slo.slo_performance_report`
//! (read only) for the closing report.

use crate::report::{self, ReportArgs};
use anyhow::{bail, Context};
use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, SubsecRound, Utc};
use clap::Args;
use serde_json::{json, Value};
use slo_core::calendar::Calendar;
use slo_core::definitions::{Definitions, SloDef};
use slo_core::schedule::{self, DayUnit, Offset, SloSchedule, Window};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use tracing::instrument;

/// Settings of `pg-slo demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The pg-slo API to post to.
    #[arg(long, env = "PG_SLO_API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,

    /// Bearer token sent as `Authorization: Bearer <token>` (when the API requires one).
    #[arg(long, env = "PG_SLO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// The definitions file whose jobs are simulated (the same file `apply` loaded).
    #[arg(long, default_value = "examples/foxfire.toml")]
    pub definitions: PathBuf,

    /// The business date of the demo day [default: the latest date whose SLOs are all due].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub business_date: Option<NaiveDate>,

    /// Replay this many days of generated history before the demo day (60 gives trend views two months).
    #[arg(long, default_value_t = 0, value_name = "DAYS")]
    pub history_days: u32,

    /// The job that fails on the demo day and is restarted under a new run id.
    #[arg(long, default_value = "od-calc")]
    pub fail_job: String,

    /// The job that runs late on the demo day (and slows down over the history).
    #[arg(long, default_value = "dss-load-od")]
    pub late_job: String,

    /// The job that never starts on the demo day.
    #[arg(long, default_value = "od-activity-report")]
    pub skip_job: String,

    /// Seed of the generated jitter.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Events per request (at most 1000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch_size: u16,

    /// When set, print the demo day's report from this database at the end.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

/// One event to post.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub app_id: String,
    pub job_id: String,
    pub status: &'static str,
    pub status_time: DateTime<Utc>,
    pub business_date: NaiveDate,
    pub run_id: String,
    pub host_id: String,
    pub period_start: Option<NaiveTime>,
}

impl SimEvent {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "app_id": self.app_id,
            "job_id": self.job_id,
            "status": self.status,
            "status_time": self.status_time.to_rfc3339(),
            "business_date": self.business_date.to_string(),
            "run_id": self.run_id,
            "host_id": self.host_id,
        });
        if let Some(p) = self.period_start {
            v["period_start"] = json!(p.format("%H:%M:%S").to_string());
        }
        v
    }
}

/// What the demo posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOutcome {
    pub business_date: NaiveDate,
    pub events: usize,
    pub accepted: u64,
    pub duplicates: u64,
    pub requests: usize,
}

/// The jobs' schedule: calendars, each SLO's schedule, and each job's SLOs.
pub struct Simulator<'d> {
    defs: &'d Definitions,
    schedules: BTreeMap<&'d str, SloSchedule<'static>>,
    seed: u64,
    /// The job that slows down over the history.
    slowing: Option<String>,
}

/// When a job should run for one instance: its expected window, and the period for intraday jobs.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: Option<NaiveTime>,
}

/// How a run goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    /// Ends at this fraction of the expected window after its start.
    Normal { fraction: f64 },
    /// Fails, then a restart ends at this fraction.
    FailThenRestart { fraction: f64 },
    /// Ends this many minutes after the expected end.
    Late { minutes: i64 },
    /// Never starts.
    Skipped,
}

impl<'d> Simulator<'d> {
    pub fn new(defs: &'d Definitions, seed: u64, slowing: Option<String>) -> anyhow::Result<Self> {
        let mut calendars = HashMap::new();
        for (id, c) in &defs.calendars {
            let holidays = c
                .holiday_set
                .as_ref()
                .and_then(|h| defs.holiday_sets.get(h))
                .map(|h| h.holidays().into_keys().collect::<Vec<_>>())
                .unwrap_or_default();
            let cal = Calendar::new(
                &c.run_weekdays,
                c.runs_on_holidays,
                holidays,
                c.exceptions.iter().map(|(d, r)| (*d, *r)),
            )
            .with_context(|| format!("calendar {id:?}"))?;
            calendars.insert(id.as_str(), cal);
        }
        let mut schedules = BTreeMap::new();
        for (id, s) in defs.slos.iter().filter(|(_, s)| s.active) {
            let tz = schedule::parse_time_zone(&s.time_zone)
                .map_err(|p| anyhow::anyhow!("slo {id:?}: {} {}", p.field, p.message))?;
            let window = match &s.intraday {
                None => None,
                Some(i) => Some(
                    Window::new(i.window_start, i.window_end, duration(i.period))
                        .map_err(|p| anyhow::anyhow!("slo {id:?}: {} {}", p.field, p.message))?,
                ),
            };
            let calendar = calendars
                .get(s.calendar_id.as_str())
                .with_context(|| format!("slo {id:?}: unknown calendar {:?}", s.calendar_id))?
                .clone();
            schedules.insert(
                id.as_str(),
                SloSchedule {
                    time_zone: tz,
                    window,
                    calendar: Cow::Owned(calendar),
                },
            );
        }
        Ok(Simulator {
            defs,
            schedules,
            seed,
            slowing,
        })
    }

    /// The SLOs (active) that depend on `job`, with their schedules.
    fn slos_of(&self, job: &str) -> Vec<(&'d SloDef, &SloSchedule<'static>)> {
        self.defs
            .slos
            .iter()
            .filter(|(id, s)| {
                s.active && s.jobs.contains_key(job) && self.schedules.contains_key(id.as_str())
            })
            .map(|(id, s)| (s, &self.schedules[id.as_str()]))
            .collect()
    }

    /// Each run the job owes for `date`: one for a daily job, one per period for an intraday job.
    /// The window is the tightest of its SLOs' (earliest start, earliest end).
    fn slots(&self, job: &str, date: NaiveDate) -> Vec<Slot> {
        let slos = self.slos_of(job);
        let mut slots: BTreeMap<Option<NaiveTime>, Slot> = BTreeMap::new();
        for (slo, sched) in slos {
            if !sched.calendar.is_run_date(date) {
                continue;
            }
            let j = &slo.jobs[job];
            let (Ok(start), Ok(end)) = (offset(j.expected_start), offset(j.expected_end)) else {
                continue;
            };
            let unit = DayUnit::parse(&j.day_unit).unwrap_or(DayUnit::Calendar);
            let periods: Vec<Option<NaiveTime>> = match &sched.window {
                None => vec![None],
                Some(w) => w.period_starts().into_iter().map(Some).collect(),
            };
            for p in periods {
                let anchor = p.unwrap_or(NaiveTime::MIN);
                let (Some(s), Some(e)) = (
                    sched.expected(date, anchor, start, unit),
                    sched.expected(date, anchor, end, unit),
                ) else {
                    continue;
                };
                slots
                    .entry(p)
                    .and_modify(|x| {
                        x.start = x.start.min(s);
                        x.end = x.end.min(e);
                    })
                    .or_insert(Slot {
                        start: s,
                        end: e.max(s),
                        period: p,
                    });
            }
        }
        slots.into_values().collect()
    }

    /// The latest expected end of any run owed for `date`.
    fn latest_end(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        self.defs
            .jobs
            .keys()
            .flat_map(|j| self.slots(j, date))
            .map(|s| s.end)
            .max()
    }

    /// Whether `date` is a run date of every active SLO's calendar (so the demo day shows them all).
    fn runs_everywhere(&self, date: NaiveDate) -> bool {
        !self.schedules.is_empty()
            && self
                .schedules
                .values()
                .all(|s| s.calendar.is_run_date(date))
    }

    /// The latest business date before `now` that is a run date of every SLO and whose runs,
    /// with an hour to spare for the late one, are all over by `now`.
    pub fn default_business_date(&self, now: DateTime<Utc>) -> Option<NaiveDate> {
        let today = now.date_naive();
        (1..=21u64)
            .filter_map(|back| today.checked_sub_days(Days::new(back)))
            .find(|d| {
                self.runs_everywhere(*d)
                    && self
                        .latest_end(*d)
                        .is_some_and(|end| end + Duration::hours(1) <= now)
            })
    }

    /// 1.0 for the job that slows down over the history, 0.0 for the others.
    fn slowing_weight(&self, job: &str) -> f64 {
        if self.slowing.as_deref() == Some(job) {
            1.0
        } else {
            0.0
        }
    }

    /// A number in [0, 1) fixed by the seed and the parts given.
    fn unit(&self, parts: impl Hash) -> f64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.seed, parts).hash(&mut h);
        // SplitMix64 finaliser: the std hasher's output, spread evenly.
        let mut z = h.finish().wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Every event of `date`. `story` picks the demo day's fates; otherwise history fates, with
    /// `progress` (0 at the first history day, 1 at the last) slowing the late job down.
    fn events_of(&self, date: NaiveDate, story: Option<&DemoArgs>, progress: f64) -> Vec<SimEvent> {
        let mut out = Vec::new();
        for (job, def) in &self.defs.jobs {
            let slots = self.slots(job, date);
            let late_period = slots.get(slots.len() / 2).and_then(|s| s.period);
            for slot in slots {
                let key = (date, job.as_str(), slot.period);
                let r = self.unit(("fate", key));
                let fate = match story {
                    Some(a) if *job == a.skip_job => Fate::Skipped,
                    Some(a) if *job == a.fail_job => Fate::FailThenRestart { fraction: 0.8 },
                    Some(a) if *job == a.late_job => Fate::Late { minutes: 40 },
                    Some(_) if slot.period.is_some() && slot.period == late_period => {
                        Fate::Late { minutes: 8 }
                    }
                    Some(_) => Fate::Normal {
                        fraction: 0.35 + 0.4 * r,
                    },
                    None => {
                        let slowing = self.slowing_weight(job) * 0.7 * progress;
                        if r < 0.03 {
                            Fate::FailThenRestart { fraction: 0.85 }
                        } else if r > 0.97 {
                            Fate::Late {
                                minutes: 5 + (r * 1000.0) as i64 % 20,
                            }
                        } else {
                            Fate::Normal {
                                fraction: 0.25 + 0.3 * self.unit(("length", key)) + slowing,
                            }
                        }
                    }
                };
                self.run(&mut out, &def.app_id, job, date, slot, fate, key);
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        out: &mut Vec<SimEvent>,
        app: &str,
        job: &str,
        date: NaiveDate,
        slot: Slot,
        fate: Fate,
        key: impl Hash + Copy,
    ) {
        if fate == Fate::Skipped {
            return;
        }
        let window = (slot.end - slot.start).max(Duration::minutes(1));
        let delay = Duration::seconds(
            (self.unit(("delay", key)) * window.num_seconds() as f64 * 0.08) as i64,
        );
        let start = slot.start + delay;
        let hosts = ["batch01", "batch02", "batch03"];
        let host = hosts[(self.unit(("host", key)) * 3.0) as usize % 3].to_owned();
        let period = slot
            .period
            .map(|p| p.format("-%H%M").to_string())
            .unwrap_or_default();
        let run_id = |n: u32| format!("{job}-{date}{period}-r{n}");
        let ev = |status: &'static str, at: DateTime<Utc>, run: String, host: &str| SimEvent {
            app_id: app.to_owned(),
            job_id: job.to_owned(),
            status,
            status_time: at.trunc_subsecs(6),
            business_date: date,
            run_id: run,
            host_id: host.to_owned(),
            period_start: slot.period,
        };
        let part = |f: f64| Duration::seconds((window.num_seconds() as f64 * f) as i64);
        match fate {
            Fate::Skipped => {}
            Fate::Normal { fraction } => {
                out.push(ev("start", start, run_id(1), &host));
                out.push(ev(
                    "succeed",
                    start + part(fraction).max(Duration::seconds(30)),
                    run_id(1),
                    &host,
                ));
            }
            Fate::FailThenRestart { fraction } => {
                let failed = start + part(0.25);
                let restart = failed + part(0.05).max(Duration::minutes(1));
                let end = (slot.start + part(fraction)).max(restart + Duration::minutes(1));
                out.push(ev("start", start, run_id(1), &host));
                out.push(ev("fail", failed, run_id(1), &host));
                out.push(ev("start", restart, run_id(2), "batch02"));
                out.push(ev("succeed", end, run_id(2), "batch02"));
            }
            Fate::Late { minutes } => {
                let start = start + part(0.1);
                out.push(ev("start", start, run_id(1), &host));
                out.push(ev(
                    "succeed",
                    slot.end + Duration::minutes(minutes),
                    run_id(1),
                    &host,
                ));
            }
        }
    }
}

fn offset(i: slo_core::definitions::Interval) -> Result<Offset, String> {
    Offset::from_interval(i.months, i.days, i.micros)
}

fn duration(i: slo_core::definitions::Interval) -> Duration {
    Duration::days(i64::from(i.days)) + Duration::microseconds(i.micros)
}

/// The demo's events: the history days (oldest first), then the demo day; sorted by time.
/// Refuses a demo day whose runs are not all over by `now` (the API refuses events from the future).
pub fn generate(
    defs: &Definitions,
    args: &DemoArgs,
    now: DateTime<Utc>,
) -> anyhow::Result<(NaiveDate, Vec<SimEvent>)> {
    for (flag, job) in [
        ("--fail-job", &args.fail_job),
        ("--late-job", &args.late_job),
        ("--skip-job", &args.skip_job),
    ] {
        if !defs.jobs.contains_key(job) {
            bail!(
                "{flag} {job:?}: the definitions file has no such job (jobs: {})",
                defs.jobs.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let sim = Simulator::new(defs, args.seed, Some(args.late_job.clone()))?;
    let date = match args.business_date {
        Some(d) => d,
        None => sim.default_business_date(now).context(
            "no business date of the last three weeks is a run date of every SLO with all its runs over; \
             pass --business-date",
        )?,
    };
    if let Some(due) = sim.latest_end(date) {
        if due > now {
            bail!(
                "business date {date} is not over yet (its last SLO is due at {due}); \
                 pick an earlier --business-date"
            );
        }
    }
    let mut events = Vec::new();
    let days = args.history_days;
    for back in (1..=days).rev() {
        let Some(d) = date.checked_sub_days(Days::new(u64::from(back))) else {
            continue;
        };
        let progress = if days > 1 {
            f64::from(days - back) / f64::from(days - 1)
        } else {
            1.0
        };
        events.extend(sim.events_of(d, None, progress));
    }
    events.extend(sim.events_of(date, Some(args), 1.0));
    if let Some(last) = events.iter().map(|e| e.status_time).max() {
        if last > now {
            bail!(
                "business date {date} is not over yet (its last event would be at {last}); \
                 pick an earlier --business-date"
            );
        }
    }
    events.sort_by(|a, b| {
        (a.status_time, &a.job_id, a.status).cmp(&(b.status_time, &b.job_id, b.status))
    });
    Ok((date, events))
}

/// Posts the events in batches, in time order; stops at the first refused request.
#[instrument(skip_all, fields(events = events.len()))]
pub async fn post(args: &DemoArgs, events: &[SimEvent]) -> anyhow::Result<(u64, u64, usize)> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let url = format!("{}/v1/job-status", args.api_url.trim_end_matches('/'));
    let (mut accepted, mut duplicates, mut requests) = (0u64, 0u64, 0usize);
    for chunk in events.chunks(usize::from(args.batch_size)) {
        let body = Value::Array(chunk.iter().map(SimEvent::to_json).collect());
        let mut req = http.post(&url).json(&body);
        if let Some(token) = &args.token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("posting to {url} (is `pg-slo serve` running there?)"))?;
        requests += 1;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match status.as_u16() {
            201 => {
                let v: Value = serde_json::from_str(&text).context("reading the API's answer")?;
                accepted += v["accepted"].as_u64().unwrap_or(0);
                duplicates += v["duplicates"].as_u64().unwrap_or(0);
            }
            401 | 403 => bail!(
                "the API refused the events ({status}): pass a token allowed for these applications \
                 with --token or PG_SLO_TOKEN. Answer: {text}"
            ),
            _ => bail!("the API answered {status}: {text}"),
        }
    }
    Ok((accepted, duplicates, requests))
}

/// `pg-slo demo` from the command line.
pub async fn run(args: &DemoArgs) -> anyhow::Result<DemoOutcome> {
    let defs = crate::definitions::read_file(&args.definitions).map_err(|e| match e {
        crate::definitions::ApplyError::Invalid { file, problems } => anyhow::anyhow!(
            "{}",
            problems
                .iter()
                .map(|p| p.located(&file))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        other => anyhow::anyhow!(other),
    })?;
    let (date, events) = generate(&defs, args, Utc::now())?;
    let first = events.first().map(|e| e.business_date).unwrap_or(date);
    println!(
        "Simulating the scheduler: {} events for business dates {first} to {date}, posted to {}",
        events.len(),
        args.api_url
    );
    let (accepted, duplicates, requests) = post(args, &events).await?;
    println!(
        "Posted in {requests} request{}: {accepted} stored, {duplicates} already there.",
        if requests == 1 { "" } else { "s" }
    );
    println!(
        "Demo day {date}: {} fails and restarts, {} runs late, {} never starts, one intraday period ends late.",
        args.fail_job, args.late_job, args.skip_job
    );
    if let Some(url) = &args.database_url {
        let report_args = ReportArgs {
            business_date: Some(date),
            late_days: 0,
            slos: Vec::new(),
            color: report::Color::Auto,
            db: crate::dbconn::DbArgs {
                database_url: url.clone(),
            },
        };
        println!();
        report::run(&report_args).await?;
    } else {
        println!("See it with: pg-slo report --business-date {date}");
    }
    Ok(DemoOutcome {
        business_date: date,
        events: events.len(),
        accepted,
        duplicates,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const FOXFIRE: &str = include_str!("../../examples/foxfire.toml");

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        demo: DemoArgs,
    }

    fn args(extra: &[&str]) -> DemoArgs {
        let mut argv = vec!["demo"];
        argv.extend_from_slice(extra);
        Wrap::parse_from(argv).demo
    }

    fn defs() -> Definitions {
        slo_core::definitions::parse_file(FOXFIRE).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn of<'a>(events: &'a [SimEvent], job: &str, date: &str) -> Vec<&'a SimEvent> {
        let d: NaiveDate = date.parse().unwrap();
        events
            .iter()
            .filter(|e| e.job_id == job && e.business_date == d)
            .collect()
    }

    #[test]
    fn the_demo_day_tells_the_story_of_a_restart_a_late_job_and_one_never_started() {
        let d = defs();
        let (date, events) = generate(
            &d,
            &args(&["--business-date", "2026-11-20"]),
            utc("2026-11-25T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(date.to_string(), "2026-11-20");
        // od-calc: run 1 fails, run 2 succeeds before 03:00 New York (08:00Z) on Saturday.
        let od: Vec<(&str, &str)> = of(&events, "od-calc", "2026-11-20")
            .iter()
            .map(|e| (e.status, e.run_id.as_str()))
            .collect();
        assert_eq!(
            od,
            [
                ("start", "od-calc-2026-11-20-r1"),
                ("fail", "od-calc-2026-11-20-r1"),
                ("start", "od-calc-2026-11-20-r2"),
                ("succeed", "od-calc-2026-11-20-r2")
            ]
        );
        let od_end = of(&events, "od-calc", "2026-11-20")[3].status_time;
        assert!(od_end <= utc("2026-11-21T08:00:00Z"), "{od_end}");
        // dss-load-od: Friday's is due Monday 05:00 (10:00Z); it ends 40 minutes late.
        let dss = of(&events, "dss-load-od", "2026-11-20");
        assert_eq!(dss.last().unwrap().status_time, utc("2026-11-23T10:40:00Z"));
        // od-activity-report never starts.
        assert!(of(&events, "od-activity-report", "2026-11-20").is_empty());
        // txn-summary: 25 periods, each with a start and a success, one of them late.
        let txn = of(&events, "txn-summary", "2026-11-20");
        assert_eq!(txn.len(), 50);
        assert!(txn.iter().all(|e| e.period_start.is_some()));
        assert!(
            events
                .windows(2)
                .all(|w| w[0].status_time <= w[1].status_time),
            "posted in time order"
        );
    }

    #[test]
    fn history_follows_the_calendars_and_the_late_job_slows_down() {
        let d = defs();
        let (_, events) = generate(
            &d,
            &args(&["--business-date", "2026-11-20", "--history-days", "60"]),
            utc("2026-11-25T12:00:00Z"),
        )
        .unwrap();
        // The overdraft job runs every calendar day; the business-day jobs skip weekends and
        // Federal Reserve holidays (Thanksgiving is after the demo day; Veterans Day is 11 November).
        assert_eq!(of(&events, "od-calc", "2026-11-14").len(), 2, "Saturday");
        assert!(
            of(&events, "dss-load-od", "2026-11-14").is_empty(),
            "Saturday"
        );
        assert!(
            of(&events, "txn-summary", "2026-11-11").is_empty(),
            "Veterans Day"
        );
        assert!(!of(&events, "txn-summary", "2026-11-12").is_empty());
        // The load's run time grows over the history.
        let length = |date: &str| {
            let e = of(&events, "dss-load-od", date);
            let start = e.iter().find(|x| x.status == "start").unwrap().status_time;
            let end = e
                .iter()
                .filter(|x| x.status == "succeed")
                .map(|x| x.status_time)
                .max()
                .unwrap();
            (end - start).num_minutes()
        };
        let early: i64 = ["2026-09-22", "2026-09-23", "2026-09-24", "2026-09-25"]
            .iter()
            .map(|d| length(d))
            .sum();
        let late: i64 = ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"]
            .iter()
            .map(|d| length(d))
            .sum();
        assert!(
            late > early + 60,
            "slowing down: {early} -> {late} minutes over four days"
        );
        let dates: std::collections::BTreeSet<NaiveDate> =
            events.iter().map(|e| e.business_date).collect();
        assert_eq!(dates.len(), 61);
    }

    #[test]
    fn the_same_seed_gives_the_same_events_and_run_ids_stay_stable() {
        let d = defs();
        let a = args(&["--business-date", "2026-11-20", "--history-days", "5"]);
        let now = utc("2026-11-25T12:00:00Z");
        assert_eq!(
            generate(&d, &a, now).unwrap(),
            generate(&d, &a, now).unwrap()
        );
    }

    #[test]
    fn the_default_demo_day_is_the_latest_business_date_that_is_over() {
        let d = defs();
        let sim = Simulator::new(&d, 42, None).unwrap();
        // Wednesday 25 November 2026, 12:00 New York: Tuesday's report was due 08:00 today.
        assert_eq!(
            sim.default_business_date(utc("2026-11-25T17:00:00Z"))
                .unwrap()
                .to_string(),
            "2026-11-24"
        );
        // At 07:00 New York it is not over: Monday's (due Tuesday 08:00) is the latest.
        assert_eq!(
            sim.default_business_date(utc("2026-11-25T12:00:00Z"))
                .unwrap()
                .to_string(),
            "2026-11-23"
        );
        // Monday 30 November, 12:00: Friday 27th (after Thanksgiving) was due this morning.
        assert_eq!(
            sim.default_business_date(utc("2026-11-30T17:00:00Z"))
                .unwrap()
                .to_string(),
            "2026-11-27"
        );
    }

    #[test]
    fn a_day_that_is_not_over_and_an_unknown_job_are_refused() {
        let d = defs();
        let err = generate(
            &d,
            &args(&["--business-date", "2026-11-24"]),
            utc("2026-11-25T12:00:00Z"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not over yet"), "{err}");
        let err = generate(
            &d,
            &args(&["--skip-job", "nope"]),
            utc("2026-11-25T12:00:00Z"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--skip-job \"nope\""), "{err}");
    }
}
