-- The slowest-growing jobs: jobs whose durations trend upward over their last 60 business dates
-- (slo.job_duration_trend: month-end runs left out, weekday effects removed), fastest growth
-- first, with the date the trend would reach the time left before the job's expected end.
SELECT t.app_id,
       t.job_id,
       t.regular_median,
       round(t.slope_pct_per_day::numeric, 2) AS pct_per_day,
       date_trunc('second', t.slope_per_day) AS per_day,
       round(t.r2::numeric, 2) AS r2,
       date_trunc('second', t.growth) AS growth_over_window,
       t.deadline_slo_id,
       t.budget,
       date_trunc('second', t.headroom) AS headroom,
       t.crossing_date,
       t.month_end_factor
FROM slo.job_duration_trend AS t
WHERE t.slowing
ORDER BY t.slope_pct_per_day DESC, t.job_id
LIMIT 20;
