//! What the engine keeps of a daily SLO day beside its performance row, so that a new event is
//! merged into the row without reading the day's other events again.
//!
//! The state of a daily SLO day is, per job of the SLO: its earliest `start`, its earliest
//! `succeed`, and the distinct run ids that reported `fail` (rules 3 and 4 of
//! [`crate::engine`]: every event of a daily SLO goes to its one instance at `00:00`). Each part
//! is a minimum or a set union, so merging events is commutative, associative and idempotent:
//! the state after any set of events, merged in any order, in any batches, any number of times,
//! is the state of that set ([`DailyState::from_events`]), and the row derived from it
//! ([`DailyState::row`]) equals the reference row of [`crate::engine::performance`].
//!
//! That is also what makes concurrent writers safe without a lock per SLO day: a writer merges
//! its own events into the latest committed state and writes it back under PostgreSQL's row
//! lock, retrying on a concurrent update. A writer whose events change nothing has nothing to
//! lose, since what it would add is already in every later state.
//!
//! The state is tied to the SLO's jobs by a signature ([`DailyState::signature`]): after the
//! SLO's jobs change, a stored state no longer decodes, and the engine rebuilds it from the
//! day's events.
//!
//! Beside the jobs, the state carries a tag of the definitions it was made under (the engine
//! uses [`crate::engine::SloDef::fingerprint`]; opaque here): while it holds, the engine merges
//! new events into the state and takes the expected times from the stored row; after a change
//! of the SLO's definition it rebuilds the state from the day's events.
//!
//! Two states of the same SLO day made under the same tag join ([`DailyState::join`]) into the
//! state of the union of their events: the engine writes a statement's own state into the
//! stored one with that join, inside PostgreSQL's `INSERT ... ON CONFLICT DO UPDATE`.
//!
//! Encoding (little-endian), version 1: `1u8`, signature `u64`, tag `u64`, job count `u16`, then per job in
//! the order of the SLO's job ids sorted: flags `u8` (bit 0: a start follows, bit 1: an end
//! follows), start `i64` and end `i64` (microseconds since 1970-01-01 UTC, when present), the
//! failed run count `u16`, and each failed run id as its length `u16` and its UTF-8 bytes, sorted.
//!
//! Pure: touches nothing outside itself.

use crate::engine::{PerformanceRow, SloDef};
use crate::schedule::{DayUnit, Offset};
use crate::Status;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

const VERSION: u8 = 1;

/// What one job did on a daily SLO day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobAgg {
    /// Its earliest start (microseconds since 1970-01-01 UTC).
    pub start: Option<i64>,
    /// Its earliest success.
    pub end: Option<i64>,
    /// The distinct run ids that reported `fail`, sorted.
    pub failed: Vec<String>,
}

impl JobAgg {
    fn is_empty(&self) -> bool {
        self.start.is_none() && self.end.is_none() && self.failed.is_empty()
    }
}

/// The tag of the daily states of an SLO: its definition's fingerprint
/// ([`crate::engine::SloDef::fingerprint`]) and the version the database gives its definition
/// at every change (so that a change undone, which restores the fingerprint, still changes the
/// tag: events stored in between are then read again).
pub fn tag(fingerprint: u64, version: i64) -> u64 {
    let mut h = crate::fnv::Fnv::new(b"tag/1");
    h.u64(fingerprint);
    h.i64(version);
    h.finish()
}

/// What a performance row shows of a daily state ([`DailyState::actuals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actuals {
    /// The earliest start of any job.
    pub start: Option<i64>,
    /// The latest end, when every job has ended.
    pub end: Option<i64>,
    /// Distinct (job, run id) pairs that reported `fail`.
    pub failed_runs: i64,
}

/// The state of one daily SLO day: what each of the SLO's jobs did, by the job's position among
/// the SLO's job ids sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyState {
    signature: u64,
    tag: u64,
    jobs: Vec<JobAgg>,
}

/// The positions of an SLO's jobs among its job ids sorted: `order[i]` is the state position of
/// `slo.jobs[i]`.
pub fn job_positions(slo: &SloDef) -> Vec<usize> {
    let mut by_id: Vec<usize> = (0..slo.jobs.len()).collect();
    by_id.sort_by(|&a, &b| slo.jobs[a].job_id.cmp(&slo.jobs[b].job_id));
    let mut order = vec![0; slo.jobs.len()];
    for (position, &i) in by_id.iter().enumerate() {
        order[i] = position;
    }
    order
}

impl DailyState {
    /// The signature of a daily SLO's jobs (FNV-1a over the sorted job ids): the same in every
    /// backend and every release that keeps encoding version 1.
    pub fn signature(slo: &SloDef) -> u64 {
        let mut ids: Vec<&str> = slo.jobs.iter().map(|j| j.job_id.as_str()).collect();
        ids.sort_unstable();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        for b in b"daily/1" {
            eat(*b);
        }
        for id in ids {
            eat(0);
            for b in id.bytes() {
                eat(b);
            }
        }
        h
    }

    /// The state before any event.
    pub fn empty(slo: &SloDef) -> DailyState {
        DailyState {
            signature: Self::signature(slo),
            tag: 0,
            jobs: vec![JobAgg::default(); slo.jobs.len()],
        }
    }

    /// The state of a set of events: those of the SLO's jobs on `business_date` (others are
    /// skipped), by the rules of [`crate::engine`].
    pub fn from_events<'e>(
        slo: &SloDef,
        business_date: NaiveDate,
        events: impl IntoIterator<Item = &'e crate::engine::EngineEvent>,
    ) -> DailyState {
        let positions = job_positions(slo);
        let mut state = Self::empty(slo);
        for e in events {
            if e.business_date != business_date {
                continue;
            }
            if let Some(i) = slo.jobs.iter().position(|j| j.job_id == e.job_id) {
                state.add(
                    positions[i],
                    e.status,
                    e.status_time.timestamp_micros(),
                    &e.run_id,
                );
            }
        }
        state
    }

    /// Merges one event of the job at state position `job`; true when the state changed.
    pub fn add(&mut self, job: usize, status: Status, at_micros: i64, run_id: &str) -> bool {
        let agg = &mut self.jobs[job];
        let earlier = |slot: &mut Option<i64>| match slot {
            Some(t) if *t <= at_micros => false,
            _ => {
                *slot = Some(at_micros);
                true
            }
        };
        match status {
            Status::Start => earlier(&mut agg.start),
            Status::Succeed => earlier(&mut agg.end),
            Status::Fail => match agg.failed.binary_search_by(|r| r.as_str().cmp(run_id)) {
                Ok(_) => false,
                Err(at) => {
                    agg.failed.insert(at, run_id.to_owned());
                    true
                }
            },
        }
    }

    /// The tag of the definitions the state (and its row's expected times) was made under.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// Sets that tag.
    pub fn set_tag(&mut self, tag: u64) {
        self.tag = tag;
    }

    /// True when no event has been merged (an instance exists only once an event maps to it).
    pub fn is_empty(&self) -> bool {
        self.jobs.iter().all(JobAgg::is_empty)
    }

    /// What each job did, by state position.
    pub fn jobs(&self) -> &[JobAgg] {
        &self.jobs
    }

    /// The join of two states of one SLO day: the state of the union of their events. `None`
    /// when they cannot be joined: made for other jobs (signature) or under other definitions
    /// (tag).
    pub fn join(&self, other: &DailyState) -> Option<DailyState> {
        if self.signature != other.signature
            || self.tag != other.tag
            || self.jobs.len() != other.jobs.len()
        {
            return None;
        }
        let mut joined = self.clone();
        for (position, theirs) in other.jobs.iter().enumerate() {
            if let Some(at) = theirs.start {
                joined.add(position, Status::Start, at, "");
            }
            if let Some(at) = theirs.end {
                joined.add(position, Status::Succeed, at, "");
            }
            for run in &theirs.failed {
                joined.add(position, Status::Fail, 0, run);
            }
        }
        Some(joined)
    }

    /// What the row shows of the state: the earliest start of any job, the latest end when every
    /// job has ended (else `None`), and the failed runs (microseconds since 1970-01-01 UTC).
    pub fn actuals(&self) -> Actuals {
        Actuals {
            start: self.jobs.iter().filter_map(|j| j.start).min(),
            end: if self.jobs.iter().all(|j| j.end.is_some()) {
                self.jobs.iter().filter_map(|j| j.end).max()
            } else {
                None
            },
            failed_runs: self.jobs.iter().map(|j| j.failed.len() as i64).sum(),
        }
    }

    /// The performance row of the SLO day (`None` before any event, or when the expected times
    /// cannot be computed: run days that run out of the calendar).
    pub fn row(&self, slo: &SloDef, business_date: NaiveDate) -> Option<PerformanceRow> {
        self.row_with_expected(slo, business_date, None)
    }

    /// [`Self::row`], with the expected times given (known from the stored row) or computed.
    pub fn row_with_expected(
        &self,
        slo: &SloDef,
        business_date: NaiveDate,
        expected: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Option<PerformanceRow> {
        if self.is_empty() {
            return None;
        }
        let (expected_start, expected_end) = match expected {
            Some(known) => known,
            None => {
                let offsets: Vec<(Offset, Offset, DayUnit)> = slo
                    .jobs
                    .iter()
                    .map(|j| (j.expected_start, j.expected_end, j.day_unit))
                    .collect();
                slo.schedule
                    .instance_expected(business_date, NaiveTime::MIN, &offsets)?
            }
        };
        let instant = |us: i64| DateTime::<Utc>::from_timestamp_micros(us);
        let actuals = self.actuals();
        Some(PerformanceRow {
            slo_id: slo.slo_id.clone(),
            business_date,
            period_start: NaiveTime::MIN,
            expected_start,
            expected_end,
            actual_start: actuals.start.and_then(instant),
            actual_end: actuals.end.and_then(instant),
            failed_runs: actuals.failed_runs,
        })
    }

    /// The stored form (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(19 + self.jobs.len() * 20);
        out.push(VERSION);
        out.extend_from_slice(&self.signature.to_le_bytes());
        out.extend_from_slice(&self.tag.to_le_bytes());
        out.extend_from_slice(&(self.jobs.len() as u16).to_le_bytes());
        for j in &self.jobs {
            let flags = u8::from(j.start.is_some()) | (u8::from(j.end.is_some()) << 1);
            out.push(flags);
            for t in [j.start, j.end].into_iter().flatten() {
                out.extend_from_slice(&t.to_le_bytes());
            }
            out.extend_from_slice(&(j.failed.len() as u16).to_le_bytes());
            for run in &j.failed {
                out.extend_from_slice(&(run.len() as u16).to_le_bytes());
                out.extend_from_slice(run.as_bytes());
            }
        }
        out
    }

    /// The state stored for `slo`, or `None` when it is not one (another version, malformed,
    /// or made for other jobs of the SLO).
    pub fn decode(slo: &SloDef, bytes: &[u8]) -> Option<DailyState> {
        Self::decode_any(bytes)
            .filter(|s| s.signature == Self::signature(slo) && s.jobs.len() == slo.jobs.len())
    }

    /// A stored state, whatever SLO it was made for; `None` when the bytes are not one.
    pub fn decode_any(bytes: &[u8]) -> Option<DailyState> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return None;
        }
        let signature = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let tag = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let n = usize::from(r.u16()?);
        let mut jobs = Vec::with_capacity(n);
        for _ in 0..n {
            let flags = r.u8()?;
            if flags > 3 {
                return None;
            }
            let start = (flags & 1 != 0).then(|| r.i64()).flatten();
            let end = (flags & 2 != 0).then(|| r.i64()).flatten();
            if (flags & 1 != 0) != start.is_some() || (flags & 2 != 0) != end.is_some() {
                return None;
            }
            let failed_count = usize::from(r.u16()?);
            let mut failed = Vec::with_capacity(failed_count);
            for _ in 0..failed_count {
                let len = usize::from(r.u16()?);
                failed.push(std::str::from_utf8(r.take(len)?).ok()?.to_owned());
            }
            if !failed.windows(2).all(|w| w[0] < w[1]) {
                return None;
            }
            jobs.push(JobAgg { start, end, failed });
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(DailyState {
            signature,
            tag,
            jobs,
        })
    }
}

/// A cursor over the stored bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::engine::{performance, EngineEvent, SloJobDef};
    use crate::schedule::SloSchedule;
    use chrono::Duration;
    use proptest::prelude::*;
    use std::borrow::Cow;
    use Status::{Fail, Start, Succeed};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// Daily, New York, Monday to Friday: jobs (given in this order) expected the next day
    /// from 03:00 to 05:00.
    fn daily(jobs: &[&str]) -> SloDef<'static> {
        SloDef {
            slo_id: "s".into(),
            schedule: SloSchedule {
                time_zone: chrono_tz::America::New_York,
                window: None,
                calendar: Cow::Owned(Calendar::new(&[1, 2, 3, 4, 5], false, [], []).unwrap()),
            },
            active: true,
            jobs: jobs
                .iter()
                .map(|j| SloJobDef {
                    job_id: (*j).into(),
                    expected_start: Offset::hours_minutes(1, 3, 0),
                    expected_end: Offset::hours_minutes(1, 5, 0),
                    day_unit: DayUnit::Calendar,
                })
                .collect(),
        }
    }

    fn ev(job: &str, status: Status, at: &str, run: &str) -> EngineEvent {
        EngineEvent {
            job_id: job.into(),
            status,
            status_time: utc(at),
            business_date: d("2026-11-24"),
            run_id: run.into(),
            period_start: None,
        }
    }

    #[test]
    fn the_row_of_a_state_is_the_reference_row() {
        let slo = daily(&["b", "a"]);
        let events = [
            ev("a", Start, "2026-11-25T08:00:00Z", "r1"),
            ev("a", Fail, "2026-11-25T08:30:00Z", "r1"),
            ev("a", Start, "2026-11-25T08:40:00Z", "r2"),
            ev("a", Succeed, "2026-11-25T09:10:00Z", "r2"),
            ev("b", Start, "2026-11-25T07:55:00Z", "r1"),
            ev("b", Succeed, "2026-11-25T09:30:00Z", "r1"),
        ];
        let state = DailyState::from_events(&slo, d("2026-11-24"), &events);
        assert_eq!(
            state
                .row(&slo, d("2026-11-24"))
                .into_iter()
                .collect::<Vec<_>>(),
            performance(std::slice::from_ref(&slo), &events)
        );
    }

    #[test]
    fn no_event_means_no_row() {
        let slo = daily(&["a"]);
        assert!(DailyState::empty(&slo).is_empty());
        assert_eq!(DailyState::empty(&slo).row(&slo, d("2026-11-24")), None);
    }

    #[test]
    fn a_repeated_failure_of_one_run_counts_once_and_changes_nothing() {
        let slo = daily(&["a"]);
        let mut state = DailyState::empty(&slo);
        assert!(state.add(0, Fail, 1, "r1"));
        assert!(!state.add(0, Fail, 2, "r1"));
        assert!(state.add(0, Fail, 3, "r0"));
        assert_eq!(
            state.jobs()[0].failed,
            vec!["r0".to_owned(), "r1".to_owned()]
        );
    }

    #[test]
    fn a_later_start_or_success_changes_nothing() {
        let slo = daily(&["a"]);
        let mut state = DailyState::empty(&slo);
        assert!(state.add(0, Start, 10, "r1"));
        assert!(!state.add(0, Start, 11, "r2"));
        assert!(state.add(0, Start, 9, "r3"));
        assert!(state.add(0, Succeed, 20, "r3"));
        assert!(!state.add(0, Succeed, 20, "r3"));
        assert_eq!(state.jobs()[0].start, Some(9));
        assert_eq!(state.jobs()[0].end, Some(20));
    }

    #[test]
    fn a_state_stored_for_other_jobs_does_not_decode() {
        let one = daily(&["a"]);
        let two = daily(&["a", "b"]);
        let renamed = daily(&["c"]);
        let bytes = DailyState::from_events(
            &one,
            d("2026-11-24"),
            &[ev("a", Start, "2026-11-25T08:00:00Z", "r1")],
        )
        .encode();
        assert!(DailyState::decode(&one, &bytes).is_some());
        assert_eq!(DailyState::decode(&two, &bytes), None);
        assert_eq!(DailyState::decode(&renamed, &bytes), None);
        // The order jobs are listed in does not matter.
        assert_eq!(
            DailyState::signature(&daily(&["a", "b"])),
            DailyState::signature(&daily(&["b", "a"]))
        );
    }

    #[test]
    fn malformed_bytes_do_not_decode() {
        let slo = daily(&["a", "b"]);
        let mut state = DailyState::empty(&slo);
        state.add(1, Fail, 5, "r1");
        state.add(0, Start, 7, "r2");
        state.set_tag(0x0102_0304_0506_0708);
        let bytes = state.encode();
        assert_eq!(DailyState::decode(&slo, &bytes), Some(state));
        for cut in 0..bytes.len() {
            assert_eq!(
                DailyState::decode(&slo, &bytes[..cut]),
                None,
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(DailyState::decode(&slo, &longer), None);
        let mut other_version = bytes;
        other_version[0] = 2;
        assert_eq!(DailyState::decode(&slo, &other_version), None);
    }

    fn arb_event() -> impl Strategy<Value = EngineEvent> {
        (
            prop::sample::select(vec!["a", "b", "c", "x"]),
            prop::sample::select(vec![Start, Succeed, Fail]),
            0i64..(2 * 24 * 60),
            0u64..2,
            prop::sample::select(vec!["r1", "r2", "r3"]),
        )
            .prop_map(|(job, status, minute, day, run)| EngineEvent {
                job_id: job.into(),
                status,
                status_time: utc("2026-11-24T00:00:00Z") + Duration::minutes(minute),
                business_date: d("2026-11-24") + chrono::Days::new(day),
                run_id: run.into(),
                period_start: None,
            })
    }

    proptest! {
        /// The join of the states of two sets of events is the state of their union, whatever
        /// the split, and through the stored form; states of other tags or jobs do not join.
        #[test]
        fn the_join_of_two_states_is_the_state_of_the_union(
            events in proptest::collection::vec(arb_event(), 0..30),
            split in any::<prop::sample::Index>(),
            tag in any::<u64>(),
        ) {
            let slo = daily(&["c", "a", "b"]);
            let date = d("2026-11-24");
            let cut = split.index(events.len() + 1);
            let state = |evs: &[EngineEvent]| {
                let mut s = DailyState::from_events(&slo, date, evs);
                s.set_tag(tag);
                DailyState::decode_any(&s.encode()).unwrap()
            };
            let (left, right) = (state(&events[..cut]), state(&events[cut..]));
            let whole = state(&events);
            prop_assert_eq!(left.join(&right), Some(whole.clone()));
            prop_assert_eq!(right.join(&left), Some(whole.clone()));
            prop_assert_eq!(whole.join(&whole), Some(whole.clone()));
            let mut empty = DailyState::empty(&slo);
            empty.set_tag(tag);
            prop_assert_eq!(whole.join(&empty), Some(whole.clone()));
            let mut other_tag = right.clone();
            other_tag.set_tag(tag.wrapping_add(1));
            prop_assert_eq!(left.join(&other_tag), None);
            let other_jobs = DailyState::from_events(&daily(&["a", "b"]), date, &events);
            prop_assert_eq!(left.join(&other_jobs), None);
        }

        /// Merging events one by one, in any order and with repeats, through the stored form,
        /// gives the state of their set, whose row is the reference row.
        #[test]
        fn merging_in_any_order_gives_the_reference_row(
            events in proptest::collection::vec(arb_event(), 0..25),
            split in any::<prop::sample::Index>(),
            perm in any::<prop::sample::Index>(),
        ) {
            let slo = daily(&["c", "a", "b"]);
            let date = d("2026-11-24");
            let positions = job_positions(&slo);
            let whole = DailyState::from_events(&slo, date, &events);

            let mut shuffled = events.clone();
            if !shuffled.is_empty() {
                let k = perm.index(shuffled.len());
                shuffled.rotate_left(k);
                shuffled.reverse();
                shuffled.push(events[split.index(events.len())].clone());
            }
            // Two halves merged separately, each through the stored form, then the second's
            // events merged into the first's state.
            let cut = split.index(shuffled.len() + 1);
            let mut first = DailyState::decode(
                &slo,
                &DailyState::from_events(&slo, date, &shuffled[..cut]).encode(),
            ).unwrap();
            for e in &shuffled[cut..] {
                if e.business_date != date {
                    continue;
                }
                if let Some(i) = slo.jobs.iter().position(|j| j.job_id == e.job_id) {
                    first.add(positions[i], e.status, e.status_time.timestamp_micros(), &e.run_id);
                }
            }
            prop_assert_eq!(&first, &whole);

            let reference: Vec<PerformanceRow> = performance(std::slice::from_ref(&slo), &events)
                .into_iter()
                .filter(|r| r.business_date == date)
                .collect();
            prop_assert_eq!(whole.row(&slo, date).into_iter().collect::<Vec<_>>(), reference);
        }
    }
}
