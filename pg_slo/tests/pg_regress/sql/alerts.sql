-- ============================================================================
-- alerts: what slo.evaluate raises with no event at all, what the engine raises
-- when events show it, at most once per instance and kind; muting; at_risk from
-- the typical durations of a chain's remaining jobs. The brief's SLOs, business
-- dates in the past; alerts raised by slo.evaluate carry its as_of, so their
-- times are exact. Engine-raised alerts carry the statement's time (not shown).
-- ============================================================================
SET timezone = 'America/New_York';
\set VERBOSITY terse
TRUNCATE slo.job_status, slo.slo_performance, slo.alert RESTART IDENTITY CASCADE;  -- alert ids from 1, whatever ran before
DELETE FROM slo.slo_job; DELETE FROM slo.slo; DELETE FROM slo.calendar;
SET client_min_messages = warning;
\o /dev/null
\i pg_slo/tests/pg_regress/foxfire.sql
\o
RESET client_min_messages;
SET pg_slo.evaluate_lookback = '3 days';

CREATE TEMP TABLE ev (app_id text, job_id text, status text, status_time timestamptz,
                      business_date date, run_id text);
CREATE FUNCTION pg_temp.post() RETURNS int LANGUAGE sql AS $$
  WITH ins AS (
    INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
    SELECT app_id, job_id, status, status_time, business_date, run_id, 'host-1' FROM ev
    ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
  SELECT count(*)::int FROM ins $$;
CREATE VIEW al AS
SELECT alert_id, slo_id, business_date AS bd, period_start AS period, kind, raised_at, muted,
       detail->>'end_delay_seconds' AS end_delay_s
FROM slo.alert;

-- ---- A job that never starts: Monday 1 December 2025, nothing at all arrives ---------------
-- The 07:30 transaction summary is expected 07:30-07:40 with 5 minutes of slack; the overdraft
-- data Tuesday 00:30-03:00 with 30 minutes. The evaluator runs as of each time in turn.
SELECT slo.evaluate('2025-12-01 07:29') >= 0 AS evaluated;
SELECT count(*) AS alerts_yet FROM al WHERE bd = '2025-12-01' AND period = '07:30';
SELECT slo.evaluate('2025-12-01 07:31') >= 0 AS evaluated;
SELECT slo.evaluate('2025-12-01 07:41') >= 0 AS evaluated;
SELECT slo.evaluate('2025-12-01 07:46') >= 0 AS evaluated;
SELECT * FROM al WHERE slo_id = 'txn-summary-30m' AND bd = '2025-12-01' AND period = '07:30' ORDER BY raised_at;
SELECT slo.evaluate('2025-12-02 00:29') >= 0 AS evaluated;
SELECT * FROM al WHERE slo_id = 'od-data-for-dss' AND bd = '2025-12-01';
SELECT slo.evaluate('2025-12-02 00:31') >= 0 AS evaluated;
SELECT slo.evaluate('2025-12-02 03:01') >= 0 AS evaluated;
SELECT slo.evaluate('2025-12-02 03:29') >= 0 AS evaluated;
SELECT slo.evaluate('2025-12-02 03:31') >= 0 AS evaluated;
-- Evaluated again and again (as the background worker does): nothing twice.
SELECT slo.evaluate('2025-12-02 03:32') >= 0 AS evaluated;
SELECT slo.evaluate('2025-12-02 04:00') >= 0 AS evaluated;
SELECT * FROM al WHERE slo_id = 'od-data-for-dss' AND bd = '2025-12-01' ORDER BY raised_at;
-- The chain behind it: the load is late_start from 00:31 too, not yet late at 04:00.
SELECT * FROM al WHERE slo_id = 'dss-load' AND bd = '2025-12-01' ORDER BY raised_at;
SELECT count(*) AS duplicates
FROM (SELECT 1 FROM slo.alert GROUP BY slo_id, business_date, period_start, kind HAVING count(*) > 1) d;
-- What an operator reads in the detail.
SELECT kind, detail->>'slo_name' AS slo_name, detail->>'app_id' AS app, detail->>'expected_end' AS expected_end,
       detail->>'actual_start' AS actual_start, detail->>'end_delay_seconds' AS end_delay_s
FROM slo.alert WHERE slo_id = 'od-data-for-dss' AND business_date = '2025-12-01' ORDER BY alert_id;

-- ---- Muted: the report's maintenance on Tuesday 2 December 2025 -------------------------------
INSERT INTO slo.alert_mute (slo_id, from_date, to_date, reason)
VALUES ('od-report', '2025-12-02', '2025-12-02', 'CHG-1042 report server patching');
SELECT slo.evaluate('2025-12-03 08:01') >= 0 AS evaluated;
SELECT slo_id, bd, kind, muted FROM al WHERE slo_id IN ('od-report', 'dss-load') AND bd = '2025-12-02' ORDER BY 1, 3;
SELECT slo.evaluate('2025-12-04 08:01') >= 0 AS evaluated;
SELECT slo_id, bd, kind, muted FROM al WHERE slo_id = 'od-report' AND bd = '2025-12-03' ORDER BY 3;
INSERT INTO slo.alert_mute (slo_id, from_date, to_date, reason) VALUES ('od-report', '2025-12-05', '2025-12-04', 'backwards');

-- ---- Events show it: the engine raises, once -------------------------------------------------
-- The engine's window is relative to now: events for December 2025 raise alerts only with a
-- window reaching back that far (set around each post; slo.evaluate runs with 3 days).
CREATE FUNCTION pg_temp.post_now() RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  PERFORM set_config('pg_slo.evaluate_lookback', '400 days', true);
  n := pg_temp.post();
  PERFORM set_config('pg_slo.evaluate_lookback', '3 days', true);
  RETURN n;
END $$;
-- Monday 8 December: the overdraft job starts 15 minutes late (late_start for both SLOs it
-- feeds) and ends 20 minutes late, inside its 30 minutes of slack: late with recovered at once
-- (so a pager resolves what late opens), no slack_breached.
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2025-12-09 00:45', '2025-12-08', 'r1');
SELECT pg_temp.post_now() AS stored;
SELECT slo_id, bd, kind FROM al WHERE bd = '2025-12-08' ORDER BY 1, 3;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'succeed', '2025-12-09 03:20', '2025-12-08', 'r1');
SELECT pg_temp.post_now() AS stored;
SELECT slo_id, bd, kind, end_delay_s FROM al WHERE bd = '2025-12-08' AND kind <> 'late_start' ORDER BY 1, 3;
-- The decision-support load is found late by the evaluator at 05:10, then completes at 05:20:
-- recovered; inside its 30 minutes of slack, no slack_breached.
SELECT slo.evaluate('2025-12-09 05:10') >= 0 AS evaluated;
TRUNCATE ev;
INSERT INTO ev VALUES
  ('decision_support', 'dss-load-od', 'start', '2025-12-09 03:30', '2025-12-08', 'r1'),
  ('decision_support', 'dss-load-od', 'succeed', '2025-12-09 05:20', '2025-12-08', 'r1');
SELECT pg_temp.post_now() AS stored;
SELECT slo_id, bd, kind, raised_at = '2025-12-09 05:10' AS by_evaluator FROM al
WHERE slo_id = 'dss-load' AND bd = '2025-12-08' ORDER BY alert_id;
SELECT detail->>'end_delay_seconds' AS end_delay_s FROM slo.alert
WHERE slo_id = 'dss-load' AND business_date = '2025-12-08' AND kind = 'recovered';
-- Tuesday 9 December: the overdraft data arrives at 03:45, past 03:00 plus 30 minutes of slack.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2025-12-10 00:31', '2025-12-09', 'r1'),
  ('overdrafts', 'od-calc', 'succeed', '2025-12-10 03:45', '2025-12-09', 'r1');
SELECT pg_temp.post_now() AS stored;
SELECT slo_id, bd, kind, end_delay_s FROM al WHERE slo_id = 'od-data-for-dss' AND bd = '2025-12-09' ORDER BY 3;
-- Stored again from scratch, in another order: nothing new.
SELECT count(*) AS alerts_before FROM slo.alert \gset
DELETE FROM slo.job_status WHERE business_date = '2025-12-09';
DELETE FROM slo.slo_performance WHERE business_date = '2025-12-09';
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'succeed', '2025-12-10 03:45', '2025-12-09', 'r1'),
  ('overdrafts', 'od-calc', 'start', '2025-12-10 00:31', '2025-12-09', 'r1');
SELECT pg_temp.post_now() AS stored;
SELECT count(*) - :alerts_before AS new_alerts FROM slo.alert;
-- Outside the window (events of a year ago, stored with the default 3 days): nothing raised.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2025-12-11 01:31', '2025-12-10', 'r1'),
  ('overdrafts', 'od-calc', 'succeed', '2025-12-11 04:45', '2025-12-10', 'r1');
SELECT pg_temp.post() AS stored;
SELECT count(*) AS raised_for_history FROM slo.alert WHERE business_date = '2025-12-10';

-- ---- At risk: the decision-support chain, whose first job ran long -----------------------------
-- History: on 15 business dates before, the overdraft job took 2 hours (00:30-02:30) and the
-- load 1 hour 30 (03:00-04:30).
TRUNCATE ev;
INSERT INTO ev
SELECT 'overdrafts', 'od-calc', s.status, (d::date + 1) + s.at, d::date, 'h' || to_char(d, 'MMDD')
FROM generate_series(date '2025-11-10', date '2025-11-28', interval '1 day') AS d,
     (VALUES ('start', time '00:30'), ('succeed', time '02:30')) AS s(status, at)
WHERE extract(isodow FROM d) < 6
UNION ALL
SELECT 'decision_support', 'dss-load-od', s.status, (d::date + 1) + s.at, d::date, 'h' || to_char(d, 'MMDD')
FROM generate_series(date '2025-11-10', date '2025-11-28', interval '1 day') AS d,
     (VALUES ('start', time '03:00'), ('succeed', time '04:30')) AS s(status, at)
WHERE extract(isodow FROM d) < 6;
SELECT pg_temp.post() AS stored;
SELECT * FROM slo.job_typical_duration('od-calc', '2025-12-15');
SELECT * FROM slo.job_typical_duration('dss-load-od', '2025-12-15');
-- Monday 15 December: the overdraft job started at 00:30 and is still running at 03:40. The load
-- is due 05:00; what is left is the load's typical 1 hour 30: predicted 05:10, so at risk now,
-- before it is late.
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2025-12-16 00:30', '2025-12-15', 'r1');
SELECT pg_temp.post() AS stored;
SELECT * FROM slo.instance_jobs('dss-load', '2025-12-15', '00:00');
SELECT slo.evaluate('2025-12-16 03:40') >= 0 AS evaluated;
SELECT slo_id, kind, raised_at, detail->>'predicted_end' AS predicted_end, detail->>'predicted_delay_seconds' AS predicted_delay_s
FROM slo.alert WHERE business_date = '2025-12-15' AND period_start = '00:00' ORDER BY slo_id, kind;
SELECT jsonb_pretty(detail->'jobs') AS inputs FROM slo.alert
WHERE slo_id = 'dss-load' AND business_date = '2025-12-15' AND kind = 'at_risk';
-- It is late at 05:01 all the same: at_risk came 81 minutes before late.
SELECT slo.evaluate('2025-12-16 05:01') >= 0 AS evaluated;
SELECT kind, raised_at FROM slo.alert WHERE slo_id = 'dss-load' AND business_date = '2025-12-15' ORDER BY raised_at, kind;
-- Tuesday 16 December: the overdraft job is still running at 02:00, after 1 hour 30 of its typical
-- 2 hours: 30 minutes left, then 1 hour 30 of load: predicted 04:00, before 05:00. Not at risk.
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2025-12-17 00:30', '2025-12-16', 'r1');
SELECT pg_temp.post() AS stored;
SELECT slo.evaluate('2025-12-17 02:00') >= 0 AS evaluated;
SELECT slo_id, kind FROM slo.alert WHERE business_date = '2025-12-16' AND period_start = '00:00' ORDER BY 1, 2;
-- Wednesday 17 December: at risk at 03:40 as on the 15th, then the chain catches up (the overdraft
-- job ends 03:45, the load runs 03:46-04:55, before 05:00): met, and recovered, so the pager that
-- the at_risk opened is resolved; never late.
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2025-12-18 00:30', '2025-12-17', 'r1');
SELECT pg_temp.post() AS stored;
SELECT slo.evaluate('2025-12-18 03:40') >= 0 AS evaluated;
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'succeed', '2025-12-18 03:45', '2025-12-17', 'r1'),
  ('decision_support', 'dss-load-od', 'start', '2025-12-18 03:46', '2025-12-17', 'r1'),
  ('decision_support', 'dss-load-od', 'succeed', '2025-12-18 04:55', '2025-12-17', 'r1');
SELECT pg_temp.post_now() AS stored;
SELECT kind, raised_at = '2025-12-18 03:40' AS by_evaluator FROM slo.alert
WHERE slo_id = 'dss-load' AND business_date = '2025-12-17' ORDER BY alert_id;
SELECT state FROM slo.slo_performance_report WHERE slo_id = 'dss-load' AND business_date = '2025-12-17';
-- Thursday 18 December: the chain runs on time, but an evaluator that read the instance before it
-- completed commits its at_risk after the completion (the engine, completing it, saw no alert to
-- recover). The next evaluation raises the recovered that was missed.
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2025-12-19 00:30', '2025-12-18', 'r1'),
  ('overdrafts', 'od-calc', 'succeed', '2025-12-19 02:30', '2025-12-18', 'r1'),
  ('decision_support', 'dss-load-od', 'start', '2025-12-19 03:00', '2025-12-18', 'r1'),
  ('decision_support', 'dss-load-od', 'succeed', '2025-12-19 04:30', '2025-12-18', 'r1');
SELECT pg_temp.post_now() AS stored;
SELECT count(*) AS alerts_of_an_on_time_chain FROM slo.alert WHERE slo_id = 'dss-load' AND business_date = '2025-12-18';
SELECT slo.raise_alerts(ARRAY['dss-load'], ARRAY[date '2025-12-18'], ARRAY[time '00:00'], ARRAY['at_risk'],
                        ARRAY['{}'::jsonb], '2025-12-19 03:40') AS raised_late_by_a_slow_evaluator;
SELECT slo.evaluate('2025-12-19 04:40') >= 0 AS evaluated;
SELECT slo.evaluate('2025-12-19 04:41') >= 0 AS evaluated;
SELECT kind, raised_at FROM slo.alert WHERE slo_id = 'dss-load' AND business_date = '2025-12-18' ORDER BY alert_id;
-- A job without three successful runs of history predicts nothing.
SELECT * FROM slo.job_typical_duration('od-activity-report', '2025-12-15');

-- ---- Sent with pg_notify in the raising transaction ---------------------------------------------
-- (the payload is checked by the notifier's tests; here, that a rolled-back raise leaves nothing)
BEGIN;
SELECT slo.raise_alerts(ARRAY['od-report'], ARRAY[date '2025-12-22'], ARRAY[time '00:00'], ARRAY['late'],
                        ARRAY['{}'::jsonb], '2025-12-23 08:01') AS raised;
ROLLBACK;
SELECT count(*) AS after_rollback FROM slo.alert WHERE business_date = '2025-12-22';
-- A kind that does not exist is refused by name.
SELECT slo.raise_alerts(ARRAY['od-report'], ARRAY[date '2025-12-22'], ARRAY[time '00:00'], ARRAY['lateish'],
                        ARRAY['{}'::jsonb], '2025-12-23 08:01') AS raised;
