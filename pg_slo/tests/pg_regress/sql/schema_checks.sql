-- ============================================================================
-- schema_checks: the definition tables refuse what the contract forbids, with
-- the constraint named, and slo.job_status enforces the event rules.
-- ============================================================================

\set VERBOSITY terse
-- ---- identifiers ----------------------------------------------------------
SELECT v, slo.is_identifier(v)
FROM unnest(ARRAY['overdrafts', 'job 7', '', ' lead', 'trail ', E'tab\there', repeat('x', 128), repeat('x', 129)]) AS v;

INSERT INTO slo.application VALUES ('overdrafts', 'Overdrafts'), ('deposits', 'Deposits');
INSERT INTO slo.application VALUES ('', 'Empty id');
INSERT INTO slo.application VALUES (' padded', 'Padded id');
INSERT INTO slo.application VALUES ('blank-name', '  ');

-- ---- jobs -------------------------------------------------------------------
INSERT INTO slo.job VALUES ('od-calc', 'overdrafts', 'Calculate and charge overdrafts');
INSERT INTO slo.job VALUES ('orphan', 'no-such-app', 'Orphan');
INSERT INTO slo.job VALUES ('od-calc', 'deposits', 'Same id, other app');

-- ---- calendars --------------------------------------------------------------
INSERT INTO slo.calendar VALUES ('standard', 'Mon-Fri without holidays', '{1,2,3,4,5}', 'us_federal_reserve', false);
INSERT INTO slo.calendar VALUES ('every_day', 'Every calendar day', '{1,2,3,4,5,6,7}', NULL, true);
INSERT INTO slo.calendar VALUES ('none', 'No weekdays', '{}', NULL, false);
INSERT INTO slo.calendar VALUES ('eighth', 'Weekday 8', '{1,8}', NULL, false);
INSERT INTO slo.calendar VALUES ('nulls', 'A null weekday', '{1,NULL}', NULL, false);
INSERT INTO slo.calendar_exception VALUES ('standard', '2027-12-24', true);
INSERT INTO slo.calendar_exception VALUES ('no-such-calendar', '2027-12-24', true);

-- ---- SLOs -------------------------------------------------------------------
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
VALUES ('od-daily', 'Overdraft data for DSS by 03:00', 'overdrafts', 'every_day', 'America/New_York');
SELECT slo_id, period, slack, active FROM slo.slo;
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end)
VALUES ('txn-summary', 'Transaction summary', 'deposits', 'standard', 'America/New_York', '30 minutes', '06:00', '18:00');
-- a period without a window, an inverted window, a zero period, negative slack
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period)
VALUES ('bad-1', 'x', 'deposits', 'standard', 'UTC', '30 minutes');
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end)
VALUES ('bad-2', 'x', 'deposits', 'standard', 'UTC', '30 minutes', '18:00', '06:00');
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end)
VALUES ('bad-3', 'x', 'deposits', 'standard', 'UTC', '0 minutes', '06:00', '18:00');
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, slack)
VALUES ('bad-4', 'x', 'deposits', 'standard', 'UTC', '-5 minutes');

INSERT INTO slo.slo_job VALUES ('od-daily', 'od-calc', '00:00', '1 day 03:00', 'calendar');
INSERT INTO slo.slo_job VALUES ('txn-summary', 'od-calc', '00:10', '00:05', 'calendar');
INSERT INTO slo.slo_job VALUES ('txn-summary', 'od-calc', '00:00', '00:10', 'week');
SELECT slo_id, job_id, expected_start, expected_end, day_unit FROM slo.slo_job;

-- ---- events -----------------------------------------------------------------
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('overdrafts', 'od-calc', 'done', '2026-11-17 00:30-05', '2026-11-16', 'r1', 'h1');
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('payments', 'od-calc', 'start', '2026-11-17 00:30-05', '2026-11-16', 'r1', 'h1');
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('deposits', 'od-calc', 'start', '2026-11-17 00:30-05', '2026-11-16', 'r1', 'h1');
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('overdrafts', 'od-calc', 'start', 'infinity', '2026-11-16', 'r1', 'h1');
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('overdrafts', 'od-calc', 'start', '2026-11-17 00:30-05', '2026-11-16', '', 'h1');
INSERT INTO slo.job_status (status_id, app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES (42, 'overdrafts', 'od-calc', 'start', '2026-11-17 00:30-05', '2026-11-16', 'r1', 'h1');
SELECT count(*) AS no_rows_yet FROM slo.job_status;

-- An unknown job of a known application is registered on its first event.
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('overdrafts', 'dss-load', 'start', '2026-11-17 04:00-05', '2026-11-16', 'r1', 'h1');
SELECT job_id, app_id, name FROM slo.job ORDER BY job_id;
-- ...and from then on belongs to it.
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('deposits', 'dss-load', 'succeed', '2026-11-17 04:40-05', '2026-11-16', 'r1', 'h1');
-- A job with events cannot be deleted, renamed or moved to another application, nor slo.job
-- truncated; nor an application with jobs deleted. A job without events can.
DELETE FROM slo.job WHERE job_id = 'dss-load';
UPDATE slo.job SET app_id = 'deposits' WHERE job_id = 'dss-load';
UPDATE slo.job SET job_id = 'dss-load-2' WHERE job_id = 'dss-load';
UPDATE slo.job SET name = 'Load decision support' WHERE job_id = 'dss-load';
TRUNCATE slo.job CASCADE;
DELETE FROM slo.application WHERE app_id = 'overdrafts';
INSERT INTO slo.job VALUES ('never-ran', 'overdrafts', 'No events yet');
DELETE FROM slo.job WHERE job_id = 'never-ran';
SELECT job_id, app_id, name FROM slo.job ORDER BY job_id;
SELECT app_id, job_id, status, status_time AT TIME ZONE 'UTC' AS status_time_utc, business_date,
       run_id, host_id, period_start, received_at IS NOT NULL AS has_received_at, client_id
FROM slo.job_status;

-- ---- the ownership rule's one home ------------------------------------------
-- Every pair that breaks "a job belongs to its application", by 1-based position: an unknown
-- application; a job registered under another application; a job not registered yet named
-- under several known applications belongs to the least of them byte-wise (COLLATE "C":
-- 'Zeta' < 'deposits' < 'overdrafts'), and an unknown application names nobody's job.
INSERT INTO slo.application VALUES ('Zeta', 'Upper case sorts first byte-wise');
SELECT * FROM slo.job_ownership_problems(
  ARRAY['od-calc', 'x', 'od-calc', 'new', 'new', 'new', 'new-2', 'new-2', 'new-3'],
  ARRAY['overdrafts', 'payments', 'deposits', 'overdrafts', 'deposits', 'Zeta', 'payments', 'deposits', 'deposits']);
SELECT count(*) AS no_problem FROM slo.job_ownership_problems(ARRAY['od-calc', 'brand-new'], ARRAY['overdrafts', 'deposits']);
-- slo.register_jobs registers a new job under that owner, and refuses the others by it.
SELECT slo.register_jobs(ARRAY['both-apps', 'both-apps'], ARRAY['overdrafts', 'Zeta']);
SELECT slo.register_jobs(ARRAY['both-apps'], ARRAY['Zeta']);
SELECT job_id, app_id FROM slo.job WHERE job_id = 'both-apps';
