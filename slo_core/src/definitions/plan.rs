//! The plan: what turns the definitions in force into the wanted ones. Objects are compared by
//! id and field; sub-rows (holidays, calendar exceptions, an SLO's jobs) are details of their
//! parent's change. Additions and changes come in dependency order (applications, jobs,
//! holiday sets, calendars, SLOs), removals in the reverse order, so carrying the plan out from
//! top to bottom never breaks a reference.
//!
//! What the events need is kept: a job or an application that `slo.job_status` rows refer to
//! cannot be removed (the plan keeps it and says why), and a job with events cannot move to
//! another application. Removing an SLO that has performance rows deletes them, so it is
//! blocked unless deletion is allowed.

use super::{format_time, Definitions, HolidaySet, Interval, SloDef};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What happens to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Add,
    Change,
    Remove,
}

/// The kind of an object, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Application,
    Job,
    HolidaySet,
    Calendar,
    Slo,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Application => "application",
            Kind::Job => "job",
            Kind::HolidaySet => "holiday_set",
            Kind::Calendar => "calendar",
            Kind::Slo => "slo",
        }
    }
}

/// One object added, changed or removed, with a line per changed field or sub-row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub kind: Kind,
    pub id: String,
    pub details: Vec<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.action {
            Action::Add => '+',
            Action::Change => '~',
            Action::Remove => '-',
        };
        write!(f, "{sign} {} {:?}", self.kind.as_str(), self.id)?;
        for d in &self.details {
            write!(f, "\n    {d}")?;
        }
        Ok(())
    }
}

/// What the database holds that a removal must respect: rows of `slo.slo_performance` per SLO,
/// rows of `slo.job_status` per job and per application.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub slo_performance_rows: BTreeMap<String, i64>,
    pub job_events: BTreeMap<String, i64>,
    pub app_events: BTreeMap<String, i64>,
}

/// The plan: the changes in the order to make them, objects kept that the file leaves out, and
/// reasons the plan cannot be carried out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Objects absent from the file that stay, each with the reason.
    pub kept: Vec<String>,
    /// Why the plan cannot be applied as it is; empty when it can.
    pub blocked: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Counts of (added, changed, removed) objects.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |a: Action| self.changes.iter().filter(|c| c.action == a).count();
        (n(Action::Add), n(Action::Change), n(Action::Remove))
    }

    /// Whether any change can move expected times of performance rows already computed.
    pub fn affects_expected_times(&self) -> bool {
        self.changes.iter().any(|c| {
            matches!(c.kind, Kind::HolidaySet | Kind::Calendar | Kind::Slo)
                && c.action == Action::Change
        })
    }
}

/// Compares the definitions in force (`current`) with the wanted ones (`wanted`).
pub fn plan(
    wanted: &Definitions,
    current: &Definitions,
    usage: &Usage,
    allow_delete: bool,
) -> Plan {
    let mut p = Plan::default();
    let count = |m: &BTreeMap<String, i64>, id: &str| m.get(id).copied().unwrap_or(0);

    // Additions and changes, in dependency order.
    for (id, a) in &wanted.applications {
        match current.applications.get(id) {
            None => p.add(Kind::Application, id, vec![format!("name: {:?}", a.name)]),
            Some(c) => p.change(Kind::Application, id, vec![field("name", &c.name, &a.name)]),
        }
    }
    for (id, j) in &wanted.jobs {
        match current.jobs.get(id) {
            None => p.add(
                Kind::Job,
                id,
                vec![format!("app_id: {:?}, name: {:?}", j.app_id, j.name)],
            ),
            Some(c) => {
                if c.app_id != j.app_id && count(&usage.job_events, id) > 0 {
                    p.blocked.push(format!(
                        "job {id:?} cannot move from application {:?} to {:?}: {} events in slo.job_status name it under {:?}",
                        c.app_id,
                        j.app_id,
                        count(&usage.job_events, id),
                        c.app_id
                    ));
                }
                p.change(
                    Kind::Job,
                    id,
                    vec![
                        field("app_id", &c.app_id, &j.app_id),
                        field("name", &c.name, &j.name),
                    ],
                );
            }
        }
    }
    for (id, h) in &wanted.holiday_sets {
        // A set without holidays has no rows: nothing to store (calendars may still name it).
        if !current.holiday_sets.contains_key(id) && h.holidays().is_empty() {
            continue;
        }
        let empty = HolidaySet::default();
        let before = current.holiday_sets.get(id).unwrap_or(&empty).holidays();
        let details = holiday_details(&before, &h.holidays());
        if current.holiday_sets.contains_key(id) {
            p.change(Kind::HolidaySet, id, details);
        } else {
            p.add(Kind::HolidaySet, id, details);
        }
    }
    for (id, c) in &wanted.calendars {
        let mut d = Vec::new();
        let before = current.calendars.get(id);
        let old = before.cloned();
        d.push(opt_field(
            "name",
            old.as_ref().map(|o| format!("{:?}", o.name)),
            Some(format!("{:?}", c.name)),
        ));
        d.push(opt_field(
            "run_weekdays",
            old.as_ref().map(|o| format!("{:?}", o.run_weekdays)),
            Some(format!("{:?}", c.run_weekdays)),
        ));
        d.push(opt_field(
            "holiday_set",
            old.as_ref().map(|o| show_opt(&o.holiday_set)),
            Some(show_opt(&c.holiday_set)),
        ));
        d.push(opt_field(
            "runs_on_holidays",
            old.as_ref().map(|o| o.runs_on_holidays.to_string()),
            Some(c.runs_on_holidays.to_string()),
        ));
        let old_x = old.map(|o| o.exceptions).unwrap_or_default();
        for (date, runs) in &c.exceptions {
            match old_x.get(date) {
                None => d.push(format!("+ exception {date}: runs = {runs}")),
                Some(r) if r != runs => d.push(format!("~ exception {date}: runs {r} -> {runs}")),
                _ => {}
            }
        }
        for (date, runs) in &old_x {
            if !c.exceptions.contains_key(date) {
                d.push(format!("- exception {date}: runs = {runs}"));
            }
        }
        if before.is_some() {
            p.change(Kind::Calendar, id, d);
        } else {
            p.add(Kind::Calendar, id, d);
        }
    }
    for (id, s) in &wanted.slos {
        let before = current.slos.get(id);
        let d = slo_details(before, s);
        if before.is_some() {
            p.change(Kind::Slo, id, d);
        } else {
            p.add(Kind::Slo, id, d);
        }
    }

    // Removals, in reverse dependency order.
    for id in current
        .slos
        .keys()
        .filter(|id| !wanted.slos.contains_key(*id))
    {
        let rows = count(&usage.slo_performance_rows, id);
        if rows > 0 && !allow_delete {
            p.blocked.push(format!(
                "slo {id:?} has {rows} rows of history in slo.slo_performance, which removing it deletes: \
                 keep it in the file (active = false stops new instances) or pass --allow-delete"
            ));
        }
        let detail = if rows > 0 {
            vec![format!("deletes its {rows} rows of slo.slo_performance")]
        } else {
            Vec::new()
        };
        p.remove(Kind::Slo, id, detail);
    }
    for id in current
        .calendars
        .keys()
        .filter(|id| !wanted.calendars.contains_key(*id))
    {
        p.remove(Kind::Calendar, id, Vec::new());
    }
    for (id, h) in current
        .holiday_sets
        .iter()
        .filter(|(id, _)| !wanted.holiday_sets.contains_key(*id))
    {
        let n = h.holidays().len();
        if n == 0 {
            continue;
        }
        p.remove(Kind::HolidaySet, id, vec![format!("deletes {n} holidays")]);
    }
    let mut kept_apps = BTreeSet::new();
    for (id, j) in current
        .jobs
        .iter()
        .filter(|(id, _)| !wanted.jobs.contains_key(*id))
    {
        let events = count(&usage.job_events, id);
        if events > 0 {
            p.kept.push(format!(
                "job {id:?} is not in the file but stays: {events} events in slo.job_status refer to it \
                 (add it to the file to silence this)"
            ));
            kept_apps.insert(j.app_id.clone());
        } else {
            p.remove(Kind::Job, id, Vec::new());
        }
    }
    for id in current
        .applications
        .keys()
        .filter(|id| !wanted.applications.contains_key(*id))
    {
        let events = count(&usage.app_events, id);
        if events > 0 || kept_apps.contains(id) {
            p.kept.push(format!(
                "application {id:?} is not in the file but stays: {events} events in slo.job_status and the jobs kept refer to it"
            ));
        } else {
            p.remove(Kind::Application, id, Vec::new());
        }
    }
    p
}

impl Plan {
    fn add(&mut self, kind: Kind, id: &str, details: Vec<String>) {
        self.changes.push(Change {
            action: Action::Add,
            kind,
            id: id.to_owned(),
            details: details.into_iter().filter(|d| !d.is_empty()).collect(),
        });
    }

    /// Records a change when any detail is non-empty.
    fn change(&mut self, kind: Kind, id: &str, details: Vec<String>) {
        let details: Vec<String> = details.into_iter().filter(|d| !d.is_empty()).collect();
        if !details.is_empty() {
            self.changes.push(Change {
                action: Action::Change,
                kind,
                id: id.to_owned(),
                details,
            });
        }
    }

    fn remove(&mut self, kind: Kind, id: &str, details: Vec<String>) {
        self.changes.push(Change {
            action: Action::Remove,
            kind,
            id: id.to_owned(),
            details,
        });
    }
}

/// `field: old -> new`, or empty when equal.
fn field(name: &str, old: &str, new: &str) -> String {
    if old == new {
        String::new()
    } else {
        format!("{name}: {old:?} -> {new:?}")
    }
}

/// For an addition (`old` is `None`) `field: new`; for a change `field: old -> new` or empty.
fn opt_field(name: &str, old: Option<String>, new: Option<String>) -> String {
    match (old, new) {
        (None, Some(n)) => format!("{name}: {n}"),
        (Some(o), Some(n)) if o != n => format!("{name}: {o} -> {n}"),
        _ => String::new(),
    }
}

fn show_opt(s: &Option<String>) -> String {
    s.as_deref()
        .map(|x| format!("{x:?}"))
        .unwrap_or_else(|| "none".to_owned())
}

fn holiday_details(
    before: &BTreeMap<chrono::NaiveDate, String>,
    after: &BTreeMap<chrono::NaiveDate, String>,
) -> Vec<String> {
    let added: Vec<_> = after
        .iter()
        .filter(|(d, _)| !before.contains_key(*d))
        .collect();
    let removed: Vec<_> = before
        .iter()
        .filter(|(d, _)| !after.contains_key(*d))
        .collect();
    let renamed: Vec<_> = after
        .iter()
        .filter_map(|(d, n)| before.get(d).filter(|o| *o != n).map(|o| (d, o, n)))
        .collect();
    let mut out = Vec::new();
    let list = |sign: char, items: &[(&chrono::NaiveDate, &String)], out: &mut Vec<String>| {
        if items.len() > 6 {
            out.push(format!(
                "{sign} {} holidays, {} .. {}",
                items.len(),
                items[0].0,
                items[items.len() - 1].0
            ));
        } else {
            out.extend(
                items
                    .iter()
                    .map(|(d, n)| format!("{sign} holiday {d} {n:?}")),
            );
        }
    };
    list('+', &added, &mut out);
    list('-', &removed, &mut out);
    for (d, o, n) in renamed {
        out.push(format!("~ holiday {d}: name {o:?} -> {n:?}"));
    }
    out
}

fn slo_details(before: Option<&SloDef>, s: &SloDef) -> Vec<String> {
    let mut d = Vec::new();
    let o = before;
    let iv = |x: Interval| x.to_words_string();
    let window = |x: &SloDef| match &x.intraday {
        None => "daily".to_owned(),
        Some(i) => format!(
            "every {} from {} to {}",
            iv(i.period),
            format_time(i.window_start),
            format_time(i.window_end)
        ),
    };
    d.push(opt_field(
        "name",
        o.map(|x| format!("{:?}", x.name)),
        Some(format!("{:?}", s.name)),
    ));
    d.push(opt_field(
        "app_id",
        o.map(|x| x.app_id.clone()),
        Some(s.app_id.clone()),
    ));
    d.push(opt_field(
        "calendar_id",
        o.map(|x| x.calendar_id.clone()),
        Some(s.calendar_id.clone()),
    ));
    d.push(opt_field(
        "time_zone",
        o.map(|x| x.time_zone.clone()),
        Some(s.time_zone.clone()),
    ));
    d.push(opt_field("schedule", o.map(window), Some(window(s))));
    d.push(opt_field(
        "slack",
        o.map(|x| iv(x.slack)),
        Some(iv(s.slack)),
    ));
    d.push(opt_field(
        "active",
        o.map(|x| x.active.to_string()),
        Some(s.active.to_string()),
    ));
    let old_jobs = o.map(|x| x.jobs.clone()).unwrap_or_default();
    let show = |j: &super::SloJobDef| {
        format!(
            "{} .. {} ({} days)",
            j.expected_start.to_clock_string(),
            j.expected_end.to_clock_string(),
            j.day_unit
        )
    };
    for (id, j) in &s.jobs {
        match old_jobs.get(id) {
            None => d.push(format!("+ job {id:?}: {}", show(j))),
            Some(oj) if oj != j => d.push(format!("~ job {id:?}: {} -> {}", show(oj), show(j))),
            _ => {}
        }
    }
    for (id, oj) in &old_jobs {
        if !s.jobs.contains_key(id) {
            d.push(format!("- job {id:?}: {}", show(oj)));
        }
    }
    d
}
