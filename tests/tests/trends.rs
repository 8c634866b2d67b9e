//! Trends for BI (issue 7) on generated histories with known answers: a job whose duration
//! grows 1% a day is slowing, noise without growth is not, month-end swells are attributed to
//! month end and not to a trend, an SLO met with two hours to spare is routinely early and should
//! be about two hours earlier, a routinely late one should be loosened, a slow host shows, an
//! intraday job with restarts is judged per run and per day, and every example query of `sql/`
//! runs and answers.
//!
//! Histories are generated with seeded random noise, so every run of a test sees the same data.
//! Durations are asserted within tolerances that the noise cannot reach.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use tests::TestDb;
use tokio_postgres::{Client, SimpleQueryMessage};

/// The last business date of every generated history: Friday 30 October 2026, the last business
/// day of October (the 31st is a Saturday).
fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 30).unwrap()
}

/// New York wall-clock time `hh:mm` on the day after `bd` (where nightly runs happen), in UTC.
fn ny_next_day(bd: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    ny(bd.succ_opt().unwrap(), hh, mm)
}

fn ny(d: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    New_York
        .from_local_datetime(&d.and_hms_opt(hh, mm, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn secs(s: f64) -> Duration {
    Duration::milliseconds((s * 1000.0).round() as i64)
}

/// Events of generated runs, as columns for one `INSERT ... SELECT ... FROM unnest(...)`.
#[derive(Default)]
struct Events {
    job: Vec<String>,
    status: Vec<String>,
    at: Vec<DateTime<Utc>>,
    bd: Vec<NaiveDate>,
    run: Vec<String>,
    host: Vec<String>,
    period: Vec<Option<NaiveTime>>,
}

impl Events {
    fn event(
        &mut self,
        job: &str,
        status: &str,
        at: DateTime<Utc>,
        bd: NaiveDate,
        run: &str,
        host: &str,
    ) {
        self.job.push(job.to_owned());
        self.status.push(status.to_owned());
        self.at.push(at);
        self.bd.push(bd);
        self.run.push(run.to_owned());
        self.host.push(host.to_owned());
        self.period.push(None);
    }

    /// A run that starts at `start` and succeeds after `duration`.
    fn run(
        &mut self,
        job: &str,
        bd: NaiveDate,
        run: &str,
        host: &str,
        start: DateTime<Utc>,
        duration: Duration,
    ) {
        self.event(job, "start", start, bd, run, host);
        self.event(job, "succeed", start + duration, bd, run, host);
    }

    async fn insert(self, client: &Client) {
        client
            .execute(
                "INSERT INTO slo.job_status
                   (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
                 SELECT 'ops', u.job_id, u.status, u.status_time, u.business_date, u.run_id, u.host_id, u.period_start
                 FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::date[], $5::text[], $6::text[], $7::time[])
                      AS u(job_id, status, status_time, business_date, run_id, host_id, period_start)
                 ORDER BY u.job_id, u.business_date, u.run_id, u.status, u.status_time",
                &[&self.job, &self.status, &self.at, &self.bd, &self.run, &self.host, &self.period],
            )
            .await
            .unwrap();
    }
}

/// A test database with application `ops`, the every-day and business-day calendars (the
/// Federal Reserve's holidays), and the given definitions.
async fn database(definitions: &str) -> (TestDb, Client) {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute(&format!(
            "SET client_min_messages = warning;
             INSERT INTO slo.application VALUES ('ops', 'Operations');
             SELECT slo.load_holidays('us_federal_reserve', 'us_federal_reserve', 2025, 2027);
             INSERT INTO slo.calendar VALUES
               ('every_day', 'Every day', '{{1,2,3,4,5,6,7}}', NULL, true),
               ('standard', 'Business days', '{{1,2,3,4,5}}', 'us_federal_reserve', false);
             {definitions}"
        ))
        .await
        .unwrap();
    (db, client)
}

/// Run dates of a calendar, oldest first: the `n` up to and including `last`.
async fn run_dates(client: &Client, calendar: &str, n: i32, last: NaiveDate) -> Vec<NaiveDate> {
    client
        .query(
            "SELECT d FROM slo.run_dates($1, slo.prev_run_date($1, $2, $3 - 1), $2) AS d ORDER BY d",
            &[&calendar, &last, &n],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// One row of a query as text, by column name (simple protocol: every value as text).
async fn rows(client: &Client, sql: &str) -> Vec<BTreeMap<String, Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}\n{e:?}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                r.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_owned(), r.get(i).map(str::to_owned)))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

async fn one(client: &Client, sql: &str) -> BTreeMap<String, Option<String>> {
    let mut all = rows(client, sql).await;
    assert_eq!(all.len(), 1, "exactly one row expected from {sql}: {all:?}");
    all.remove(0)
}

fn text<'a>(row: &'a BTreeMap<String, Option<String>>, col: &str) -> &'a str {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col} in {row:?}"))
        .as_deref()
        .unwrap_or_else(|| panic!("{col} is NULL in {row:?}"))
}

fn num(row: &BTreeMap<String, Option<String>>, col: &str) -> f64 {
    text(row, col)
        .parse()
        .unwrap_or_else(|e| panic!("{col}: {e} in {row:?}"))
}

fn is_null(row: &BTreeMap<String, Option<String>>, col: &str) -> bool {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col}"))
        .is_none()
}

/// The trend of one job as of `as_of`, with intervals as seconds.
async fn trend(client: &Client, job: &str, as_of: NaiveDate) -> BTreeMap<String, Option<String>> {
    one(
        client,
        &format!(
            "SELECT t.*, extract(epoch FROM t.slope_per_day) AS slope_secs,
                    extract(epoch FROM t.regular_median) AS regular_secs,
                    extract(epoch FROM t.median_duration) AS median_secs,
                    extract(epoch FROM t.budget) AS budget_secs,
                    extract(epoch FROM t.growth) AS growth_secs,
                    t.crossing_date - t.window_to AS crossing_in_days
             FROM slo.job_duration_trend(as_of => '{as_of}') AS t WHERE t.job_id = '{job}'"
        ),
    )
    .await
}

#[tokio::test]
async fn a_job_whose_duration_grows_one_percent_a_day_is_slowing() {
    let (_db, client) = database(
        "INSERT INTO slo.job VALUES ('load', 'ops', 'Nightly load');
         INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
           VALUES ('nightly-load', 'Loaded by 04:00', 'ops', 'every_day', 'America/New_York');
         INSERT INTO slo.slo_job VALUES ('nightly-load', 'load', '1 day 01:00', '1 day 04:00', 'calendar');",
    )
    .await;
    // 60 days, 1 September to 30 October 2026: 20 minutes growing 1% a day, +-5% noise, starting
    // at 01:00 New York +-5 minutes; the expected end is 04:00, 3 hours after the usual start.
    // The month ends (30 September, 30 October) are left out of the fit.
    let mut rng = StdRng::seed_from_u64(20261001);
    let mut ev = Events::default();
    for day in 0..60 {
        let bd = as_of() - Duration::days(59 - day);
        let start = ny_next_day(bd, 1, 0) + secs(rng.gen_range(-300.0..300.0));
        let d = 1200.0 * 1.01f64.powi(day as i32) * (1.0 + rng.gen_range(-0.05..0.05));
        ev.run("load", bd, "r1", "batch01", start, secs(d));
    }
    ev.insert(&client).await;

    let t = trend(&client, "load", as_of()).await;
    assert_eq!(text(&t, "slowing"), "t", "{t:?}");
    assert_eq!(num(&t, "trend_dates"), 58.0);
    let pct = num(&t, "slope_pct_per_day");
    assert!(
        (0.8..1.4).contains(&pct),
        "about 1% of the median a day: {pct}"
    );
    assert!(num(&t, "r2") > 0.8, "{t:?}");
    assert_eq!(text(&t, "deadline_slo_id"), "nightly-load");
    let budget = num(&t, "budget_secs");
    assert!(
        (10_500.0..11_100.0).contains(&budget),
        "about 3 hours from start to expected end: {budget}"
    );
    let crossing = num(&t, "crossing_in_days");
    assert!(
        (100.0..3650.0).contains(&crossing),
        "36 minutes now, 3 hours allowed: the line reaches it months ahead ({crossing} days)"
    );
    assert_eq!(
        num(&t, "month_end_runs"),
        2.0,
        "30 September and 30 October"
    );
}

#[tokio::test]
async fn a_job_with_noise_but_no_growth_is_not_slowing_and_its_heavy_mondays_show_as_a_weekday_effect(
) {
    let (_db, client) = database(
        "INSERT INTO slo.job SELECT 'steady-' || k, 'ops', 'Steady ' || k FROM generate_series(1, 5) AS k;",
    )
    .await;
    // Five jobs, 60 days each: 30 minutes +-20% uniform noise, Mondays half as long again. Eight
    // Mondays of such noise give the Monday factor to within about +-0.2.
    let mut rng = StdRng::seed_from_u64(20261002);
    let mut ev = Events::default();
    for k in 1..=5 {
        let job = format!("steady-{k}");
        for day in 0..60 {
            let bd = as_of() - Duration::days(59 - day);
            let monday = if bd.weekday() == Weekday::Mon {
                1.5
            } else {
                1.0
            };
            let d = 1800.0 * monday * (1.0 + rng.gen_range(-0.2..0.2));
            ev.run(&job, bd, "r1", "batch01", ny_next_day(bd, 2, 0), secs(d));
        }
    }
    ev.insert(&client).await;

    for k in 1..=5 {
        let job = format!("steady-{k}");
        let t = trend(&client, &job, as_of()).await;
        assert_eq!(text(&t, "slowing"), "f", "{t:?}");
        let pct = num(&t, "slope_pct_per_day");
        assert!(
            pct.abs() < 0.4,
            "{job}: no trend beyond noise, got {pct}% a day"
        );
        let effects = rows(
            &client,
            &format!(
                "SELECT iso_weekday, factor, notable FROM slo.job_duration_effect(as_of => '{}')
                 WHERE job_id = '{job}' AND effect = 'weekday' ORDER BY iso_weekday",
                as_of()
            ),
        )
        .await;
        assert_eq!(effects.len(), 7);
        for e in &effects {
            let f = num(e, "factor");
            if text(e, "iso_weekday") == "1" {
                assert!(
                    (1.2..1.8).contains(&f),
                    "{job}: Mondays take 1.5 times a usual day, got {f}"
                );
            } else {
                assert!((0.8..1.2).contains(&f), "{job}: {e:?}");
            }
        }
    }
}

#[tokio::test]
async fn month_end_spikes_are_attributed_to_month_end_not_to_a_trend() {
    let (_db, client) = database(
        "INSERT INTO slo.job VALUES ('gl-close', 'ops', 'General ledger close'),
                                     ('gl-close-growing', 'ops', 'General ledger close, growing');
         INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone) VALUES
           ('gl', 'Ledger closed by 06:00', 'ops', 'standard', 'America/New_York'),
           ('gl-growing', 'Growing ledger closed by 06:00', 'ops', 'standard', 'America/New_York');
         INSERT INTO slo.slo_job VALUES ('gl', 'gl-close', '1 day 01:00', '1 day 06:00', 'calendar'),
                                        ('gl-growing', 'gl-close-growing', '1 day 01:00', '1 day 06:00', 'calendar');",
    )
    .await;
    // 60 business dates ending on the last business day of October: the window holds the month
    // ends of August, September and October, two of them in its second half, so a line through
    // all the runs would rise. 30 minutes +-5%, three times as long on a month end; the second
    // job also grows 1% a day.
    let dates = run_dates(&client, "standard", 60, as_of()).await;
    assert_eq!(dates.len(), 60);
    let month_ends: Vec<NaiveDate> = client
        .query(
            "SELECT DISTINCT slo.last_business_day(d, 'us_federal_reserve') FROM unnest($1::date[]) AS d",
            &[&dates],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rng = StdRng::seed_from_u64(20261003);
    let mut ev = Events::default();
    for bd in &dates {
        let swell = if month_ends.contains(bd) { 3.0 } else { 1.0 };
        let growth = 1.01f64.powi((*bd - dates[0]).num_days() as i32);
        let d = 1800.0 * swell * (1.0 + rng.gen_range(-0.05..0.05));
        ev.run(
            "gl-close",
            *bd,
            "r1",
            "batch01",
            ny_next_day(*bd, 1, 0),
            secs(d),
        );
        let d = 1800.0 * swell * growth * (1.0 + rng.gen_range(-0.05..0.05));
        ev.run(
            "gl-close-growing",
            *bd,
            "r1",
            "batch01",
            ny_next_day(*bd, 1, 0),
            secs(d),
        );
    }
    ev.insert(&client).await;

    let flat = trend(&client, "gl-close", as_of()).await;
    assert_eq!(num(&flat, "month_end_runs"), 3.0, "{flat:?}");
    let factor = num(&flat, "month_end_factor");
    assert!(
        (2.7..3.3).contains(&factor),
        "month end takes three times a usual day: {factor}"
    );
    assert_eq!(text(&flat, "slowing"), "f", "{flat:?}");
    let pct = num(&flat, "slope_pct_per_day");
    assert!(
        pct.abs() < 0.1,
        "no trend once month end is set apart: {pct}"
    );
    let effect = one(
        &client,
        &format!(
            "SELECT * FROM slo.job_duration_effect(as_of => '{}') WHERE job_id = 'gl-close' AND effect = 'month_end'",
            as_of()
        ),
    )
    .await;
    assert_eq!(text(&effect, "notable"), "t");
    assert_eq!(num(&effect, "dates"), 3.0);

    // The contrast: a least-squares line through every run of the window, month ends included,
    // rises by more than the 10% that would flag the job as slowing.
    let naive = one(
        &client,
        &format!(
            "SELECT regr_slope(extract(epoch FROM r.duration), r.business_date - date '{first}')
                      * (date '{last}' - date '{first}')
                    / percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.duration)) AS growth
             FROM slo.job_run r WHERE r.job_id = 'gl-close'",
            first = dates[0],
            last = as_of()
        ),
    )
    .await;
    assert!(
        num(&naive, "growth") > 0.10,
        "the naive fit reads the month ends as growth: {naive:?}"
    );

    // A job that swells at month end and also grows is slowing, and its month-end factor stays
    // about three: each is told apart.
    let growing = trend(&client, "gl-close-growing", as_of()).await;
    assert_eq!(text(&growing, "slowing"), "t", "{growing:?}");
    let factor = num(&growing, "month_end_factor");
    assert!((2.6..3.4).contains(&factor), "{factor}");
    let pct = num(&growing, "slope_pct_per_day");
    assert!((0.7..1.4).contains(&pct), "{pct}");
}

/// Punctuality and recommendation of one SLO, with intervals in minutes.
async fn review(client: &Client, slo: &str, as_of: &str) -> BTreeMap<String, Option<String>> {
    one(
        client,
        &format!(
            "SELECT p.*, r.advice, r.current_expected_end, r.suggested_expected_end, r.suggested_met_ratio,
                    extract(epoch FROM r.change) / 60 AS change_minutes,
                    extract(epoch FROM p.median_early_margin) / 60 AS margin_minutes
             FROM slo.slo_punctuality(as_of => '{as_of}') AS p
             JOIN slo.slo_recommendation(as_of => '{as_of}') AS r USING (slo_id)
             WHERE p.slo_id = '{slo}'"
        ),
    )
    .await
}

#[tokio::test]
async fn an_slo_met_with_two_hours_to_spare_every_day_is_routinely_early_and_should_be_about_two_hours_earlier(
) {
    let (_db, client) = database(
        "INSERT INTO slo.job VALUES ('report', 'ops', 'Activity report');
         INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
           VALUES ('early-report', 'Report by 08:00', 'ops', 'every_day', 'America/New_York');
         INSERT INTO slo.slo_job VALUES ('early-report', 'report', '1 day 05:00', '1 day 08:00', 'calendar');",
    )
    .await;
    // 60 days: starts at 05:00 +-3 minutes, ends at 06:00 +-5 minutes: two hours early.
    let mut rng = StdRng::seed_from_u64(20261004);
    let mut ev = Events::default();
    for day in 0..60 {
        let bd = as_of() - Duration::days(59 - day);
        let start = ny_next_day(bd, 5, 0) + secs(rng.gen_range(-180.0..180.0));
        let end = ny_next_day(bd, 6, 0) + secs(rng.gen_range(-300.0..300.0));
        ev.run("report", bd, "r1", "batch02", start, end - start);
    }
    ev.insert(&client).await;

    let r = review(&client, "early-report", "2026-11-02 12:00-05").await;
    assert_eq!(text(&r, "classification"), "routinely_early", "{r:?}");
    assert_eq!((num(&r, "instances"), num(&r, "met")), (60.0, 60.0));
    let margin = num(&r, "margin_minutes");
    assert!(
        (115.0..125.0).contains(&margin),
        "met with two hours to spare: {margin}"
    );
    let change = num(&r, "change_minutes");
    assert!(
        (-125.0..=-110.0).contains(&change),
        "the expected end 95% of the days met: about two hours earlier, got {change} minutes"
    );
    assert!(
        text(&r, "advice").starts_with("tighten by 1 hour 5")
            || text(&r, "advice").starts_with("tighten by 2 hours"),
        "{r:?}"
    );
    assert_eq!(text(&r, "current_expected_end"), "1 day 08:00:00");
    assert!(num(&r, "suggested_met_ratio") >= 0.95);
}

#[tokio::test]
async fn an_slo_missed_one_day_in_four_is_routinely_late_and_should_be_loosened() {
    let (_db, client) = database(
        "INSERT INTO slo.job VALUES ('extract', 'ops', 'Extract');
         INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
           VALUES ('late-extract', 'Extract by 03:00', 'ops', 'every_day', 'America/New_York');
         INSERT INTO slo.slo_job VALUES ('late-extract', 'extract', '1 day 01:00', '1 day 03:00', 'calendar');",
    )
    .await;
    // 60 days: ends 10 minutes early, but every fourth day 30 minutes late (+-3 minutes).
    let mut rng = StdRng::seed_from_u64(20261005);
    let mut ev = Events::default();
    for day in 0..60 {
        let bd = as_of() - Duration::days(59 - day);
        let start = ny_next_day(bd, 1, 0);
        let end = if day % 4 == 3 {
            ny_next_day(bd, 3, 30)
        } else {
            ny_next_day(bd, 2, 50)
        } + secs(rng.gen_range(-180.0..180.0));
        ev.run("extract", bd, "r1", "batch01", start, end - start);
    }
    ev.insert(&client).await;

    let r = review(&client, "late-extract", "2026-11-02 12:00-05").await;
    assert_eq!(text(&r, "classification"), "routinely_late", "{r:?}");
    assert_eq!((num(&r, "missed"), num(&r, "late")), (15.0, 0.0));
    assert!((num(&r, "met_ratio") - 0.75).abs() < 1e-9);
    let change = num(&r, "change_minutes");
    assert!(
        (27.0..=34.0).contains(&change),
        "loosen by about 30 minutes, got {change}"
    );
    assert!(
        text(&r, "advice").starts_with("loosen by 3")
            || text(&r, "advice").starts_with("loosen by 2"),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_slow_host_shows_in_the_host_views() {
    let (_db, client) =
        database("INSERT INTO slo.job SELECT 'etl-' || k, 'ops', 'ETL ' || k FROM generate_series(1, 3) AS k;").await;
    // Three jobs, 60 days, rotating over three hosts; on batch03 every run takes 40% longer.
    let mut rng = StdRng::seed_from_u64(20261006);
    let mut ev = Events::default();
    for k in 1..=3 {
        for day in 0..60 {
            let bd = as_of() - Duration::days(59 - day);
            let host = ["batch01", "batch02", "batch03"][((day + k) % 3) as usize];
            let slow = if host == "batch03" { 1.4 } else { 1.0 };
            let d = 600.0 * k as f64 * slow * (1.0 + rng.gen_range(-0.1..0.1));
            ev.run(
                &format!("etl-{k}"),
                bd,
                "r1",
                host,
                ny_next_day(bd, 1, 0),
                secs(d),
            );
        }
    }
    ev.insert(&client).await;

    let hosts = rows(
        &client,
        &format!(
            "SELECT * FROM slo.host_effect(as_of => '{}') ORDER BY host_id",
            as_of()
        ),
    )
    .await;
    assert_eq!(hosts.len(), 3);
    for h in &hosts {
        let ratio = num(h, "median_ratio");
        if text(h, "host_id") == "batch03" {
            assert_eq!(text(h, "slow"), "t", "{h:?}");
            assert!((1.25..1.5).contains(&ratio), "{ratio}");
        } else {
            assert_eq!(text(h, "slow"), "f", "{h:?}");
            assert!(ratio < 1.05, "{h:?}");
        }
        assert_eq!(num(h, "compared_jobs"), 3.0);
    }
    let slow = rows(
        &client,
        &format!(
            "SELECT job_id, host_id FROM slo.host_duration(as_of => '{}') WHERE slow ORDER BY job_id",
            as_of()
        ),
    )
    .await;
    let slow: Vec<(&str, &str)> = slow
        .iter()
        .map(|r| (text(r, "job_id"), text(r, "host_id")))
        .collect();
    assert_eq!(
        slow,
        [
            ("etl-1", "batch03"),
            ("etl-2", "batch03"),
            ("etl-3", "batch03")
        ]
    );
}

#[tokio::test]
async fn an_intraday_job_with_restarts_is_judged_per_run_and_per_day_and_unfinished_runs_do_not_poison_durations(
) {
    let (_db, client) = database(
        "INSERT INTO slo.job VALUES ('ticker', 'ops', 'Transaction summary');
         INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end)
           VALUES ('ticker-30m', 'Summary 20 minutes after each half hour', 'ops', 'standard', 'America/New_York',
                   '30 minutes', '06:00', '18:00');
         INSERT INTO slo.slo_job VALUES ('ticker-30m', 'ticker', '00:00', '00:20', 'calendar');",
    )
    .await;
    // 30 business dates, 25 periods a day, no period_start sent. A run starts a minute after its
    // period and takes 2 minutes growing 2% a day (+-5%). Every 10th period the first run fails
    // after 10 seconds and a restart (a new run id) a minute later succeeds. On the last date the
    // last three runs start and never end.
    let dates = run_dates(&client, "standard", 30, as_of()).await;
    let mut rng = StdRng::seed_from_u64(20261007);
    let mut ev = Events::default();
    let (mut failed, mut running) = (0, 0);
    let mut durations: Vec<f64> = Vec::new();
    for (i, bd) in dates.iter().enumerate() {
        for p in 0..25u32 {
            let (hh, mm) = (6 + p / 2, 30 * (p % 2));
            let run = format!("t{}-{hh:02}{mm:02}", bd.format("%Y%m%d"));
            let start = ny(*bd, hh, mm + 1);
            let d = secs(120.0 * 1.02f64.powi(i as i32) * (1.0 + rng.gen_range(-0.05..0.05)));
            if i == dates.len() - 1 && p >= 22 {
                ev.event("ticker", "start", start, *bd, &run, "batch01");
                running += 1;
            } else if p % 10 == 3 {
                ev.event("ticker", "start", start, *bd, &run, "batch01");
                ev.event(
                    "ticker",
                    "fail",
                    start + Duration::seconds(10),
                    *bd,
                    &run,
                    "batch01",
                );
                ev.run(
                    "ticker",
                    *bd,
                    &format!("{run}-restart"),
                    "batch02",
                    start + Duration::seconds(70),
                    d,
                );
                failed += 1;
                durations.push(d.num_milliseconds() as f64 / 1000.0);
            } else {
                ev.run("ticker", *bd, &run, "batch01", start, d);
                durations.push(d.num_milliseconds() as f64 / 1000.0);
            }
        }
    }
    ev.insert(&client).await;
    let succeeded = durations.len();
    durations.sort_by(f64::total_cmp);
    let median = (durations[(succeeded - 1) / 2] + durations[succeeded / 2]) / 2.0;

    // Every run is a row of slo.job_run; a failure and its restart are two.
    let counts = one(
        &client,
        "SELECT count(*) AS runs, count(*) FILTER (WHERE outcome = 'succeeded') AS succeeded,
                count(*) FILTER (WHERE outcome = 'failed') AS failed,
                count(*) FILTER (WHERE outcome = 'running') AS running,
                count(duration) AS with_duration,
                count(*) FILTER (WHERE outcome = 'failed' AND duration IS NOT NULL) AS failed_with_duration
         FROM slo.job_run WHERE job_id = 'ticker'",
    )
    .await;
    assert_eq!(num(&counts, "succeeded"), succeeded as f64);
    assert_eq!(num(&counts, "failed"), failed as f64);
    assert_eq!(num(&counts, "running"), running as f64);
    assert_eq!(num(&counts, "with_duration"), succeeded as f64);
    assert_eq!(num(&counts, "failed_with_duration"), 0.0);
    // The period of a run that did not send one is the period its start falls in.
    let first = one(
        &client,
        &format!(
            "SELECT period_start FROM slo.job_run WHERE job_id = 'ticker' AND run_id = 't{}-0730'",
            dates[0].format("%Y%m%d")
        ),
    )
    .await;
    assert_eq!(text(&first, "period_start"), "07:30:00");

    let t = trend(&client, "ticker", as_of()).await;
    assert_eq!(num(&t, "runs"), succeeded as f64);
    assert_eq!(num(&t, "unfinished_runs"), (failed + running) as f64);
    assert_eq!(
        num(&t, "trend_dates"),
        28.0,
        "one point per business date, not one per run (30 September and 30 October are month ends)"
    );
    let got = num(&t, "median_secs");
    assert!(
        (got - median).abs() < 0.01,
        "the median of the succeeded runs only (the 10-second failures and the runs that never ended \
         do not count): {got} against {median}"
    );
    assert_eq!(text(&t, "slowing"), "t", "{t:?}");
    let pct = num(&t, "slope_pct_per_day");
    // 2% a business day is about 1.4% a calendar day.
    assert!((1.0..2.2).contains(&pct), "{pct}");
    assert_eq!(text(&t, "deadline_slo_id"), "ticker-30m");
    let budget = num(&t, "budget_secs");
    assert!(
        (1139.0..=1141.0).contains(&budget),
        "19 minutes from a start at :01 or :31 to :20 or :50: {budget}"
    );
    assert!(!is_null(&t, "crossing_date"));
}

/// The example BI queries of `sql/`, each run against a history relative to today, with the
/// rows each must find.
#[tokio::test]
async fn every_example_bi_query_runs_and_finds_what_it_is_for() {
    let (_db, client) = database(
        "SET timezone = 'UTC';
         INSERT INTO slo.job VALUES ('stuck', 'ops', 'Stuck job'), ('slow-load', 'ops', 'Growing load'),
           ('report', 'ops', 'Report'), ('gl-close', 'ops', 'Ledger close'), ('sidecar', 'ops', 'Sidecar');
         INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone) VALUES
           ('late-now', 'Due a second after midnight', 'ops', 'every_day', 'UTC'),
           ('load-by-2', 'Load by 02:00', 'ops', 'every_day', 'UTC'),
           ('early-report', 'Report by 08:00', 'ops', 'every_day', 'UTC'),
           ('gl', 'Ledger by 06:00', 'ops', 'standard', 'UTC');
         INSERT INTO slo.slo_job VALUES
           ('late-now', 'stuck', '00:00', '00:00:01', 'calendar'),
           ('load-by-2', 'slow-load', '1 day 01:00', '1 day 02:00', 'calendar'),
           ('early-report', 'report', '1 day 05:00', '1 day 08:00', 'calendar'),
           ('gl', 'gl-close', '1 day 01:00', '1 day 06:00', 'calendar');
         -- Today's instance of late-now started at midnight and never ended: late now.
         INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
           VALUES ('ops', 'stuck', 'start', current_date::timestamptz, current_date, 'r1', 'batch01');
         -- slow-load: 40 days, 30 minutes growing 2.5% a day; its last 11 runs end after 02:00.
         INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
         SELECT 'ops', 'slow-load', s.status,
                (d + 1) + time '01:00' + CASE s.status WHEN 'start' THEN interval '0'
                                              ELSE make_interval(secs => 1800 * power(1.025, 40 - (current_date - d))) END,
                d, 'r1', 'batch01'
         FROM generate_series(1, 40) AS k CROSS JOIN LATERAL (SELECT current_date - k AS d) AS x
         CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status);
         -- report: 40 days, two hours early.
         INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
         SELECT 'ops', 'report', s.status, (d + 1) + CASE s.status WHEN 'start' THEN time '05:00' ELSE time '06:00' END,
                d, 'r1', 'batch01'
         FROM generate_series(1, 40) AS k CROSS JOIN LATERAL (SELECT current_date - k AS d) AS x
         CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status);
         -- gl-close: 60 business dates, 30 minutes, 90 on the last business day of the month.
         INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
         SELECT 'ops', 'gl-close', s.status,
                (d + 1) + time '01:00' + CASE WHEN s.status = 'start' THEN interval '0'
                                              WHEN d = slo.last_business_day(d, 'us_federal_reserve') THEN interval '90 minutes'
                                              ELSE interval '30 minutes' END,
                d, 'r1', 'batch01'
         FROM slo.run_dates('standard', slo.prev_run_date('standard', current_date, 60), current_date - 1) AS d
         CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status);
         -- sidecar: 60 days, two runs a day on one of three hosts in turn; on batch03 a run takes
         -- 15 minutes instead of 10.
         INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
         SELECT 'ops', 'sidecar', s.status,
                (d + 1) + r.at + CASE WHEN s.status = 'start' THEN interval '0'
                                      WHEN k % 3 = 2 THEN interval '15 minutes' ELSE interval '10 minutes' END,
                d, r.run_id, 'batch0' || (k % 3 + 1)
         FROM generate_series(1, 60) AS k CROSS JOIN LATERAL (SELECT current_date - k AS d) AS x
         CROSS JOIN (VALUES ('r1', time '03:00'), ('r2', time '04:00')) AS r(run_id, at)
         CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status);
         SELECT slo.evaluate();",
    )
    .await;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "month_end_swells.sql",
            "slo_review.sql",
            "slow_hosts.sql",
            "slowest_growing_jobs.sql",
            "todays_late_slos.sql",
            "weekly_misses_by_application.sql",
        ],
        "every example query has its check below"
    );
    let run = |name: &str| {
        let sql = std::fs::read_to_string(dir.join(name)).unwrap();
        let client = &client;
        async move { rows(client, &sql).await }
    };

    let late = run("todays_late_slos.sql").await;
    assert!(
        late.iter()
            .any(|r| text(r, "slo_id") == "late-now" && text(r, "state") == "late"),
        "{late:?}"
    );

    let misses = run("weekly_misses_by_application.sql").await;
    let ops = misses
        .iter()
        .find(|r| text(r, "app_id") == "ops")
        .expect("ops has instances this week");
    assert!(
        num(ops, "missed") >= 2.0,
        "slow-load ends after 02:00 on its last days: {ops:?}"
    );
    assert!(num(ops, "met") >= 7.0, "{ops:?}");

    let growing = run("slowest_growing_jobs.sql").await;
    assert_eq!(
        growing.first().map(|r| text(r, "job_id")),
        Some("slow-load"),
        "{growing:?}"
    );
    assert!(!is_null(&growing[0], "crossing_date"));

    let review = run("slo_review.sql").await;
    let early = review
        .iter()
        .find(|r| text(r, "slo_id") == "early-report")
        .expect("early-report is reviewed");
    assert_eq!(text(early, "classification"), "routinely_early");
    assert_eq!(text(early, "advice"), "tighten by 2 hours");
    assert_eq!(text(early, "suggested_expected_end"), "1 day 06:00:00");
    let late_load = review
        .iter()
        .find(|r| text(r, "slo_id") == "load-by-2")
        .expect("load-by-2 is reviewed");
    assert_eq!(text(late_load, "classification"), "routinely_late");

    let hosts = run("slow_hosts.sql").await;
    assert!(!hosts.is_empty());
    assert!(
        hosts
            .iter()
            .all(|r| text(r, "host_id") == "batch03" && text(r, "job_id") == "sidecar"),
        "{hosts:?}"
    );

    let swells = run("month_end_swells.sql").await;
    let gl = swells
        .iter()
        .find(|r| text(r, "job_id") == "gl-close")
        .expect("gl-close swells at month end");
    let factor = num(gl, "factor");
    assert!((2.9..3.1).contains(&factor), "{factor}");
}
