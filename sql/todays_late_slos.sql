-- Today's late SLOs: every instance that is late right now (past its expected end and not
-- complete, from any business date of the last week), and every one that completed late today.
-- Worst first. Times are in the session's time zone (SET timezone = 'America/New_York').
SELECT r.app_id,
       r.slo_id,
       r.slo_name,
       r.business_date,
       r.period_start,
       r.state,
       r.expected_end,
       r.actual_end,
       date_trunc('second', r.end_delay) AS end_delay,
       r.slack_breached,
       r.failed_runs
FROM slo.slo_performance_report AS r
WHERE r.business_date >= current_date - 7
  AND (r.state = 'late'
       OR (r.state = 'missed' AND r.expected_end >= current_date AND r.expected_end < current_date + 1))
ORDER BY r.end_delay DESC, r.slo_id, r.business_date, r.period_start;
