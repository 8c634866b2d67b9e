-- ============================================================================
-- duplicates: a second delivery of the same (job_id, business_date, run_id,
-- status, status_time) is a no-op, never a second row.
-- ============================================================================
\set VERBOSITY terse
CREATE TEMP TABLE delivery AS
SELECT 'overdrafts'::text AS app_id, 'od-calc'::text AS job_id, 'succeed'::text AS status,
       '2026-11-17 02:10-05'::timestamptz AS status_time, '2026-11-16'::date AS business_date,
       'r1'::text AS run_id, 'h1'::text AS host_id;

-- First delivery: one row.
WITH ins AS (
  INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
  SELECT * FROM delivery
  ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
SELECT count(*) AS accepted FROM ins;
-- Second delivery, the same instant written in UTC, and from another host: no row.
WITH ins AS (
  INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
  SELECT app_id, job_id, status, status_time, business_date, run_id, host_id FROM delivery
  UNION ALL
  SELECT app_id, job_id, status, '2026-11-17 07:10Z', business_date, run_id, 'h2' FROM delivery
  ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
SELECT count(*) AS accepted FROM ins;
-- The same job and time under another run id is another event.
WITH ins AS (
  INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
  SELECT app_id, job_id, status, status_time, business_date, 'r2', host_id FROM delivery
  ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
SELECT count(*) AS accepted FROM ins;
SELECT run_id, host_id, count(*) FROM slo.job_status WHERE status = 'succeed' GROUP BY 1, 2 ORDER BY 1;
-- A writer that forgets ON CONFLICT is refused rather than storing a second row.
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
SELECT * FROM delivery;
SELECT count(*) AS succeed_rows FROM slo.job_status WHERE status = 'succeed';
