-- Fixture for bench/calendar.sh: 1,000 SLOs on 10 calendars, Federal Reserve holidays,
-- two jobs per SLO (a quarter on run days). Loaded into a fresh database.
SET client_min_messages = warning;
CREATE EXTENSION pg_slo;
INSERT INTO slo.application VALUES ('bench', 'Benchmark');
SELECT slo.load_holidays('us_federal_reserve', 'us_federal_reserve', 2020, 2035);
INSERT INTO slo.calendar (calendar_id, name, run_weekdays, holiday_set, runs_on_holidays)
SELECT 'cal-' || i, 'Calendar ' || i,
       CASE i % 3 WHEN 0 THEN '{1,2,3,4,5}'::int[] WHEN 1 THEN '{1,2,3,4,5,6}' ELSE '{1,2,3,4,5,6,7}' END,
       'us_federal_reserve', i % 5 = 4
FROM generate_series(0, 9) AS i;
INSERT INTO slo.job (job_id, app_id, name)
SELECT 'job-' || i, 'bench', 'Job ' || i FROM generate_series(0, 1999) AS i;
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone)
SELECT 'slo-' || i, 'SLO ' || i, 'bench', 'cal-' || (i % 10),
       (ARRAY['America/New_York', 'Europe/London', 'Asia/Tokyo'])[1 + i % 3]
FROM generate_series(0, 999) AS i;
INSERT INTO slo.slo_job (slo_id, job_id, expected_start, expected_end, day_unit)
SELECT 'slo-' || i, 'job-' || (2 * i), interval '1 day 00:30', interval '1 day 03:00', 'calendar' FROM generate_series(0, 999) AS i
UNION ALL
SELECT 'slo-' || i, 'job-' || (2 * i + 1), '1 day 03:00', '1 day 05:00', CASE WHEN i % 4 = 0 THEN 'run' ELSE 'calendar' END
FROM generate_series(0, 999) AS i;
CREATE TABLE bench_dates AS SELECT d::date AS d FROM generate_series('2027-01-01'::date, '2027-12-31', '1 day') AS d;
ANALYZE;
