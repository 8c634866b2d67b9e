-- pg_slo 0.1.0 -> 0.2.0. Run by ALTER EXTENSION pg_slo UPDATE; keeps every row.
--
-- slo.raise_due_alerts also raises the recovered that an evaluation racing the engine's
-- completion of an instance left out (an at_risk committed after the completion).
--
-- slo.raise_due_alerts skips the kinds already raised before building their detail (a call of
-- slo.evaluate with nothing new cost seconds with 2,000 SLOs, re-raising every open alert).
CREATE OR REPLACE FUNCTION slo.raise_due_alerts(as_of timestamptz) RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  ids text[]; dates date[]; periods time[]; kinds text[]; details jsonb[];
  from_date date;
BEGIN
  -- Instances start at most a few weeks after their business date (see slo.evaluate).
  from_date := slo.alert_window_start($1)::date - 45;
  WITH open AS (
    SELECT p, s
    FROM slo.slo_performance p
    JOIN slo.slo s ON s.slo_id = p.slo_id
    WHERE p.business_date >= from_date
      AND p.actual_end IS NULL
      AND p.expected_end >= slo.alert_window_start($1)
      AND p.expected_start <= $1
      AND s.active
  ), timed AS (
    -- Only kinds not raised yet: the worker calls this every 30 seconds, and an instance that is
    -- late stays open for hours.
    SELECT o.p, o.s, k.kind, slo.alert_detail(o.p, o.s, $1) AS detail
    FROM open o CROSS JOIN LATERAL unnest(slo.instance_alert_kinds(o.p, (o.s).slack, $1)) AS k(kind)
    WHERE NOT EXISTS (SELECT 1 FROM slo.alert a
                      WHERE a.slo_id = (o.p).slo_id AND a.business_date = (o.p).business_date
                        AND a.period_start = (o.p).period_start AND a.kind = k.kind)
  ), jobs AS (
    -- For at_risk: each incomplete job of each instance not yet late and not yet at risk, with
    -- its typical duration.
    SELECT o.p, o.s, j.job_id, j.started_at, t.median_duration, t.successful_runs
    FROM open o
    CROSS JOIN LATERAL slo.instance_jobs((o.p).slo_id, (o.p).business_date, (o.p).period_start) AS j
    CROSS JOIN LATERAL slo.job_typical_duration(j.job_id, (o.p).business_date) AS t
    WHERE $1 <= (o.p).expected_end AND j.ended_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM slo.alert a
                      WHERE a.slo_id = (o.p).slo_id AND a.business_date = (o.p).business_date
                        AND a.period_start = (o.p).period_start AND a.kind = 'at_risk')
  ), predicted AS (
    SELECT j.p, j.s,
           -- Incomplete jobs run one after another (as chains do): their remaining typical durations add up.
           $1 + sum(greatest(j.median_duration - coalesce($1 - j.started_at, interval '0'), interval '0')) AS predicted_end,
           bool_and(j.successful_runs >= 3) AS known,
           jsonb_agg(jsonb_build_object(
             'job_id', j.job_id, 'started_at', j.started_at,
             'median_duration_seconds', extract(epoch FROM j.median_duration),
             'successful_runs', j.successful_runs,
             'remaining_seconds',
             extract(epoch FROM greatest(j.median_duration - coalesce($1 - j.started_at, interval '0'), interval '0')))
             ORDER BY j.job_id) AS inputs
    FROM jobs j
    GROUP BY j.p, j.s
  ), at_risk AS (
    SELECT pr.p, pr.s, 'at_risk'::text AS kind,
           slo.alert_detail(pr.p, pr.s, $1) || jsonb_build_object(
             'as_of', $1, 'predicted_end', pr.predicted_end,
             'predicted_delay_seconds', extract(epoch FROM pr.predicted_end - (pr.p).expected_end),
             'jobs', pr.inputs) AS detail
    FROM predicted pr
    WHERE pr.known AND pr.predicted_end > (pr.p).expected_end
  ), recovered AS (
    -- Complete instances with an at_risk alert and no recovered: the engine raises recovered
    -- when it completes an instance that had one (or completes late), but an at_risk committed
    -- by an evaluation that read the instance before it completed comes after that; raised here,
    -- the recovered comes on the next call.
    SELECT p, s, 'recovered'::text AS kind, slo.alert_detail(p, s, $1) AS detail
    FROM slo.slo_performance p
    JOIN slo.slo s ON s.slo_id = p.slo_id
    WHERE (p.slo_id, p.business_date, p.period_start) IN (
            SELECT a.slo_id, a.business_date, a.period_start FROM slo.alert a
            WHERE a.kind = 'at_risk' AND a.raised_at >= from_date)
      AND p.actual_end IS NOT NULL
      AND p.expected_end >= slo.alert_window_start($1)
      AND s.active
      AND NOT EXISTS (SELECT 1 FROM slo.alert r
                      WHERE r.slo_id = p.slo_id AND r.business_date = p.business_date
                        AND r.period_start = p.period_start AND r.kind = 'recovered')
  ), raised AS (
    SELECT * FROM timed UNION ALL SELECT * FROM at_risk UNION ALL SELECT * FROM recovered
  )
  SELECT array_agg((r.p).slo_id), array_agg((r.p).business_date), array_agg((r.p).period_start),
         array_agg(r.kind), array_agg(r.detail)
  INTO ids, dates, periods, kinds, details
  FROM raised r;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN slo.raise_alerts(ids, dates, periods, kinds, details, $1);
END
$$;
COMMENT ON FUNCTION slo.raise_due_alerts(timestamptz) IS
  'Raises, as of as_of, the alerts of incomplete instances inside the alert window: late_start, late, slack_breached, '
  'and at_risk when not yet late but the predicted end (as_of plus the remaining typical duration of each incomplete '
  'job, one after another; needs 3 successful runs of each) is after the expected end; and recovered for a complete '
  'instance with an at_risk alert that has none yet. Called by slo.evaluate.';

-- The engine keeps the state of each daily SLO day beside its row and merges new events into
-- it (no lock per SLO day, no read of the day's other events); rows are written as
-- INSERT ... ON CONFLICT does, so slo.evaluate no longer takes the engine's locks, and inserts in
-- byte-wise key order as the engine does. Every index of slo.slo_performance is maintained
-- directly, so the SQL fallback slo.write_performance_rows is gone. Rows of earlier releases
-- have no state: the engine rebuilds it from their events on their next event.
ALTER TABLE slo.slo_performance ADD COLUMN engine_state bytea NULL;
COMMENT ON COLUMN slo.slo_performance.engine_state IS
  'Internal to the engine, not for reports: what each job of a daily instance did (earliest start, earliest success, '
  'failed runs), merged with each new event. NULL for intraday instances and for rows without events; rebuilt from '
  'slo.job_status when missing, or made for other jobs or under other definitions of the SLO.';

DROP FUNCTION slo.write_performance_rows(text[], date[], time[], timestamptz[], timestamptz[], timestamptz[],
                                         timestamptz[], int[]);

COMMENT ON FUNCTION slo.lock_slo_days(text[], date[]) IS
  'Takes the engine''s locks of the given SLO days (the transaction advisory locks of their buckets, 128 buckets, '
  'in order, exclusively), as a writer that recomputes SLO days from their events holds them.';
COMMENT ON FUNCTION slo.lock_all_slo_days() IS
  'Takes every lock of the engine, exclusively, in order: for changes that concern all SLO days (recompute, deleting '
  'an SLO); every other writer of slo.slo_performance waits until the transaction ends.';

COMMENT ON FUNCTION slo.refresh_slo_days(text[], date[]) IS
  'Rebuilds the performance rows of the given (slo_id, business_date) pairs from all their events; returns rows written. '
  'Safe beside concurrent writers of the same SLO days. Called by slo.recompute.';

CREATE OR REPLACE FUNCTION slo.materialize_due(from_date date, to_date date, as_of timestamptz, min_expected_start timestamptz)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  added int;
  ids text[];
  dates date[];
  periods time[];
  starts timestamptz[];
  ends timestamptz[];
BEGIN
  WITH cand AS (
    SELECT s.slo_id, r.run_date AS business_date, p.p, s.time_zone, s.period, s.window_start, s.window_end, s.calendar_id
    FROM slo.slo s
    JOIN slo.run_date r ON r.calendar_id = s.calendar_id AND r.run_date BETWEEN $1 AND $2
    CROSS JOIN LATERAL (
      SELECT time '00:00' AS p WHERE s.period IS NULL
      UNION ALL
      SELECT q FROM slo.intraday_period_starts(s.window_start, s.window_end, s.period) AS q WHERE s.period IS NOT NULL
    ) AS p
    WHERE s.active
  ), expected AS (
    SELECT c.slo_id, c.business_date, c.p,
           min(slo.expected_instant(c.time_zone, c.period, c.window_start, c.window_end, c.calendar_id,
                                    c.business_date, c.p, j.expected_start, j.day_unit)) AS expected_start,
           max(slo.expected_instant(c.time_zone, c.period, c.window_start, c.window_end, c.calendar_id,
                                    c.business_date, c.p, j.expected_end, j.day_unit)) AS expected_end
    FROM cand c JOIN slo.slo_job j ON j.slo_id = c.slo_id
    GROUP BY 1, 2, 3
  )
  -- In key order, byte-wise, as the engine writes rows: writers waiting for each other's new
  -- rows never wait in a circle.
  SELECT array_agg(e.slo_id ORDER BY e.slo_id COLLATE "C", e.business_date, e.p),
         array_agg(e.business_date ORDER BY e.slo_id COLLATE "C", e.business_date, e.p),
         array_agg(e.p ORDER BY e.slo_id COLLATE "C", e.business_date, e.p),
         array_agg(e.expected_start ORDER BY e.slo_id COLLATE "C", e.business_date, e.p),
         array_agg(e.expected_end ORDER BY e.slo_id COLLATE "C", e.business_date, e.p)
  INTO ids, dates, periods, starts, ends
  FROM expected e
  WHERE e.expected_start <= $3 AND e.expected_start >= $4 AND e.expected_end IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM slo.slo_performance x
                    WHERE x.slo_id = e.slo_id AND x.business_date = e.business_date AND x.period_start = e.p);
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  -- Safe beside the engine without its locks: it writes rows as INSERT ... ON CONFLICT does.
  INSERT INTO slo.slo_performance (slo_id, business_date, period_start, expected_start, expected_end)
  SELECT u.* FROM unnest(ids, dates, periods, starts, ends) AS u
  ON CONFLICT (slo_id, business_date, period_start) DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT;
  RETURN added;
END
$$;
COMMENT ON FUNCTION slo.materialize_due(date, date, timestamptz, timestamptz) IS
  'Inserts the instances of the business dates given that are due (expected start in [min_expected_start, as_of]) '
  'and have no row yet; never changes an existing row. Returns rows added.';

-- ---- the engine writes through PostgreSQL's executor (issue 17) ----
-- slo.slo_performance is written by INSERT ... ON CONFLICT DO UPDATE through SPI; a daily row
-- takes the join of its stored state and the statement's own, in these immutable functions.
CREATE FUNCTION slo.day_rebuilds() RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'day_rebuilds_wrapper';
CREATE FUNCTION slo.day_state_joins(
	"stored" bytea, /* Option < & [u8] > */
	"new" bytea /* & [u8] */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'day_state_joins_wrapper';
CREATE FUNCTION slo.day_state_needs_write(
	"stored" bytea, /* Option < & [u8] > */
	"new" bytea /* & [u8] */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'day_state_needs_write_wrapper';
CREATE FUNCTION slo.day_state_end(
	"stored" bytea, /* & [u8] */
	"new" bytea /* & [u8] */
) RETURNS timestamp with time zone /* Option < TimestampWithTimeZone > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'day_state_end_wrapper';
CREATE FUNCTION slo.day_state_failed_runs(
	"stored" bytea, /* & [u8] */
	"new" bytea /* & [u8] */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'day_state_failed_runs_wrapper';
CREATE FUNCTION slo.day_state_join(
	"stored" bytea, /* & [u8] */
	"new" bytea /* & [u8] */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'day_state_join_wrapper';
COMMENT ON FUNCTION slo.day_state_joins(bytea, bytea) IS
  'Internal to the engine: true when the stored daily state (slo_performance.engine_state; NULL: none) and a new one '
  'can be joined (made for the same jobs under the same definitions of their SLO).';
COMMENT ON FUNCTION slo.day_state_needs_write(bytea, bytea) IS
  'Internal to the engine: true when a new daily state adds something to the stored one, or cannot be joined with it '
  '(the row is then rebuilt from its events).';
COMMENT ON FUNCTION slo.day_state_join(bytea, bytea) IS
  'Internal to the engine: the join of two daily states (the state of the union of their events); the stored one '
  'when they cannot be joined.';
COMMENT ON FUNCTION slo.day_state_end(bytea, bytea) IS
  'Internal to the engine: actual_end of the join of two daily states (the latest end once every job has ended).';
COMMENT ON FUNCTION slo.day_state_failed_runs(bytea, bytea) IS
  'Internal to the engine: failed_runs of the join of two daily states.';
COMMENT ON FUNCTION slo.day_rebuilds() IS
  'How many daily SLO days this backend has rebuilt from all their events instead of merging new events into their '
  'stored state: for tests and diagnostics.';

-- Each SLO's definition has a version; daily states are tagged with it (and a fingerprint of the
-- definition) instead of the global generation, so registering a job or changing another SLO
-- invalidates nothing.
CREATE TABLE slo.slo_definition_version (
  slo_id  text PRIMARY KEY REFERENCES slo.slo (slo_id) ON DELETE CASCADE ON UPDATE CASCADE,
  version bigint NOT NULL
);
COMMENT ON TABLE slo.slo_definition_version IS
  'Internal to the engine: for each SLO, a value that changes (never repeats) whenever its row, its jobs or its '
  'calendar change. Daily states made under another version are rebuilt from their events.';
COMMENT ON COLUMN slo.slo_definition_version.slo_id IS 'The SLO.';
COMMENT ON COLUMN slo.slo_definition_version.version IS 'Changes whenever the SLO''s definition changes.';

CREATE FUNCTION slo.mark_slos_changed(slo_ids text[]) RETURNS void
LANGUAGE sql
AS $$
  INSERT INTO slo.slo_definition_version (slo_id, version)
  SELECT s.slo_id, nextval('slo.definitions_generation_seq')
  FROM slo.slo s WHERE s.slo_id = ANY ($1)
  ORDER BY s.slo_id COLLATE "C"
  ON CONFLICT (slo_id) DO UPDATE SET version = excluded.version;
$$;
COMMENT ON FUNCTION slo.mark_slos_changed(text[]) IS
  'Gives the definitions of the given SLOs a new version (slo.slo_definition_version).';

CREATE FUNCTION slo.slo_definition_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'slo') THEN
    PERFORM slo.mark_slos_changed(ARRAY(SELECT n.slo_id FROM new_rows n));
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM slo.mark_slos_changed(ARRAY(SELECT n.slo_id FROM new_rows n UNION SELECT o.slo_id FROM old_rows o));
  ELSE
    PERFORM slo.mark_slos_changed(ARRAY(SELECT o.slo_id FROM old_rows o));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION slo.slo_definition_changed() IS
  'Statement trigger of slo.slo and slo.slo_job: marks the definitions of the SLOs concerned changed.';
CREATE TRIGGER slo_inserted_version AFTER INSERT ON slo.slo
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.slo_definition_changed();
CREATE TRIGGER slo_updated_version AFTER UPDATE ON slo.slo
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.slo_definition_changed();
CREATE TRIGGER slo_job_inserted_version AFTER INSERT ON slo.slo_job
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.slo_definition_changed();
CREATE TRIGGER slo_job_updated_version AFTER UPDATE ON slo.slo_job
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.slo_definition_changed();
CREATE TRIGGER slo_job_deleted_version AFTER DELETE ON slo.slo_job
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.slo_definition_changed();
COMMENT ON TRIGGER slo_inserted_version ON slo.slo IS 'Gives new SLOs a definition version.';
COMMENT ON TRIGGER slo_updated_version ON slo.slo IS 'Gives changed SLOs a new definition version.';
COMMENT ON TRIGGER slo_job_inserted_version ON slo.slo_job IS 'Gives the SLOs concerned a new definition version.';
COMMENT ON TRIGGER slo_job_updated_version ON slo.slo_job IS 'Gives the SLOs concerned a new definition version.';
COMMENT ON TRIGGER slo_job_deleted_version ON slo.slo_job IS 'Gives the SLOs concerned a new definition version.';
CREATE OR REPLACE FUNCTION slo.calendar_definition_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  ids text[];
BEGIN
  UPDATE slo.definitions_generation SET generation = nextval('slo.definitions_generation_seq');
  IF TG_TABLE_NAME = 'calendar' AND TG_OP = 'DELETE' THEN
    RETURN NULL;  -- slo.run_date rows go by ON DELETE CASCADE
  ELSIF TG_TABLE_NAME = 'calendar' THEN
    SELECT array_agg(DISTINCT n.calendar_id) INTO ids FROM new_rows n;
  ELSIF TG_TABLE_NAME = 'calendar_exception' THEN
    IF TG_OP = 'INSERT' THEN
      SELECT array_agg(DISTINCT n.calendar_id) INTO ids FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
      SELECT array_agg(DISTINCT o.calendar_id) INTO ids FROM old_rows o;
    ELSE
      SELECT array_agg(DISTINCT x.calendar_id) INTO ids
      FROM (SELECT n.calendar_id FROM new_rows n UNION SELECT o.calendar_id FROM old_rows o) x;
    END IF;
  ELSIF TG_TABLE_NAME = 'holiday' THEN
    IF TG_OP = 'INSERT' THEN
      SELECT array_agg(DISTINCT c.calendar_id) INTO ids
      FROM slo.calendar c WHERE c.holiday_set IN (SELECT n.holiday_set FROM new_rows n);
    ELSIF TG_OP = 'DELETE' THEN
      SELECT array_agg(DISTINCT c.calendar_id) INTO ids
      FROM slo.calendar c WHERE c.holiday_set IN (SELECT o.holiday_set FROM old_rows o);
    ELSE
      SELECT array_agg(DISTINCT c.calendar_id) INTO ids
      FROM slo.calendar c
      WHERE c.holiday_set IN (SELECT n.holiday_set FROM new_rows n UNION SELECT o.holiday_set FROM old_rows o);
    END IF;
  END IF;
  IF ids IS NOT NULL THEN
    PERFORM slo.refresh_run_dates(ids);
    PERFORM slo.mark_slos_changed(ARRAY(SELECT s.slo_id FROM slo.slo s WHERE s.calendar_id = ANY (ids)));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION slo.calendar_definition_changed() IS
  'Statement trigger: moves the definitions generation on, rebuilds slo.run_date for the calendars a change of '
  'calendars, exceptions or holidays touches, and marks the definitions of their SLOs changed.';

-- The trigger of slo.job_status runs as slo_engine (a role of its own, neither a superuser nor
-- a table's owner), so a DBA's privileges and row-security policies on slo.slo_performance apply
-- to the engine's writes. The API role may read the generation (the calendar functions do).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'slo_engine') THEN
    BEGIN
      CREATE ROLE slo_engine NOLOGIN;
      COMMENT ON ROLE slo_engine IS
        'pg_slo''s engine: owns the trigger of slo.job_status and writes slo.slo_performance through SQL with its own rights only. Never grant it to a login role.';
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- created in another database at the same moment
    END;
  ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'slo_engine' AND (rolsuper OR rolbypassrls)) THEN
    RAISE WARNING 'role slo_engine exists and is a superuser or bypasses row security: it is used as it is, '
      'and has more than the privileges pg_slo grants it';
  END IF;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON slo.slo_definition_version TO slo_admin;
GRANT USAGE ON SCHEMA slo TO slo_engine;
GRANT SELECT ON slo.application, slo.job, slo.holiday, slo.calendar, slo.calendar_exception, slo.slo, slo.slo_job,
  slo.definitions_generation, slo.slo_definition_version, slo.job_status
  TO slo_engine;
GRANT SELECT, INSERT, UPDATE ON slo.slo_performance TO slo_engine;
GRANT EXECUTE ON FUNCTION
  slo.register_jobs(text[], text[]),
  slo.raise_instance_alerts(text[], date[], time[], timestamptz)
TO slo_engine;
ALTER FUNCTION slo.job_status_after_insert()
  SECURITY DEFINER SET search_path = pg_catalog, slo, pg_temp;
ALTER FUNCTION slo.job_status_after_insert() OWNER TO slo_engine;
-- The calendar functions read the generation of the definitions, as the API's role calls them.
GRANT SELECT ON slo.definitions_generation TO slo_api;
-- ---- one home of the job ownership rule (issue 17) ----
-- slo.job_ownership_problems is the one place the rule "a job belongs to its application" is
-- decided; slo.register_jobs registers and refuses by it. The dead letters of the Kafka consumer
-- get the reason database_constraint (a constraint the product does not check itself).
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
CREATE OR REPLACE FUNCTION slo.register_jobs(jobs text[], apps text[]) RETURNS void
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
-- CREATE OR REPLACE resets what auth.sql set on the function: set it again.
ALTER FUNCTION slo.register_jobs(text[], text[])
  SECURITY DEFINER SET search_path = pg_catalog, slo, pg_temp;

ALTER TABLE slo.ingest_dead_letter DROP CONSTRAINT ingest_dead_letter_reason_check;
ALTER TABLE slo.ingest_dead_letter ADD CONSTRAINT ingest_dead_letter_reason_check CHECK (reason IN (
  'empty_message', 'not_utf8', 'malformed_json', 'not_one_event', 'invalid_event',
  'unknown_application', 'job_of_other_application', 'unauthorized', 'database_constraint'));
COMMENT ON COLUMN slo.ingest_dead_letter.reason IS
  'Why it cannot be stored: empty_message, not_utf8, malformed_json, not_one_event (an array or a scalar), '
  'invalid_event (a rule of the API is broken; see problems), unknown_application, job_of_other_application, '
  'unauthorized (the client the event is posted as may not post for its application: a 403 at the API), '
  'database_constraint (a constraint of the database refused the event''s rows, one the product does not check itself: '
  'a 422 at the API).';
-- ---- contract corrections (issue 17) ----
-- 1. An intraday period need not divide its window: periods step from window_start while at or
--    before window_end. The checks and period functions are Rust (unchanged signatures, so their
--    catalog entries stay); only the comments that said otherwise change.
-- 2. The Federal Reserve rule lists a Sunday holiday on that Sunday as well as on the observed
--    Monday. Holiday sets loaded by the rule under 0.1.0 get the missing Sundays, and calendars
--    that may run on them are named in a WARNING, with the slo.recompute calls that rebuild
--    their rows.
COMMENT ON TABLE slo.slo IS
  'One SLO. period NULL: one instance per run date of its calendar; otherwise intraday, one instance per '
  'period start, stepping by period from window_start while at or before window_end (the period need not divide '
  'the window).';
COMMENT ON COLUMN slo.slo.window_end IS
  'End of the intraday window (local time, inclusive): periods start at or before it; it is the last period start '
  'when the period divides the window. NULL for a daily SLO.';
COMMENT ON COLUMN slo.holiday.holiday_date IS
  'A date on which the holiday closes the market: its own date, or the date it is observed on (a rule may list both).';
COMMENT ON FUNCTION slo.intraday_period_starts(time, time, interval) IS
  'Every period start, in order: from window_start, stepping by period, while at or before window_end (the period '
  'need not divide the window).';

DO $upgrade$
DECLARE
  added_sets text[];
  added_dates date[];
  c record;
  calls text;
BEGIN
  -- A set was loaded by the rule where it holds a Monday row exactly as the rule lists the
  -- observed day of a Sunday holiday (same date, name '<X> (observed)'), without that Sunday.
  -- Sets made by hand with other names or dates are left alone; an existing Sunday row is kept.
  WITH candidate AS MATERIALIZED (
    SELECT m.holiday_set, m.holiday_date AS monday, m.name
    FROM slo.holiday m
    WHERE m.name LIKE '% (observed)'
      AND extract(isodow FROM m.holiday_date) = 1
      AND m.holiday_date BETWEEN date '1900-01-02' AND date '2200-12-31'
      AND NOT EXISTS (SELECT 1 FROM slo.holiday s
                      WHERE s.holiday_set = m.holiday_set AND s.holiday_date = m.holiday_date - 1)
  ), sunday AS MATERIALIZED (
    SELECT r.holiday_date, r.name
    FROM (SELECT DISTINCT extract(year FROM x.monday)::int AS y FROM candidate x) AS y
    CROSS JOIN LATERAL slo.holiday_rule_dates('us_federal_reserve', y.y, y.y) AS r
    WHERE extract(isodow FROM r.holiday_date) = 7
  ), added AS (
    INSERT INTO slo.holiday (holiday_set, holiday_date, name)
    SELECT x.holiday_set, s.holiday_date, s.name
    FROM candidate x
    JOIN sunday s ON s.holiday_date = x.monday - 1 AND x.name = s.name || ' (observed)'
    ORDER BY 1, 2
    ON CONFLICT (holiday_set, holiday_date) DO NOTHING
    RETURNING holiday_set, holiday_date
  )
  SELECT array_agg(a.holiday_set ORDER BY a.holiday_set, a.holiday_date),
         array_agg(a.holiday_date ORDER BY a.holiday_set, a.holiday_date)
  INTO added_sets, added_dates
  FROM added a;
  IF added_sets IS NULL THEN
    RETURN;
  END IF;
  -- Calendars that run on Sundays, or have exceptions on those Sundays, and use such a set. A
  -- WARNING, not a NOTICE: PostgreSQL runs extension scripts with client_min_messages at least
  -- warning, so a NOTICE would reach no one; a WARNING also goes to the server log.
  FOR c IN
    SELECT k.calendar_id, k.holiday_set, array_agg(a.d ORDER BY a.d) AS sundays
    FROM slo.calendar k
    JOIN unnest(added_sets, added_dates) AS a(s, d) ON a.s = k.holiday_set
    WHERE 7 = ANY (k.run_weekdays)
       OR EXISTS (SELECT 1 FROM slo.calendar_exception x
                  WHERE x.calendar_id = k.calendar_id AND x.exception_date = a.d)
    GROUP BY k.calendar_id, k.holiday_set
    ORDER BY k.calendar_id
  LOOP
    -- Rows exist only for dates up to today and within the history of the calendar's SLOs; the
    -- week before each Sunday is included for offsets counted in run days across it.
    SELECT string_agg(format('SELECT slo.recompute(%L, %L);', d - 7, d), ' ' ORDER BY d)
    INTO calls
    FROM unnest(c.sundays) AS d
    WHERE d <= current_date
      AND EXISTS (SELECT 1 FROM slo.slo s JOIN slo.slo_performance p ON p.slo_id = s.slo_id
                  WHERE s.calendar_id = c.calendar_id AND p.business_date <= d);
    RAISE WARNING 'calendar %: holiday set % now also lists the Sunday holidays % (the Federal Reserve is closed on '
                 'them), and the calendar runs on Sundays or has exceptions on them: %',
      c.calendar_id, c.holiday_set, array_to_string(c.sundays, ', '),
      coalesce('rebuild the performance rows of those dates with ' || calls,
               'no performance rows of its SLOs reach those dates yet, so none needs SELECT slo.recompute(from, to)');
  END LOOP;
END
$upgrade$;
