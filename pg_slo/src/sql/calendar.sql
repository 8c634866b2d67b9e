-- ============================================================================
-- pg_slo calendars: run dates, holidays, expected times, definition checks
-- (CONTRACT sections 2 and 5).
--
-- The rules live in Rust (slo_core). The calendar functions (slo.is_run_date,
-- slo.next_run_date, slo.prev_run_date, slo.run_dates) are Rust functions that
-- load a calendar once per statement and answer from memory (calendar_cache.rs).
-- slo.run_date holds every run date of every calendar over a fixed horizon for
-- set-based joins (BI tools, the engine), rebuilt by triggers whenever a
-- calendar, its exceptions or its holidays change.
-- ============================================================================

-- ---- Comments on the Rust functions (pgrx creates them without) ------------
COMMENT ON FUNCTION slo.calendar_run_dates(int[], boolean, date[], date[], boolean[], date, date) IS
  'Run dates from from_date to to_date of a calendar given by its parts (weekdays, runs_on_holidays, '
  'holiday dates, exception dates and whether each runs). Pure; slo.run_dates is the table-backed form.';
COMMENT ON FUNCTION slo.holiday_rule_dates(text, int, int) IS
  'The observed holidays a rule (see slo.holiday_rules()) gives from from_year to to_year.';
COMMENT ON FUNCTION slo.holiday_rules() IS 'The holiday rules this build knows, with their observance policy.';
COMMENT ON FUNCTION slo.check_slo_definition(text, text, interval, time, time) IS
  'Raises check_violation naming the SLO and the field when its time zone, period or window is invalid.';
COMMENT ON FUNCTION slo.check_calendar_definition(text, int[]) IS
  'Raises check_violation naming the calendar when its run_weekdays are empty, hold NULL, or name no ISO weekday.';
COMMENT ON FUNCTION slo.check_slo_job_definition(text, text, interval, interval) IS
  'Raises check_violation naming the SLO, the job and the field when its offsets are invalid.';
COMMENT ON FUNCTION slo.expected_instant(text, interval, time, time, text, date, time, interval, text) IS
  'The expected instant of one offset for one SLO instance. Daily: the days move the business date '
  '(calendar or run days), the time part is local wall-clock. Intraday: elapsed time after the period start. '
  'A local time in a DST gap is the instant of the jump; one in the fall-back overlap is its first occurrence.';
COMMENT ON FUNCTION slo.intraday_period_starts(time, time, interval) IS
  'Every period start, in order: from window_start, stepping by period, while at or before window_end (the period '
  'need not divide the window).';
COMMENT ON FUNCTION slo.start_period(text, time, time, interval, date, timestamptz, time) IS
  'The period of an intraday event with a period of its own: its given period_start snapped to the period containing '
  'it, else the latest period start at or before its local status time; clamped to the window.';
COMMENT ON FUNCTION slo.match_period(text, time, time, interval, date, timestamptz) IS
  'The period of a start event: the latest period start at or before its local time, clamped to the window.';

-- ---- The horizon of the run-date table ---------------------------------------
CREATE FUNCTION slo.run_date_horizon() RETURNS daterange
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN daterange('2000-01-01', '2061-01-01');
COMMENT ON FUNCTION slo.run_date_horizon() IS
  'The dates slo.run_date covers (2000 to 2060). The calendar functions answer for any date.';

-- ---- Run dates, kept current -----------------------------------------------------
CREATE TABLE slo.run_date (
  calendar_id text NOT NULL CONSTRAINT run_date_calendar_id_fkey
    REFERENCES slo.calendar (calendar_id) ON DELETE CASCADE ON UPDATE CASCADE,
  run_date    date NOT NULL,
  PRIMARY KEY (calendar_id, run_date)
);
COMMENT ON TABLE slo.run_date IS
  'Every run date of every calendar within slo.run_date_horizon(), maintained by triggers on slo.calendar, '
  'slo.calendar_exception and slo.holiday. Derived: rebuild with slo.refresh_run_dates(); not dumped by pg_dump.';
COMMENT ON COLUMN slo.run_date.calendar_id IS 'The calendar.';
COMMENT ON COLUMN slo.run_date.run_date IS 'A run date of the calendar.';

-- The calendar's run dates from its definition rows, for any range.
CREATE FUNCTION slo.calendar_computed_run_dates(calendar_id text, from_date date, to_date date)
RETURNS SETOF date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT d
  FROM slo.calendar c
  CROSS JOIN LATERAL slo.calendar_run_dates(
    c.run_weekdays, c.runs_on_holidays,
    ARRAY(SELECT h.holiday_date FROM slo.holiday h
          WHERE h.holiday_set = c.holiday_set AND h.holiday_date BETWEEN $2 AND $3),
    ARRAY(SELECT x.exception_date FROM slo.calendar_exception x
          WHERE x.calendar_id = c.calendar_id AND x.exception_date BETWEEN $2 AND $3 ORDER BY x.exception_date),
    ARRAY(SELECT x.runs FROM slo.calendar_exception x
          WHERE x.calendar_id = c.calendar_id AND x.exception_date BETWEEN $2 AND $3 ORDER BY x.exception_date),
    $2, $3) AS d
  WHERE c.calendar_id = $1
$$;
COMMENT ON FUNCTION slo.calendar_computed_run_dates(text, date, date) IS
  'Run dates of a calendar computed from its definition rows; fills slo.run_date.';

-- Rebuilds slo.run_date for the given calendars (all when NULL); returns the rows written.
CREATE FUNCTION slo.refresh_run_dates(calendar_ids text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  written bigint;
BEGIN
  DELETE FROM slo.run_date r WHERE $1 IS NULL OR r.calendar_id = ANY ($1);
  INSERT INTO slo.run_date (calendar_id, run_date)
  SELECT c.calendar_id, d
  FROM slo.calendar c
  CROSS JOIN LATERAL slo.calendar_computed_run_dates(
    c.calendar_id, lower(slo.run_date_horizon()), upper(slo.run_date_horizon()) - 1) AS d
  WHERE $1 IS NULL OR c.calendar_id = ANY ($1);
  GET DIAGNOSTICS written = ROW_COUNT;
  RETURN written;
END
$$;
COMMENT ON FUNCTION slo.refresh_run_dates(text[]) IS
  'Rebuilds slo.run_date for the given calendars (all when NULL); the triggers call it, and so may a DBA after a restore.';

-- The generation of the definitions: changed (from a sequence, so a value is never reused,
-- even after a rollback) by every change of applications, jobs, SLOs and their jobs, calendars,
-- exceptions or holidays. The calendar functions and the engine keep their caches while the
-- generation they see is unchanged (definitions.rs).
CREATE SEQUENCE slo.definitions_generation_seq;
COMMENT ON SEQUENCE slo.definitions_generation_seq IS 'Source of slo.definitions_generation values (never reused).';
CREATE TABLE slo.definitions_generation (
  singleton  boolean PRIMARY KEY DEFAULT true CONSTRAINT definitions_generation_singleton_check CHECK (singleton),
  generation bigint NOT NULL
);
INSERT INTO slo.definitions_generation VALUES (true, nextval('slo.definitions_generation_seq'));
COMMENT ON TABLE slo.definitions_generation IS
  'One row: the generation of the definitions, changed by every change of slo.application, slo.job, slo.slo, '
  'slo.slo_job, slo.calendar, slo.calendar_exception or slo.holiday; caches of definitions are kept per generation.';
COMMENT ON COLUMN slo.definitions_generation.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN slo.definitions_generation.generation IS 'Changes (never repeats) whenever definitions change.';

CREATE FUNCTION slo.definitions_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE slo.definitions_generation SET generation = nextval('slo.definitions_generation_seq');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION slo.definitions_changed() IS
  'Statement trigger of the definition tables: moves slo.definitions_generation on, so no cache answers from old definitions.';
CREATE TRIGGER application_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON slo.application
  FOR EACH STATEMENT EXECUTE FUNCTION slo.definitions_changed();
CREATE TRIGGER job_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON slo.job
  FOR EACH STATEMENT EXECUTE FUNCTION slo.definitions_changed();
CREATE TRIGGER slo_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON slo.slo
  FOR EACH STATEMENT EXECUTE FUNCTION slo.definitions_changed();
CREATE TRIGGER slo_job_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON slo.slo_job
  FOR EACH STATEMENT EXECUTE FUNCTION slo.definitions_changed();
CREATE TRIGGER calendar_truncated AFTER TRUNCATE ON slo.calendar
  FOR EACH STATEMENT EXECUTE FUNCTION slo.definitions_changed();
CREATE TRIGGER calendar_exception_truncated AFTER TRUNCATE ON slo.calendar_exception
  FOR EACH STATEMENT EXECUTE FUNCTION slo.definitions_changed();
CREATE TRIGGER holiday_truncated AFTER TRUNCATE ON slo.holiday
  FOR EACH STATEMENT EXECUTE FUNCTION slo.definitions_changed();
COMMENT ON TRIGGER application_changed ON slo.application IS 'Moves the definitions generation on.';
COMMENT ON TRIGGER job_changed ON slo.job IS 'Moves the definitions generation on.';
COMMENT ON TRIGGER slo_changed ON slo.slo IS 'Moves the definitions generation on.';
COMMENT ON TRIGGER slo_job_changed ON slo.slo_job IS 'Moves the definitions generation on.';
COMMENT ON TRIGGER calendar_truncated ON slo.calendar IS 'Moves the definitions generation on.';
COMMENT ON TRIGGER calendar_exception_truncated ON slo.calendar_exception IS 'Moves the definitions generation on.';
COMMENT ON TRIGGER holiday_truncated ON slo.holiday IS 'Moves the definitions generation on.';

-- The version of each SLO's definition: a new value (from the generation's sequence, never
-- reused) whenever the SLO's row, its jobs or its calendar (exceptions, holidays) change. The
-- engine tags each daily state with it (and with a fingerprint of the definition), so a change
-- of one SLO invalidates the states of that SLO only, and a change undone (a job taken out of an
-- SLO and put back) still invalidates them: events stored meanwhile are then read again.
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

-- One trigger function for every definition change that can move run dates.
CREATE FUNCTION slo.calendar_definition_changed() RETURNS trigger
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

CREATE TRIGGER calendar_inserted AFTER INSERT ON slo.calendar
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
CREATE TRIGGER calendar_updated AFTER UPDATE ON slo.calendar
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
CREATE TRIGGER calendar_deleted AFTER DELETE ON slo.calendar
  FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
COMMENT ON TRIGGER calendar_deleted ON slo.calendar IS 'Moves the definitions generation on, so no cache answers for a deleted calendar.';
CREATE TRIGGER calendar_exception_inserted AFTER INSERT ON slo.calendar_exception
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
CREATE TRIGGER calendar_exception_updated AFTER UPDATE ON slo.calendar_exception
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
CREATE TRIGGER calendar_exception_deleted AFTER DELETE ON slo.calendar_exception
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
CREATE TRIGGER holiday_inserted AFTER INSERT ON slo.holiday
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
CREATE TRIGGER holiday_updated AFTER UPDATE ON slo.holiday
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
CREATE TRIGGER holiday_deleted AFTER DELETE ON slo.holiday
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION slo.calendar_definition_changed();
COMMENT ON TRIGGER calendar_inserted ON slo.calendar IS 'Computes the run dates of new calendars.';
COMMENT ON TRIGGER calendar_updated ON slo.calendar IS 'Recomputes the run dates of changed calendars.';
COMMENT ON TRIGGER calendar_exception_inserted ON slo.calendar_exception IS 'Recomputes the run dates of the calendars concerned.';
COMMENT ON TRIGGER calendar_exception_updated ON slo.calendar_exception IS 'Recomputes the run dates of the calendars concerned.';
COMMENT ON TRIGGER calendar_exception_deleted ON slo.calendar_exception IS 'Recomputes the run dates of the calendars concerned.';
COMMENT ON TRIGGER holiday_inserted ON slo.holiday IS 'Recomputes the run dates of the calendars using the holiday sets concerned.';
COMMENT ON TRIGGER holiday_updated ON slo.holiday IS 'Recomputes the run dates of the calendars using the holiday sets concerned.';
COMMENT ON TRIGGER holiday_deleted ON slo.holiday IS 'Recomputes the run dates of the calendars using the holiday sets concerned.';

-- ---- The calendar functions of CONTRACT section 5 (Rust, calendar_cache.rs) -----
COMMENT ON FUNCTION slo.is_run_date(text, date) IS
  'True when d is a run date of the calendar: an exception says it runs, or its ISO weekday is a run weekday '
  'and it is not a holiday of the calendar''s set (or the calendar runs on holidays). Unknown calendars raise.';
COMMENT ON FUNCTION slo.next_run_date(text, date, int) IS
  'The n-th run date after d (n = 0: d itself when it is a run date, else the next one). NULL when none lies within ten years.';
COMMENT ON FUNCTION slo.prev_run_date(text, date, int) IS
  'The n-th run date before d (n = 0: d itself when it is a run date, else the previous one). NULL when none lies within ten years.';
COMMENT ON FUNCTION slo.run_dates(text, date, date) IS 'The run dates of the calendar from from_date to to_date inclusive, in order.';

-- ---- Holidays ---------------------------------------------------------------------
CREATE FUNCTION slo.load_holidays(holiday_set text, rule text, from_year int, to_year int) RETURNS int
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
  added int;
BEGIN
  INSERT INTO slo.holiday (holiday_set, holiday_date, name)
  SELECT $1, h.holiday_date, h.name FROM slo.holiday_rule_dates($2, $3, $4) AS h
  ORDER BY h.holiday_date
  ON CONFLICT (holiday_set, holiday_date) DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT;
  RETURN added;
END
$$;
COMMENT ON FUNCTION slo.load_holidays(text, text, int, int) IS
  'Adds the holidays of a rule (see slo.holiday_rules(), for example us_federal_reserve) for from_year..to_year '
  'to a holiday set; returns the rows added. Holidays already there are kept as they are.';

CREATE VIEW slo.calendar_warning AS
SELECT c.calendar_id, c.holiday_set, y.year AS missing_year,
       (SELECT max(h.holiday_date) FROM slo.holiday h WHERE h.holiday_set = c.holiday_set) AS last_holiday,
       format('calendar %s: holiday set %s has no holidays loaded for %s; its run dates there ignore holidays. '
              'Load them, e.g. SELECT slo.load_holidays(%L, ''us_federal_reserve'', %s, %s)',
              c.calendar_id, c.holiday_set, y.year, c.holiday_set, y.year, y.year) AS warning
FROM slo.calendar c
CROSS JOIN LATERAL (VALUES (extract(year FROM current_date)::int),
                           (extract(year FROM current_date)::int + 1)) AS y(year)
WHERE c.holiday_set IS NOT NULL
  AND NOT c.runs_on_holidays
  AND NOT EXISTS (SELECT 1 FROM slo.holiday h
                  WHERE h.holiday_set = c.holiday_set
                    AND h.holiday_date >= make_date(y.year, 1, 1)
                    AND h.holiday_date < make_date(y.year + 1, 1, 1));
COMMENT ON VIEW slo.calendar_warning IS
  'Calendars whose holiday set has no holidays loaded for this year or the next: a calendar that silently runs '
  'out of holidays expects runs on bank holidays. Empty when all is well.';
COMMENT ON COLUMN slo.calendar_warning.calendar_id IS 'The calendar concerned.';
COMMENT ON COLUMN slo.calendar_warning.holiday_set IS 'Its holiday set.';
COMMENT ON COLUMN slo.calendar_warning.missing_year IS 'The year with no holidays loaded.';
COMMENT ON COLUMN slo.calendar_warning.last_holiday IS 'The last holiday loaded in the set, if any.';
COMMENT ON COLUMN slo.calendar_warning.warning IS 'What is wrong and how to fix it.';

-- ---- Definition checks: errors name the SLO and the field -----------------------------
CREATE FUNCTION slo.slo_check_definition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM slo.check_slo_definition(NEW.slo_id, NEW.time_zone, NEW.period, NEW.window_start, NEW.window_end);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION slo.slo_check_definition() IS 'Row trigger of slo.slo: refuses an invalid time zone, period or window.';
CREATE TRIGGER slo_check_definition BEFORE INSERT OR UPDATE ON slo.slo
  FOR EACH ROW EXECUTE FUNCTION slo.slo_check_definition();
COMMENT ON TRIGGER slo_check_definition ON slo.slo IS 'Checks the time zone, period and window of each SLO written.';

CREATE FUNCTION slo.calendar_check_definition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM slo.check_calendar_definition(NEW.calendar_id, NEW.run_weekdays);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION slo.calendar_check_definition() IS 'Row trigger of slo.calendar: refuses an empty or invalid weekday set.';
CREATE TRIGGER calendar_check_definition BEFORE INSERT OR UPDATE ON slo.calendar
  FOR EACH ROW EXECUTE FUNCTION slo.calendar_check_definition();
COMMENT ON TRIGGER calendar_check_definition ON slo.calendar IS 'Checks the weekdays of each calendar written.';

CREATE FUNCTION slo.slo_job_check_definition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM slo.check_slo_job_definition(NEW.slo_id, NEW.job_id, NEW.expected_start, NEW.expected_end);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION slo.slo_job_check_definition() IS 'Row trigger of slo.slo_job: refuses offsets with months, or an end before the start.';
CREATE TRIGGER slo_job_check_definition BEFORE INSERT OR UPDATE ON slo.slo_job
  FOR EACH ROW EXECUTE FUNCTION slo.slo_job_check_definition();
COMMENT ON TRIGGER slo_job_check_definition ON slo.slo_job IS 'Checks the offsets of each SLO-job row written.';

-- ---- Instances and expected times ---------------------------------------------------
CREATE FUNCTION slo.period_starts(slo_id text) RETURNS SETOF time
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT coalesce(p, time '00:00')
  FROM slo.slo s
  LEFT JOIN LATERAL slo.intraday_period_starts(s.window_start, s.window_end, s.period) AS p ON s.period IS NOT NULL
  WHERE s.slo_id = $1
  ORDER BY 1
$$;
COMMENT ON FUNCTION slo.period_starts(text) IS
  'The instance period starts of an SLO on each run date: 00:00 for a daily SLO, else every period start of its window.';

CREATE FUNCTION slo.job_expected_times(slo_id text, business_date date, period_start time DEFAULT NULL)
RETURNS TABLE (job_id text, expected_start timestamptz, expected_end timestamptz)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
  s slo.slo;
  p time := $3;
BEGIN
  SELECT * INTO s FROM slo.slo x WHERE x.slo_id = $1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown slo %', quote_literal($1) USING ERRCODE = 'no_data_found';
  END IF;
  IF s.period IS NULL THEN
    IF p IS NOT NULL AND p <> time '00:00' THEN
      RAISE EXCEPTION 'slo %: period_start must be NULL or 00:00 for a daily SLO', quote_literal($1)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    p := time '00:00';
  ELSIF p IS NULL OR NOT EXISTS (SELECT 1 FROM slo.intraday_period_starts(s.window_start, s.window_end, s.period) q
                                 WHERE q = p) THEN
    RAISE EXCEPTION 'slo %: period_start % is not a period start (% to %, every %)',
      quote_literal($1), coalesce(p::text, 'NULL'), s.window_start, s.window_end, s.period
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT slo.is_run_date(s.calendar_id, $2) THEN
    RETURN;  -- not a run date of the SLO's calendar: no instance
  END IF;
  RETURN QUERY
  SELECT j.job_id,
         slo.expected_instant(s.time_zone, s.period, s.window_start, s.window_end, s.calendar_id, $2, p,
                              j.expected_start, j.day_unit),
         slo.expected_instant(s.time_zone, s.period, s.window_start, s.window_end, s.calendar_id, $2, p,
                              j.expected_end, j.day_unit)
  FROM slo.slo_job j
  WHERE j.slo_id = s.slo_id
  ORDER BY j.job_id;
END
$$;
COMMENT ON FUNCTION slo.job_expected_times(text, date, time) IS
  'Expected start and end of each job of one SLO instance (business date, and period start for intraday SLOs). '
  'No rows when the date is not a run date of the SLO''s calendar.';

CREATE FUNCTION slo.expected_times(slo_id text, business_date date, period_start time DEFAULT NULL)
RETURNS TABLE (expected_start timestamptz, expected_end timestamptz)
LANGUAGE sql STABLE
AS $$
  SELECT min(j.expected_start), max(j.expected_end)
  FROM slo.job_expected_times($1, $2, $3) AS j
  HAVING count(*) > 0
$$;
COMMENT ON FUNCTION slo.expected_times(text, date, time) IS
  'Expected start (earliest of its jobs) and end (latest) of one SLO instance; no row when the date is not a run date.';

-- Writes each calendar warning to the server log (and the client), for the evaluator to call on
-- each run; returns how many there were.
CREATE FUNCTION slo.log_calendar_warnings() RETURNS int
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  w record;
  n int := 0;
BEGIN
  FOR w IN SELECT * FROM slo.calendar_warning ORDER BY calendar_id, missing_year LOOP
    RAISE WARNING '%', w.warning
      USING HINT = 'see slo.calendar_warning', DETAIL = format('last holiday loaded: %s', coalesce(w.last_holiday::text, 'none'));
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION slo.log_calendar_warnings() IS
  'Raises a WARNING (written to the server log) for each row of slo.calendar_warning; returns how many.';
