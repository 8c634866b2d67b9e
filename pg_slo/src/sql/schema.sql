-- ============================================================================
-- pg_slo schema: definitions (CONTRACT section 2) and events (section 3).
--
-- Everything lives in schema `slo` (created by CREATE EXTENSION from the control
-- file). Every object carries a COMMENT; the regression test `comments` checks it.
-- Definition tables and the event table are marked with pg_extension_config_dump
-- so that pg_dump keeps their rows.
-- ============================================================================

COMMENT ON SCHEMA slo IS
  'pg_slo: batch-job SLO tracking. Definitions (application, job, calendar, holiday, slo, slo_job), '
  'events (job_status) and, computed by the extension, SLO performance.';

-- ----------------------------------------------------------------------------
-- Identifier rule, shared by every id column: slo.is_identifier is Rust (lib.rs),
-- the very rule the API applies (slo_core::Identifier) before any write; this is
-- the database's backstop. A C function costs the checks nothing to plan, where a
-- SQL one is inlined again, from its stored body, by every INSERT statement.
-- ----------------------------------------------------------------------------
COMMENT ON FUNCTION slo.is_identifier(text) IS
  'True when v is a valid pg_slo identifier: 1 to 128 characters, no control characters, '
  'no leading or trailing white space (the rule of slo_core::Identifier, which the API applies).';

-- ----------------------------------------------------------------------------
-- Definitions
-- ----------------------------------------------------------------------------
CREATE TABLE slo.application (
  app_id text PRIMARY KEY CONSTRAINT application_app_id_check CHECK (slo.is_identifier(app_id)),
  name   text NOT NULL CONSTRAINT application_name_check CHECK (btrim(name) <> '')
);
COMMENT ON TABLE slo.application IS 'A business application (overdrafts, deposits) that owns jobs and SLOs.';
COMMENT ON COLUMN slo.application.app_id IS 'Application id, as schedulers send it in job_status.app_id.';
COMMENT ON COLUMN slo.application.name IS 'Human-readable name.';

CREATE TABLE slo.job (
  job_id text PRIMARY KEY CONSTRAINT job_job_id_check CHECK (slo.is_identifier(job_id)),
  app_id text NOT NULL CONSTRAINT job_app_id_fkey REFERENCES slo.application (app_id),
  name   text NOT NULL CONSTRAINT job_name_check CHECK (btrim(name) <> ''),
  CONSTRAINT job_job_id_app_id_key UNIQUE (job_id, app_id)
);
COMMENT ON TABLE slo.job IS
  'A batch job. Job ids are unique across applications; a job belongs to one application. '
  'An unknown job of a known application is registered here on its first event (name = job_id).';
COMMENT ON COLUMN slo.job.job_id IS 'Job id, unique across all applications.';
COMMENT ON COLUMN slo.job.app_id IS 'The application the job belongs to; events for the job must name it.';
COMMENT ON COLUMN slo.job.name IS 'Human-readable name (the job id for jobs registered by their first event).';

CREATE TABLE slo.holiday (
  holiday_set  text NOT NULL CONSTRAINT holiday_holiday_set_check CHECK (slo.is_identifier(holiday_set)),
  holiday_date date NOT NULL,
  name         text NOT NULL,
  PRIMARY KEY (holiday_set, holiday_date)
);
COMMENT ON TABLE slo.holiday IS 'Listed holidays, grouped in named sets (for example us_federal_reserve).';
COMMENT ON COLUMN slo.holiday.holiday_set IS 'The named set the holiday belongs to; calendars refer to sets.';
COMMENT ON COLUMN slo.holiday.holiday_date IS
  'A date on which the holiday closes the market: its own date, or the date it is observed on (a rule may list both).';
COMMENT ON COLUMN slo.holiday.name IS 'The holiday''s name, for example Independence Day (observed).';

CREATE TABLE slo.calendar (
  calendar_id      text PRIMARY KEY CONSTRAINT calendar_calendar_id_check CHECK (slo.is_identifier(calendar_id)),
  name             text NOT NULL,
  run_weekdays     int[] NOT NULL
    CONSTRAINT calendar_run_weekdays_check CHECK (
      cardinality(run_weekdays) BETWEEN 1 AND 7
      AND array_position(run_weekdays, NULL) IS NULL
      AND run_weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]),
  holiday_set      text NULL CONSTRAINT calendar_holiday_set_check CHECK (slo.is_identifier(holiday_set)),
  runs_on_holidays boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE slo.calendar IS
  'The dates an SLO runs on. A date is a run date when an exception says it runs, or, without an exception, '
  'when its ISO weekday is in run_weekdays and it is not a holiday of holiday_set (or runs_on_holidays is true).';
COMMENT ON COLUMN slo.calendar.calendar_id IS 'Calendar id, for example standard.';
COMMENT ON COLUMN slo.calendar.name IS 'Human-readable name.';
COMMENT ON COLUMN slo.calendar.run_weekdays IS 'ISO weekdays the calendar runs on: 1 = Monday .. 7 = Sunday; at least one.';
COMMENT ON COLUMN slo.calendar.holiday_set IS 'The holiday set whose dates the calendar skips; NULL for none.';
COMMENT ON COLUMN slo.calendar.runs_on_holidays IS 'When true, holidays of holiday_set are run dates anyway.';

CREATE TABLE slo.calendar_exception (
  calendar_id    text NOT NULL CONSTRAINT calendar_exception_calendar_id_fkey
                   REFERENCES slo.calendar (calendar_id) ON DELETE CASCADE,
  exception_date date NOT NULL,
  runs           boolean NOT NULL,
  PRIMARY KEY (calendar_id, exception_date)
);
COMMENT ON TABLE slo.calendar_exception IS
  'One-off overrides of a calendar, stronger than weekdays and holidays.';
COMMENT ON COLUMN slo.calendar_exception.calendar_id IS 'The calendar overridden.';
COMMENT ON COLUMN slo.calendar_exception.exception_date IS 'The date overridden.';
COMMENT ON COLUMN slo.calendar_exception.runs IS 'True: the date is a run date; false: it is not.';

CREATE TABLE slo.slo (
  slo_id       text PRIMARY KEY CONSTRAINT slo_slo_id_check CHECK (slo.is_identifier(slo_id)),
  name         text NOT NULL,
  app_id       text NOT NULL CONSTRAINT slo_app_id_fkey REFERENCES slo.application (app_id),
  calendar_id  text NOT NULL CONSTRAINT slo_calendar_id_fkey REFERENCES slo.calendar (calendar_id),
  time_zone    text NOT NULL,
  period       interval NULL CONSTRAINT slo_period_check CHECK (period > interval '0'),
  window_start time NULL,
  window_end   time NULL,
  slack        interval NOT NULL DEFAULT interval '0' CONSTRAINT slo_slack_check CHECK (slack >= interval '0'),
  active       boolean NOT NULL DEFAULT true,
  CONSTRAINT slo_window_check CHECK (
    (period IS NULL AND window_start IS NULL AND window_end IS NULL)
    OR (period IS NOT NULL AND window_start IS NOT NULL AND window_end IS NOT NULL
        AND window_start <= window_end))
);
COMMENT ON TABLE slo.slo IS
  'One SLO. period NULL: one instance per run date of its calendar; otherwise intraday, one instance per '
  'period start, stepping by period from window_start while at or before window_end (the period need not divide '
  'the window).';
COMMENT ON COLUMN slo.slo.slo_id IS 'SLO id.';
COMMENT ON COLUMN slo.slo.name IS 'Human-readable name.';
COMMENT ON COLUMN slo.slo.app_id IS 'The business application the SLO is associated with.';
COMMENT ON COLUMN slo.slo.calendar_id IS 'The calendar whose run dates the SLO runs on.';
COMMENT ON COLUMN slo.slo.time_zone IS 'IANA time zone of the expected times, for example America/New_York.';
COMMENT ON COLUMN slo.slo.period IS 'Intraday period (for example 30 minutes); NULL for a once-per-run-day SLO.';
COMMENT ON COLUMN slo.slo.window_start IS 'First intraday period start (local time); NULL for a daily SLO.';
COMMENT ON COLUMN slo.slo.window_end IS
  'End of the intraday window (local time, inclusive): periods start at or before it; it is the last period start '
  'when the period divides the window. NULL for a daily SLO.';
COMMENT ON COLUMN slo.slo.slack IS 'How late the SLO may end without affecting other SLOs; beyond it, slack is breached.';
COMMENT ON COLUMN slo.slo.active IS 'Inactive SLOs get no new performance rows.';

CREATE TABLE slo.slo_job (
  slo_id         text NOT NULL CONSTRAINT slo_job_slo_id_fkey REFERENCES slo.slo (slo_id) ON DELETE CASCADE,
  job_id         text NOT NULL CONSTRAINT slo_job_job_id_fkey REFERENCES slo.job (job_id),
  expected_start interval NOT NULL,
  expected_end   interval NOT NULL,
  day_unit       text NOT NULL DEFAULT 'calendar'
    CONSTRAINT slo_job_day_unit_check CHECK (day_unit IN ('calendar', 'run')),
  PRIMARY KEY (slo_id, job_id),
  CONSTRAINT slo_job_expected_order_check CHECK (expected_end >= expected_start)
);
COMMENT ON TABLE slo.slo_job IS
  'An SLO depends on each of its jobs; the SLO instance is complete only when all of them are.';
COMMENT ON COLUMN slo.slo_job.slo_id IS 'The SLO.';
COMMENT ON COLUMN slo.slo_job.job_id IS 'A job the SLO depends on; one job may feed several SLOs.';
COMMENT ON COLUMN slo.slo_job.expected_start IS
  'Offset of the job''s expected start from the instance anchor (business date 00:00 local, or the period start).';
COMMENT ON COLUMN slo.slo_job.expected_end IS 'Offset of the job''s expected end from the instance anchor.';
COMMENT ON COLUMN slo.slo_job.day_unit IS
  'How the days of a daily offset count: calendar days (default) or run days of the SLO''s calendar.';

CREATE INDEX slo_job_job_id_idx ON slo.slo_job (job_id);
COMMENT ON INDEX slo.slo_job_job_id_idx IS 'Finds the SLOs that depend on a job, for each incoming event.';

-- ----------------------------------------------------------------------------
-- Events
-- ----------------------------------------------------------------------------
CREATE TABLE slo.job_status (
  status_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  app_id        text NOT NULL,
  job_id        text NOT NULL,
  status        text NOT NULL CONSTRAINT job_status_status_check CHECK (status IN ('start', 'succeed', 'fail')),
  status_time   timestamptz NOT NULL
    CONSTRAINT job_status_status_time_check CHECK (isfinite(status_time)),
  business_date date NOT NULL
    CONSTRAINT job_status_business_date_check CHECK (isfinite(business_date)),
  run_id        text NOT NULL,
  host_id       text NOT NULL,
  period_start  time NULL,
  received_at   timestamptz NOT NULL DEFAULT now(),
  client_id     text NULL,
  CONSTRAINT job_status_app_id_check CHECK (slo.is_identifier(app_id)),
  CONSTRAINT job_status_job_id_check CHECK (slo.is_identifier(job_id)),
  CONSTRAINT job_status_run_id_check CHECK (slo.is_identifier(run_id)),
  CONSTRAINT job_status_host_id_check CHECK (slo.is_identifier(host_id)),
  CONSTRAINT job_status_client_id_check CHECK (slo.is_identifier(client_id)),
  -- A second delivery of the same event is a no-op: writers insert with
  -- ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING.
  CONSTRAINT job_status_event_key UNIQUE (job_id, business_date, run_id, status, status_time)
  -- Every event's job exists and belongs to its application: the engine's statement trigger
  -- (engine.sql) checks each statement's (job, application) pairs, registers unknown jobs of
  -- known applications and refuses the rest (slo.register_jobs); and a job with events cannot be
  -- deleted, renamed or moved to another application (slo.job_keep_events below). Not a foreign
  -- key: its per-row check, and the row lock it takes on the job, cost an insert a fifth of its
  -- time; the trigger checks a statement's pairs against its cache of slo.job instead.
);
COMMENT ON TABLE slo.job_status IS
  'Job status events, append-only, written by the API and the ingest adapters. A second delivery of the same '
  '(job_id, business_date, run_id, status, status_time) is a no-op (ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING).';
COMMENT ON COLUMN slo.job_status.status_id IS 'Database-assigned id, increasing in insertion order.';
COMMENT ON COLUMN slo.job_status.app_id IS 'The application; the job must belong to it.';
COMMENT ON COLUMN slo.job_status.job_id IS 'The job; an unknown job of a known application is registered on its first event.';
COMMENT ON COLUMN slo.job_status.status IS 'start, succeed or fail.';
COMMENT ON COLUMN slo.job_status.status_time IS 'When it happened (sent as RFC 3339 with an offset).';
COMMENT ON COLUMN slo.job_status.business_date IS
  'The business date of the run, which may differ from the calendar date of status_time.';
COMMENT ON COLUMN slo.job_status.run_id IS 'Run id; changes when a job is restarted after a failure.';
COMMENT ON COLUMN slo.job_status.host_id IS 'Where the job ran.';
COMMENT ON COLUMN slo.job_status.period_start IS 'The nominal period of an intraday run, when the sender knows it.';
COMMENT ON COLUMN slo.job_status.received_at IS 'When the database stored the row.';
COMMENT ON COLUMN slo.job_status.client_id IS 'Who sent it, when authentication is on.';

-- The one home of the rule "a job belongs to its application": every (jobs[i], apps[i]) pair
-- that breaks it. slo.register_jobs (the trigger on slo.job_status) refuses by it, and every
-- writer of events asks it after a statement with repeats, which ON CONFLICT DO NOTHING lets
-- skip the trigger. A job not registered yet belongs to the least known application, byte-wise
-- (COLLATE "C"), that names it among the pairs: slo.register_jobs registers it under that one.
CREATE FUNCTION slo.job_ownership_problems(jobs text[], apps text[])
RETURNS TABLE (ord int, field text, rule text, owner text, detail text)
LANGUAGE sql STABLE AS $$
  WITH pair AS (
    SELECT u.ord::int AS ord, u.job_id, u.app_id,
           EXISTS (SELECT 1 FROM slo.application a WHERE a.app_id = u.app_id) AS app_known,
           (SELECT j.app_id FROM slo.job j WHERE j.job_id = u.job_id) AS registered
    FROM unnest(jobs, apps) WITH ORDINALITY AS u(job_id, app_id, ord)
  ), owned AS (
    SELECT p.ord, p.job_id, p.app_id, p.app_known,
           coalesce(p.registered COLLATE "C",
                    min(p.app_id COLLATE "C") FILTER (WHERE p.app_known) OVER (PARTITION BY p.job_id)) AS owner
    FROM pair p
  )
  SELECT o.ord, 'app_id', 'unknown_application', NULL::text,
         format('application %s does not exist (job_status.app_id must name a row of slo.application)', o.app_id)
  FROM owned o
  WHERE NOT o.app_known
  UNION ALL
  SELECT o.ord, 'job_id', 'job_of_other_application', o.owner::text,
         format('job %s belongs to application %s, not %s', o.job_id, o.owner, o.app_id)
  FROM owned o
  WHERE o.app_known AND o.owner <> o.app_id COLLATE "C"
  ORDER BY 1
$$;
COMMENT ON FUNCTION slo.job_ownership_problems(text[], text[]) IS
  'The one home of the rule "a job belongs to its application": one row per pair (jobs[ord], apps[ord]) that breaks '
  'it, ord 1-based: rule unknown_application (field app_id: not in slo.application) or job_of_other_application '
  '(field job_id: the job belongs to owner). A job not registered yet belongs to the least known application '
  '(COLLATE "C") naming it among the pairs, as slo.register_jobs registers it. detail is a sentence for a person.';

-- Registers jobs seen for the first time, and refuses a job named under another application.
-- The engine's statement trigger on slo.job_status (engine.sql) calls it with the statement's
-- (job, application) pairs that its cache of slo.job does not already know. What it registers
-- and what it refuses are decided by slo.job_ownership_problems.
CREATE FUNCTION slo.register_jobs(jobs text[], apps text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  -- The pairs the rule accepts whose job is new: each job under its one owner.
  WITH refused AS (SELECT x.ord FROM slo.job_ownership_problems(jobs, apps) AS x)
  INSERT INTO slo.job (job_id, app_id, name)
  SELECT DISTINCT ON (p.job_id) p.job_id, p.app_id, p.job_id
  FROM unnest(jobs, apps) WITH ORDINALITY AS p(job_id, app_id, ord)
  WHERE p.ord NOT IN (SELECT r.ord FROM refused r)
    AND NOT EXISTS (SELECT 1 FROM slo.job j WHERE j.job_id = p.job_id)
  ORDER BY p.job_id, p.app_id COLLATE "C"
  ON CONFLICT (job_id) DO NOTHING;

  -- Asked again after the registration: a job registered meanwhile by another transaction
  -- (ON CONFLICT DO NOTHING above) belongs to whom that one registered it under.
  SELECT x.detail INTO bad
  FROM slo.job_ownership_problems(jobs, apps) AS x
  WHERE x.rule = 'unknown_application'
  ORDER BY apps[x.ord], x.ord
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%', bad.detail
      USING ERRCODE = 'foreign_key_violation',
            CONSTRAINT = 'job_status_app_id_fkey',
            TABLE = 'job_status',
            SCHEMA = 'slo',
            COLUMN = 'app_id';
  END IF;

  SELECT x.detail INTO bad
  FROM slo.job_ownership_problems(jobs, apps) AS x
  WHERE x.rule = 'job_of_other_application'
  ORDER BY jobs[x.ord], x.ord
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%', bad.detail
      USING ERRCODE = 'foreign_key_violation',
            CONSTRAINT = 'job_status_job_fkey',
            TABLE = 'job_status',
            SCHEMA = 'slo',
            COLUMN = 'app_id';
  END IF;
END
$$;
COMMENT ON FUNCTION slo.register_jobs(text[], text[]) IS
  'Registers the unknown jobs among (jobs[i], apps[i]) under their known application (name = job id); refuses an '
  'unknown application (foreign_key_violation, constraint job_status_app_id_fkey) and a job named under another '
  'application (foreign_key_violation, constraint job_status_job_fkey), as slo.job_ownership_problems decides. '
  'Called by the trigger on slo.job_status for the pairs its cache of slo.job does not hold.';


-- A job keeps its events: deleting a job that has events, or changing its id or application, is
-- refused, as a foreign key from slo.job_status would. Inserters of events hold ROW EXCLUSIVE on
-- slo.job_status for their whole transaction; the check first takes SHARE on it, so it waits
-- for every insert in flight to commit (and holds new ones until it commits), and then sees all
-- their events. An insert that waited sees the change: the trigger of slo.job_status checks the
-- definitions as committed after its insert's lock was granted.
CREATE FUNCTION slo.job_keep_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  LOCK TABLE slo.job_status IN SHARE MODE;
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM slo.job_status) THEN
      RAISE EXCEPTION 'cannot truncate slo.job: slo.job_status holds events of its jobs'
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'job_status_job_fkey', TABLE = 'job', SCHEMA = 'slo';
    END IF;
    RETURN NULL;
  END IF;
  SELECT o.job_id, o.app_id INTO bad
  FROM old_rows o
  WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.job_id = o.job_id AND n.app_id = o.app_id)
    AND EXISTS (SELECT 1 FROM slo.job_status e WHERE e.job_id = o.job_id)
  ORDER BY o.job_id
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'job % of application % has events: it cannot be deleted, renamed or moved to another application',
                    bad.job_id, bad.app_id
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'job_status_job_fkey', TABLE = 'job', SCHEMA = 'slo';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION slo.job_keep_events() IS
  'Trigger of slo.job: refuses deleting a job that has events, changing its id or its application, or truncating '
  'slo.job while slo.job_status has rows (foreign_key_violation, constraint job_status_job_fkey).';

-- The same function for both: a deletion has no new rows (an empty table stands in for them).
CREATE FUNCTION slo.job_deleted_keep_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  LOCK TABLE slo.job_status IN SHARE MODE;
  SELECT o.job_id, o.app_id INTO bad
  FROM old_rows o
  WHERE EXISTS (SELECT 1 FROM slo.job_status e WHERE e.job_id = o.job_id)
  ORDER BY o.job_id
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'job % of application % has events: it cannot be deleted, renamed or moved to another application',
                    bad.job_id, bad.app_id
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'job_status_job_fkey', TABLE = 'job', SCHEMA = 'slo';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION slo.job_deleted_keep_events() IS
  'Trigger of slo.job: refuses deleting a job that has events (foreign_key_violation, constraint job_status_job_fkey).';

CREATE TRIGGER job_updated_keep_events AFTER UPDATE ON slo.job
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION slo.job_keep_events();
CREATE TRIGGER job_deleted_keep_events AFTER DELETE ON slo.job
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION slo.job_deleted_keep_events();
CREATE TRIGGER job_truncated_keep_events BEFORE TRUNCATE ON slo.job
  FOR EACH STATEMENT EXECUTE FUNCTION slo.job_keep_events();
COMMENT ON TRIGGER job_updated_keep_events ON slo.job IS 'A job with events keeps its id and its application.';
COMMENT ON TRIGGER job_deleted_keep_events ON slo.job IS 'A job with events cannot be deleted.';
COMMENT ON TRIGGER job_truncated_keep_events ON slo.job IS 'slo.job cannot be truncated while events exist.';

-- ----------------------------------------------------------------------------
-- pg_dump keeps these rows (they are extension members otherwise skipped).
-- ----------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('slo.application', '');
SELECT pg_catalog.pg_extension_config_dump('slo.job', '');
SELECT pg_catalog.pg_extension_config_dump('slo.holiday', '');
SELECT pg_catalog.pg_extension_config_dump('slo.calendar', '');
SELECT pg_catalog.pg_extension_config_dump('slo.calendar_exception', '');
SELECT pg_catalog.pg_extension_config_dump('slo.slo', '');
SELECT pg_catalog.pg_extension_config_dump('slo.slo_job', '');
SELECT pg_catalog.pg_extension_config_dump('slo.job_status', '');
SELECT pg_catalog.pg_extension_config_dump('slo.job_status_status_id_seq', '');
