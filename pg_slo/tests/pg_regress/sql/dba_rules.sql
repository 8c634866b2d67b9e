-- ============================================================================
-- dba_rules: the engine writes slo.slo_performance through SQL, so what a DBA
-- puts on the table applies to its writes as to any SQL writer's: CHECK
-- constraints, row triggers (BEFORE and AFTER) and statement triggers, foreign
-- keys, row-security policies and privileges (the trigger runs as slo_engine,
-- neither a superuser nor the table's owner). And a daily state survives
-- changes that do not concern its SLO (slo.day_rebuilds counts rebuilds).
-- ============================================================================
SET timezone = 'America/New_York';
\set VERBOSITY terse
TRUNCATE slo.job_status;
TRUNCATE slo.alert CASCADE;
DELETE FROM slo.slo_job; DELETE FROM slo.slo; DELETE FROM slo.calendar;
SET client_min_messages = warning;
\o /dev/null
\i pg_slo/tests/pg_regress/foxfire.sql
\o
RESET client_min_messages;

CREATE TEMP TABLE ev (app_id text, job_id text, status text, status_time timestamptz,
                      business_date date, run_id text);
CREATE FUNCTION pg_temp.post() RETURNS int LANGUAGE sql AS $$
  WITH ins AS (
    INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
    SELECT app_id, job_id, status, status_time, business_date, run_id, 'host-1' FROM ev
    ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
  SELECT count(*)::int FROM ins $$;
CREATE FUNCTION pg_temp.rows(d date) RETURNS TABLE (slo_id text, actual_start timestamptz,
                                                    actual_end timestamptz, failed_runs int)
LANGUAGE sql AS $$
  SELECT p.slo_id, p.actual_start, p.actual_end, p.failed_runs FROM slo.slo_performance p
  WHERE p.business_date = d ORDER BY 1 $$;

-- ---- A CHECK constraint: an engine write that breaks it fails the insert whole ------------
ALTER TABLE slo.slo_performance ADD CONSTRAINT no_failures CHECK (failed_runs = 0);
TRUNCATE ev;
INSERT INTO ev VALUES
  ('overdrafts', 'od-calc', 'start', '2026-03-03 00:35', '2026-03-02', 'r1'),
  ('overdrafts', 'od-calc', 'fail', '2026-03-03 01:10', '2026-03-02', 'r1');
SELECT pg_temp.post() AS stored;
SELECT count(*) AS events_stored FROM slo.job_status WHERE business_date = '2026-03-02';
-- A write that keeps to it goes through, and so does the update that merges the next event.
DELETE FROM ev WHERE status = 'fail';
SELECT pg_temp.post() AS stored;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'fail', '2026-03-03 01:10', '2026-03-02', 'r1');
SELECT pg_temp.post() AS stored;
SELECT * FROM pg_temp.rows('2026-03-02');
ALTER TABLE slo.slo_performance DROP CONSTRAINT no_failures;

-- ---- Row and statement triggers fire for engine inserts and updates -------------------------
CREATE TABLE public.perf_audit (op text, level text, slo_id text, actual_start timestamptz,
                                actual_end timestamptz);
GRANT INSERT ON public.perf_audit TO slo_engine;
CREATE FUNCTION public.perf_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.perf_audit VALUES (TG_OP, 'row', NEW.slo_id, NEW.actual_start, NEW.actual_end);
  RETURN NULL;
END $$;
CREATE FUNCTION public.perf_audit_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.perf_audit (op, level) VALUES (TG_OP, 'statement');
  RETURN NULL;
END $$;
CREATE TRIGGER perf_audit_row AFTER INSERT OR UPDATE ON slo.slo_performance
  FOR EACH ROW EXECUTE FUNCTION public.perf_audit_row();
CREATE TRIGGER perf_audit_statement AFTER INSERT ON slo.slo_performance
  FOR EACH STATEMENT EXECUTE FUNCTION public.perf_audit_statement();
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2026-03-04 00:35', '2026-03-03', 'r1');
SELECT pg_temp.post() AS stored;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'succeed', '2026-03-04 02:35', '2026-03-03', 'r1');
SELECT pg_temp.post() AS stored;
SELECT op, level, slo_id, actual_start, actual_end FROM public.perf_audit ORDER BY level, op DESC, slo_id;
DROP TRIGGER perf_audit_row ON slo.slo_performance;
DROP TRIGGER perf_audit_statement ON slo.slo_performance;

-- A BEFORE row trigger that returns NULL skips the engine's write, as it would any writer's.
CREATE FUNCTION public.skip_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER skip_od BEFORE INSERT OR UPDATE ON slo.slo_performance
  FOR EACH ROW WHEN (NEW.slo_id = 'od-data-for-dss') EXECUTE FUNCTION public.skip_row();
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2026-03-05 00:35', '2026-03-04', 'r1');
SELECT pg_temp.post() AS stored;
SELECT * FROM pg_temp.rows('2026-03-04');
DROP TRIGGER skip_od ON slo.slo_performance;

-- ---- A foreign key a DBA adds is checked for engine inserts ---------------------------------
CREATE TABLE public.approved_slo (slo_id text PRIMARY KEY);
GRANT SELECT, REFERENCES ON public.approved_slo TO slo_engine;
INSERT INTO public.approved_slo VALUES ('od-data-for-dss');
ALTER TABLE slo.slo_performance ADD CONSTRAINT approved FOREIGN KEY (slo_id) REFERENCES public.approved_slo
  NOT VALID;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2026-03-06 00:35', '2026-03-05', 'r1');
SELECT pg_temp.post() AS stored;
INSERT INTO public.approved_slo VALUES ('dss-load');
SELECT pg_temp.post() AS stored;
SELECT * FROM pg_temp.rows('2026-03-05');
ALTER TABLE slo.slo_performance DROP CONSTRAINT approved;

-- ---- Row security: the engine writes only the rows a policy lets slo_engine write ------------
ALTER TABLE slo.slo_performance ENABLE ROW LEVEL SECURITY;
CREATE POLICY engine_reads ON slo.slo_performance FOR SELECT TO slo_engine USING (true);
CREATE POLICY engine_writes_od ON slo.slo_performance FOR INSERT TO slo_engine
  WITH CHECK (slo_id <> 'od-data-for-dss');
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2026-03-09 00:35', '2026-03-06', 'r1');
SELECT pg_temp.post() AS stored;
DROP POLICY engine_writes_od ON slo.slo_performance;
CREATE POLICY engine_writes_all ON slo.slo_performance FOR INSERT TO slo_engine WITH CHECK (true);
SELECT pg_temp.post() AS stored;
SELECT * FROM pg_temp.rows('2026-03-06');
-- Merging the next event is an UPDATE, which no policy allows yet.
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'succeed', '2026-03-09 02:35', '2026-03-06', 'r1');
SELECT pg_temp.post() AS stored;
DROP POLICY engine_reads ON slo.slo_performance;
DROP POLICY engine_writes_all ON slo.slo_performance;
ALTER TABLE slo.slo_performance DISABLE ROW LEVEL SECURITY;

-- ---- Privileges: without UPDATE on the table, the engine cannot merge ------------------------
REVOKE UPDATE ON slo.slo_performance FROM slo_engine;
SELECT pg_temp.post() AS stored;
GRANT UPDATE ON slo.slo_performance TO slo_engine;
SELECT pg_temp.post() AS stored;
SELECT * FROM pg_temp.rows('2026-03-06');
-- The API's role may insert events, and the engine writes their rows; it may not write
-- performance rows itself.
SET ROLE slo_api;
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('overdrafts', 'od-calc', 'start', '2026-03-10 00:35', '2026-03-09', 'r1', 'h1');
UPDATE slo.slo_performance SET failed_runs = 7;
RESET ROLE;
SELECT * FROM pg_temp.rows('2026-03-09');

-- ---- Daily states survive changes that do not concern their SLO -----------------------------
-- Tuesday 10 March 2026 has a stored state for the two daily SLOs of od-calc; registering a job that no
-- SLO uses (its first event), and changing another SLO, rebuild nothing: the next events merge.
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'start', '2026-03-11 00:35', '2026-03-10', 'r1');
SELECT pg_temp.post() AS stored;
CREATE TEMP TABLE rebuilds AS SELECT slo.day_rebuilds() AS before;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-brand-new-job', 'start', '2026-03-11 00:36', '2026-03-10', 'r1');
SELECT pg_temp.post() AS stored;
UPDATE slo.slo SET slack = '45 minutes' WHERE slo_id = 'od-report';
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'succeed', '2026-03-11 02:35', '2026-03-10', 'r1');
SELECT pg_temp.post() AS stored;
SELECT slo.day_rebuilds() - before AS days_rebuilt FROM rebuilds;
-- A change of the SLO itself rebuilds its days once, from their events.
UPDATE slo.slo_job SET expected_end = '1 day 03:30' WHERE slo_id = 'od-data-for-dss';
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'fail', '2026-03-11 02:40', '2026-03-10', 'r9');
SELECT pg_temp.post() AS stored;
SELECT slo.day_rebuilds() - before AS days_rebuilt FROM rebuilds;
TRUNCATE ev;
INSERT INTO ev VALUES ('overdrafts', 'od-calc', 'fail', '2026-03-11 02:45', '2026-03-10', 'r8');
SELECT pg_temp.post() AS stored;
SELECT slo.day_rebuilds() - before AS days_rebuilt FROM rebuilds;
SELECT p.slo_id, p.expected_end, p.actual_start, p.actual_end, p.failed_runs FROM slo.slo_performance p
WHERE p.business_date = '2026-03-10' ORDER BY 1;
UPDATE slo.slo_job SET expected_end = '1 day 03:00' WHERE slo_id = 'od-data-for-dss';
UPDATE slo.slo SET slack = '0' WHERE slo_id = 'od-report';

DROP TABLE public.perf_audit, public.approved_slo;
DROP FUNCTION public.perf_audit_row(), public.perf_audit_statement(), public.skip_row();
