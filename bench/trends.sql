-- Fixture for bench/trends.sh: two years of history (business dates 2024-07-01 to 2026-06-30)
-- for 2,000 jobs, one SLO each, in America/New_York:
--   * jobs 0..1849 daily: even ones on the business-day calendar (Monday to Friday without the
--     Federal Reserve's holidays), odd ones every day; durations of 10 to 108 minutes with
--     +-15% noise; one job in ten doubles its duration over the two years, one in five swells
--     2.5 times at month end; one in fifty fails now and then and is restarted under a new run id;
--   * jobs 1850..1999 intraday: business days, 06:00 to 18:00 every 30 minutes (25 periods),
--     2 to 11 minutes a run; half of them send period_start, half do not;
--   * 20 hosts; host-7 is 30% slower than the others.
-- About 3,000,000 runs and 6,100,000 events, inserted month by month through the engine
-- trigger (which computes slo.slo_performance as it goes).
SET client_min_messages = warning;
-- The engine trigger's PL/pgSQL statements switch to generic plans after five executions in one
-- session, and with this data a generic plan of its recompute is far slower (a month of events:
-- 8 minutes instead of 10 seconds); custom plans keep every month's insert the same.
SET plan_cache_mode = force_custom_plan;
CREATE EXTENSION pg_slo;
INSERT INTO slo.application VALUES ('bench', 'Benchmark');
SELECT slo.load_holidays('us_federal_reserve', 'us_federal_reserve', 2024, 2027);
INSERT INTO slo.calendar VALUES
  ('standard', 'Business days', '{1,2,3,4,5}', 'us_federal_reserve', false),
  ('every_day', 'Every day', '{1,2,3,4,5,6,7}', NULL, true);
INSERT INTO slo.job SELECT 'job-' || i, 'bench', 'Job ' || i FROM generate_series(0, 1999) AS i;
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end)
SELECT 'slo-' || i, 'SLO ' || i, 'bench', CASE WHEN i >= 1850 OR i % 2 = 0 THEN 'standard' ELSE 'every_day' END,
       'America/New_York',
       CASE WHEN i >= 1850 THEN interval '30 minutes' END,
       CASE WHEN i >= 1850 THEN time '06:00' END, CASE WHEN i >= 1850 THEN time '18:00' END
FROM generate_series(0, 1999) AS i;

-- Each daily job's start (after midnight following its business date) and base duration.
CREATE TABLE bench_job AS
SELECT i AS j, 'job-' || i AS job_id,
       make_interval(days => 1, mins => 30 + 60 * (i % 4)) AS start_offset,
       600 + 120 * (i % 50) AS base_secs
FROM generate_series(0, 1849) AS i;
INSERT INTO slo.slo_job
SELECT 'slo-' || b.j, b.job_id, b.start_offset,
       b.start_offset + make_interval(secs => 2 * b.base_secs + 1800), 'calendar'
FROM bench_job b;
INSERT INTO slo.slo_job SELECT 'slo-' || i, 'job-' || i, '00:00', '00:20', 'calendar'
FROM generate_series(1850, 1999) AS i;

-- Deterministic noise in [-1, 1).
CREATE FUNCTION bench_noise(k text) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (abs(hashtext(k)) % 2000) / 1000.0 - 1;

-- The last business day of each month.
CREATE TABLE bench_month_end AS
SELECT slo.last_business_day(m::date, 'us_federal_reserve') AS last_day
FROM generate_series('2024-07-01'::date, '2026-06-01', '1 month') AS m;

-- Every run of the two years (3.0 million rows), then the events of each month.
CREATE TABLE bench_run AS
SELECT b.job_id, d::date AS business_date, 'r1' AS run_id,
       'host-' || ((b.j + (d::date - '2024-07-01'::date)) % 20) AS host_id, NULL::time AS period_start,
       ((d::date + b.start_offset)::timestamp AT TIME ZONE 'America/New_York')
         + make_interval(secs => 300 * bench_noise('s' || b.j || d)) AS started_at,
       b.base_secs
         * (1 + 0.15 * bench_noise('d' || b.j || d))
         * CASE WHEN b.j % 10 = 0 THEN 1 + (d::date - '2024-07-01'::date) / 730.0 ELSE 1 END
         * CASE WHEN b.j % 5 = 1 AND d::date >= (SELECT m.last_day FROM bench_month_end m
                                                   WHERE date_trunc('month', m.last_day) = date_trunc('month', d))
                THEN 2.5 ELSE 1 END
         * CASE WHEN (b.j + (d::date - '2024-07-01'::date)) % 20 = 7 THEN 1.3 ELSE 1 END AS secs,
       b.j % 50 = 3 AND abs(hashtext('f' || b.j || d)) % 20 = 0 AS fails
FROM bench_job b
CROSS JOIN generate_series('2024-07-01'::date, '2026-06-30', '1 day') AS d
WHERE slo.is_run_date(CASE WHEN b.j % 2 = 0 THEN 'standard' ELSE 'every_day' END, d::date)
UNION ALL
SELECT 'job-' || i, r.run_date, 'r' || to_char(r.run_date + p, 'HH24MI'),
       'host-' || ((i + extract(hour FROM p)::int) % 20),
       CASE WHEN i % 2 = 0 THEN p END,
       ((r.run_date + p)::timestamp AT TIME ZONE 'America/New_York') + interval '1 minute',
       (120 + 30 * (i % 10)) * (1 + 0.15 * bench_noise('i' || i || r.run_date || p))
         * CASE WHEN (i + extract(hour FROM p)::int) % 20 = 7 THEN 1.3 ELSE 1 END,
       false
FROM generate_series(1850, 1999) AS i
JOIN slo.run_date r ON r.calendar_id = 'standard' AND r.run_date BETWEEN '2024-07-01' AND '2026-06-30'
CROSS JOIN LATERAL (SELECT time '06:00' + k * interval '30 minutes' AS p FROM generate_series(0, 24) AS k) AS pp;

CREATE TABLE bench_event AS
SELECT r.job_id, 'start' AS status, r.started_at AS status_time, r.business_date, r.run_id, r.host_id, r.period_start
FROM bench_run r
UNION ALL
SELECT r.job_id, CASE WHEN r.fails THEN 'fail' ELSE 'succeed' END,
       r.started_at + make_interval(secs => CASE WHEN r.fails THEN r.secs / 2 ELSE r.secs END),
       r.business_date, r.run_id, r.host_id, r.period_start
FROM bench_run r
UNION ALL
-- A failed run is restarted 5 minutes after its failure, under run id r2, and succeeds.
SELECT r.job_id, s.status,
       r.started_at + make_interval(secs => r.secs / 2 + 300 + CASE WHEN s.status = 'succeed' THEN r.secs ELSE 0 END),
       r.business_date, 'r2', r.host_id, r.period_start
FROM bench_run r CROSS JOIN (VALUES ('start'), ('succeed')) AS s(status)
WHERE r.fails;

SELECT format('INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id, period_start) '
              'SELECT ''bench'', job_id, status, status_time, business_date, run_id, host_id, period_start '
              'FROM bench_event WHERE business_date >= %L AND business_date < %L',
              m::date, (m + interval '1 month')::date)
FROM generate_series('2024-07-01'::date, '2026-06-01', '1 month') AS m
\gexec
DROP TABLE bench_run, bench_event, bench_month_end, bench_job;
VACUUM ANALYZE;
