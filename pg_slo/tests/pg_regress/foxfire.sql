-- ============================================================================
-- Foxfire Finance: the brief's SLOs as definitions. Idempotent: safe to load again.
-- Times are America/New_York wall-clock. The business calendars skip the
-- Federal Reserve's holidays, loaded here for 2020 to 2035.
-- ============================================================================
BEGIN;

INSERT INTO slo.application (app_id, name) VALUES
  ('overdrafts', 'Overdrafts'),
  ('decision_support', 'Decision support systems'),
  ('deposits', 'Checking and savings deposits')
ON CONFLICT (app_id) DO NOTHING;

INSERT INTO slo.job (job_id, app_id, name) VALUES
  ('od-calc', 'overdrafts', 'Calculate and charge overdrafts at end of day'),
  ('dss-load-od', 'decision_support', 'Load overdraft data into decision support'),
  ('od-activity-report', 'decision_support', 'Overdraft activity report'),
  ('txn-summary', 'deposits', 'Summarise checking and savings activity for dashboards')
ON CONFLICT (job_id) DO NOTHING;

INSERT INTO slo.calendar (calendar_id, name, run_weekdays, holiday_set, runs_on_holidays) VALUES
  ('standard', 'Business days: Monday to Friday, Federal Reserve holidays excluded', '{1,2,3,4,5}', 'us_federal_reserve', false),
  ('back_office', 'Back-office business days: Monday to Friday, Federal Reserve holidays excluded', '{1,2,3,4,5}', 'us_federal_reserve', false),
  ('every_day', 'Every calendar day, holidays included', '{1,2,3,4,5,6,7}', NULL, true)
ON CONFLICT (calendar_id) DO NOTHING;

INSERT INTO slo.slo (slo_id, name, app_id, calendar_id, time_zone, period, window_start, window_end, slack) VALUES
  ('od-data-for-dss', 'Overdraft data ready for decision support by 03:00', 'overdrafts', 'every_day',
   'America/New_York', NULL, NULL, NULL, '30 minutes'),
  ('dss-load', 'Decision support loaded by 05:00 each business day', 'decision_support', 'standard',
   'America/New_York', NULL, NULL, NULL, '30 minutes'),
  ('od-report', 'Overdraft activity report by 08:00 on back-office business days', 'decision_support', 'back_office',
   'America/New_York', NULL, NULL, NULL, '0'),
  ('txn-summary-30m', 'Transaction summary at :10 and :40, 06:00 to 18:00', 'deposits', 'standard',
   'America/New_York', '30 minutes', '06:00', '18:00', '5 minutes')
ON CONFLICT (slo_id) DO NOTHING;

-- The overdraft job for business date D runs after midnight: 00:30 to 03:00 on D + 1.
-- It runs every calendar day (Friday's runs on Saturday); the load and the report follow it
-- on business days and count run days, so Friday's are due Monday.
INSERT INTO slo.slo_job (slo_id, job_id, expected_start, expected_end, day_unit) VALUES
  ('od-data-for-dss', 'od-calc', '1 day 00:30', '1 day 03:00', 'calendar'),
  ('dss-load', 'od-calc', '1 day 00:30', '1 day 03:00', 'calendar'),
  ('dss-load', 'dss-load-od', '1 day 03:00', '1 day 05:00', 'run'),
  ('od-report', 'dss-load-od', '1 day 03:00', '1 day 05:00', 'run'),
  ('od-report', 'od-activity-report', '1 day 05:00', '1 day 08:00', 'run'),
  ('txn-summary-30m', 'txn-summary', '00:00', '00:10', 'calendar')
ON CONFLICT (slo_id, job_id) DO NOTHING;

-- The Federal Reserve's holidays (already loaded ones are kept).
SELECT slo.load_holidays('us_federal_reserve', 'us_federal_reserve', 2020, 2035) AS holidays_added;

COMMIT;
