//! The reference computation of SLO performance (CONTRACT sections 3 and 4): from definitions
//! and events, the `slo.slo_performance` rows that events alone call for. The engine in the
//! extension's trigger applies the same rules (daily SLO days through [`crate::day_state`],
//! intraday ones through [`performance`] itself) and writes the rows with SQL; the end-to-end
//! property test compares the two.
//!
//! The rules, in order:
//!
//! 1. Events are de-duplicated on `(job_id, business_date, run_id, status, status_time)`, as the
//!    database stores a repeat once (the first delivery is kept).
//! 2. An event counts for every *active* SLO that depends on its job, and only when its
//!    `business_date` is a run date of the SLO's calendar.
//! 3. Its instance period: `00:00` for a daily SLO. For an intraday SLO, the given
//!    `period_start` snapped to its period; else, for a `start`, its `status_time` (local) snapped
//!    to its period; else (`succeed`/`fail`) the period of the same run's earliest `start`
//!    (ties: the smaller period; after rule 1 two starts of a run never tie). A
//!    `succeed`/`fail` whose start has not come maps nowhere yet.
//! 4. Per instance and job: the earliest `start`, the earliest `succeed`, and the number of
//!    distinct run ids that reported `fail`.
//! 5. Per instance (one exists when at least one event maps to it): the earliest job start; the
//!    latest job end when every job of the SLO has one, else none; the sum of failed runs; and the
//!    expected times from [`SloSchedule::instance_expected`] (no row when they cannot be computed).
//!
//! Pure: touches nothing outside itself.

use crate::schedule::{DayUnit, Offset, SloSchedule};
use crate::Status;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One SLO as the engine needs it: its schedule, whether it is active, and its jobs.
#[derive(Debug, Clone)]
pub struct SloDef<'c> {
    /// `slo.slo.slo_id`.
    pub slo_id: String,
    /// Time zone, intraday window (`None` for a daily SLO) and calendar.
    pub schedule: SloSchedule<'c>,
    /// `slo.slo.active`: an inactive SLO gets no rows from events.
    pub active: bool,
    /// The jobs the SLO depends on (`slo.slo_job`); an instance is complete when all are.
    pub jobs: Vec<SloJobDef>,
}

impl SloDef<'_> {
    /// A fingerprint of everything the SLO's instances depend on: its time zone, its window, its
    /// jobs with their offsets and day units, and its calendar (given as
    /// [`crate::calendar::Calendar::fingerprint`], which callers compute once per calendar). The
    /// engine tags each daily state with it: a state stays valid while the fingerprint holds, so
    /// a change of another SLO, or a job that no SLO uses, invalidates nothing.
    pub fn fingerprint(&self, calendar_fingerprint: u64) -> u64 {
        let mut h = crate::fnv::Fnv::new(b"slo/1");
        h.str(&self.slo_id);
        h.str(self.schedule.time_zone.name());
        match &self.schedule.window {
            None => h.bytes(&[0]),
            Some(w) => {
                h.bytes(&[1]);
                for t in [w.start, w.end] {
                    h.i64((t - NaiveTime::MIN).num_microseconds().unwrap_or(0));
                }
                h.i64(w.period.num_microseconds().unwrap_or(0));
            }
        }
        h.u64(calendar_fingerprint);
        let mut jobs: Vec<&SloJobDef> = self.jobs.iter().collect();
        jobs.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        h.u64(jobs.len() as u64);
        for j in jobs {
            h.str(&j.job_id);
            for o in [j.expected_start, j.expected_end] {
                h.i64(o.days);
                h.i64(o.micros);
            }
            h.bytes(&[match j.day_unit {
                DayUnit::Calendar => 0,
                DayUnit::Run => 1,
            }]);
        }
        h.finish()
    }
}

/// One job of an SLO (`slo.slo_job`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloJobDef {
    pub job_id: String,
    /// Offset of the job's expected start from the instance anchor.
    pub expected_start: Offset,
    /// Offset of the job's expected end from the instance anchor.
    pub expected_end: Offset,
    /// How the offsets' days count.
    pub day_unit: DayUnit,
}

/// One job-status event, with the fields the engine reads (`slo.job_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    pub job_id: String,
    pub status: Status,
    /// The instant, at microsecond precision (as PostgreSQL stores it).
    pub status_time: DateTime<Utc>,
    pub business_date: NaiveDate,
    pub run_id: String,
    /// The nominal period of an intraday run, when the sender knows it.
    pub period_start: Option<NaiveTime>,
}

/// One row of `slo.slo_performance` (without `updated_at`). Ordered by
/// `(slo_id, business_date, period_start)` first, the key of the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PerformanceRow {
    pub slo_id: String,
    pub business_date: NaiveDate,
    /// `00:00` for a daily SLO.
    pub period_start: NaiveTime,
    /// The earliest expected start of the instance's jobs.
    pub expected_start: DateTime<Utc>,
    /// The latest expected end of the instance's jobs.
    pub expected_end: DateTime<Utc>,
    /// The earliest start of any job; `None` if none started.
    pub actual_start: Option<DateTime<Utc>>,
    /// The latest end over all jobs; `None` while any job is incomplete.
    pub actual_end: Option<DateTime<Utc>>,
    /// Runs of the instance's jobs that reported `fail` (distinct job and run id).
    pub failed_runs: i64,
}

/// What one job did in one instance.
#[derive(Debug, Default)]
struct JobInInstance {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    failed_runs: BTreeSet<String>,
}

/// The performance rows that the events call for, sorted by `(slo_id, business_date,
/// period_start)`. Depends only on the set of events, not on their order or repetition
/// (repeats of an event key are expected to be identical, as a real repeat delivery is).
pub fn performance(slos: &[SloDef], events: &[EngineEvent]) -> Vec<PerformanceRow> {
    let events = dedup(events);
    let mut rows: Vec<PerformanceRow> = slos
        .iter()
        .filter(|slo| slo.active)
        .flat_map(|slo| slo_performance(slo, &events))
        .collect();
    rows.sort();
    rows
}

/// Rule 1: the first delivery of each `(job_id, business_date, run_id, status, status_time)`.
fn dedup(events: &[EngineEvent]) -> Vec<&EngineEvent> {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| {
            seen.insert((
                e.job_id.as_str(),
                e.business_date,
                e.run_id.as_str(),
                e.status,
                e.status_time,
            ))
        })
        .collect()
}

/// What each job of an SLO did in each instance its events map to (rules 2 to 4), by
/// (business date, period start), then by the job's index in `slo.jobs`.
fn instances_of(
    slo: &SloDef,
    events: &[&EngineEvent],
) -> BTreeMap<(NaiveDate, NaiveTime), BTreeMap<usize, JobInInstance>> {
    let schedule = &slo.schedule;
    let job_index: BTreeMap<&str, usize> = slo
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.job_id.as_str(), i))
        .collect();
    // Rule 2.
    let relevant: Vec<&EngineEvent> = events
        .iter()
        .copied()
        .filter(|e| {
            job_index.contains_key(e.job_id.as_str())
                && schedule.calendar.is_run_date(e.business_date)
        })
        .collect();

    // Rule 3: the run's period, from its earliest start (ties: the smaller period).
    let mut run_start: BTreeMap<(&str, NaiveDate, &str), (DateTime<Utc>, NaiveTime)> =
        BTreeMap::new();
    for e in relevant.iter().filter(|e| e.status == Status::Start) {
        let Some(p) = own_period(schedule, e) else {
            continue;
        };
        let key = (e.job_id.as_str(), e.business_date, e.run_id.as_str());
        let candidate = (e.status_time, p);
        run_start
            .entry(key)
            .and_modify(|best| *best = (*best).min(candidate))
            .or_insert(candidate);
    }

    // Rule 4.
    let mut instances: BTreeMap<(NaiveDate, NaiveTime), BTreeMap<usize, JobInInstance>> =
        BTreeMap::new();
    for e in relevant {
        let period = own_period(schedule, e).or_else(|| {
            run_start
                .get(&(e.job_id.as_str(), e.business_date, e.run_id.as_str()))
                .map(|&(_, p)| p)
        });
        let Some(period) = period else {
            continue;
        };
        let job = instances
            .entry((e.business_date, period))
            .or_default()
            .entry(job_index[e.job_id.as_str()])
            .or_default();
        match e.status {
            Status::Start => job.start = earliest(job.start, e.status_time),
            Status::Succeed => job.end = earliest(job.end, e.status_time),
            Status::Fail => {
                job.failed_runs.insert(e.run_id.clone());
            }
        }
    }
    instances
}

/// What one job of an SLO did in one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub job_id: String,
    /// Its earliest start; `None` if it has not started.
    pub start: Option<DateTime<Utc>>,
    /// Its earliest success; `None` while it is incomplete.
    pub end: Option<DateTime<Utc>>,
    /// Its runs that reported `fail` (distinct run ids).
    pub failed_runs: usize,
}

/// Each job of `slo` in the instance (`business_date`, `period_start`), in the order of
/// `slo.jobs`, by the same rules as [`performance`]; a job with no event there has neither start
/// nor end.
pub fn instance_jobs(
    slo: &SloDef,
    events: &[EngineEvent],
    business_date: NaiveDate,
    period_start: NaiveTime,
) -> Vec<JobOutcome> {
    let events = dedup(events);
    let mut instances = instances_of(slo, &events);
    let mut jobs = instances
        .remove(&(business_date, period_start))
        .unwrap_or_default();
    slo.jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let did = jobs.remove(&i).unwrap_or_default();
            JobOutcome {
                job_id: j.job_id.clone(),
                start: did.start,
                end: did.end,
                failed_runs: did.failed_runs.len(),
            }
        })
        .collect()
}

/// The rows of one active SLO.
fn slo_performance(slo: &SloDef, events: &[&EngineEvent]) -> Vec<PerformanceRow> {
    let schedule = &slo.schedule;
    let instances = instances_of(slo, events);

    // Rule 5.
    let offsets: Vec<(Offset, Offset, DayUnit)> = slo
        .jobs
        .iter()
        .map(|j| (j.expected_start, j.expected_end, j.day_unit))
        .collect();
    instances
        .into_iter()
        .filter_map(|((business_date, period_start), jobs)| {
            let (expected_start, expected_end) =
                schedule.instance_expected(business_date, period_start, &offsets)?;
            let actual_start = jobs.values().filter_map(|j| j.start).min();
            let ends: Vec<DateTime<Utc>> = jobs.values().filter_map(|j| j.end).collect();
            let actual_end = if ends.len() == slo.jobs.len() {
                ends.into_iter().max()
            } else {
                None
            };
            let failed_runs = jobs.values().map(|j| j.failed_runs.len() as i64).sum();
            Some(PerformanceRow {
                slo_id: slo.slo_id.clone(),
                business_date,
                period_start,
                expected_start,
                expected_end,
                actual_start,
                actual_end,
                failed_runs,
            })
        })
        .collect()
}

/// An event's period when it can tell by itself: `00:00` for a daily SLO; for an intraday one,
/// its given period, or the period of a `start`'s local time. `None` for an intraday
/// `succeed`/`fail` without a given period (it takes the period of its run's start).
fn own_period(schedule: &SloSchedule, e: &EngineEvent) -> Option<NaiveTime> {
    let Some(window) = schedule.window else {
        return Some(NaiveTime::MIN);
    };
    if let Some(given) = e.period_start {
        return Some(window.match_period(e.business_date, e.business_date.and_time(given)));
    }
    (e.status == Status::Start).then(|| {
        let local = e
            .status_time
            .with_timezone(&schedule.time_zone)
            .naive_local();
        window.match_period(e.business_date, local)
    })
}

fn earliest(current: Option<DateTime<Utc>>, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(current.map_or(t, |c| c.min(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::schedule::Window;
    use chrono::Duration;
    use chrono_tz::Tz;
    use proptest::prelude::*;
    use std::borrow::Cow;

    const NY: Tz = chrono_tz::America::New_York;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn weekdays() -> Calendar {
        Calendar::new(&[1, 2, 3, 4, 5], false, [d("2026-11-26")], []).unwrap()
    }

    fn job(id: &str, start: Offset, end: Offset, day_unit: DayUnit) -> SloJobDef {
        SloJobDef {
            job_id: id.into(),
            expected_start: start,
            expected_end: end,
            day_unit,
        }
    }

    /// Daily, New York, Monday to Friday (Thanksgiving off): each job expected from the next
    /// day 03:00 to 05:00.
    fn daily(slo_id: &str, jobs: &[&str]) -> SloDef<'static> {
        SloDef {
            slo_id: slo_id.into(),
            schedule: SloSchedule {
                time_zone: NY,
                window: None,
                calendar: Cow::Owned(weekdays()),
            },
            active: true,
            jobs: jobs
                .iter()
                .map(|j| {
                    job(
                        j,
                        Offset::hours_minutes(1, 3, 0),
                        Offset::hours_minutes(1, 5, 0),
                        DayUnit::Calendar,
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_fingerprint_changes_with_what_the_instances_depend_on_and_nothing_else() {
        let slo = daily("s", &["a", "b"]);
        let cal = weekdays().fingerprint();
        let base = slo.fingerprint(cal);
        // The order jobs are listed in, and a clone, change nothing.
        assert_eq!(daily("s", &["b", "a"]).fingerprint(cal), base);
        assert_eq!(slo.clone().fingerprint(cal), base);
        let mut later_end = slo.clone();
        later_end.jobs[1].expected_end = Offset::hours_minutes(1, 6, 0);
        let mut run_days = slo.clone();
        run_days.jobs[0].day_unit = DayUnit::Run;
        let mut other_zone = slo.clone();
        other_zone.schedule.time_zone = chrono_tz::Europe::London;
        let other_calendar = Calendar::new(&[1, 2, 3, 4, 5], false, [], [])
            .unwrap()
            .fingerprint();
        let changed = [
            later_end.fingerprint(cal),
            run_days.fingerprint(cal),
            other_zone.fingerprint(cal),
            daily("s", &["a", "b", "c"]).fingerprint(cal),
            daily("s", &["a"]).fingerprint(cal),
            intraday("s", &["a", "b"]).fingerprint(cal),
            slo.fingerprint(other_calendar),
        ];
        for (i, f) in changed.iter().enumerate() {
            assert_ne!(*f, base, "change {i}");
        }
        assert_ne!(cal, other_calendar);
        assert_eq!(weekdays().fingerprint(), cal);
    }

    /// Intraday, New York, 06:00 to 09:00 every 30 minutes; each job expected from the period
    /// start to ten minutes after it.
    fn intraday(slo_id: &str, jobs: &[&str]) -> SloDef<'static> {
        SloDef {
            slo_id: slo_id.into(),
            schedule: SloSchedule {
                time_zone: NY,
                window: Some(Window::new(t("06:00"), t("09:00"), Duration::minutes(30)).unwrap()),
                calendar: Cow::Owned(weekdays()),
            },
            active: true,
            jobs: jobs
                .iter()
                .map(|j| {
                    job(
                        j,
                        Offset::hours_minutes(0, 0, 0),
                        Offset::hours_minutes(0, 0, 10),
                        DayUnit::Calendar,
                    )
                })
                .collect(),
        }
    }

    fn ev(job: &str, status: Status, at: &str, bd: &str, run: &str) -> EngineEvent {
        EngineEvent {
            job_id: job.into(),
            status,
            status_time: utc(at),
            business_date: d(bd),
            run_id: run.into(),
            period_start: None,
        }
    }

    fn with_period(mut e: EngineEvent, p: &str) -> EngineEvent {
        e.period_start = Some(t(p));
        e
    }

    use Status::{Fail, Start, Succeed};

    /// The daily row for Tuesday 24 November 2026: expected Wednesday 03:00 to 05:00 EST.
    fn daily_row(
        slo_id: &str,
        start: Option<&str>,
        end: Option<&str>,
        failed_runs: i64,
    ) -> PerformanceRow {
        PerformanceRow {
            slo_id: slo_id.into(),
            business_date: d("2026-11-24"),
            period_start: t("00:00"),
            expected_start: utc("2026-11-25T08:00:00Z"),
            expected_end: utc("2026-11-25T10:00:00Z"),
            actual_start: start.map(utc),
            actual_end: end.map(utc),
            failed_runs,
        }
    }

    const BD: &str = "2026-11-24";

    #[test]
    fn no_events_make_no_rows() {
        assert_eq!(performance(&[daily("s", &["a"])], &[]), vec![]);
    }

    #[test]
    fn the_actual_start_is_the_earliest_start_of_any_job() {
        let slos = [daily("s", &["a", "b"])];
        let events = [
            ev("a", Start, "2026-11-25T08:05:00Z", BD, "r1"),
            ev("b", Start, "2026-11-25T08:01:00Z", BD, "r1"),
            ev("a", Start, "2026-11-25T08:03:00Z", BD, "r2"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row("s", Some("2026-11-25T08:01:00Z"), None, 0)]
        );
    }

    #[test]
    fn a_jobs_end_is_its_earliest_success_and_the_instance_ends_at_the_latest_job_end() {
        let slos = [daily("s", &["a", "b"])];
        let events = [
            ev("a", Start, "2026-11-25T08:00:00Z", BD, "r1"),
            ev("a", Succeed, "2026-11-25T09:00:00Z", BD, "r1"),
            // a rerun that succeeds later does not move a's end
            ev("a", Start, "2026-11-25T09:10:00Z", BD, "r2"),
            ev("a", Succeed, "2026-11-25T09:50:00Z", BD, "r2"),
            ev("b", Start, "2026-11-25T08:10:00Z", BD, "r1"),
            ev("b", Succeed, "2026-11-25T09:30:00Z", BD, "r1"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row(
                "s",
                Some("2026-11-25T08:00:00Z"),
                Some("2026-11-25T09:30:00Z"),
                0
            )]
        );
    }

    #[test]
    fn a_failure_then_a_restart_under_a_new_run_id_completes_the_job_with_one_failed_run() {
        let slos = [daily("s", &["a"])];
        let events = [
            ev("a", Start, "2026-11-25T08:00:00Z", BD, "r1"),
            ev("a", Fail, "2026-11-25T08:20:00Z", BD, "r1"),
            ev("a", Start, "2026-11-25T08:30:00Z", BD, "r2"),
            ev("a", Succeed, "2026-11-25T09:00:00Z", BD, "r2"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row(
                "s",
                Some("2026-11-25T08:00:00Z"),
                Some("2026-11-25T09:00:00Z"),
                1
            )]
        );
    }

    #[test]
    fn failed_runs_count_distinct_runs_of_every_job_and_a_fail_does_not_complete() {
        let slos = [daily("s", &["a", "b"])];
        let events = [
            ev("a", Fail, "2026-11-25T08:20:00Z", BD, "r1"),
            ev("a", Fail, "2026-11-25T08:21:00Z", BD, "r1"),
            ev("a", Fail, "2026-11-25T08:40:00Z", BD, "r2"),
            ev("b", Fail, "2026-11-25T08:20:00Z", BD, "r1"),
            ev("b", Succeed, "2026-11-25T09:20:00Z", BD, "r2"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row("s", None, None, 3)]
        );
    }

    #[test]
    fn an_incomplete_job_keeps_the_actual_end_empty() {
        let slos = [daily("s", &["a", "b"])];
        let events = [
            ev("a", Start, "2026-11-25T08:00:00Z", BD, "r1"),
            ev("a", Succeed, "2026-11-25T09:00:00Z", BD, "r1"),
            ev("b", Start, "2026-11-25T08:10:00Z", BD, "r1"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row("s", Some("2026-11-25T08:00:00Z"), None, 0)]
        );
    }

    #[test]
    fn a_job_without_any_event_keeps_the_actual_end_empty() {
        let slos = [daily("s", &["a", "b"])];
        let events = [ev("a", Succeed, "2026-11-25T09:00:00Z", BD, "r1")];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row("s", None, None, 0)]
        );
    }

    #[test]
    fn an_event_on_a_date_that_is_not_a_run_date_is_ignored() {
        let slos = [daily("s", &["a"])];
        let events = [
            ev("a", Start, "2026-11-27T08:00:00Z", "2026-11-26", "r1"), // Thanksgiving
            ev("a", Start, "2026-11-29T08:00:00Z", "2026-11-28", "r1"), // Saturday
        ];
        assert_eq!(performance(&slos, &events), vec![]);
    }

    #[test]
    fn an_inactive_slo_gets_no_rows() {
        let mut off = daily("off", &["a"]);
        off.active = false;
        let slos = [off, daily("on", &["a"])];
        let events = [ev("a", Start, "2026-11-25T08:00:00Z", BD, "r1")];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row("on", Some("2026-11-25T08:00:00Z"), None, 0)]
        );
    }

    #[test]
    fn an_event_of_a_job_no_slo_depends_on_makes_no_rows() {
        let slos = [daily("s", &["a"])];
        let events = [ev("z", Start, "2026-11-25T08:00:00Z", BD, "r1")];
        assert_eq!(performance(&slos, &events), vec![]);
    }

    #[test]
    fn duplicate_events_count_once() {
        let slos = [daily("s", &["a"])];
        let fail = ev("a", Fail, "2026-11-25T08:20:00Z", BD, "r1");
        let start = ev("a", Start, "2026-11-25T08:00:00Z", BD, "r1");
        let events = [start.clone(), fail.clone(), start, fail];
        let once = performance(&slos, &events[..2]);
        assert_eq!(
            once,
            vec![daily_row("s", Some("2026-11-25T08:00:00Z"), None, 1)]
        );
        assert_eq!(performance(&slos, &events), once);
    }

    #[test]
    fn the_result_does_not_depend_on_the_order_of_events() {
        let slos = [daily("d", &["a", "b"]), intraday("i", &["a"])];
        let mut events = vec![
            ev("a", Succeed, "2026-11-24T11:40:00Z", BD, "r1"),
            ev("a", Start, "2026-11-24T11:35:00Z", BD, "r1"),
            ev("a", Fail, "2026-11-24T12:10:00Z", BD, "r2"),
            ev("a", Start, "2026-11-24T12:05:00Z", BD, "r2"),
            ev("b", Start, "2026-11-24T12:00:00Z", BD, "r1"),
            ev("b", Succeed, "2026-11-24T13:00:00Z", BD, "r1"),
        ];
        let forward = performance(&slos, &events);
        events.reverse();
        assert_eq!(performance(&slos, &events), forward);
        assert_eq!(forward.len(), 3);
    }

    #[test]
    fn a_success_without_its_start_counts_for_a_daily_slo_at_midnight() {
        let slos = [daily("s", &["a"])];
        let events = [ev("a", Succeed, "2026-11-25T09:00:00Z", BD, "r1")];
        assert_eq!(
            performance(&slos, &events),
            vec![daily_row("s", None, Some("2026-11-25T09:00:00Z"), 0)]
        );
    }

    #[test]
    fn a_success_without_its_start_waits_for_the_start_of_an_intraday_run() {
        let slos = [intraday("i", &["a"])];
        // 06:40 EST: the 06:30 period.
        let succeed = ev("a", Succeed, "2026-11-24T11:40:00Z", BD, "r1");
        let fail_other_run = ev("a", Fail, "2026-11-24T11:45:00Z", BD, "r9");
        assert_eq!(
            performance(&slos, &[succeed.clone(), fail_other_run.clone()]),
            vec![]
        );
        let start = ev("a", Start, "2026-11-24T11:35:00Z", BD, "r1");
        assert_eq!(
            performance(&slos, &[succeed, fail_other_run, start]),
            vec![PerformanceRow {
                slo_id: "i".into(),
                business_date: d(BD),
                period_start: t("06:30"),
                expected_start: utc("2026-11-24T11:30:00Z"),
                expected_end: utc("2026-11-24T11:40:00Z"),
                actual_start: Some(utc("2026-11-24T11:35:00Z")),
                actual_end: Some(utc("2026-11-24T11:40:00Z")),
                failed_runs: 0,
            }]
        );
    }

    fn intraday_row(
        period: &str,
        start: Option<&str>,
        end: Option<&str>,
        failed_runs: i64,
    ) -> PerformanceRow {
        // 2026-11-24 is EST (UTC-5).
        let anchor = d(BD).and_time(t(period)).and_utc() + Duration::hours(5);
        PerformanceRow {
            slo_id: "i".into(),
            business_date: d(BD),
            period_start: t(period),
            expected_start: anchor,
            expected_end: anchor + Duration::minutes(10),
            actual_start: start.map(utc),
            actual_end: end.map(utc),
            failed_runs,
        }
    }

    #[test]
    fn an_intraday_start_goes_to_the_latest_period_at_or_before_its_local_time_clamped() {
        let slos = [intraday("i", &["a"])];
        let events = [
            ev("a", Start, "2026-11-24T10:50:00Z", BD, "early"), // 05:50: first period
            ev("a", Start, "2026-11-24T12:29:00Z", BD, "mid"),   // 07:29: 07:00
            ev("a", Start, "2026-11-24T12:30:00Z", BD, "exact"), // 07:30: 07:30
            ev("a", Start, "2026-11-24T15:00:00Z", BD, "late"),  // 10:00: last period
            ev("a", Succeed, "2026-11-24T12:40:00Z", BD, "mid"), // mid's period, 07:00
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![
                intraday_row("06:00", Some("2026-11-24T10:50:00Z"), None, 0),
                intraday_row(
                    "07:00",
                    Some("2026-11-24T12:29:00Z"),
                    Some("2026-11-24T12:40:00Z"),
                    0
                ),
                intraday_row("07:30", Some("2026-11-24T12:30:00Z"), None, 0),
                intraday_row("09:00", Some("2026-11-24T15:00:00Z"), None, 0),
            ]
        );
    }

    #[test]
    fn a_period_that_does_not_divide_the_window_clamps_late_starts_into_the_last_period() {
        // 06:00 to 08:45 every 50 minutes: periods 06:00, 06:50, 07:40 and 08:30 (the next,
        // 09:20, is past the window's end).
        let mut slo = intraday("i", &["a"]);
        slo.schedule.window =
            Some(Window::new(t("06:00"), t("08:45"), Duration::minutes(50)).unwrap());
        let events = [
            ev("a", Start, "2026-11-24T10:40:00Z", BD, "early"), // 05:40: first period
            ev("a", Start, "2026-11-24T12:39:00Z", BD, "mid"),   // 07:39: 06:50
            ev("a", Start, "2026-11-24T13:40:00Z", BD, "end"),   // 08:40: 08:30
            ev("a", Start, "2026-11-24T14:00:00Z", BD, "late"),  // 09:00: last period, 08:30
            with_period(ev("a", Fail, "2026-11-24T14:10:00Z", BD, "named"), "08:44"), // 08:30
        ];
        let rows = performance(&[slo], &events);
        let got: Vec<(String, Option<DateTime<Utc>>, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.period_start.format("%H:%M").to_string(),
                    r.actual_start,
                    r.failed_runs,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("06:00".into(), Some(utc("2026-11-24T10:40:00Z")), 0),
                ("06:50".into(), Some(utc("2026-11-24T12:39:00Z")), 0),
                ("08:30".into(), Some(utc("2026-11-24T13:40:00Z")), 1),
            ]
        );
        // The last period is due from its own start, 08:30 EST.
        assert_eq!(rows[2].expected_start, utc("2026-11-24T13:30:00Z"));
    }

    #[test]
    fn a_given_period_start_decides_the_period_snapped_and_clamped() {
        let slos = [intraday("i", &["a"])];
        let events = [
            // Started at 07:05 local but sent for the 06:30 period.
            with_period(ev("a", Start, "2026-11-24T12:05:00Z", BD, "r1"), "06:30"),
            // Its success carries no period: it follows the run's start.
            ev("a", Succeed, "2026-11-24T12:08:00Z", BD, "r1"),
            // A fail naming 08:10 goes to 08:00, without any start.
            with_period(ev("a", Fail, "2026-11-24T13:15:00Z", BD, "r2"), "08:10"),
            // A success naming 05:00 goes to the first period, 06:00.
            with_period(ev("a", Succeed, "2026-11-24T11:00:00Z", BD, "r3"), "05:00"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![
                intraday_row("06:00", None, Some("2026-11-24T11:00:00Z"), 0),
                intraday_row(
                    "06:30",
                    Some("2026-11-24T12:05:00Z"),
                    Some("2026-11-24T12:08:00Z"),
                    0
                ),
                intraday_row("08:00", None, None, 1),
            ]
        );
    }

    #[test]
    fn a_run_with_two_starts_takes_the_period_of_the_earliest() {
        let slos = [intraday("i", &["a"])];
        let events = [
            ev("a", Start, "2026-11-24T12:10:00Z", BD, "r1"), // 07:10: 07:00
            ev("a", Start, "2026-11-24T11:10:00Z", BD, "r1"), // 06:10: 06:00, earlier
            ev("a", Succeed, "2026-11-24T12:20:00Z", BD, "r1"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![
                intraday_row(
                    "06:00",
                    Some("2026-11-24T11:10:00Z"),
                    Some("2026-11-24T12:20:00Z"),
                    0
                ),
                intraday_row("07:00", Some("2026-11-24T12:10:00Z"), None, 0),
            ]
        );
    }

    #[test]
    fn a_repeat_of_a_stored_event_is_dropped_even_when_it_names_another_period() {
        let slos = [intraday("i", &["a"])];
        let first = with_period(ev("a", Start, "2026-11-24T12:10:00Z", BD, "r1"), "08:00");
        let repeat = with_period(ev("a", Start, "2026-11-24T12:10:00Z", BD, "r1"), "06:30");
        let fail = ev("a", Fail, "2026-11-24T12:20:00Z", BD, "r1");
        assert_eq!(
            performance(&slos, &[first, repeat, fail]),
            vec![intraday_row("08:00", Some("2026-11-24T12:10:00Z"), None, 1)]
        );
    }

    #[test]
    fn one_job_feeds_two_slos() {
        let slos = [daily("d", &["a"]), intraday("i", &["a"])];
        let events = [
            ev("a", Start, "2026-11-24T11:35:00Z", BD, "r1"), // 06:35 EST
            ev("a", Succeed, "2026-11-24T11:45:00Z", BD, "r1"),
        ];
        assert_eq!(
            performance(&slos, &events),
            vec![
                daily_row(
                    "d",
                    Some("2026-11-24T11:35:00Z"),
                    Some("2026-11-24T11:45:00Z"),
                    0
                ),
                intraday_row(
                    "06:30",
                    Some("2026-11-24T11:35:00Z"),
                    Some("2026-11-24T11:45:00Z"),
                    0
                ),
            ]
        );
    }

    #[test]
    fn an_intraday_start_is_read_in_the_slos_time_zone_across_the_fall_back() {
        // Sunday 1 November 2026 in New York, every day runs: 06:10 EST is 11:10Z (the day
        // before, 06:10 EDT was 10:10Z).
        let mut slo = intraday("i", &["a"]);
        slo.schedule.calendar =
            Cow::Owned(Calendar::new(&[1, 2, 3, 4, 5, 6, 7], true, [], []).unwrap());
        let events = [
            ev("a", Start, "2026-11-01T11:10:00Z", "2026-11-01", "r1"),
            ev("a", Start, "2026-10-31T10:10:00Z", "2026-10-31", "r1"),
        ];
        let rows = performance(&[slo], &events);
        let got: Vec<(NaiveDate, NaiveTime, DateTime<Utc>)> = rows
            .iter()
            .map(|r| (r.business_date, r.period_start, r.expected_start))
            .collect();
        assert_eq!(
            got,
            vec![
                (d("2026-10-31"), t("06:00"), utc("2026-10-31T10:00:00Z")),
                (d("2026-11-01"), t("06:00"), utc("2026-11-01T11:00:00Z")),
            ]
        );
    }

    #[test]
    fn expected_times_use_run_days_when_the_job_says_so() {
        let mut slo = daily("s", &["a"]);
        slo.jobs[0].day_unit = DayUnit::Run;
        // Wednesday 25 November: Thanksgiving follows, so one run day is Friday 27th.
        let events = [ev("a", Start, "2026-11-27T08:00:00Z", "2026-11-25", "r1")];
        let rows = performance(&[slo], &events);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].expected_start, rows[0].expected_end),
            (utc("2026-11-27T08:00:00Z"), utc("2026-11-27T10:00:00Z"))
        );
    }

    #[test]
    fn an_instance_whose_run_days_run_out_has_no_row() {
        // Only one run date in ten years: there is no next run date to anchor the offset.
        let only = d("2026-11-24");
        let off: Vec<(NaiveDate, bool)> = only
            .succ_opt()
            .unwrap()
            .iter_days()
            .take(4000)
            .map(|x| (x, false))
            .chain([(only, true)])
            .collect();
        let mut slo = daily("s", &["a"]);
        slo.schedule.calendar =
            Cow::Owned(Calendar::new(&[1, 2, 3, 4, 5], false, [], off).unwrap());
        slo.jobs[0].day_unit = DayUnit::Run;
        let events = [ev("a", Start, "2026-11-25T08:00:00Z", BD, "r1")];
        assert_eq!(performance(&[slo], &events), vec![]);
    }

    fn arb_event() -> impl Strategy<Value = EngineEvent> {
        (
            prop::sample::select(vec!["a", "b"]),
            prop::sample::select(vec![Start, Succeed, Fail]),
            0i64..(3 * 24 * 60),
            0u64..3,
            prop::sample::select(vec!["r1", "r2"]),
            prop::option::of(prop::sample::select(vec!["06:00", "07:10", "10:00"])),
        )
            .prop_map(|(job, status, minute, day, run, period)| EngineEvent {
                job_id: job.into(),
                status,
                status_time: utc("2026-11-23T00:00:00Z") + Duration::minutes(minute),
                business_date: d("2026-11-23") + chrono::Days::new(day),
                run_id: run.into(),
                period_start: period.map(t),
            })
    }

    proptest! {
        /// Shuffling the events and delivering some twice changes nothing.
        #[test]
        fn rows_depend_only_on_the_set_of_events(
            events in proptest::collection::vec(arb_event(), 0..30),
            perm in any::<prop::sample::Index>(),
            repeats in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let slos = [daily("d", &["a", "b"]), intraday("i", &["a", "b"])];
            // Repeats of a key are exact copies (as real redeliveries are): drop the others.
            let unique: Vec<EngineEvent> = dedup(&events).into_iter().cloned().collect();
            let expected = performance(&slos, &unique);
            let mut shuffled = unique.clone();
            if !shuffled.is_empty() {
                for r in &repeats {
                    shuffled.push(r.get(&unique).clone());
                }
                let k = perm.index(shuffled.len());
                shuffled.rotate_left(k);
                shuffled.reverse();
            }
            prop_assert_eq!(performance(&slos, &shuffled), expected);
        }
    }
}
