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

-- ---- An index the engine cannot maintain itself: rows are written with SQL instead ----------------
-- (a DBA may add an expression index for BI; the trigger then writes through
-- slo.write_performance_rows, which maintains every index)
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
