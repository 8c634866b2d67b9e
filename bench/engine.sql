-- Fixture for bench/engine.sh: 2,000 SLOs (1,500 daily, 500 intraday 06:00-18:00 every 30
-- minutes) over 4,000 jobs, on a business-day and an every-day calendar.
SET client_min_messages = warning;
CREATE EXTENSION pg_slo;
INSERT INTO slo.application VALUES ('bench', 'Benchmark');
SELECT slo.load_holidays('us_federal_reserve', 'us_federal_reserve', 2024, 2027);
INSERT INTO slo.calendar VALUES
  ('standard', 'Business days', '{1,2,3,4,5}', 'us_federal_reserve', false),
  ('every_day', 'Every day', '{1,2,3,4,5,6,7}', NULL, true);
INSERT INTO slo.job SELECT 'job-' || i, 'bench', 'Job ' || i FROM generate_series(0, 3999) AS i;
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end)
SELECT 'slo-' || i, 'SLO ' || i, 'bench', CASE WHEN i % 2 = 0 THEN 'standard' ELSE 'every_day' END, 'America/New_York',
       CASE WHEN i >= 1500 THEN interval '30 minutes' END,
       CASE WHEN i >= 1500 THEN time '06:00' END, CASE WHEN i >= 1500 THEN time '18:00' END
FROM generate_series(0, 1999) AS i;
-- SLOs 0..499: a chain of three jobs each (jobs 0..1499), the COPY benchmark's.
INSERT INTO slo.slo_job
SELECT 'slo-' || i, 'job-' || (3 * i + k), make_interval(days => 1, mins => 30 + 60 * k),
       make_interval(days => 1, mins => 90 + 60 * k), 'calendar'
FROM generate_series(0, 499) AS i, generate_series(0, 2) AS k;
-- SLOs 500..1499: one job due the next business day.
INSERT INTO slo.slo_job SELECT 'slo-' || i, 'job-' || (1500 + i), '1 day 01:00', '1 day 03:00', 'run'
FROM generate_series(500, 1499) AS i;
-- SLOs 1500..1999: intraday, due 10 minutes after each period starts.
INSERT INTO slo.slo_job SELECT 'slo-' || i, 'job-' || (2000 + i), '00:00', '00:10', 'calendar'
FROM generate_series(1500, 1999) AS i;
-- The trigger-less copy: same columns, checks, defaults, identity and unique key; no triggers
-- and no foreign keys (which PostgreSQL implements as triggers).
CREATE TABLE bench_plain (LIKE slo.job_status INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING IDENTITY);
-- A year of events for SLOs 0..499: every job starts and succeeds every day (1,095,000 rows).
COPY (
  SELECT 'bench', 'job-' || j, s.status,
         ((d + interval '1 day' + make_interval(mins => 30 + 60 * (j % 3) + s.offset_min))::timestamp AT TIME ZONE 'America/New_York'),
         d::date, 'r1', 'host-' || (j % 7)
  FROM generate_series(0, 1499) AS j,
       generate_series('2025-01-01'::date, '2025-12-31', '1 day') AS d,
       (VALUES ('start', 0), ('succeed', 50)) AS s(status, offset_min)
) TO '/tmp/pg_slo_bench_events.csv' WITH (FORMAT csv);
ANALYZE;
