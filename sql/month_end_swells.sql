-- Month-end swells: jobs whose month-end runs take notably longer than a usual day (at least 1.25
-- times, seen on 2 month ends or more), largest first; plan month-end capacity from these.
SELECT e.app_id,
       e.job_id,
       e.dates AS month_end_dates,
       e.median_duration AS month_end_median,
       round(e.factor::numeric, 2) AS factor
FROM slo.job_duration_effect AS e
WHERE e.effect = 'month_end' AND e.notable AND e.factor > 1
ORDER BY e.factor DESC, e.job_id;
