-- ============================================================================
-- calendars: run dates with Federal Reserve holidays, run-date arithmetic,
-- expected times of the brief's SLOs across DST changes and holiday weekends,
-- intraday periods, definition errors, and the holiday warning.
-- ============================================================================
SET timezone = 'UTC';
\set VERBOSITY terse
-- Fresh definitions (the earlier tests left some behind).
TRUNCATE slo.job_status;
DELETE FROM slo.slo_job; DELETE FROM slo.slo; DELETE FROM slo.calendar;
\i pg_slo/tests/pg_regress/foxfire.sql

-- ---- Holidays -------------------------------------------------------------------
SELECT rule FROM slo.holiday_rules();
-- The example loaded 2020 to 2035 into the set its calendars use; a set of its own here.
SELECT slo.load_holidays('fed_check', 'us_federal_reserve', 2020, 2030) AS added;
SELECT slo.load_holidays('fed_check', 'us_federal_reserve', 2020, 2030) AS added_again;
DELETE FROM slo.holiday WHERE holiday_set = 'fed_check';
SELECT holiday_date, to_char(holiday_date, 'Dy') AS dow, name
FROM slo.holiday WHERE holiday_set = 'us_federal_reserve' AND holiday_date BETWEEN '2027-01-01' AND '2027-12-31'
ORDER BY 1;
-- A Sunday holiday is listed on the Sunday and on the Monday it is observed.
SELECT holiday_date, to_char(holiday_date, 'Dy') AS dow, name
FROM slo.holiday WHERE holiday_set = 'us_federal_reserve' AND holiday_date BETWEEN '2022-12-24' AND '2023-01-02'
ORDER BY 1;
SELECT slo.load_holidays('x', 'uk_bank_holidays', 2020, 2021);
SELECT slo.load_holidays('x', 'us_federal_reserve', 2021, 2020);

-- ---- Run dates --------------------------------------------------------------------
SELECT d, to_char(d, 'Dy') AS dow,
       slo.is_run_date('standard', d) AS standard, slo.is_run_date('every_day', d) AS every_day
FROM unnest(ARRAY['2027-12-24', '2027-12-25', '2027-12-27', '2026-07-03', '2026-11-26',
                  '2023-01-02', '2022-12-26', '2026-11-28']::date[]) AS d;
-- Long weekends and year ends.
SELECT slo.next_run_date('standard', '2026-11-25') AS after_thanksgiving_eve,
       slo.next_run_date('standard', '2026-12-24') AS after_christmas_eve,
       slo.next_run_date('standard', '2026-12-31') AS after_new_years_eve,
       slo.prev_run_date('standard', '2027-01-04') AS before_first_monday,
       slo.next_run_date('standard', '2026-12-24', 3) AS third_after,
       slo.next_run_date('standard', '2026-11-26', 0) AS following,
       slo.prev_run_date('standard', '2026-11-26', 0) AS preceding;
SELECT count(*) AS run_dates_nov_2026, min(d), max(d) FROM slo.run_dates('standard', '2026-11-01', '2026-11-30') AS d;
-- The functions agree with the maintained slo.run_date table over five years, for every
-- calendar, and answer outside the table's horizon too.
SELECT count(*) AS disagreements
FROM slo.calendar c CROSS JOIN generate_series('2025-01-01'::date, '2029-12-31', '1 day') AS g(d)
WHERE slo.is_run_date(c.calendar_id, g.d::date)
   <> EXISTS (SELECT 1 FROM slo.run_date r WHERE r.calendar_id = c.calendar_id AND r.run_date = g.d::date);
SELECT slo.next_run_date('standard', '2060-12-31') AS across_horizon_end,
       slo.prev_run_date('standard', '2000-01-03') AS before_horizon,
       slo.is_run_date('standard', '1999-12-31') AS outside_horizon;
SELECT slo.is_run_date('no-such-calendar', '2026-11-24');
SELECT slo.next_run_date('standard', '2026-11-24', -1);

-- Exceptions beat weekdays and holidays, and the run-date table follows them.
INSERT INTO slo.calendar_exception VALUES ('standard', '2027-12-24', false), ('standard', '2027-12-25', true);
SELECT slo.is_run_date('standard', '2027-12-24') AS eve_excepted, slo.is_run_date('standard', '2027-12-25') AS saturday_made_run;
DELETE FROM slo.calendar_exception WHERE calendar_id = 'standard';
SELECT slo.is_run_date('standard', '2027-12-24') AS eve_again, slo.is_run_date('standard', '2027-12-25') AS saturday_again;
-- A holiday removed or added moves the run dates of every calendar using its set.
DELETE FROM slo.holiday WHERE holiday_set = 'us_federal_reserve' AND holiday_date = '2026-11-26';
SELECT slo.is_run_date('standard', '2026-11-26') AS thanksgiving_without_holiday,
       slo.is_run_date('back_office', '2026-11-26') AS back_office_too;
SELECT slo.load_holidays('us_federal_reserve', 'us_federal_reserve', 2026, 2026) AS restored;
SELECT slo.is_run_date('standard', '2026-11-26') AS thanksgiving_again;

-- ---- Expected times: the brief's examples ------------------------------------------
-- Overdraft data by 03:00 the next calendar day (New York), on an ordinary day, on the
-- night clocks fall back, and on the night they spring forward.
SELECT b AS business_date, e.*
FROM unnest(ARRAY['2026-11-23', '2026-10-31', '2027-03-13']::date[]) AS b,
     LATERAL slo.expected_times('od-data-for-dss', b) AS e;
-- Decision support loaded by 05:00 the next business day: over Thanksgiving, a weekend,
-- Christmas, and into the first week of daylight time.
SELECT b AS business_date, e.*
FROM unnest(ARRAY['2026-11-25', '2026-11-27', '2026-12-24', '2027-03-12']::date[]) AS b,
     LATERAL slo.job_expected_times('dss-load', b) AS e
ORDER BY b, e.job_id;
-- No instance on a date that is not a run date.
SELECT count(*) AS rows_on_thanksgiving FROM slo.expected_times('dss-load', '2026-11-26');
-- The transaction summary: 25 periods, due 10 minutes after each starts.
SELECT count(*) AS periods, min(p), max(p) FROM slo.period_starts('txn-summary-30m') AS p;
SELECT p AS period_start, e.*
FROM unnest(ARRAY['06:00', '06:30', '18:00']::time[]) AS p,
     LATERAL slo.expected_times('txn-summary-30m', '2026-11-24', p) AS e;
SELECT * FROM slo.expected_times('txn-summary-30m', '2026-11-24', '06:45');
SELECT * FROM slo.expected_times('txn-summary-30m', '2026-11-24');
SELECT * FROM slo.expected_times('no-such-slo', '2026-11-24');
-- Matching a start event to its period (local time, clamped to the window).
SELECT t AS status_time,
       slo.match_period('America/New_York', '06:00', '18:00', '30 minutes', '2026-11-24', t) AS period
FROM unnest(ARRAY['2026-11-24 11:29Z', '2026-11-24 11:30Z', '2026-11-24 10:45Z', '2026-11-24 23:20Z']::timestamptz[]) AS t;

-- ---- An intraday period need not divide its window (issue 17) -------------------------
-- 06:00 to 17:45 every 45 minutes: periods 06:00 .. 17:15; the next, 18:00, is past the end.
SELECT count(*) AS periods, min(p), max(p) FROM slo.intraday_period_starts('06:00', '17:45', '45 minutes') AS p;
INSERT INTO slo.job (job_id, app_id, name) VALUES ('txn-summary-45', 'deposits', 'Summary every 45 minutes');
INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end)
VALUES ('txn-summary-45m', 'Summary at :10 after each 45 minutes, 06:00 to 17:45', 'deposits', 'standard',
        'America/New_York', '45 minutes', '06:00', '17:45');
INSERT INTO slo.slo_job (slo_id, job_id, expected_start, expected_end)
VALUES ('txn-summary-45m', 'txn-summary-45', '00:00', '00:10');
SELECT count(*) AS periods, min(p), max(p) FROM slo.period_starts('txn-summary-45m') AS p;
SELECT * FROM slo.expected_times('txn-summary-45m', '2026-11-24', '17:15');
SELECT * FROM slo.expected_times('txn-summary-45m', '2026-11-24', '17:45');
-- Starts go to the latest period start at or before their local time (EST, UTC-5), clamped:
-- 05:50 to 06:00, 06:44 to 06:00, 17:14 to 16:30, 17:30 and 18:05 (after the last period
-- start) to 17:15; a success follows its run's start.
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id) VALUES
  ('deposits', 'txn-summary-45', 'start', '2026-11-24 10:50Z', '2026-11-24', 'early', 'h1'),
  ('deposits', 'txn-summary-45', 'start', '2026-11-24 11:44Z', '2026-11-24', 'first', 'h1'),
  ('deposits', 'txn-summary-45', 'succeed', '2026-11-24 11:52Z', '2026-11-24', 'first', 'h1'),
  ('deposits', 'txn-summary-45', 'start', '2026-11-24 22:14Z', '2026-11-24', 'near-end', 'h1'),
  ('deposits', 'txn-summary-45', 'start', '2026-11-24 22:30Z', '2026-11-24', 'after-last', 'h1'),
  ('deposits', 'txn-summary-45', 'succeed', '2026-11-24 22:38Z', '2026-11-24', 'after-last', 'h1'),
  ('deposits', 'txn-summary-45', 'start', '2026-11-24 23:05Z', '2026-11-24', 'after-window', 'h1');
SELECT period_start, expected_start, expected_end, actual_start, actual_end, state
FROM slo.slo_performance_report WHERE slo_id = 'txn-summary-45m' ORDER BY period_start;
SELECT t AS status_time,
       slo.match_period('America/New_York', '06:00', '17:45', '45 minutes', '2026-11-24', t) AS period
FROM unnest(ARRAY['2026-11-24 10:50Z', '2026-11-24 11:44Z', '2026-11-24 11:45Z', '2026-11-24 22:14Z',
                  '2026-11-24 22:15Z', '2026-11-24 22:45Z', '2026-11-25 04:00Z']::timestamptz[]) AS t;
TRUNCATE slo.job_status;
DELETE FROM slo.slo WHERE slo_id = 'txn-summary-45m';
DELETE FROM slo.job WHERE job_id = 'txn-summary-45';

-- ---- Definition errors name the SLO and the field ------------------------------------
UPDATE slo.slo SET time_zone = 'America/NewYork' WHERE slo_id = 'dss-load';
UPDATE slo.slo SET period = '1 day' WHERE slo_id = 'txn-summary-30m';
UPDATE slo.slo SET period = NULL WHERE slo_id = 'txn-summary-30m';
INSERT INTO slo.slo_job VALUES ('dss-load', 'od-activity-report', '1 day 05:00', '1 day 04:00', 'run');
INSERT INTO slo.slo_job VALUES ('dss-load', 'od-activity-report', '1 mon', '1 mon 04:00', 'run');
INSERT INTO slo.calendar VALUES ('weekends', 'No weekdays', '{}', NULL, false);
INSERT INTO slo.calendar VALUES ('eighth', 'Weekday 8', '{1,8}', NULL, false);
INSERT INTO slo.calendar VALUES ('nulls', 'A null weekday', '{1,NULL}', NULL, false);

-- ---- The holiday warning ----------------------------------------------------------------
INSERT INTO slo.calendar VALUES ('uk', 'London business days', '{1,2,3,4,5}', 'uk_bank_holidays', false);
SELECT calendar_id, holiday_set, missing_year - extract(year FROM current_date)::int AS years_ahead, last_holiday
FROM slo.calendar_warning ORDER BY 1, 3;
-- The same warnings go to the server log, one WARNING each (the evaluator calls this).
SET client_min_messages = error;
SELECT slo.log_calendar_warnings() AS warnings_logged;
RESET client_min_messages;
DELETE FROM slo.calendar WHERE calendar_id = 'uk';
SELECT slo.log_calendar_warnings() AS warnings_logged;
