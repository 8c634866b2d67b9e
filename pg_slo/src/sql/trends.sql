-- ============================================================================
-- pg_slo trends (issue 7): the brief's second and third questions, for BI tools.
--
--   * Which jobs are slowing down and may miss their SLOs in the future?
--       slo.job_run, slo.job_duration_trend, slo.job_duration_effect,
--       slo.host_duration, slo.host_effect
--   * Which SLOs are routinely early or late, and what should they be?
--       slo.slo_punctuality, slo.slo_recommendation
--
-- Shape: each analysis is a set-returning function whose parameters all have
-- defaults (window size, as-of date, thresholds), plus a plain view of the same
-- name that calls it with the defaults. BI tools read the view; analysts call
-- the function with named arguments, e.g.
--   SELECT * FROM slo.job_duration_trend(run_dates => 120);
--
-- Windows are bounded per job or per SLO (the last N business dates with data),
-- so the work is proportional to the window, not to the history. The per-job
-- windows are read through the leading (job_id, business_date) columns of
-- job_status_event_key, the per-SLO windows through slo_performance's primary
-- key: no index and no trigger is added on slo.job_status, and nothing here is
-- maintained on the insert path.
--
-- Every rule and threshold is in the COMMENT of the object that applies it and
-- in README.md ("Trends").
-- ============================================================================

-- ---- Helpers ----------------------------------------------------------------------------
CREATE FUNCTION slo.last_business_day(d date, holiday_set text DEFAULT NULL) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT max(x.day)
  FROM (SELECT (date_trunc('month', $1::timestamp) + interval '1 month' - make_interval(days => k))::date AS day
        FROM generate_series(1, 14) AS k) AS x
  WHERE extract(isodow FROM x.day) <= 5
    AND NOT EXISTS (SELECT 1 FROM slo.holiday h WHERE h.holiday_set = $2 AND h.holiday_date = x.day)
$$;
COMMENT ON FUNCTION slo.last_business_day(date, text) IS
  'The last business day of d''s month: the last Monday to Friday that is not a holiday of holiday_set '
  '(NULL: no holidays). Runs on or after it are month-end runs in the trend views.';

CREATE FUNCTION slo.describe_change(change interval, keep_within interval DEFAULT '5 minutes') RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN $1 IS NULL THEN NULL
    WHEN @ extract(epoch FROM $1) < extract(epoch FROM $2) THEN 'keep'
    ELSE (CASE WHEN extract(epoch FROM $1) < 0 THEN 'tighten by ' ELSE 'loosen by ' END)
         || concat_ws(' ',
              CASE WHEN m.minutes / 60 = 1 THEN '1 hour'
                   WHEN m.minutes / 60 > 1 THEN (m.minutes / 60) || ' hours' END,
              CASE WHEN m.minutes % 60 = 1 THEN '1 minute'
                   WHEN m.minutes % 60 > 1 THEN (m.minutes % 60) || ' minutes' END)
  END
  FROM (SELECT ceil(@ extract(epoch FROM $1) / 60)::bigint AS minutes) AS m
$$;
COMMENT ON FUNCTION slo.describe_change(interval, interval) IS
  'A change of an expected end in words: ''tighten by 1 hour 55 minutes'' (negative), ''loosen by 25 minutes'' '
  '(positive), ''keep'' when smaller than keep_within (default 5 minutes); whole minutes, rounded up.';

-- ---- Job runs -----------------------------------------------------------------------------
CREATE VIEW slo.job_run AS
SELECT g.job_id, g.app_id, g.business_date,
       coalesce(g.given_period,
                CASE WHEN i.period IS NOT NULL AND g.started_at IS NOT NULL
                     THEN slo.start_period(i.time_zone, i.window_start, i.window_end, i.period, g.business_date,
                                           g.started_at, NULL) END) AS period_start,
       g.run_id, g.host_id, g.started_at, g.ended_at, g.outcome,
       CASE WHEN g.succeeded_at >= g.started_at THEN g.succeeded_at - g.started_at END AS duration
FROM (
  SELECT e.job_id, e.business_date, e.run_id,
         min(e.app_id) AS app_id,
         min(e.period_start) AS given_period,
         coalesce(min(e.host_id) FILTER (WHERE e.status = 'start'), min(e.host_id)) AS host_id,
         min(e.status_time) FILTER (WHERE e.status = 'start') AS started_at,
         min(e.status_time) FILTER (WHERE e.status = 'succeed') AS succeeded_at,
         coalesce(min(e.status_time) FILTER (WHERE e.status = 'succeed'),
                  min(e.status_time) FILTER (WHERE e.status = 'fail')) AS ended_at,
         CASE WHEN bool_or(e.status = 'succeed') THEN 'succeeded'
              WHEN bool_or(e.status = 'fail') THEN 'failed'
              ELSE 'running' END AS outcome
  FROM slo.job_status e
  GROUP BY e.job_id, e.business_date, e.run_id
) AS g
-- The job's intraday SLO, if any (the first by id, active ones first): at most one row per job,
-- so the join is dropped when period_start is not read.
LEFT JOIN (
  SELECT DISTINCT ON (sj.job_id) sj.job_id, s.time_zone, s.window_start, s.window_end, s.period
  FROM slo.slo_job sj JOIN slo.slo s ON s.slo_id = sj.slo_id
  WHERE s.period IS NOT NULL
  ORDER BY sj.job_id, s.active DESC, sj.slo_id
) AS i ON i.job_id = g.job_id;
COMMENT ON VIEW slo.job_run IS
  'One row per job run, derived from slo.job_status: a run is the events sharing (job_id, business_date, run_id). '
  'A restart after a failure has a new run id, so it is a run of its own with its own duration. Only succeeded runs '
  'with a start have a duration: failed and still-running runs never enter duration statistics. The base of the '
  'trend views. A filter on job_id (with or without business_date) reads through the event index; one on '
  'business_date alone reads every event.';
COMMENT ON COLUMN slo.job_run.job_id IS 'The job.';
COMMENT ON COLUMN slo.job_run.app_id IS 'The job''s application.';
COMMENT ON COLUMN slo.job_run.business_date IS 'The business date of the run.';
COMMENT ON COLUMN slo.job_run.period_start IS
  'The nominal period of an intraday run: the period_start its events give, else, for a job of an intraday SLO, the '
  'period its start falls in under that SLO (the first by SLO id, active ones first; CONTRACT section 3); NULL for '
  'runs of daily jobs.';
COMMENT ON COLUMN slo.job_run.run_id IS 'The run id; a restart after a failure has a new one.';
COMMENT ON COLUMN slo.job_run.host_id IS
  'Where the run ran: the host of its start (the smallest host id if its starts name several; without a start, the '
  'smallest host id of its events).';
COMMENT ON COLUMN slo.job_run.started_at IS 'Its earliest start; NULL when no start came.';
COMMENT ON COLUMN slo.job_run.ended_at IS
  'Its earliest succeed, or, for a failed run, its earliest fail; NULL while running.';
COMMENT ON COLUMN slo.job_run.outcome IS
  'succeeded (a succeed came, even after a fail of the same run id), failed (a fail and no succeed), or running '
  '(neither: still running, or its end was never reported).';
COMMENT ON COLUMN slo.job_run.duration IS
  'Earliest succeed minus earliest start, for succeeded runs with a start; NULL otherwise (failed, running, no '
  'start, or a succeed stamped before the start).';

-- The planner's estimate of how many runs there are. Without it, PostgreSQL guesses about a
-- fifth of the real number of (job_id, business_date, run_id) groups and picks a spilling hash
-- aggregate for slo.job_run over the whole history (12 s instead of 4 s for 3 million runs on the
-- benchmark). Statistics cost nothing on insert: they are gathered by ANALYZE.
CREATE STATISTICS slo.job_status_run_ndistinct (ndistinct) ON job_id, business_date, run_id FROM slo.job_status;
COMMENT ON STATISTICS slo.job_status_run_ndistinct IS
  'Distinct (job_id, business_date, run_id) combinations of slo.job_status, for the planner''s estimates of '
  'slo.job_run (one row per such combination); gathered by ANALYZE, no cost on insert.';

-- The runs of each job's window, with the calendar facts the trend views need.
CREATE FUNCTION slo.job_runs_in_window(run_dates int DEFAULT 60, as_of date DEFAULT current_date)
RETURNS TABLE (job_id text, app_id text, window_from date, window_to date, window_dates int,
               business_date date, period_start time, run_id text, host_id text,
               started_at timestamptz, ended_at timestamptz, outcome text, duration interval,
               iso_weekday int, month_end boolean)
LANGUAGE sql STABLE
AS $$
  WITH w AS (
    SELECT j.job_id, j.app_id, x.window_from, x.window_to, x.window_dates,
           (SELECT c.holiday_set
            FROM slo.slo_job sj JOIN slo.slo s ON s.slo_id = sj.slo_id
            JOIN slo.calendar c ON c.calendar_id = s.calendar_id
            WHERE sj.job_id = j.job_id AND c.holiday_set IS NOT NULL
            ORDER BY s.active DESC, sj.slo_id
            LIMIT 1) AS holiday_set
    FROM slo.job j
    CROSS JOIN LATERAL (
      -- The job's last N business dates with events: a backward walk of the event index.
      SELECT min(d.bd) AS window_from, max(d.bd) AS window_to, count(*)::int AS window_dates
      FROM (SELECT DISTINCT e.business_date AS bd
            FROM slo.job_status e
            WHERE e.job_id = j.job_id AND e.business_date <= $2
            ORDER BY 1 DESC
            LIMIT greatest($1, 1)) AS d
    ) AS x
    WHERE x.window_from IS NOT NULL
  ), month_end AS MATERIALIZED (
    -- The last business day of every month any window touches, per holiday set (computed once,
    -- not per job).
    SELECT hs.holiday_set, m.month, slo.last_business_day(m.month::date, hs.holiday_set) AS last_day
    FROM (SELECT DISTINCT w.holiday_set FROM w) AS hs
    CROSS JOIN (SELECT min(w.window_from) AS lo, max(w.window_to) AS hi FROM w) AS b
    CROSS JOIN LATERAL generate_series(date_trunc('month', b.lo::timestamp), b.hi::timestamp, interval '1 month') AS m(month)
  ), jw AS MATERIALIZED (
    -- Each job's month-end flags, one per calendar day of its window: looked up by subtraction for
    -- each run, cheaper than a join of every run.
    SELECT w.*,
           (SELECT array_agg(d.day >= me.last_day ORDER BY d.day)
            FROM generate_series(w.window_from::timestamp, w.window_to::timestamp, interval '1 day') AS d(day)
            JOIN month_end me ON me.holiday_set IS NOT DISTINCT FROM w.holiday_set
                             AND me.month = date_trunc('month', d.day)) AS month_end_flags
    FROM w
  )
  SELECT jw.job_id, jw.app_id, jw.window_from, jw.window_to, jw.window_dates,
         r.business_date, r.period_start, r.run_id, r.host_id, r.started_at, r.ended_at, r.outcome, r.duration,
         -- ISO weekday by day arithmetic (5 January 1970 was a Monday).
         ((r.business_date - date '1970-01-05') % 7 + 7) % 7 + 1,
         jw.month_end_flags[r.business_date - jw.window_from + 1]
  FROM jw
  CROSS JOIN LATERAL (
    -- OFFSET 0 keeps this a subquery of its own, so the job and its dates reach the event index
    -- (joined directly, the planner would aggregate every event first).
    SELECT * FROM slo.job_run jr
    WHERE jr.job_id = jw.job_id AND jr.business_date BETWEEN jw.window_from AND jw.window_to
    OFFSET 0
  ) AS r
$$;
COMMENT ON FUNCTION slo.job_runs_in_window(int, date) IS
  'The runs (slo.job_run) of each job''s window: its last run_dates business dates with events, on or before as_of; '
  'the base of the job trend functions. Adds iso_weekday, of the business date, and month_end: the business date is '
  'on or after the last business day of its month (slo.last_business_day, with the holiday set of the job''s SLO '
  'calendars: the first by SLO id that has one, active SLOs first; none for a job without SLOs).';

-- One value per job and business date, and how far it stands out.
CREATE FUNCTION slo.job_duration_factors(run_dates int DEFAULT 60, as_of date DEFAULT current_date)
RETURNS TABLE (job_id text, app_id text, window_from date, window_to date, window_dates int,
               business_date date, iso_weekday int, month_end boolean, runs int, unfinished_runs int,
               median_duration interval, run_seconds float8[], weekday_factor float8, day_factor float8)
LANGUAGE sql STABLE
AS $$
  WITH daily AS (
    SELECT r.job_id, r.business_date,
           min(r.app_id) AS app_id, min(r.window_from) AS window_from, min(r.window_to) AS window_to,
           min(r.window_dates) AS window_dates, min(r.iso_weekday) AS iso_weekday, bool_and(r.month_end) AS month_end,
           count(r.duration)::int AS runs,
           count(*) FILTER (WHERE r.outcome <> 'succeeded')::int AS unfinished_runs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.duration)::float8) AS y,
           array_agg(extract(epoch FROM r.duration)::float8) FILTER (WHERE r.duration IS NOT NULL) AS run_seconds
    FROM slo.job_runs_in_window($1, $2) AS r
    GROUP BY r.job_id, r.business_date
  ), baseline AS (
    -- Each regular date against the mean of the regular dates of the week centred on it (narrow
    -- rows: a window over wide ones spills to disk).
    SELECT d.job_id, d.business_date, d.iso_weekday, d.month_end, d.y,
           avg(d.y) FILTER (WHERE NOT d.month_end) OVER (
             PARTITION BY d.job_id ORDER BY d.business_date
             RANGE BETWEEN interval '3 days' PRECEDING AND interval '3 days' FOLLOWING) AS base
    FROM daily d
  ), weekday AS (
    SELECT b.job_id, b.iso_weekday, percentile_cont(0.5) WITHIN GROUP (ORDER BY b.y / b.base) AS idx
    FROM baseline b
    WHERE NOT b.month_end AND b.y IS NOT NULL AND b.base > 0
    GROUP BY b.job_id, b.iso_weekday
    HAVING count(*) >= 4
  ), usual AS (
    -- What a usual day is: the median of the weekday indices.
    SELECT wd.job_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY wd.idx) AS idx
    FROM weekday wd GROUP BY wd.job_id
  ), adjusted AS (
    SELECT b.job_id, b.business_date, b.month_end, b.y,
           CASE WHEN wd.idx > 0 AND u.idx > 0 THEN wd.idx / u.idx ELSE 1 END AS factor
    FROM baseline b
    LEFT JOIN weekday wd ON wd.job_id = b.job_id AND wd.iso_weekday = b.iso_weekday
    LEFT JOIN usual u ON u.job_id = b.job_id
  ), factors AS (
    -- The date's value with its weekday effect removed, against the same for the regular dates
    -- within 3 days either side.
    SELECT a.job_id, a.business_date, a.factor,
           a.y / a.factor / nullif(avg(a.y / a.factor) FILTER (WHERE NOT a.month_end) OVER (
             PARTITION BY a.job_id ORDER BY a.business_date
             RANGE BETWEEN interval '3 days' PRECEDING AND interval '3 days' FOLLOWING), 0) AS day_factor
    FROM adjusted a
  )
  SELECT d.job_id, d.app_id, d.window_from, d.window_to, d.window_dates, d.business_date, d.iso_weekday,
         d.month_end, d.runs, d.unfinished_runs, make_interval(secs => d.y), d.run_seconds, x.factor, x.day_factor
  FROM daily d
  JOIN factors x ON x.job_id = d.job_id AND x.business_date = d.business_date
$$;
COMMENT ON FUNCTION slo.job_duration_factors(int, date) IS
  'Per job and business date of its window (slo.job_runs_in_window): runs with a duration, failed or running runs, '
  'the median duration and every duration in seconds (run_seconds); weekday_factor: the job''s index for that '
  'weekday (the median, over the weekday''s regular dates, of the date''s median divided by the mean of the regular '
  'dates within 3 days either side), divided by the median index of the job''s weekdays so that a usual day is 1 '
  '(1 for a weekday seen on fewer than 4 dates); day_factor: the date''s median divided by its weekday_factor, '
  'against the mean of the same for the regular dates within 3 days either side (3: a month-end date took three '
  'times a usual day; NULL without a duration or without regular neighbours). Comparing each date with its own week '
  'keeps a trend out of both factors. Regular: not month end. The base of slo.job_duration_trend and '
  'slo.job_duration_effect.';

-- ---- Duration trend ------------------------------------------------------------------------
CREATE FUNCTION slo.job_duration_trend(
  run_dates int DEFAULT 60,
  as_of date DEFAULT current_date,
  min_dates int DEFAULT 20,
  min_r2 float8 DEFAULT 0.25,
  min_growth float8 DEFAULT 0.10)
RETURNS TABLE (job_id text, app_id text, window_from date, window_to date, window_dates int,
               runs int, unfinished_runs int, median_duration interval, p90_duration interval,
               regular_median interval, trend_dates int, slope_per_day interval, slope_pct_per_day float8,
               r2 float8, growth interval, trend_duration interval,
               month_end_runs int, month_end_median interval, month_end_factor float8,
               deadline_slo_id text, budget interval, headroom interval, crossing_date date, slowing boolean)
LANGUAGE sql STABLE
-- JIT compilation costs more than it saves on these many small operations (seconds on the
-- benchmark, about a second even on a handful of rows).
SET jit = off
AS $$
  WITH f AS (
    SELECT * FROM slo.job_duration_factors($1, $2)
  ), jobs AS (
    SELECT f.job_id, min(f.app_id) AS app_id, min(f.window_from) AS window_from, min(f.window_to) AS window_to,
           min(f.window_dates) AS window_dates, sum(f.runs)::int AS runs, sum(f.unfinished_runs)::int AS unfinished_runs,
           sum(f.runs) FILTER (WHERE f.month_end)::int AS month_end_runs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY f.day_factor) FILTER (WHERE f.month_end) AS month_end_factor
    FROM f GROUP BY f.job_id
  ), durations AS (
    SELECT f.job_id,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY u.secs) AS median_secs,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY u.secs) AS p90_secs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY u.secs) FILTER (WHERE NOT f.month_end) AS regular_secs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY u.secs) FILTER (WHERE f.month_end) AS month_end_secs
    FROM f CROSS JOIN LATERAL unnest(f.run_seconds) AS u(secs)
    GROUP BY f.job_id
  ), fit AS (
    -- One point per regular business date: its median duration divided by its weekday factor.
    SELECT p.job_id, count(*)::int AS n,
           regr_slope(p.y, p.x) AS slope, regr_intercept(p.y, p.x) AS intercept, regr_r2(p.y, p.x) AS r2,
           max(p.x) - min(p.x) AS span
    FROM (SELECT f.job_id, (f.business_date - f.window_from)::float8 AS x,
                 extract(epoch FROM f.median_duration)::float8 / f.weekday_factor AS y
          FROM f WHERE NOT f.month_end AND f.median_duration IS NOT NULL) AS p
    GROUP BY p.job_id
  ), recent AS (
    -- The last 20 business dates of each window with a run with a duration.
    SELECT x.job_id, min(x.business_date) AS since, max(x.business_date) AS until
    FROM (SELECT f.job_id, f.business_date,
                 row_number() OVER (PARTITION BY f.job_id ORDER BY f.business_date DESC) AS k
          FROM f WHERE f.runs > 0) AS x
    WHERE x.k <= 20
    GROUP BY x.job_id
  ), budgets AS (
    -- Time from each recent succeeded run's start to its expected end under each active SLO of the job.
    SELECT rc.job_id, s.slo_id,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
             slo.expected_instant(s.time_zone, s.period, s.window_start, s.window_end, s.calendar_id, r.business_date,
                                  CASE WHEN s.period IS NULL THEN time '00:00'
                                       ELSE slo.start_period(s.time_zone, s.window_start, s.window_end, s.period,
                                                             r.business_date, r.started_at, r.period_start) END,
                                  s.expected_end, s.day_unit) - r.started_at)) AS secs
    FROM recent rc
    CROSS JOIN LATERAL (
      SELECT jr.business_date, jr.period_start, jr.started_at
      FROM slo.job_run jr
      WHERE jr.job_id = rc.job_id AND jr.business_date BETWEEN rc.since AND rc.until AND jr.duration IS NOT NULL
      OFFSET 0
    ) AS r
    JOIN (SELECT sj.job_id, sj.slo_id, sj.expected_end, sj.day_unit, x.time_zone, x.period, x.window_start,
                 x.window_end, x.calendar_id
          FROM slo.slo_job sj JOIN slo.slo x ON x.slo_id = sj.slo_id
          WHERE x.active) AS s ON s.job_id = rc.job_id
    WHERE slo.is_run_date(s.calendar_id, r.business_date)
    GROUP BY rc.job_id, s.slo_id
  ), deadline AS (
    SELECT DISTINCT ON (b.job_id) b.job_id, b.slo_id, b.secs
    FROM budgets b WHERE b.secs IS NOT NULL ORDER BY b.job_id, b.secs, b.slo_id
  ), judged AS (
    SELECT j.*, d.median_secs, d.p90_secs, d.regular_secs, d.month_end_secs,
           t.n, t.slope, t.intercept, t.r2, t.slope * t.span AS growth_secs,
           t.intercept + t.slope * (j.window_to - j.window_from) AS trend_secs,
           dl.slo_id AS deadline_slo_id, dl.secs AS budget_secs,
           coalesce(t.n >= $3 AND t.slope > 0 AND t.r2 >= $4, false) AS trend_fits
    FROM jobs j
    LEFT JOIN durations d ON d.job_id = j.job_id
    LEFT JOIN fit t ON t.job_id = j.job_id
    LEFT JOIN deadline dl ON dl.job_id = j.job_id
  )
  SELECT g.job_id, g.app_id, g.window_from, g.window_to, g.window_dates, g.runs, g.unfinished_runs,
         make_interval(secs => g.median_secs), make_interval(secs => g.p90_secs),
         make_interval(secs => g.regular_secs),
         coalesce(g.n, 0),
         make_interval(secs => g.slope),
         100 * g.slope / nullif(g.regular_secs, 0),
         g.r2,
         make_interval(secs => g.growth_secs),
         make_interval(secs => g.trend_secs),
         coalesce(g.month_end_runs, 0),
         make_interval(secs => g.month_end_secs),
         g.month_end_factor,
         g.deadline_slo_id,
         make_interval(secs => g.budget_secs),
         make_interval(secs => g.budget_secs - g.trend_secs),
         CASE WHEN g.trend_fits AND g.budget_secs IS NOT NULL
                   AND (g.budget_secs - g.intercept) / g.slope <= (g.window_to - g.window_from) + 3650
              THEN g.window_from + greatest(ceil((g.budget_secs - g.intercept) / g.slope), 0)::int END,
         CASE WHEN coalesce(g.n, 0) < $3 THEN NULL
              ELSE g.trend_fits AND g.growth_secs >= $5 * g.regular_secs AND g.growth_secs >= 60 END
  FROM judged g
$$;
COMMENT ON FUNCTION slo.job_duration_trend(int, date, int, float8, float8) IS
  'Per job, the trend of its run durations over its window (the last run_dates business dates with events, on or '
  'before as_of); columns as described on the view slo.job_duration_trend, which calls this with the defaults. '
  'Rule: slowing when at least min_dates dates are fitted, the slope is positive, R2 >= min_r2, and the growth the fit '
  'shows over its span is at least min_growth of the regular median and at least 1 minute; NULL with fewer dates.';

CREATE VIEW slo.job_duration_trend AS SELECT * FROM slo.job_duration_trend();
COMMENT ON VIEW slo.job_duration_trend IS
  'Which jobs are slowing down, per job over its last 60 business dates with events (slo.job_duration_trend(...) '
  'takes another window, as-of date or thresholds). Durations are those of succeeded runs (slo.job_run). The trend '
  'is a least-squares line through one point per business date: the median duration of that date''s runs divided '
  'by its weekday factor, month-end dates left out (see slo.job_duration_effect), so month-end '
  'swells and weekday patterns are not read as growth, and intraday jobs weigh as much as daily ones. '
  'slowing = at least 20 dates fitted, slope > 0, R2 >= 0.25, and growth over the fitted span >= 10% of the regular '
  'median and >= 1 minute (noise gives a low R2 or a small growth); NULL with fewer than 20 dates.';
COMMENT ON COLUMN slo.job_duration_trend.job_id IS 'The job.';
COMMENT ON COLUMN slo.job_duration_trend.app_id IS 'The job''s application.';
COMMENT ON COLUMN slo.job_duration_trend.window_from IS 'First business date of the window.';
COMMENT ON COLUMN slo.job_duration_trend.window_to IS 'Last business date of the window (the job''s latest on or before as_of).';
COMMENT ON COLUMN slo.job_duration_trend.window_dates IS 'Business dates with events in the window (at most run_dates).';
COMMENT ON COLUMN slo.job_duration_trend.runs IS 'Runs with a duration (succeeded, with a start) in the window.';
COMMENT ON COLUMN slo.job_duration_trend.unfinished_runs IS 'Failed or still-running runs in the window; they have no duration.';
COMMENT ON COLUMN slo.job_duration_trend.median_duration IS 'Median duration of all runs with a duration, month end included.';
COMMENT ON COLUMN slo.job_duration_trend.p90_duration IS '90th percentile duration of all runs with a duration (interpolated).';
COMMENT ON COLUMN slo.job_duration_trend.regular_median IS 'Median duration of regular (not month-end) runs: the base of relative figures.';
COMMENT ON COLUMN slo.job_duration_trend.trend_dates IS 'Business dates fitted (dates with a regular run with a duration).';
COMMENT ON COLUMN slo.job_duration_trend.slope_per_day IS 'Least-squares slope of the fitted durations per calendar day (negative: speeding up).';
COMMENT ON COLUMN slo.job_duration_trend.slope_pct_per_day IS 'slope_per_day as a percentage of regular_median.';
COMMENT ON COLUMN slo.job_duration_trend.r2 IS 'R2 of the fit (0 to 1): the share of the day-to-day variance the line explains.';
COMMENT ON COLUMN slo.job_duration_trend.growth IS 'slope_per_day times the days between the first and last fitted date.';
COMMENT ON COLUMN slo.job_duration_trend.trend_duration IS 'The fitted duration at window_to (weekday-neutral).';
COMMENT ON COLUMN slo.job_duration_trend.month_end_runs IS
  'Runs with a duration on or after the last business day of their month (slo.last_business_day).';
COMMENT ON COLUMN slo.job_duration_trend.month_end_median IS 'Median duration of the month-end runs.';
COMMENT ON COLUMN slo.job_duration_trend.month_end_factor IS
  'Median day_factor of the month-end dates (slo.job_duration_factors): 2 means a month-end date takes twice as long '
  'as a usual day of its week; a trend does not change it.';
COMMENT ON COLUMN slo.job_duration_trend.deadline_slo_id IS
  'The active SLO whose expected end for this job leaves the least time after its recent starts (the tightest).';
COMMENT ON COLUMN slo.job_duration_trend.budget IS
  'Median, over the succeeded runs of the window''s last 20 business dates, of the time from the run''s start to the '
  'job''s expected end in deadline_slo_id: the longest duration the job can take if it keeps starting as it does.';
COMMENT ON COLUMN slo.job_duration_trend.headroom IS 'budget - trend_duration; negative: the trend is already past the expected end.';
COMMENT ON COLUMN slo.job_duration_trend.crossing_date IS
  'The date the trend line reaches budget if it continues: set when at least 20 dates are fitted, slope > 0 and '
  'R2 >= 0.25 (whatever the growth); window_from when it was beyond all along; NULL beyond ten years or without a budget.';
COMMENT ON COLUMN slo.job_duration_trend.slowing IS
  'true when trend_dates >= 20, slope > 0, r2 >= 0.25, growth >= 10% of regular_median and growth >= 1 minute; '
  'NULL with fewer than 20 fitted dates.';

-- ---- Weekday and month-end effects ----------------------------------------------------------
CREATE FUNCTION slo.job_duration_effect(run_dates int DEFAULT 60, as_of date DEFAULT current_date)
RETURNS TABLE (job_id text, app_id text, window_from date, window_to date, effect text, iso_weekday int,
               dates int, runs int, median_duration interval, factor float8, notable boolean)
LANGUAGE sql STABLE
-- JIT compilation costs more than it saves on these many small operations (seconds on the
-- benchmark, about a second even on a handful of rows).
SET jit = off
AS $$
  WITH g AS (
    SELECT f.job_id, f.app_id, f.window_from, f.window_to,
           CASE WHEN f.month_end THEN 'month_end' ELSE 'weekday' END AS effect,
           CASE WHEN NOT f.month_end THEN f.iso_weekday END AS iso_weekday,
           count(*)::int AS dates, sum(f.runs)::int AS runs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY f.median_duration) AS median_duration,
           CASE WHEN f.month_end THEN percentile_cont(0.5) WITHIN GROUP (ORDER BY f.day_factor)
                WHEN count(*) >= 4 THEN min(f.weekday_factor) END AS factor
    FROM slo.job_duration_factors($1, $2) AS f
    WHERE f.runs > 0
    GROUP BY f.job_id, f.app_id, f.window_from, f.window_to, 5, 6, f.month_end
  )
  SELECT g.job_id, g.app_id, g.window_from, g.window_to, g.effect, g.iso_weekday, g.dates, g.runs,
         g.median_duration, g.factor,
         coalesce(g.dates >= CASE g.effect WHEN 'month_end' THEN 2 ELSE 4 END
                  AND (g.factor >= 1.25 OR g.factor <= 0.8), false)
  FROM g
$$;
COMMENT ON FUNCTION slo.job_duration_effect(int, date) IS
  'Per job, the month-end and weekday effects on run durations over its window (the last run_dates business dates '
  'with events, on or before as_of); columns as described on the view slo.job_duration_effect.';

CREATE VIEW slo.job_duration_effect AS SELECT * FROM slo.job_duration_effect();
COMMENT ON VIEW slo.job_duration_effect IS
  'Calendar effects on durations, shown apart from the trend, per job over its last 60 business dates with events: '
  'one month_end row (dates on or after the last business day of their month) and one weekday row per ISO weekday '
  '(the other, regular dates), each with its median duration and a factor against a usual day of the same week, so '
  'a trend does not show up as an effect (slo.job_duration_factors). notable: the factor is at least 1.25 or at '
  'most 0.8, seen on at least 2 month-end dates or on at least 4 dates of that weekday. slo.job_duration_trend '
  'divides each regular date by its weekday factor and leaves month-end dates out of the fit. '
  'slo.job_duration_effect(...) takes another window or as-of date.';
COMMENT ON COLUMN slo.job_duration_effect.job_id IS 'The job.';
COMMENT ON COLUMN slo.job_duration_effect.app_id IS 'The job''s application.';
COMMENT ON COLUMN slo.job_duration_effect.window_from IS 'First business date of the job''s window.';
COMMENT ON COLUMN slo.job_duration_effect.window_to IS 'Last business date of the job''s window.';
COMMENT ON COLUMN slo.job_duration_effect.effect IS 'month_end or weekday.';
COMMENT ON COLUMN slo.job_duration_effect.iso_weekday IS 'For weekday rows, the ISO weekday of the business date (1 = Monday .. 7 = Sunday); NULL for month_end.';
COMMENT ON COLUMN slo.job_duration_effect.dates IS 'Business dates in the group (with a run with a duration).';
COMMENT ON COLUMN slo.job_duration_effect.runs IS 'Runs with a duration in the group.';
COMMENT ON COLUMN slo.job_duration_effect.median_duration IS
  'Median, over the group''s dates, of each date''s median run duration.';
COMMENT ON COLUMN slo.job_duration_effect.factor IS
  'How long the group''s dates take against a usual day of the same week (1 = usual; see '
  'slo.job_duration_factors): for month_end the median day_factor of its dates, for a weekday its weekday_factor; '
  'NULL for a weekday seen on fewer than 4 dates.';
COMMENT ON COLUMN slo.job_duration_effect.notable IS
  'factor >= 1.25 or <= 0.8, on at least 2 dates (month_end) or 4 dates (a weekday).';

-- ---- Hosts ------------------------------------------------------------------------------------
CREATE FUNCTION slo.host_duration(run_dates int DEFAULT 60, as_of date DEFAULT current_date)
RETURNS TABLE (job_id text, app_id text, host_id text, window_from date, window_to date, runs int, failed_runs int,
               median_duration interval, p90_duration interval, job_median interval, job_hosts int,
               factor float8, slow boolean)
LANGUAGE sql STABLE
-- JIT compilation costs more than it saves on these many small operations (seconds on the
-- benchmark, about a second even on a handful of rows).
SET jit = off
AS $$
  WITH r AS (
    SELECT r.*, extract(epoch FROM r.duration)::float8 AS secs,
           r.duration IS NOT NULL AND NOT r.month_end AS counted
    FROM slo.job_runs_in_window($1, $2) AS r
  ), job AS (
    SELECT r.job_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY r.secs) FILTER (WHERE r.counted) AS secs,
           count(DISTINCT r.host_id) FILTER (WHERE r.counted)::int AS hosts
    FROM r GROUP BY r.job_id
  ), host AS (
    SELECT r.job_id, min(r.app_id) AS app_id, r.host_id, min(r.window_from) AS window_from,
           min(r.window_to) AS window_to,
           count(*) FILTER (WHERE r.counted)::int AS runs,
           count(*) FILTER (WHERE r.outcome = 'failed')::int AS failed_runs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.secs) FILTER (WHERE r.counted) AS median_secs,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY r.secs) FILTER (WHERE r.counted) AS p90_secs
    FROM r GROUP BY r.job_id, r.host_id
  )
  SELECT h.job_id, h.app_id, h.host_id, h.window_from, h.window_to, h.runs, h.failed_runs,
         make_interval(secs => h.median_secs), make_interval(secs => h.p90_secs), make_interval(secs => j.secs),
         j.hosts, h.median_secs / nullif(j.secs, 0),
         j.hosts >= 2 AND h.runs >= 5 AND coalesce(h.median_secs >= 1.25 * j.secs, false)
  FROM host h JOIN job j ON j.job_id = h.job_id
$$;
COMMENT ON FUNCTION slo.host_duration(int, date) IS
  'Per job and host, run durations over the job''s window (the last run_dates business dates with events, on or '
  'before as_of); columns as described on the view slo.host_duration.';

CREATE VIEW slo.host_duration AS SELECT * FROM slo.host_duration();
COMMENT ON VIEW slo.host_duration IS
  'Durations by host_id, per job over its last 60 business dates with events, so a slow host shows: the median of '
  'the job''s regular runs (succeeded, not month end) on each host against its median on all hosts. '
  'slow: the job ran on at least 2 hosts, at least 5 runs on this one, and their median is at least 1.25 times the '
  'job''s. Failures are counted per host as well.';
COMMENT ON COLUMN slo.host_duration.job_id IS 'The job.';
COMMENT ON COLUMN slo.host_duration.app_id IS 'The job''s application.';
COMMENT ON COLUMN slo.host_duration.host_id IS 'The host (slo.job_run.host_id).';
COMMENT ON COLUMN slo.host_duration.window_from IS 'First business date of the job''s window.';
COMMENT ON COLUMN slo.host_duration.window_to IS 'Last business date of the job''s window.';
COMMENT ON COLUMN slo.host_duration.runs IS 'Regular runs with a duration on this host.';
COMMENT ON COLUMN slo.host_duration.failed_runs IS 'Failed runs on this host (month end included).';
COMMENT ON COLUMN slo.host_duration.median_duration IS 'Median duration of the regular runs on this host.';
COMMENT ON COLUMN slo.host_duration.p90_duration IS '90th percentile duration of the regular runs on this host.';
COMMENT ON COLUMN slo.host_duration.job_median IS 'Median duration of the job''s regular runs on all hosts.';
COMMENT ON COLUMN slo.host_duration.job_hosts IS 'Hosts the job''s regular runs ran on in the window.';
COMMENT ON COLUMN slo.host_duration.factor IS 'median_duration / job_median.';
COMMENT ON COLUMN slo.host_duration.slow IS 'job_hosts >= 2, runs >= 5 and factor >= 1.25.';

CREATE FUNCTION slo.host_effect(run_dates int DEFAULT 60, as_of date DEFAULT current_date)
RETURNS TABLE (host_id text, jobs int, runs int, failed_runs int, failure_ratio float8, compared_jobs int,
               compared_runs int, median_ratio float8, p90_ratio float8, slow boolean)
LANGUAGE sql STABLE
-- JIT compilation costs more than it saves on these many small operations (seconds on the
-- benchmark, about a second even on a handful of rows).
SET jit = off
AS $$
  WITH r AS (
    SELECT r.*, extract(epoch FROM r.duration)::float8 AS secs,
           r.duration IS NOT NULL AND NOT r.month_end AS counted
    FROM slo.job_runs_in_window($1, $2) AS r
  ), job AS (
    SELECT r.job_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY r.secs) FILTER (WHERE r.counted) AS secs
    FROM r GROUP BY r.job_id
    HAVING count(DISTINCT r.host_id) FILTER (WHERE r.counted) >= 2
  ), ratios AS (
    SELECT r.host_id, r.job_id, r.secs / j.secs AS ratio
    FROM r JOIN job j ON j.job_id = r.job_id
    WHERE r.counted AND j.secs > 0
  ), cmp AS (
    SELECT x.host_id, count(DISTINCT x.job_id)::int AS jobs, count(*)::int AS runs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x.ratio) AS median_ratio,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY x.ratio) AS p90_ratio
    FROM ratios x GROUP BY x.host_id
  ), hosts AS (
    SELECT r.host_id, count(DISTINCT r.job_id)::int AS jobs, count(*)::int AS runs,
           count(*) FILTER (WHERE r.outcome = 'failed')::int AS failed_runs
    FROM r GROUP BY r.host_id
  )
  SELECT h.host_id, h.jobs, h.runs, h.failed_runs, h.failed_runs::float8 / h.runs,
         coalesce(c.jobs, 0), coalesce(c.runs, 0), c.median_ratio, c.p90_ratio,
         coalesce(c.runs >= 20 AND c.median_ratio >= 1.2, false)
  FROM hosts h LEFT JOIN cmp c ON c.host_id = h.host_id
$$;
COMMENT ON FUNCTION slo.host_effect(int, date) IS
  'Per host, how its runs compare with the same jobs elsewhere, over each job''s window (the last run_dates '
  'business dates with events, on or before as_of); columns as described on the view slo.host_effect.';

CREATE VIEW slo.host_effect AS SELECT * FROM slo.host_effect();
COMMENT ON VIEW slo.host_effect IS
  'Per host, across jobs, over each job''s last 60 business dates with events: failures, and how long its runs take '
  'against the median of the same job on all hosts. Only jobs whose regular runs (succeeded, not month end) ran on '
  'at least 2 hosts are compared; a job that always runs on one host says nothing about hosts. '
  'slow: at least 20 compared runs and a median ratio of at least 1.2.';
COMMENT ON COLUMN slo.host_effect.host_id IS 'The host.';
COMMENT ON COLUMN slo.host_effect.jobs IS 'Jobs with runs on the host in their windows.';
COMMENT ON COLUMN slo.host_effect.runs IS 'Runs on the host (any outcome, month end included).';
COMMENT ON COLUMN slo.host_effect.failed_runs IS 'Failed runs on the host.';
COMMENT ON COLUMN slo.host_effect.failure_ratio IS 'failed_runs / runs.';
COMMENT ON COLUMN slo.host_effect.compared_jobs IS 'Jobs compared (regular runs on 2 hosts or more) that ran here.';
COMMENT ON COLUMN slo.host_effect.compared_runs IS 'Regular runs of compared jobs on the host.';
COMMENT ON COLUMN slo.host_effect.median_ratio IS
  'Median over compared runs of duration / the job''s median on all hosts: 1.3 means 30% slower than usual.';
COMMENT ON COLUMN slo.host_effect.p90_ratio IS '90th percentile of the same ratio.';
COMMENT ON COLUMN slo.host_effect.slow IS 'compared_runs >= 20 and median_ratio >= 1.2.';

-- ---- SLO instances of a window ------------------------------------------------------------
CREATE FUNCTION slo.slo_instances_in_window(run_dates int DEFAULT 60, as_of timestamptz DEFAULT now())
RETURNS TABLE (slo_id text, slo_name text, app_id text, window_from date, window_to date,
               business_date date, period_start time, expected_start timestamptz, expected_end timestamptz,
               actual_end timestamptz, outcome text, end_delay interval)
LANGUAGE sql STABLE
AS $$
  SELECT s.slo_id, s.name, s.app_id, w.window_from, w.window_to,
         p.business_date, p.period_start, p.expected_start, p.expected_end, p.actual_end,
         CASE WHEN p.actual_end <= $2 AND p.actual_end <= p.expected_end THEN 'met'
              WHEN p.actual_end <= $2 THEN 'missed'
              WHEN p.expected_end < $2 THEN 'late'
              ELSE 'open' END,
         CASE WHEN p.actual_end <= $2 THEN p.actual_end - p.expected_end END
  FROM slo.slo s
  CROSS JOIN LATERAL (
    -- The SLO's last N business dates with a decided instance: a backward walk of the primary key.
    SELECT min(d.bd) AS window_from, max(d.bd) AS window_to
    FROM (SELECT DISTINCT x.business_date AS bd
          FROM slo.slo_performance x
          WHERE x.slo_id = s.slo_id AND x.business_date <= ($2)::date
            AND (x.actual_end <= $2 OR x.expected_end < $2)
          ORDER BY 1 DESC
          LIMIT greatest($1, 1)) AS d
  ) AS w
  CROSS JOIN LATERAL (
    SELECT * FROM slo.slo_performance x
    WHERE x.slo_id = s.slo_id AND x.business_date BETWEEN w.window_from AND w.window_to
  ) AS p
  WHERE s.active
$$;
COMMENT ON FUNCTION slo.slo_instances_in_window(int, timestamptz) IS
  'The instances (slo.slo_performance) of each active SLO''s window: its last run_dates business dates (on or '
  'before as_of''s date) with an instance decided by as_of. outcome as seen at as_of: met (ended by as_of and by its '
  'expected end), missed (ended by as_of, after its expected end), late (not ended by as_of, past its expected end), '
  'open (neither: not counted). end_delay: actual_end - expected_end for met and missed. With as_of = now() the '
  'outcomes equal slo.slo_performance_report.state. The base of slo.slo_punctuality and slo.slo_recommendation.';

-- ---- Punctuality ---------------------------------------------------------------------------
CREATE FUNCTION slo.slo_punctuality(
  run_dates int DEFAULT 60,
  as_of timestamptz DEFAULT now(),
  min_instances int DEFAULT 20,
  max_miss_ratio float8 DEFAULT 0.10,
  early_share float8 DEFAULT 0.90,
  early_margin interval DEFAULT '30 minutes')
RETURNS TABLE (slo_id text, slo_name text, app_id text, window_from date, window_to date,
               instances int, met int, missed int, late int, open_instances int, met_ratio float8,
               median_end_delay interval, p90_end_delay interval, early int, median_early_margin interval,
               early_threshold interval, early_by_threshold int, classification text, reason text)
LANGUAGE sql STABLE
-- JIT compilation costs more than it saves on these many small operations (seconds on the
-- benchmark, about a second even on a handful of rows).
SET jit = off
AS $$
  WITH i AS (
    SELECT * FROM slo.slo_instances_in_window($1, $2)
  ), threshold AS (
    SELECT i.slo_id,
           least($6, percentile_cont(0.5) WITHIN GROUP (ORDER BY i.expected_end - i.expected_start) / 2) AS early_threshold
    FROM i GROUP BY i.slo_id
  ), counted AS (
    SELECT i.slo_id, min(i.slo_name) AS slo_name, min(i.app_id) AS app_id,
           min(i.window_from) AS window_from, min(i.window_to) AS window_to,
           count(*) FILTER (WHERE i.outcome <> 'open')::int AS instances,
           count(*) FILTER (WHERE i.outcome = 'met')::int AS met,
           count(*) FILTER (WHERE i.outcome = 'missed')::int AS missed,
           count(*) FILTER (WHERE i.outcome = 'late')::int AS late,
           count(*) FILTER (WHERE i.outcome = 'open')::int AS open_instances,
           count(*) FILTER (WHERE i.outcome = 'met')::float8 / nullif(count(*) FILTER (WHERE i.outcome <> 'open'), 0)
             AS met_ratio,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY i.end_delay) AS median_end_delay,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY i.end_delay) AS p90_end_delay,
           count(*) FILTER (WHERE i.end_delay < interval '0')::int AS early,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY -i.end_delay) FILTER (WHERE i.end_delay < interval '0')
             AS median_early_margin,
           t.early_threshold,
           count(*) FILTER (WHERE i.end_delay <= -t.early_threshold)::int AS early_by_threshold
    FROM i JOIN threshold t ON t.slo_id = i.slo_id
    GROUP BY i.slo_id, t.early_threshold
  )
  SELECT c.slo_id, c.slo_name, c.app_id, c.window_from, c.window_to, c.instances, c.met, c.missed, c.late,
         c.open_instances, c.met_ratio, c.median_end_delay, c.p90_end_delay, c.early, c.median_early_margin,
         c.early_threshold, c.early_by_threshold, k.classification,
         CASE k.classification
           WHEN 'insufficient_data' THEN format('%s decided instances, fewer than %s', c.instances, $3)
           WHEN 'routinely_late' THEN format('%s of %s missed or late, more than %s%%',
                                             c.missed + c.late, c.instances, round(($4 * 100)::numeric, 1))
           WHEN 'routinely_early' THEN format('%s of %s ended at least %s minutes early, at least %s%%',
                                              c.early_by_threshold, c.instances,
                                              trim_scale(round((extract(epoch FROM c.early_threshold) / 60)::numeric, 1)),
                                              round(($5 * 100)::numeric, 1))
           ELSE format('met %s of %s', c.met, c.instances) END
  FROM counted c
  CROSS JOIN LATERAL (SELECT CASE
    WHEN c.instances < $3 THEN 'insufficient_data'
    WHEN (c.missed + c.late)::float8 / nullif(c.instances, 0) > $4 THEN 'routinely_late'
    WHEN c.early_by_threshold::float8 / nullif(c.instances, 0) >= $5 THEN 'routinely_early'
    ELSE 'on_time' END AS classification) AS k
$$;
COMMENT ON FUNCTION slo.slo_punctuality(int, timestamptz, int, float8, float8, interval) IS
  'Per active SLO over its window (the last run_dates business dates with a decided instance, on or before as_of), '
  'how punctual it is; columns as described on the view slo.slo_punctuality, which calls this with the defaults. '
  'Classification, in order: insufficient_data (fewer than min_instances decided instances); routinely_late '
  '(missed + late > max_miss_ratio of them); routinely_early (at least early_share of them ended at least '
  'least(early_margin, half the median expected span) before the expected end); on_time otherwise.';

CREATE VIEW slo.slo_punctuality AS SELECT * FROM slo.slo_punctuality();
COMMENT ON VIEW slo.slo_punctuality IS
  'Which SLOs are routinely early or late, per active SLO over its last 60 business dates with a decided instance '
  '(all periods of an intraday SLO; open instances, not yet due, are not counted). classification, in order: '
  'insufficient_data when fewer than 20 instances are decided; routinely_late when more than 10% are missed or late '
  '(met ratio below 90%); routinely_early when at least 90% ended at least early_threshold before their expected '
  'end, early_threshold being 30 minutes or half the median expected span (expected_end - expected_start) when '
  'that is shorter (10-minute intraday SLOs can only be minutes early); on_time otherwise. '
  'slo.slo_punctuality(...) takes another window, as-of time or thresholds.';
COMMENT ON COLUMN slo.slo_punctuality.slo_id IS 'The SLO.';
COMMENT ON COLUMN slo.slo_punctuality.slo_name IS 'The SLO''s name.';
COMMENT ON COLUMN slo.slo_punctuality.app_id IS 'The SLO''s application.';
COMMENT ON COLUMN slo.slo_punctuality.window_from IS 'First business date of the window.';
COMMENT ON COLUMN slo.slo_punctuality.window_to IS 'Last business date of the window.';
COMMENT ON COLUMN slo.slo_punctuality.instances IS 'Decided instances: met + missed + late.';
COMMENT ON COLUMN slo.slo_punctuality.met IS 'Complete by the expected end.';
COMMENT ON COLUMN slo.slo_punctuality.missed IS 'Complete after the expected end.';
COMMENT ON COLUMN slo.slo_punctuality.late IS 'Not complete and past the expected end (as of as_of); counts as a miss.';
COMMENT ON COLUMN slo.slo_punctuality.open_instances IS 'Instances of the window not yet due and not complete; not counted.';
COMMENT ON COLUMN slo.slo_punctuality.met_ratio IS 'met / instances.';
COMMENT ON COLUMN slo.slo_punctuality.median_end_delay IS 'Median of actual_end - expected_end over complete instances (negative: early).';
COMMENT ON COLUMN slo.slo_punctuality.p90_end_delay IS '90th percentile of the same (interpolated).';
COMMENT ON COLUMN slo.slo_punctuality.early IS 'Complete instances that ended before their expected end.';
COMMENT ON COLUMN slo.slo_punctuality.median_early_margin IS 'Median of expected_end - actual_end over the early ones.';
COMMENT ON COLUMN slo.slo_punctuality.early_threshold IS
  'How early counts as routinely early: 30 minutes, or half the median expected span when that is shorter.';
COMMENT ON COLUMN slo.slo_punctuality.early_by_threshold IS 'Instances that ended at least early_threshold before their expected end.';
COMMENT ON COLUMN slo.slo_punctuality.classification IS 'routinely_late, routinely_early, on_time or insufficient_data (rules on the view).';
COMMENT ON COLUMN slo.slo_punctuality.reason IS 'The figures behind the classification, in words.';

-- ---- Recommendation -------------------------------------------------------------------------
CREATE FUNCTION slo.slo_recommendation(
  run_dates int DEFAULT 60,
  rate float8 DEFAULT 0.95,
  as_of timestamptz DEFAULT now(),
  min_instances int DEFAULT 20,
  keep_within interval DEFAULT '5 minutes')
RETURNS TABLE (slo_id text, slo_name text, app_id text, window_from date, window_to date,
               instances int, never_completed int, rate float8, current_expected_end interval, met_ratio float8,
               change interval, suggested_expected_end interval, suggested_met_ratio float8, advice text)
LANGUAGE sql STABLE
-- JIT compilation costs more than it saves on these many small operations (seconds on the
-- benchmark, about a second even on a handful of rows).
SET jit = off
AS $$
  WITH i AS (
    SELECT w.*,
           -- An instance never completed (late) is met by no expected end at all.
           CASE WHEN w.outcome = 'late' THEN 'Infinity'::float8 ELSE extract(epoch FROM w.end_delay)::float8 END AS delay
    FROM slo.slo_instances_in_window($1, $3) AS w
    WHERE w.outcome <> 'open'
  ), agg AS (
    SELECT i.slo_id, min(i.slo_name) AS slo_name, min(i.app_id) AS app_id, min(i.window_from) AS window_from,
           min(i.window_to) AS window_to, count(*)::int AS instances,
           count(*) FILTER (WHERE i.outcome = 'late')::int AS never_completed,
           count(*) FILTER (WHERE i.outcome = 'met')::float8 / count(*) AS met_ratio,
           percentile_disc($2) WITHIN GROUP (ORDER BY i.delay) AS quantile
    FROM i GROUP BY i.slo_id
  ), shift AS (
    SELECT a.*,
           CASE WHEN a.instances >= $4 AND a.quantile <> 'Infinity'::float8
                THEN ceil(a.quantile / 60)::bigint * 60 END AS change_secs,
           (SELECT max(sj.expected_end) FROM slo.slo_job sj WHERE sj.slo_id = a.slo_id) AS current_end
    FROM agg a
  ), suggested AS (
    SELECT i.slo_id, count(*) FILTER (WHERE i.delay <= s.change_secs)::float8 / count(*) AS met_ratio
    FROM i JOIN shift s ON s.slo_id = i.slo_id
    WHERE s.change_secs IS NOT NULL
    GROUP BY i.slo_id
  )
  SELECT s.slo_id, s.slo_name, s.app_id, s.window_from, s.window_to, s.instances, s.never_completed, $2,
         s.current_end, s.met_ratio,
         make_interval(secs => s.change_secs),
         justify_hours(s.current_end + make_interval(secs => s.change_secs)),
         g.met_ratio,
         CASE WHEN s.instances < $4 THEN format('insufficient data: %s decided instances, fewer than %s', s.instances, $4)
              WHEN s.change_secs IS NULL
                THEN format('cannot reach %s%%: %s of %s instances never completed', round(($2 * 100)::numeric, 1),
                            s.never_completed, s.instances)
              ELSE slo.describe_change(make_interval(secs => s.change_secs), $5) END
  FROM shift s
  LEFT JOIN suggested g ON g.slo_id = s.slo_id
$$;
COMMENT ON FUNCTION slo.slo_recommendation(int, float8, timestamptz, int, interval) IS
  'Per active SLO, the expected end that the decided instances of its window (the last run_dates business dates '
  'with a decided instance, on or before as_of) would have met at the given rate; columns as described on the view '
  'slo.slo_recommendation, which calls this with the defaults. Needs min_instances decided instances; changes '
  'smaller than keep_within are advised as keep.';

CREATE VIEW slo.slo_recommendation AS SELECT * FROM slo.slo_recommendation();
COMMENT ON VIEW slo.slo_recommendation IS
  'What each active SLO''s expected end should be: the shift that the decided instances of its last 60 business '
  'dates (for a daily SLO, its last 60 instances; for an intraday SLO, every period of those dates) would have met '
  'at a rate of 95%: the 95th percentile (the smallest end delay that at least 95% of them reached) of actual_end - '
  'expected_end, rounded up to the minute, with late instances (never completed) counted as never met. '
  'suggested_expected_end = current_expected_end + change, applied to the job(s) whose expected_end is the SLO''s '
  'latest. advice reads ''tighten by ...'', ''loosen by ...'' or ''keep'' (under 5 minutes); no suggestion with fewer '
  'than 20 decided instances, or when more than 5% never completed. slo.slo_recommendation(...) takes another window, '
  'rate, as-of time or thresholds.';
COMMENT ON COLUMN slo.slo_recommendation.slo_id IS 'The SLO.';
COMMENT ON COLUMN slo.slo_recommendation.slo_name IS 'The SLO''s name.';
COMMENT ON COLUMN slo.slo_recommendation.app_id IS 'The SLO''s application.';
COMMENT ON COLUMN slo.slo_recommendation.window_from IS 'First business date of the window.';
COMMENT ON COLUMN slo.slo_recommendation.window_to IS 'Last business date of the window.';
COMMENT ON COLUMN slo.slo_recommendation.instances IS 'Decided instances in the window (met, missed or late).';
COMMENT ON COLUMN slo.slo_recommendation.never_completed IS 'Late instances: past their expected end and never completed.';
COMMENT ON COLUMN slo.slo_recommendation.rate IS 'The share of instances the suggestion would have met (default 0.95).';
COMMENT ON COLUMN slo.slo_recommendation.current_expected_end IS
  'Today''s expected end offset of the SLO: the latest expected_end of its jobs (slo.slo_job).';
COMMENT ON COLUMN slo.slo_recommendation.met_ratio IS 'Share of the decided instances met at today''s expected ends.';
COMMENT ON COLUMN slo.slo_recommendation.change IS
  'How far to move the expected end: negative tightens (earlier), positive loosens; whole minutes, rounded up.';
COMMENT ON COLUMN slo.slo_recommendation.suggested_expected_end IS
  'current_expected_end + change, with 24-hour days (justify_hours). With day_unit = ''run'' a change across '
  'midnight counts calendar hours: check it before applying it.';
COMMENT ON COLUMN slo.slo_recommendation.suggested_met_ratio IS 'Share of the decided instances the suggestion would have met (at least rate).';
COMMENT ON COLUMN slo.slo_recommendation.advice IS
  '''tighten by 1 hour 55 minutes'', ''loosen by 25 minutes'', ''keep'', or why there is no suggestion.';
