-- ============================================================================
-- trends: slo.job_run and the trend functions and views (issue 7) on small
-- histories with hand-computed answers. Times are UTC; every date is in the
-- past and the functions get an explicit as_of, so nothing changes with time.
-- ============================================================================
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY terse
TRUNCATE slo.job_status, slo.slo_performance;
DELETE FROM slo.slo_job; DELETE FROM slo.slo; DELETE FROM slo.job;
INSERT INTO slo.application VALUES ('ops', 'Operations') ON CONFLICT DO NOTHING;
INSERT INTO slo.calendar VALUES ('every_day_utc', 'Every day', '{1,2,3,4,5,6,7}', NULL, true);
SET client_min_messages = warning;
SELECT slo.load_holidays('us_federal_reserve', 'us_federal_reserve', 2025, 2027) >= 0 AS holidays_loaded;
RESET client_min_messages;

INSERT INTO slo.job VALUES ('extract', 'ops', 'Nightly extract'), ('ticker', 'ops', 'Half-hourly ticker'),
  ('linear', 'ops', 'Grows a minute a day'), ('weekly', 'ops', 'Heavy on Mondays'),
  ('report-job', 'ops', 'Report'), ('early-job', 'ops', 'Always early');
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end) VALUES
  ('nightly', 'Extract by 03:00', 'ops', 'every_day_utc', 'UTC', NULL, NULL, NULL),
  ('ticks', 'Ticker 10 minutes after each half hour', 'ops', 'every_day_utc', 'UTC', '30 minutes', '06:00', '08:00'),
  ('linear-slo', 'Linear by 02:00', 'ops', 'every_day_utc', 'UTC', NULL, NULL, NULL),
  ('report', 'Report by 08:00', 'ops', 'every_day_utc', 'UTC', NULL, NULL, NULL),
  ('early', 'Early by 08:00', 'ops', 'every_day_utc', 'UTC', NULL, NULL, NULL);
INSERT INTO slo.slo_job VALUES
  ('nightly', 'extract', '1 day 01:00', '1 day 03:00', 'calendar'),
  ('ticks', 'ticker', '00:00', '00:10', 'calendar'),
  ('linear-slo', 'linear', '1 day 00:00', '1 day 02:00', 'calendar'),
  ('report', 'report-job', '1 day 05:00', '1 day 08:00', 'calendar'),
  ('early', 'early-job', '1 day 05:00', '1 day 08:00', 'calendar');

CREATE TEMP TABLE ev (job_id text, status text, status_time timestamptz, business_date date, run_id text,
                      host_id text DEFAULT 'host-a', period_start time DEFAULT NULL);
CREATE FUNCTION pg_temp.post() RETURNS int LANGUAGE sql AS $$
  WITH ins AS (
    INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
    SELECT 'ops', job_id, status, status_time, business_date, run_id, host_id, period_start FROM ev
    ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
  SELECT count(*)::int FROM ins $$;

-- ---- slo.job_run: one row per run -----------------------------------------------------------
-- 2 March: r1 fails and r2, a restart on another host, succeeds: two runs, each with its own
-- outcome; only r2 has a duration (40 minutes).
-- 3 March: a start and nothing else: running, no end, no duration.
-- 4 March: a succeed without its start: succeeded, but no duration.
-- 5 March: two starts (the earliest counts, with its host), a fail and a succeed of the same run
-- id: succeeded at 01:50, 50 minutes.
-- 6 March: a succeed stamped before its start: no duration.
-- The ticker (intraday): a run without period_start takes the period its start falls in (06:31 ->
-- 06:30; 05:50 is before the window: 06:00); one names its period (07:00), and its succeed,
-- which does not, belongs to the same run.
INSERT INTO ev (job_id, status, status_time, business_date, run_id, host_id, period_start) VALUES
  ('extract', 'start', '2026-03-03 01:00', '2026-03-02', 'r1', 'host-a', NULL),
  ('extract', 'fail', '2026-03-03 01:20', '2026-03-02', 'r1', 'host-a', NULL),
  ('extract', 'start', '2026-03-03 01:30', '2026-03-02', 'r2', 'host-b', NULL),
  ('extract', 'succeed', '2026-03-03 02:10', '2026-03-02', 'r2', 'host-b', NULL),
  ('extract', 'start', '2026-03-04 01:00', '2026-03-03', 'r1', 'host-a', NULL),
  ('extract', 'succeed', '2026-03-05 02:00', '2026-03-04', 'r1', 'host-c', NULL),
  ('extract', 'start', '2026-03-06 01:05', '2026-03-05', 'r1', 'host-b', NULL),
  ('extract', 'start', '2026-03-06 01:00', '2026-03-05', 'r1', 'host-a', NULL),
  ('extract', 'fail', '2026-03-06 01:20', '2026-03-05', 'r1', 'host-a', NULL),
  ('extract', 'succeed', '2026-03-06 01:50', '2026-03-05', 'r1', 'host-a', NULL),
  ('extract', 'start', '2026-03-07 02:00', '2026-03-06', 'r1', 'host-a', NULL),
  ('extract', 'succeed', '2026-03-07 01:59', '2026-03-06', 'r1', 'host-a', NULL),
  ('ticker', 'start', '2026-03-02 06:31', '2026-03-02', 't0631', 'host-a', NULL),
  ('ticker', 'succeed', '2026-03-02 06:36', '2026-03-02', 't0631', 'host-a', NULL),
  ('ticker', 'start', '2026-03-02 07:02', '2026-03-02', 't0700', 'host-b', '07:00'),
  ('ticker', 'succeed', '2026-03-02 07:05', '2026-03-02', 't0700', 'host-b', NULL),
  ('ticker', 'start', '2026-03-02 05:50', '2026-03-02', 't0550', 'host-a', NULL),
  ('ticker', 'succeed', '2026-03-02 05:58', '2026-03-02', 't0550', 'host-a', NULL);
SELECT pg_temp.post() AS stored;
SELECT job_id, business_date AS bd, period_start AS period, run_id, host_id, started_at, ended_at, outcome, duration
FROM slo.job_run ORDER BY job_id, business_date, run_id;

-- ---- Helpers -------------------------------------------------------------------------------
-- Monday 31 May 2027 is Memorial Day, so May's last business day is Friday the 28th (the 31st
-- without holidays); 31 January 2026 is a Saturday, 28 February 2026 too.
SELECT slo.last_business_day('2027-05-10', 'us_federal_reserve') AS may_2027,
       slo.last_business_day('2027-05-10') AS may_2027_no_holidays,
       slo.last_business_day('2026-01-01') AS jan_2026,
       slo.last_business_day('2026-02-14', 'us_federal_reserve') AS feb_2026;
SELECT c AS change, slo.describe_change(c) AS advice
FROM unnest(ARRAY[interval '-01:55', '00:25', '-00:04:59', '00:05', '-02:00', '26:00:01', NULL]) AS c;
SELECT slo.describe_change('00:00:30', '0') AS with_no_tolerance;

-- ---- Duration trend: a job that grows one minute a day ---------------------------------------
-- 25 business dates, 1 to 25 January 2026; each run starts at 00:00 the next day and takes
-- 30 minutes + 1 minute a day. Hand-computed: slope 1 minute a day, R2 1; the median of 30..54
-- minutes is 42, the 90th percentile 30 + 21.6 = 51.6 minutes; growth over 24 days 24 minutes
-- (at least 10% of 42 minutes and 1 minute: slowing); the trend reaches 54 minutes on the 25th.
-- Expected end 02:00, start 00:00: a budget of 2 hours, 1 hour 6 minutes of headroom, and the
-- line 30 + x minutes reaches 120 at x = 90: 1 January + 90 days = 1 April 2026.
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
SELECT 'ops', 'linear', s.status,
       (d + 1)::timestamptz + CASE s.status WHEN 'start' THEN interval '0' ELSE make_interval(mins => 30 + (d - date '2026-01-01')) END,
       d, 'r1', 'host-a'
FROM generate_series(0, 24) AS k CROSS JOIN LATERAL (SELECT date '2026-01-01' + k AS d) AS x
CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status);
SELECT window_from, window_to, window_dates, runs, unfinished_runs, median_duration, p90_duration, regular_median,
       trend_dates, date_trunc('second', slope_per_day) AS slope_per_day, round(slope_pct_per_day::numeric, 4) AS pct_per_day,
       round(r2::numeric, 6) AS r2, date_trunc('second', growth) AS growth,
       date_trunc('second', trend_duration) AS trend_duration, month_end_runs, month_end_factor, deadline_slo_id, budget,
       date_trunc('second', headroom) AS headroom, crossing_date, slowing
FROM slo.job_duration_trend(as_of => '2026-01-31') WHERE job_id = 'linear' \gx
-- The last 10 dates only: too few to judge (slowing is NULL, no crossing date) unless min_dates allows.
SELECT window_from, window_to, trend_dates, crossing_date, slowing
FROM slo.job_duration_trend(run_dates => 10, as_of => '2026-01-31') WHERE job_id = 'linear';
SELECT window_from, trend_dates, date_trunc('second', growth) AS growth, slowing
FROM slo.job_duration_trend(run_dates => 10, as_of => '2026-01-31', min_dates => 5) WHERE job_id = 'linear';
-- As of the 12th, the window ends on the 12th.
SELECT window_from, window_to, runs FROM slo.job_duration_trend(as_of => '2026-01-12') WHERE job_id = 'linear';

-- ---- Weekday and month-end effects -------------------------------------------------------------
-- Eight weeks, Monday 2 February to Sunday 29 March 2026, of a job with no SLO (so no holidays):
-- 20 minutes a run, 40 on Mondays, 60 on the month-end dates (Friday 27 February, the last
-- weekday, and Saturday the 28th after it). Mondays show a factor of 2, the other weekdays 1,
-- month end 3 (against the usual days around it, weekday effect removed), and the trend is flat.
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
SELECT 'ops', 'weekly', s.status,
       (d + 1)::timestamptz + CASE s.status WHEN 'start' THEN interval '0'
         ELSE make_interval(mins => CASE WHEN d IN ('2026-02-27', '2026-02-28') THEN 60
                                         WHEN extract(isodow FROM d) = 1 THEN 40 ELSE 20 END) END,
       d, 'r1', 'host-a'
FROM generate_series(0, 55) AS k CROSS JOIN LATERAL (SELECT date '2026-02-02' + k AS d) AS x
CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status);
SELECT effect, iso_weekday, dates, runs, median_duration, round(factor::numeric, 3) AS factor, notable
FROM slo.job_duration_effect(as_of => '2026-03-31') WHERE job_id = 'weekly'
ORDER BY effect, iso_weekday;
SELECT runs, month_end_runs, month_end_median, round(month_end_factor::numeric, 3) AS month_end_factor,
       trend_dates, date_trunc('second', slope_per_day) AS slope_per_day, date_trunc('second', growth) AS growth,
       budget, slowing
FROM slo.job_duration_trend(as_of => '2026-03-31') WHERE job_id = 'weekly';

-- ---- Punctuality and recommendation ----------------------------------------------------------
-- report: expected end 1 day 08:00, 3 hours after its start. Ten dates, 1 to 10 February 2026:
-- ends 2 hours, 1:50, 1:40 ... 1 hour early (seven met), 10 and 30 minutes late (two missed),
-- and one that never ends (late). early: always 2 hours early.
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
SELECT 'ops', j.job_id, s.status,
       (d + 1)::timestamptz + CASE s.status WHEN 'start' THEN interval '05:00' ELSE interval '08:00' + j.delay END,
       d, 'r1', 'host-a'
FROM generate_series(0, 9) AS k
CROSS JOIN LATERAL (SELECT date '2026-02-01' + k AS d) AS x
CROSS JOIN LATERAL (VALUES
  ('report-job', (ARRAY[interval '-120 min', '-110 min', '-100 min', '-90 min', '-80 min', '-70 min', '-60 min',
                  '10 min', '30 min', NULL])[k + 1]),
  ('early-job', interval '-120 min')) AS j(job_id, delay)
CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status)
WHERE s.status = 'start' OR j.delay IS NOT NULL;
SELECT slo_id, business_date, state, CASE WHEN state <> 'late' THEN end_delay END AS end_delay
FROM slo.slo_performance_report WHERE slo_id = 'report' ORDER BY business_date;
-- Hand-computed for report, as of 1 March: 10 decided, 7 met, 2 missed, 1 late; delays of the 9
-- complete ones -120 .. -60, +10, +30 minutes: median -80, 90th percentile 10 + 0.2 x 20 = 14
-- minutes; 7 early with a median margin of 90 minutes; the threshold is 30 minutes (half the
-- 3-hour span is longer); 3 of 10 missed or late is over 10%: routinely_late.
SELECT slo_id, window_from, window_to, instances, met, missed, late, open_instances, met_ratio, median_end_delay,
       p90_end_delay, early, median_early_margin, early_threshold, early_by_threshold, classification, reason
FROM slo.slo_punctuality(as_of => '2026-03-01', min_instances => 5)
WHERE slo_id IN ('report', 'early') ORDER BY slo_id \gx
-- With the default minimum of 20 decided instances there are too few.
SELECT slo_id, instances, classification, reason FROM slo.slo_punctuality(as_of => '2026-03-01')
WHERE slo_id IN ('report', 'early') ORDER BY slo_id;
-- The recommendation at 80%: the 8th of the 10 sorted delays (-120 .. -60, +10, +30, never) is
-- +10 minutes, so loosen by 10 minutes (8 of 10 met); at 50% the 5th, -80 minutes; at 95% the
-- 10th never ended: no suggestion. early: 2 hours earlier.
SELECT slo_id, r.rate, instances, never_completed, current_expected_end, met_ratio, change, suggested_expected_end,
       suggested_met_ratio, advice
FROM (VALUES (0.5), (0.8), (0.95)) AS x(rate)
CROSS JOIN LATERAL slo.slo_recommendation(rate => x.rate, as_of => '2026-03-01', min_instances => 5) AS r
WHERE slo_id IN ('report', 'early') ORDER BY slo_id, r.rate;
SELECT slo_id, instances, change, advice FROM slo.slo_recommendation(as_of => '2026-03-01')
WHERE slo_id IN ('report', 'early') ORDER BY slo_id;
-- As of 2 February 09:00 only the first date is decided.
SELECT slo_id, window_from, window_to, instances, met, open_instances
FROM slo.slo_punctuality(as_of => '2026-02-02 09:00', min_instances => 1) WHERE slo_id = 'report';

-- ---- The views: the functions with their defaults ----------------------------------------------
SELECT job_id, window_to, runs, slowing FROM slo.job_duration_trend ORDER BY job_id;
SELECT slo_id, instances, classification FROM slo.slo_punctuality ORDER BY slo_id;
SELECT slo_id, instances, advice FROM slo.slo_recommendation ORDER BY slo_id;
SELECT count(*) AS effect_rows FROM slo.job_duration_effect;
SELECT job_id, host_id, runs, failed_runs, median_duration, job_hosts, round(factor::numeric, 3) AS factor, slow
FROM slo.host_duration WHERE job_id = 'extract' ORDER BY host_id;
SELECT host_id, jobs, runs, failed_runs, round(failure_ratio::numeric, 3) AS failure_ratio, compared_jobs, compared_runs,
       round(median_ratio::numeric, 3) AS median_ratio, slow
FROM slo.host_effect ORDER BY host_id;
