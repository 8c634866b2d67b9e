//! The definitions in the database: read them into [`Definitions`], count what removals must
//! respect ([`Usage`]), and carry a [`Plan`] out. Writes only the definition tables of
//! CONTRACT section 2 (`slo.application`, `slo.job`, `slo.holiday`, `slo.calendar`,
//! `slo.calendar_exception`, `slo.slo`, `slo.slo_job`), inside the caller's transaction; the
//! extension's triggers check every row again and keep the run dates current.

use crate::pg_types::PgInterval;
use anyhow::Context;
use chrono::{NaiveDate, NaiveTime};
use slo_core::definitions::{
    Action, Application, CalendarDef, Definitions, HolidaySet, Intraday, Job, Kind, Plan, SloDef,
    SloJobDef, Usage,
};
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::GenericClient;
use tracing::instrument;

/// Reads every definition. Holiday sets are the sets with rows plus the sets calendars name.
#[instrument(skip_all)]
pub async fn read(db: &impl GenericClient) -> anyhow::Result<Definitions> {
    let mut d = Definitions::default();
    for r in db
        .query("SELECT app_id, name FROM slo.application", &[])
        .await
        .context("reading slo.application")?
    {
        d.applications
            .insert(r.get(0), Application { name: r.get(1) });
    }
    for r in db
        .query("SELECT job_id, app_id, name FROM slo.job", &[])
        .await
        .context("reading slo.job")?
    {
        d.jobs.insert(
            r.get(0),
            Job {
                app_id: r.get(1),
                name: r.get(2),
            },
        );
    }
    let mut holidays: BTreeMap<String, BTreeMap<NaiveDate, String>> = BTreeMap::new();
    for r in db
        .query(
            "SELECT holiday_set, holiday_date, name FROM slo.holiday \
             UNION ALL SELECT DISTINCT holiday_set, NULL::date, NULL::text FROM slo.calendar WHERE holiday_set IS NOT NULL",
            &[],
        )
        .await
        .context("reading slo.holiday")?
    {
        let set = holidays.entry(r.get(0)).or_default();
        if let (Some(date), Some(name)) = (r.get::<_, Option<NaiveDate>>(1), r.get(2)) {
            set.insert(date, name);
        }
    }
    d.holiday_sets = holidays
        .into_iter()
        .map(|(id, rows)| (id, HolidaySet::from_rows(&rows)))
        .collect();
    for r in db
        .query(
            "SELECT calendar_id, name, run_weekdays, holiday_set, runs_on_holidays FROM slo.calendar",
            &[],
        )
        .await
        .context("reading slo.calendar")?
    {
        let mut days: Vec<i32> = r.get(2);
        days.sort_unstable();
        days.dedup();
        d.calendars.insert(
            r.get(0),
            CalendarDef {
                name: r.get(1),
                run_weekdays: days,
                holiday_set: r.get(3),
                runs_on_holidays: r.get(4),
                exceptions: BTreeMap::new(),
            },
        );
    }
    for r in db
        .query(
            "SELECT calendar_id, exception_date, runs FROM slo.calendar_exception",
            &[],
        )
        .await
        .context("reading slo.calendar_exception")?
    {
        if let Some(c) = d.calendars.get_mut(r.get::<_, &str>(0)) {
            c.exceptions.insert(r.get(1), r.get(2));
        }
    }
    for r in db
        .query(
            "SELECT slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end, slack, active \
             FROM slo.slo",
            &[],
        )
        .await
        .context("reading slo.slo")?
    {
        let period: Option<PgInterval> = r.get(5);
        let start: Option<NaiveTime> = r.get(6);
        let end: Option<NaiveTime> = r.get(7);
        let intraday = match (period, start, end) {
            (Some(p), Some(s), Some(e)) => Some(Intraday {
                period: p.0,
                window_start: s,
                window_end: e,
            }),
            _ => None,
        };
        d.slos.insert(
            r.get(0),
            SloDef {
                name: r.get(1),
                app_id: r.get(2),
                calendar_id: r.get(3),
                time_zone: r.get(4),
                intraday,
                slack: r.get::<_, PgInterval>(8).0,
                active: r.get(9),
                jobs: BTreeMap::new(),
            },
        );
    }
    for r in db
        .query(
            "SELECT slo_id, job_id, expected_start, expected_end, day_unit FROM slo.slo_job",
            &[],
        )
        .await
        .context("reading slo.slo_job")?
    {
        if let Some(s) = d.slos.get_mut(r.get::<_, &str>(0)) {
            s.jobs.insert(
                r.get(1),
                SloJobDef {
                    expected_start: r.get::<_, PgInterval>(2).0,
                    expected_end: r.get::<_, PgInterval>(3).0,
                    day_unit: r.get(4),
                },
            );
        }
    }
    Ok(d)
}

/// Counts the rows that removing objects, or moving jobs, would touch: performance rows of the
/// SLOs the file leaves out, events of the jobs it leaves out or moves, events of the
/// applications it leaves out. Only those are counted (the job-status table can be large).
#[instrument(skip_all)]
pub async fn usage(
    db: &impl GenericClient,
    wanted: &Definitions,
    current: &Definitions,
) -> anyhow::Result<Usage> {
    let slos: Vec<&str> = current
        .slos
        .keys()
        .filter(|id| !wanted.slos.contains_key(*id))
        .map(String::as_str)
        .collect();
    let jobs: Vec<&str> = current
        .jobs
        .iter()
        .filter(|(id, j)| wanted.jobs.get(*id).is_none_or(|w| w.app_id != j.app_id))
        .map(|(id, _)| id.as_str())
        .collect();
    let apps: Vec<&str> = current
        .applications
        .keys()
        .filter(|id| !wanted.applications.contains_key(*id))
        .map(String::as_str)
        .collect();
    let mut u = Usage::default();
    let counts = |rows: Vec<tokio_postgres::Row>| -> BTreeMap<String, i64> {
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    if !slos.is_empty() {
        u.slo_performance_rows = counts(
            db.query(
                "SELECT slo_id, count(*) FROM slo.slo_performance WHERE slo_id = ANY($1) GROUP BY slo_id",
                &[&slos],
            )
            .await
            .context("counting performance rows")?,
        );
    }
    if !jobs.is_empty() {
        u.job_events = counts(
            db.query(
                "SELECT job_id, count(*) FROM slo.job_status WHERE job_id = ANY($1) GROUP BY job_id",
                &[&jobs],
            )
            .await
            .context("counting job events")?,
        );
    }
    if !apps.is_empty() {
        u.app_events = counts(
            db.query(
                "SELECT app_id, count(*) FROM slo.job_status WHERE app_id = ANY($1) GROUP BY app_id",
                &[&apps],
            )
            .await
            .context("counting application events")?,
        );
    }
    Ok(u)
}

/// Carries the plan out, change by change, in its order.
#[instrument(skip_all, fields(changes = plan.changes.len()))]
pub async fn execute(
    db: &impl GenericClient,
    plan: &Plan,
    wanted: &Definitions,
    current: &Definitions,
) -> anyhow::Result<()> {
    for change in &plan.changes {
        let id = change.id.as_str();
        let what = format!("{} {:?}", change.kind.as_str(), id);
        let result = match (change.kind, change.action) {
            (Kind::Application, Action::Remove) => {
                exec(db, "DELETE FROM slo.application WHERE app_id = $1", &[&id]).await
            }
            (Kind::Application, _) => {
                let a = &wanted.applications[id];
                exec(
                    db,
                    "INSERT INTO slo.application (app_id, name) VALUES ($1, $2) \
                     ON CONFLICT (app_id) DO UPDATE SET name = EXCLUDED.name",
                    &[&id, &a.name],
                )
                .await
            }
            (Kind::Job, Action::Remove) => {
                exec(db, "DELETE FROM slo.job WHERE job_id = $1", &[&id]).await
            }
            (Kind::Job, _) => {
                let j = &wanted.jobs[id];
                exec(
                    db,
                    "INSERT INTO slo.job (job_id, app_id, name) VALUES ($1, $2, $3) \
                     ON CONFLICT (job_id) DO UPDATE SET app_id = EXCLUDED.app_id, name = EXCLUDED.name",
                    &[&id, &j.app_id, &j.name],
                )
                .await
            }
            (Kind::HolidaySet, Action::Remove) => {
                exec(db, "DELETE FROM slo.holiday WHERE holiday_set = $1", &[&id]).await
            }
            (Kind::HolidaySet, _) => {
                let before = current
                    .holiday_sets
                    .get(id)
                    .map(HolidaySet::holidays)
                    .unwrap_or_default();
                holidays(db, id, &before, &wanted.holiday_sets[id].holidays()).await
            }
            (Kind::Calendar, Action::Remove) => {
                exec(
                    db,
                    "DELETE FROM slo.calendar WHERE calendar_id = $1",
                    &[&id],
                )
                .await
            }
            (Kind::Calendar, _) => {
                calendar(db, id, current.calendars.get(id), &wanted.calendars[id]).await
            }
            (Kind::Slo, Action::Remove) => {
                exec(db, "DELETE FROM slo.slo WHERE slo_id = $1", &[&id]).await
            }
            (Kind::Slo, _) => slo(db, id, current.slos.get(id), &wanted.slos[id]).await,
        };
        result.with_context(|| format!("applying {what}"))?;
    }
    Ok(())
}

async fn exec(
    db: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> anyhow::Result<()> {
    db.execute(sql, params).await.map_err(database_error)?;
    Ok(())
}

/// The database's own message (with its detail), which names the object and field for the
/// extension's definition checks. This is an operator's command: the text is not secret here.
fn database_error(e: tokio_postgres::Error) -> anyhow::Error {
    match e.as_db_error() {
        Some(db) => {
            let mut msg = db.message().to_owned();
            if let Some(detail) = db.detail() {
                msg.push_str(&format!(" ({detail})"));
            }
            anyhow::anyhow!("the database refused it: {msg}")
        }
        None => anyhow::Error::new(e),
    }
}

async fn holidays(
    db: &impl GenericClient,
    set: &str,
    before: &BTreeMap<NaiveDate, String>,
    after: &BTreeMap<NaiveDate, String>,
) -> anyhow::Result<()> {
    let gone: Vec<NaiveDate> = before
        .keys()
        .filter(|d| !after.contains_key(*d))
        .copied()
        .collect();
    if !gone.is_empty() {
        exec(
            db,
            "DELETE FROM slo.holiday WHERE holiday_set = $1 AND holiday_date = ANY($2)",
            &[&set, &gone],
        )
        .await?;
    }
    let (dates, names): (Vec<NaiveDate>, Vec<&str>) = after
        .iter()
        .filter(|(d, n)| before.get(*d) != Some(*n))
        .map(|(d, n)| (*d, n.as_str()))
        .unzip();
    if !dates.is_empty() {
        exec(
            db,
            "INSERT INTO slo.holiday (holiday_set, holiday_date, name) \
             SELECT $1, d, n FROM unnest($2::date[], $3::text[]) AS x(d, n) \
             ON CONFLICT (holiday_set, holiday_date) DO UPDATE SET name = EXCLUDED.name",
            &[&set, &dates, &names],
        )
        .await?;
    }
    Ok(())
}

async fn calendar(
    db: &impl GenericClient,
    id: &str,
    before: Option<&CalendarDef>,
    c: &CalendarDef,
) -> anyhow::Result<()> {
    let same_row = before.is_some_and(|b| {
        b.name == c.name
            && b.run_weekdays == c.run_weekdays
            && b.holiday_set == c.holiday_set
            && b.runs_on_holidays == c.runs_on_holidays
    });
    if !same_row {
        exec(
            db,
            "INSERT INTO slo.calendar (calendar_id, name, run_weekdays, holiday_set, runs_on_holidays) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (calendar_id) DO UPDATE SET name = EXCLUDED.name, run_weekdays = EXCLUDED.run_weekdays, \
               holiday_set = EXCLUDED.holiday_set, runs_on_holidays = EXCLUDED.runs_on_holidays",
            &[&id, &c.name, &c.run_weekdays, &c.holiday_set, &c.runs_on_holidays],
        )
        .await?;
    }
    let old = before.map(|b| b.exceptions.clone()).unwrap_or_default();
    let gone: Vec<NaiveDate> = old
        .keys()
        .filter(|d| !c.exceptions.contains_key(*d))
        .copied()
        .collect();
    if !gone.is_empty() {
        exec(
            db,
            "DELETE FROM slo.calendar_exception WHERE calendar_id = $1 AND exception_date = ANY($2)",
            &[&id, &gone],
        )
        .await?;
    }
    let (dates, runs): (Vec<NaiveDate>, Vec<bool>) = c
        .exceptions
        .iter()
        .filter(|(d, r)| old.get(*d) != Some(*r))
        .map(|(d, r)| (*d, *r))
        .unzip();
    if !dates.is_empty() {
        exec(
            db,
            "INSERT INTO slo.calendar_exception (calendar_id, exception_date, runs) \
             SELECT $1, d, r FROM unnest($2::date[], $3::boolean[]) AS x(d, r) \
             ON CONFLICT (calendar_id, exception_date) DO UPDATE SET runs = EXCLUDED.runs",
            &[&id, &dates, &runs],
        )
        .await?;
    }
    Ok(())
}

async fn slo(
    db: &impl GenericClient,
    id: &str,
    before: Option<&SloDef>,
    s: &SloDef,
) -> anyhow::Result<()> {
    let same_row = before.is_some_and(|b| {
        b.name == s.name
            && b.app_id == s.app_id
            && b.calendar_id == s.calendar_id
            && b.time_zone == s.time_zone
            && b.intraday == s.intraday
            && b.slack == s.slack
            && b.active == s.active
    });
    if !same_row {
        let period = s.intraday.map(|i| PgInterval(i.period));
        let start = s.intraday.map(|i| i.window_start);
        let end = s.intraday.map(|i| i.window_end);
        exec(
            db,
            "INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end, slack, active) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (slo_id) DO UPDATE SET name = EXCLUDED.name, app_id = EXCLUDED.app_id, \
               calendar_id = EXCLUDED.calendar_id, time_zone = EXCLUDED.time_zone, period = EXCLUDED.period, \
               window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end, slack = EXCLUDED.slack, \
               active = EXCLUDED.active",
            &[
                &id,
                &s.name,
                &s.app_id,
                &s.calendar_id,
                &s.time_zone,
                &period,
                &start,
                &end,
                &PgInterval(s.slack),
                &s.active,
            ],
        )
        .await?;
    }
    let old = before.map(|b| b.jobs.clone()).unwrap_or_default();
    let gone: Vec<&str> = old
        .keys()
        .filter(|j| !s.jobs.contains_key(*j))
        .map(String::as_str)
        .collect();
    if !gone.is_empty() {
        exec(
            db,
            "DELETE FROM slo.slo_job WHERE slo_id = $1 AND job_id = ANY($2)",
            &[&id, &gone],
        )
        .await?;
    }
    let changed: BTreeSet<&String> = s
        .jobs
        .iter()
        .filter(|(j, def)| old.get(*j) != Some(*def))
        .map(|(j, _)| j)
        .collect();
    for job in changed {
        let j = &s.jobs[job];
        exec(
            db,
            "INSERT INTO slo.slo_job (slo_id, job_id, expected_start, expected_end, day_unit) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (slo_id, job_id) DO UPDATE SET expected_start = EXCLUDED.expected_start, \
               expected_end = EXCLUDED.expected_end, day_unit = EXCLUDED.day_unit",
            &[
                &id,
                job,
                &PgInterval(j.expected_start),
                &PgInterval(j.expected_end),
                &j.day_unit,
            ],
        )
        .await?;
    }
    Ok(())
}
