-- ============================================================================
-- engine: slo.slo_performance kept by the trigger, slo.evaluate, slo.recompute
-- and the report view, on the brief's examples with hand-computed rows.
-- All dates are in the past, so the states shown cannot change with time.
-- ============================================================================
SET timezone = 'America/New_York';
\set VERBOSITY terse
TRUNCATE slo.job_status;
DELETE FROM slo.slo_job; DELETE FROM slo.slo; DELETE FROM slo.calendar;
SET client_min_messages = warning;
\o /dev/null
\i pg_slo/tests/pg_regress/foxfire.sql
\o
RESET client_min_messages;

CREATE TEMP TABLE ev (app_id text, job_id text, status text, status_time timestamptz,
                      business_date date, run_id text, period_start time);
CREATE FUNCTION pg_temp.post() RETURNS int LANGUAGE sql AS $$
  WITH ins AS (
    INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
    SELECT app_id, job_id, status, status_time, business_date, run_id, 'host-1', period_start FROM ev
    ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
  SELECT count(*)::int FROM ins $$;
CREATE VIEW perf AS
SELECT slo_id, business_date AS bd, period_start AS period, expected_start, expected_end,
       actual_start, actual_end, failed_runs AS fails, state,
       -- while late the delay grows with now(): shown as such
       CASE WHEN actual_end IS NOT NULL THEN end_delay::text WHEN end_delay IS NOT NULL THEN 'still growing' END AS end_delay,
       slack_breached AS breached
FROM slo.slo_performance_report;

-- ---- The overdraft chain, business date Monday 17 November 2025 ---------------------------
-- The overdraft job fails once and succeeds on a restart before 03:00; the decision-support
-- load ends 20 minutes late (within its 30 minutes of slack); the report is on time.
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2025-11-18 00:35', '2025-11-17', 'r1', NULL),
  ('overdrafts', 'od-calc', 'fail', '2025-11-18 01:10', '2025-11-17', 'r1', NULL),
  ('overdrafts', 'od-calc', 'start', '2025-11-18 01:20', '2025-11-17', 'r2', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2025-11-18 02:50', '2025-11-17', 'r2', NULL),
  ('decision_support', 'dss-load-od', 'start', '2025-11-18 03:05', '2025-11-17', 'r1', NULL),
  ('decision_support', 'dss-load-od', 'succeed', '2025-11-18 05:20', '2025-11-17', 'r1', NULL),
  ('decision_support', 'od-activity-report', 'start', '2025-11-18 05:30', '2025-11-17', 'r1', NULL),
  ('decision_support', 'od-activity-report', 'succeed', '2025-11-18 07:45', '2025-11-17', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT * FROM perf WHERE bd = '2025-11-17' ORDER BY 1, 2, 3;

-- ---- A weekend: business date Friday 21 November 2025 ------------------------------------
-- The every-day overdraft SLO is due Saturday 03:00; the business-day load is due Monday 05:00.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2025-11-22 00:40', '2025-11-21', 'r1', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2025-11-22 02:30', '2025-11-21', 'r1', NULL),
  ('decision_support', 'dss-load-od', 'start', '2025-11-24 03:10', '2025-11-21', 'r1', NULL),
  ('decision_support', 'dss-load-od', 'succeed', '2025-11-24 04:50', '2025-11-21', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT * FROM perf WHERE bd = '2025-11-21' ORDER BY 1, 2, 3;

-- ---- A holiday: Thanksgiving, Thursday 27 November 2025 ----------------------------------
-- Wednesday's load is due Friday (and never reported, so it is late); an event for business
-- date Thursday counts for the every-day SLO only (Thursday is no run date of the standard
-- calendar): it is stored all the same.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2025-11-27 00:31', '2025-11-26', 'r1', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2025-11-27 01:40', '2025-11-26', 'r1', NULL),
  ('overdrafts', 'od-calc', 'start', '2025-11-28 00:32', '2025-11-27', 'r1', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2025-11-28 03:15', '2025-11-27', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT * FROM perf WHERE bd IN ('2025-11-26', '2025-11-27') ORDER BY 1, 2, 3;
SELECT count(*) AS events_of_thanksgiving_stored FROM slo.job_status WHERE business_date = '2025-11-27';

-- ---- Daylight saving: the nights of 2 November 2025 and 8 March 2026 -----------------------
-- Business date Saturday 1 November: due Sunday 03:00, which is EST (08:00Z) after the fall back;
-- 02:30 EST is on time. Business date Saturday 7 March 2026: due Sunday 03:00 EDT (07:00Z); a
-- success at 03:05 EDT is late, though only 65 minutes of wall clock passed since 02:00.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2025-11-02 01:30 EDT', '2025-11-01', 'r1', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2025-11-02 02:30 EST', '2025-11-01', 'r1', NULL),
  ('overdrafts', 'od-calc', 'start', '2026-03-08 01:50 EST', '2026-03-07', 'r1', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2026-03-08 03:05 EDT', '2026-03-07', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT slo_id, bd, expected_start AT TIME ZONE 'UTC' AS expected_start_utc, expected_end AT TIME ZONE 'UTC' AS expected_end_utc,
       actual_end AT TIME ZONE 'UTC' AS actual_end_utc, state, end_delay
FROM perf WHERE slo_id = 'od-data-for-dss' AND bd IN ('2025-11-01', '2026-03-07') ORDER BY bd;

-- ---- The 30-minute transaction summary, Monday 24 November 2025 -----------------------------
-- 06:00 on time; 06:30 ends 4 minutes late (within 5 minutes of slack); 07:00's success arrives
-- before its start (it waits for it); 07:30 never starts; 08:00 fails, restarts and makes it;
-- 08:30 is named by period_start though it starts at 08:29.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('deposits', 'txn-summary', 'start', '2025-11-24 06:02', '2025-11-24', 't0600', NULL),
  ('deposits', 'txn-summary', 'succeed', '2025-11-24 06:08', '2025-11-24', 't0600', NULL),
  ('deposits', 'txn-summary', 'start', '2025-11-24 06:31', '2025-11-24', 't0630', NULL),
  ('deposits', 'txn-summary', 'succeed', '2025-11-24 06:44', '2025-11-24', 't0630', NULL),
  ('deposits', 'txn-summary', 'succeed', '2025-11-24 07:09', '2025-11-24', 't0700', NULL);
SELECT pg_temp.post() AS stored;
SELECT period, actual_start, actual_end, fails, state, end_delay, breached FROM perf
WHERE slo_id = 'txn-summary-30m' AND bd = '2025-11-24' ORDER BY period;
TRUNCATE ev;
INSERT INTO ev VALUES
  ('deposits', 'txn-summary', 'start', '2025-11-24 07:01', '2025-11-24', 't0700', NULL),
  ('deposits', 'txn-summary', 'start', '2025-11-24 08:01', '2025-11-24', 't0800a', NULL),
  ('deposits', 'txn-summary', 'fail', '2025-11-24 08:05', '2025-11-24', 't0800a', NULL),
  ('deposits', 'txn-summary', 'start', '2025-11-24 08:06', '2025-11-24', 't0800b', NULL),
  ('deposits', 'txn-summary', 'succeed', '2025-11-24 08:09', '2025-11-24', 't0800b', NULL),
  ('deposits', 'txn-summary', 'start', '2025-11-24 08:29', '2025-11-24', 't0830', '08:30'),
  ('deposits', 'txn-summary', 'succeed', '2025-11-24 08:37', '2025-11-24', 't0830', '08:30');
SELECT pg_temp.post() AS stored;
SELECT period, expected_start, expected_end, actual_start, actual_end, fails, state FROM perf
WHERE slo_id = 'txn-summary-30m' AND bd = '2025-11-24' ORDER BY period;

-- ---- Lateness with no event: slo.evaluate -----------------------------------------------------
-- Nothing ran for Monday 1 December 2025. As of Tuesday 09:00 every instance due since
-- Saturday 09:00 has a row, and those past their end are late.
SELECT slo.evaluate('2025-12-02 09:00') > 0 AS added_some;
SELECT slo.evaluate('2025-12-02 09:00') AS added_again;
SELECT slo_id, bd, period, expected_end, actual_start, state, breached FROM perf
WHERE bd = '2025-12-01' AND (period = '00:00' OR period IN ('06:00', '18:00')) ORDER BY 1, 2, 3;
-- Not due yet as of the evaluation: Tuesday's load (due Wednesday) has no row.
SELECT count(*) AS dss_load_tuesday_rows FROM perf WHERE slo_id = 'dss-load' AND bd = '2025-12-02';
-- The instance the 07:30 period never started was materialised too, by an evaluation as of that day.
SELECT slo.evaluate('2025-11-24 12:00') > 0 AS added_some;
SELECT period, actual_start, state FROM perf WHERE slo_id = 'txn-summary-30m' AND bd = '2025-11-24' AND period = '07:30';

-- ---- Repeats and recompute change nothing ------------------------------------------------------
CREATE TEMP TABLE before AS SELECT * FROM slo.slo_performance;
-- Every event delivered again, in reverse order, one statement each.
DO $$
DECLARE e record;
BEGIN
  FOR e IN SELECT * FROM slo.job_status ORDER BY status_id DESC LOOP
    INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start)
    VALUES (e.app_id, e.job_id, e.status, e.status_time, e.business_date, e.run_id, 'host-2', e.period_start)
    ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING;
  END LOOP;
END $$;
SELECT count(*) AS changed_rows FROM (
  (SELECT slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end, failed_runs FROM before
   EXCEPT SELECT slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end, failed_runs FROM slo.slo_performance)
  UNION ALL
  (SELECT slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end, failed_runs FROM slo.slo_performance
   EXCEPT SELECT slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end, failed_runs FROM before)) AS d;
-- Rebuilt from the events, every row with events is the same; recompute only adds due instances.
SELECT slo.recompute('2025-11-01', '2026-03-31') > 0 AS rebuilt;
SELECT count(*) AS lost_or_changed FROM (
  SELECT slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end, failed_runs FROM before
  EXCEPT SELECT slo_id, business_date, period_start, expected_start, expected_end, actual_start, actual_end, failed_runs FROM slo.slo_performance) AS d;
SELECT count(*) AS added_with_events FROM slo.slo_performance p
WHERE NOT EXISTS (SELECT 1 FROM before b WHERE (b.slo_id, b.business_date, b.period_start) = (p.slo_id, p.business_date, p.period_start))
  AND (p.actual_start IS NOT NULL OR p.actual_end IS NOT NULL OR p.failed_runs > 0);
SELECT slo.recompute('2025-11-02', '2025-11-01');

-- ---- Inactive SLOs get no new rows --------------------------------------------------------------
UPDATE slo.slo SET active = false WHERE slo_id = 'od-report';
TRUNCATE ev;
INSERT INTO ev VALUES
  ('decision_support', 'od-activity-report', 'start', '2026-04-07 05:31', '2026-04-06', 'r1', NULL),
  ('decision_support', 'dss-load-od', 'start', '2026-04-07 03:01', '2026-04-06', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT slo_id, bd, actual_start FROM perf WHERE bd = '2026-04-06' ORDER BY 1;
UPDATE slo.slo SET active = true WHERE slo_id = 'od-report';

-- ---- A row without its state, or with a state made for other jobs, is rebuilt from its events ----
-- Monday 20 April 2026. The overdraft job runs; then dss-load's row loses its state (as a row of
-- release 0.1.0, or one slo.evaluate made before any event): the load's start is merged into the
-- state rebuilt from every event of the day, so the instance still starts at 00:40, not 03:10.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2026-04-21 00:40', '2026-04-20', 'r1', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2026-04-21 02:30', '2026-04-20', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT slo_id, engine_state IS NOT NULL AS has_state FROM slo.slo_performance WHERE business_date = '2026-04-20' ORDER BY 1;
UPDATE slo.slo_performance SET engine_state = NULL WHERE slo_id = 'dss-load' AND business_date = '2026-04-20';
INSERT INTO ev VALUES ('decision_support', 'dss-load-od', 'start', '2026-04-21 03:10', '2026-04-20', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT slo_id, bd, actual_start, actual_end FROM perf WHERE bd = '2026-04-20' ORDER BY 1;
-- The load joins od-data-for-dss: the stored state knows one job, the SLO now has two. The
-- load's success is merged into the state rebuilt from the day's events (its start of 03:10
-- among them), and the instance ends when the later of the two jobs ends.
INSERT INTO slo.slo_job VALUES ('od-data-for-dss', 'dss-load-od', '1 day 03:00', '1 day 04:00', 'calendar');
INSERT INTO ev VALUES ('decision_support', 'dss-load-od', 'succeed', '2026-04-21 04:05', '2026-04-20', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT slo_id, bd, expected_end, actual_start, actual_end FROM perf WHERE bd = '2026-04-20' ORDER BY 1;
SELECT * FROM slo.instance_jobs('od-data-for-dss', '2026-04-20', '00:00');
DELETE FROM slo.slo_job WHERE slo_id = 'od-data-for-dss' AND job_id = 'dss-load-od';
-- A state is merged into only under the definitions it was made under. Wednesday 22 April 2026:
-- the load is one of od-data-for-dss's jobs and starts; it leaves the SLO, succeeds at 04:05 (an
-- event the SLO ignores meanwhile) and comes back. A state of the same two jobs is stored, but
-- it was made before the changes and misses that success: the next event rebuilds it from the
-- day's events, so the instance ends at 04:05 when the overdraft job succeeds, as
-- slo.recompute of the day has it.
INSERT INTO slo.slo_job VALUES ('od-data-for-dss', 'dss-load-od', '1 day 03:00', '1 day 04:00', 'calendar');
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2026-04-23 00:40', '2026-04-22', 'r1', NULL),
  ('decision_support', 'dss-load-od', 'start', '2026-04-23 03:10', '2026-04-22', 'r1', NULL);
SELECT pg_temp.post() AS stored;
DELETE FROM slo.slo_job WHERE slo_id = 'od-data-for-dss' AND job_id = 'dss-load-od';
TRUNCATE ev;
INSERT INTO ev VALUES ('decision_support', 'dss-load-od', 'succeed', '2026-04-23 04:05', '2026-04-22', 'r1', NULL);
SELECT pg_temp.post() AS stored;
INSERT INTO slo.slo_job VALUES ('od-data-for-dss', 'dss-load-od', '1 day 03:00', '1 day 04:00', 'calendar');
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'succeed', '2026-04-23 02:30', '2026-04-22', 'r1', NULL);
SELECT pg_temp.post() AS stored;
CREATE TEMP TABLE by_trigger AS SELECT * FROM perf WHERE slo_id = 'od-data-for-dss' AND bd = '2026-04-22';
SELECT slo_id, bd, expected_end, actual_start, actual_end, state FROM by_trigger;
SELECT slo.recompute('2026-04-22', '2026-04-22') > 0 AS recomputed;
SELECT count(*) AS rows_differing FROM (
  (SELECT * FROM by_trigger EXCEPT SELECT * FROM perf WHERE slo_id = 'od-data-for-dss' AND bd = '2026-04-22')
  UNION ALL
  (SELECT * FROM perf WHERE slo_id = 'od-data-for-dss' AND bd = '2026-04-22' EXCEPT SELECT * FROM by_trigger)) d;
DELETE FROM slo.slo_job WHERE slo_id = 'od-data-for-dss' AND job_id = 'dss-load-od';
DROP TABLE by_trigger;

-- ---- An expression index a DBA adds for BI: the engine maintains it too ----------------------------
-- (rows go through the executor's index routines, which evaluate expressions and predicates)
CREATE INDEX slo_performance_lower_idx ON slo.slo_performance ((lower(slo_id)));
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2026-04-14 00:33', '2026-04-13', 'r1', NULL),
  ('overdrafts', 'od-calc', 'succeed', '2026-04-14 02:10', '2026-04-13', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT slo_id, bd, actual_start, actual_end, state FROM perf WHERE bd = '2026-04-13' ORDER BY 1;
SET enable_seqscan = off;
SELECT count(*) AS found_by_the_expression_index FROM slo.slo_performance
WHERE lower(slo_id) = 'od-data-for-dss' AND business_date = '2026-04-13';
RESET enable_seqscan;
DROP INDEX slo.slo_performance_lower_idx;

-- ---- A DEFERRABLE unique constraint a DBA adds on the key is refused, not silently unchecked ------
-- (the engine writes rows with INSERT ... ON CONFLICT, which PostgreSQL refuses to run with a
-- deferrable arbiter): the insert fails whole, and stores nothing.
ALTER TABLE slo.slo_performance ADD CONSTRAINT slo_performance_deferred_key
  UNIQUE (slo_id, business_date, period_start) DEFERRABLE INITIALLY DEFERRED;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2026-04-15 00:31', '2026-04-14', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT count(*) AS stored FROM slo.job_status WHERE business_date = '2026-04-14';
ALTER TABLE slo.slo_performance DROP CONSTRAINT slo_performance_deferred_key;

-- ---- Indexes on columns the engine changes: rows move by non-HOT updates ----------------------
-- (a DBA's index on actual_end, and a partial one on the open instances: every update that changes
-- actual_end needs new entries in both; the start, then the success, of 2026-04-15)
CREATE INDEX slo_performance_actual_end_idx ON slo.slo_performance (actual_end);
CREATE INDEX slo_performance_open_idx ON slo.slo_performance (expected_end) WHERE actual_end IS NULL;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2026-04-16 00:31', '2026-04-15', 'r1', NULL);
SELECT pg_temp.post() AS stored;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'succeed', '2026-04-16 02:05', '2026-04-15', 'r1', NULL);
SELECT pg_temp.post() AS stored;
SELECT slo_id, bd, actual_start, actual_end, state FROM perf WHERE bd = '2026-04-15' ORDER BY 1;
SET enable_seqscan = off;
SELECT slo_id AS found_by_actual_end FROM slo.slo_performance
WHERE actual_end = '2026-04-16 02:05' AND business_date = '2026-04-15' ORDER BY 1;
SELECT slo_id AS still_open FROM slo.slo_performance
WHERE actual_end IS NULL AND expected_end > '2026-04-15' AND expected_end < '2026-04-17'
  AND business_date = '2026-04-15' ORDER BY 1;
RESET enable_seqscan;
-- Every index holds an entry for every row version it should (amcheck with heapallindexed
-- raises an error otherwise).
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT i.indexrelid::regclass AS checked_index
FROM pg_index i CROSS JOIN LATERAL bt_index_check(i.indexrelid, true)
WHERE i.indrelid = 'slo.slo_performance'::regclass ORDER BY 1::text;
DROP EXTENSION amcheck;
DROP INDEX slo.slo_performance_actual_end_idx, slo.slo_performance_open_idx;

-- ---- The evaluator's lookback: pg_slo.evaluate_lookback -------------------------------------
-- Nothing ran from Tuesday 10 February 2026 on. As of Friday 13 February 12:00 with a lookback of
-- one day, only the instances expected to start since Thursday 12:00 are materialised; a lookback
-- of four days adds those since Monday 12:00, and nothing older. (The recompute above
-- materialised February; no event is stored for it, so its rows are dropped first.)
SELECT count(*) AS events_in_february FROM slo.job_status WHERE business_date BETWEEN '2026-02-01' AND '2026-02-28';
DELETE FROM slo.slo_performance WHERE business_date BETWEEN '2026-02-01' AND '2026-02-28';
SET pg_slo.evaluate_lookback = '1 day';
SELECT slo.evaluate('2026-02-13 12:00') > 0 AS added_some;
SELECT min(expected_start) >= timestamptz '2026-02-12 12:00' AS none_older_than_a_day,
       max(expected_start) <= timestamptz '2026-02-13 12:00' AS none_not_yet_due
FROM slo.slo_performance WHERE business_date BETWEEN '2026-02-05' AND '2026-02-13';
SET pg_slo.evaluate_lookback = '4 days';
SELECT slo.evaluate('2026-02-13 12:00') > 0 AS added_some;
SELECT min(expected_start) >= timestamptz '2026-02-09 12:00' AS none_older_than_four_days,
       min(expected_start) < timestamptz '2026-02-12 12:00' AS older_ones_added
FROM slo.slo_performance WHERE business_date BETWEEN '2026-02-05' AND '2026-02-13';
SELECT slo_id, bd, state FROM perf WHERE bd BETWEEN '2026-02-05' AND '2026-02-13' AND period = '00:00' ORDER BY 1, 2;
RESET pg_slo.evaluate_lookback;

-- ---- States that depend on the time now: pending and running -----------------------------------
-- An every-day SLO in UTC, due from 00:00 on its business date to three days later. Relative to
-- today (UTC): the instance of two days ago started at 01:00 and is running; yesterday's is due
-- (expected to start since yesterday 00:00) but not started: pending, its start delay growing.
INSERT INTO slo.job VALUES ('od-probe', 'overdrafts', 'Probe job');
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
VALUES ('now-probe', 'Probe of the states now', 'overdrafts', 'every_day', 'UTC');
INSERT INTO slo.slo_job VALUES ('now-probe', 'od-probe', '00:00', '3 days', 'calendar');
TRUNCATE ev;
INSERT INTO ev
SELECT 'overdrafts', 'od-probe', 'start', ((now() AT TIME ZONE 'UTC')::date - 2 + time '01:00') AT TIME ZONE 'UTC',
       (now() AT TIME ZONE 'UTC')::date - 2, 'r1', NULL;
SELECT pg_temp.post() AS stored;
SELECT slo.evaluate() >= 0 AS evaluated;
SELECT business_date - (now() AT TIME ZONE 'UTC')::date AS days_ago, state, start_delay,
       end_delay IS NULL AS no_end_delay_yet, slack_breached
FROM slo.slo_performance_report WHERE slo_id = 'now-probe' AND business_date <> (now() AT TIME ZONE 'UTC')::date
  AND business_date >= (now() AT TIME ZONE 'UTC')::date - 2 AND start_delay IS NOT NULL AND actual_start IS NOT NULL
UNION ALL
SELECT business_date - (now() AT TIME ZONE 'UTC')::date, state,
       CASE WHEN start_delay > interval '24 hours' AND start_delay < interval '48 hours' THEN interval '1 day' END,
       end_delay IS NULL, slack_breached
FROM slo.slo_performance_report WHERE slo_id = 'now-probe' AND business_date = (now() AT TIME ZONE 'UTC')::date - 1
ORDER BY 1;
-- Tomorrow's instance is not due yet: no row.
SELECT count(*) AS tomorrow FROM slo.slo_performance
WHERE slo_id = 'now-probe' AND business_date = (now() AT TIME ZONE 'UTC')::date + 1;
DELETE FROM slo.slo WHERE slo_id = 'now-probe';
