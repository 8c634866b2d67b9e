-- ============================================================================
-- pg_slo engine: SLO performance computed inside PostgreSQL (CONTRACT sections
-- 3 to 5).
--
-- How it stays right whatever the order of events:
--   * a daily SLO day's row keeps the day's state beside it (engine_state: per
--     job, the earliest start, the earliest success, the failed runs); each
--     statement merges its new events into the latest committed state. The
--     state is made of minimums and set unions, so any order, batching or
--     repetition of events gives the same state, and the same row;
--   * an intraday SLO day is recomputed from ALL its events (a success goes to
--     the period of its run's earliest start, which a later event can move),
--     under transaction advisory locks on hash buckets of (slo_id,
--     business_date), taken in bucket order; each recompute reads the events
--     after the locks, with a fresh snapshot in READ COMMITTED;
--   * rows are written through SQL: one INSERT ... ON CONFLICT DO UPDATE per
--     statement over all the SLO days it touches (perf_rows.rs), run through
--     SPI with a plan kept for the backend's life. A daily row takes the join
--     of its stored state and the statement's own (slo.day_state_join), so
--     writers of one SLO day meet on PostgreSQL's row lock and each adds its
--     events. Every constraint, trigger, foreign key, policy and privilege on
--     slo.slo_performance applies to these writes as to any SQL writer's;
--   * set-based: one statement trigger per INSERT/COPY statement, with the
--     statement's new rows as a transition table. The trigger is Rust
--     (engine.rs): it reads the transition table directly (its own input),
--     finds the SLOs of each job from a per-backend cache of the definitions
--     (definitions.rs), and writes its rows in key order.
-- ============================================================================

CREATE TABLE slo.slo_performance (
  slo_id         text NOT NULL CONSTRAINT slo_performance_slo_id_fkey
                   REFERENCES slo.slo (slo_id) ON DELETE CASCADE ON UPDATE CASCADE,
  business_date  date NOT NULL,
  period_start   time NOT NULL DEFAULT time '00:00',
  expected_start timestamptz NOT NULL,
  expected_end   timestamptz NOT NULL,
  actual_start   timestamptz NULL,
  actual_end     timestamptz NULL,
  failed_runs    int NOT NULL DEFAULT 0,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  engine_state   bytea NULL,
  PRIMARY KEY (slo_id, business_date, period_start)
) WITH (fillfactor = 80);  -- room on each page for HOT updates: rows change as their events come
COMMENT ON TABLE slo.slo_performance IS
  'One row per SLO instance that is due or has events; written only by the extension (triggers on slo.job_status, '
  'slo.evaluate, slo.recompute). Derived from events: not dumped by pg_dump; rebuild with slo.recompute after a restore.';
COMMENT ON COLUMN slo.slo_performance.slo_id IS 'The SLO.';
COMMENT ON COLUMN slo.slo_performance.business_date IS 'The business date of the instance (a run date of the SLO''s calendar).';
COMMENT ON COLUMN slo.slo_performance.period_start IS 'The period start of an intraday instance; 00:00 for a daily one.';
COMMENT ON COLUMN slo.slo_performance.expected_start IS 'Earliest expected start of the instance''s jobs.';
COMMENT ON COLUMN slo.slo_performance.expected_end IS 'Latest expected end of the instance''s jobs.';
COMMENT ON COLUMN slo.slo_performance.actual_start IS 'Earliest start of any of its jobs; NULL if none started.';
COMMENT ON COLUMN slo.slo_performance.actual_end IS 'Latest end (earliest success) over all its jobs; NULL while any job is incomplete.';
COMMENT ON COLUMN slo.slo_performance.failed_runs IS 'Runs of the instance''s jobs that reported fail (distinct job and run id).';
COMMENT ON COLUMN slo.slo_performance.updated_at IS 'When the row last changed.';
COMMENT ON COLUMN slo.slo_performance.engine_state IS
  'Internal to the engine, not for reports: what each job of a daily instance did (earliest start, earliest success, '
  'failed runs), merged with each new event. NULL for intraday instances and for rows without events; rebuilt from '
  'slo.job_status when missing, or made for other jobs or under other definitions of the SLO.';

CREATE INDEX slo_performance_business_date_idx ON slo.slo_performance (business_date, slo_id);
COMMENT ON INDEX slo.slo_performance_business_date_idx IS 'Reads a whole business day (today''s report) fast.';

-- ---- The engine's locks (Rust: engine.rs) ----------------------------------------------------
-- Writers of slo.slo_performance from events hold the transaction advisory locks of their SLO
-- days' buckets of (slo_id, business_date): shared to merge daily states, exclusive to
-- recompute intraday SLO days from their events. Deleting or renaming an SLO, and
-- slo.recompute, take them all, exclusively.
COMMENT ON FUNCTION slo.lock_slo_days(text[], date[]) IS
  'Takes the engine''s locks of the given SLO days (the transaction advisory locks of their buckets, 128 buckets, '
  'in order, exclusively), as a writer that recomputes SLO days from their events holds them.';

-- ---- Daily states (Rust: perf_rows.rs, engine.rs) -------------------------------------------
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
COMMENT ON FUNCTION slo.lock_all_slo_days() IS
  'Takes every lock of the engine, exclusively, in order: for changes that concern all SLO days (recompute, deleting '
  'an SLO); every other writer of slo.slo_performance waits until the transaction ends.';

CREATE FUNCTION slo.slo_removed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM slo.lock_all_slo_days();
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION slo.slo_removed() IS
  'Statement trigger of slo.slo: before SLOs are deleted or renamed, waits for and holds off the engine''s writers.';
CREATE TRIGGER slo_removed BEFORE DELETE OR UPDATE OF slo_id OR TRUNCATE ON slo.slo
  FOR EACH STATEMENT EXECUTE FUNCTION slo.slo_removed();
COMMENT ON TRIGGER slo_removed ON slo.slo IS
  'Takes the engine''s locks before SLOs are deleted or renamed (their performance rows cascade).';

-- ---- Recomputing SLO days (Rust: engine.rs) ----------------------------------------------
COMMENT ON FUNCTION slo.refresh_slo_days(text[], date[]) IS
  'Rebuilds the performance rows of the given (slo_id, business_date) pairs from all their events; returns rows written. '
  'Safe beside concurrent writers of the same SLO days. Called by slo.recompute.';

-- ---- The trigger (Rust: engine.rs) ----------------------------------------------------------
COMMENT ON FUNCTION slo.job_status_after_insert() IS
  'Statement trigger of slo.job_status: registers first-seen jobs (slo.register_jobs), refuses an event whose job '
  'belongs to another application, and recomputes the SLO days the statement''s new events touch.';
CREATE TRIGGER job_status_after_insert
  AFTER INSERT ON slo.job_status
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION slo.job_status_after_insert();
COMMENT ON TRIGGER job_status_after_insert ON slo.job_status IS
  'Registers first-seen jobs, checks that each event''s job belongs to its application, and keeps '
  'slo.slo_performance current for every active SLO that depends on the new events'' jobs.';

-- ---- Due instances without events ---------------------------------------------------------
-- Inserts the instances of business dates from_date..to_date whose expected start lies in
-- [min_expected_start, as_of] and that have no row yet; returns how many.
CREATE FUNCTION slo.materialize_due(from_date date, to_date date, as_of timestamptz, min_expected_start timestamptz)
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

CREATE FUNCTION slo.evaluate(as_of timestamptz DEFAULT now()) RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  lookback interval := coalesce(nullif(current_setting('pg_slo.evaluate_lookback', true), ''), '3 days')::interval;
  reach int;
  added int;
BEGIN
  -- How many days after its business date an instance can start: the largest offset in days,
  -- tripled for run days over long weekends, plus a week.
  SELECT coalesce(max(greatest(extract(day FROM j.expected_start), 0)), 0)::int * 3 + 7 INTO reach
  FROM slo.slo_job j;
  added := slo.materialize_due((as_of - lookback)::date - reach, as_of::date + 2, as_of, as_of - lookback);
  PERFORM slo.raise_due_alerts(as_of);
  RETURN added;
END
$$;
COMMENT ON FUNCTION slo.evaluate(timestamptz) IS
  'Materialises every instance whose expected start is due by as_of (looking back over the setting '
  'pg_slo.evaluate_lookback, default 3 days), so an SLO whose jobs never started shows as late, and raises the '
  'alerts time has brought (slo.raise_due_alerts). Idempotent and safe from several sessions at once (it only adds '
  'missing rows and alerts not yet raised). Returns rows added.';

CREATE FUNCTION slo.recompute(from_date date, to_date date) RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  ids text[];
  dates date[];
  total int;
BEGIN
  IF $1 > $2 THEN
    RAISE EXCEPTION 'from_date % is after to_date %', $1, $2 USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM slo.lock_all_slo_days();
  DELETE FROM slo.slo_performance p WHERE p.business_date BETWEEN $1 AND $2;
  SELECT array_agg(x.slo_id ORDER BY x.slo_id, x.business_date),
         array_agg(x.business_date ORDER BY x.slo_id, x.business_date)
  INTO ids, dates
  FROM (SELECT DISTINCT j.slo_id, e.business_date
        FROM slo.job_status e JOIN slo.slo_job j ON j.job_id = e.job_id
        WHERE e.business_date BETWEEN $1 AND $2) AS x;
  IF ids IS NOT NULL THEN
    PERFORM slo.refresh_slo_days(ids, dates);
  END IF;
  PERFORM slo.materialize_due($1, $2, now(), '-infinity');
  SELECT count(*) INTO total FROM slo.slo_performance p WHERE p.business_date BETWEEN $1 AND $2;
  RETURN total;
END
$$;
COMMENT ON FUNCTION slo.recompute(date, date) IS
  'Rebuilds the performance rows of business dates from_date..to_date from slo.job_status (after a backfill, a '
  'definition change or a restore), then adds the due instances without events; returns the rows in the range. '
  'The result equals what the triggers produce.';

-- ---- The report -------------------------------------------------------------------------
CREATE VIEW slo.slo_performance_report AS
SELECT p.slo_id, p.business_date, p.period_start, p.expected_start, p.expected_end,
       p.actual_start, p.actual_end, p.updated_at,
       s.name AS slo_name, s.app_id,
       d.start_delay, d.end_delay, p.failed_runs,
       coalesce(d.end_delay > s.slack, false) AS slack_breached,
       CASE
         WHEN p.actual_end IS NOT NULL AND p.actual_end <= p.expected_end THEN 'met'
         WHEN p.actual_end IS NOT NULL THEN 'missed'
         WHEN now() > p.expected_end THEN 'late'
         WHEN p.actual_start IS NOT NULL THEN 'running'
         ELSE 'pending'
       END AS state
FROM slo.slo_performance p
JOIN slo.slo s ON s.slo_id = p.slo_id
CROSS JOIN LATERAL (SELECT
  CASE WHEN p.actual_start IS NOT NULL THEN p.actual_start - p.expected_start
       WHEN now() > p.expected_start THEN now() - p.expected_start END AS start_delay,
  CASE WHEN p.actual_end IS NOT NULL THEN p.actual_end - p.expected_end
       WHEN now() > p.expected_end THEN now() - p.expected_end END AS end_delay) AS d;
COMMENT ON VIEW slo.slo_performance_report IS
  'SLO performance for BI tools: every column of slo.slo_performance, the SLO''s name and application, delays, '
  'failed runs, whether slack is breached, and the state (pending, running, met, missed, late).';
COMMENT ON COLUMN slo.slo_performance_report.slo_id IS 'The SLO.';
COMMENT ON COLUMN slo.slo_performance_report.business_date IS 'The business date of the instance.';
COMMENT ON COLUMN slo.slo_performance_report.period_start IS 'The period start of an intraday instance; 00:00 for a daily one.';
COMMENT ON COLUMN slo.slo_performance_report.expected_start IS 'Earliest expected start of its jobs.';
COMMENT ON COLUMN slo.slo_performance_report.expected_end IS 'Latest expected end of its jobs.';
COMMENT ON COLUMN slo.slo_performance_report.actual_start IS 'Earliest start of any job; NULL if none started.';
COMMENT ON COLUMN slo.slo_performance_report.actual_end IS 'Latest end over all jobs; NULL while any is incomplete.';
COMMENT ON COLUMN slo.slo_performance_report.updated_at IS 'When the performance row last changed.';
COMMENT ON COLUMN slo.slo_performance_report.slo_name IS 'The SLO''s name.';
COMMENT ON COLUMN slo.slo_performance_report.app_id IS 'The SLO''s application.';
COMMENT ON COLUMN slo.slo_performance_report.start_delay IS
  'actual_start - expected_start; while not started and past the expected start, now() - expected_start.';
COMMENT ON COLUMN slo.slo_performance_report.end_delay IS
  'actual_end - expected_end; while incomplete and past due, now() - expected_end.';
COMMENT ON COLUMN slo.slo_performance_report.failed_runs IS 'Runs of the instance''s jobs that reported fail.';
COMMENT ON COLUMN slo.slo_performance_report.slack_breached IS 'end_delay is greater than the SLO''s slack.';
COMMENT ON COLUMN slo.slo_performance_report.state IS
  'pending (not started, not yet due), running (started, not due), met (complete by expected_end), '
  'missed (complete after it), late (incomplete and past expected_end).';
