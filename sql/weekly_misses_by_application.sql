-- The week's misses by application: instances of the last 7 business dates (today excluded) that
-- were due, how many were met, missed (completed late) or are still late, and the met ratio.
-- Instances not yet due are left out.
SELECT a.app_id,
       a.name AS application,
       count(*) AS instances,
       count(*) FILTER (WHERE r.state = 'met') AS met,
       count(*) FILTER (WHERE r.state = 'missed') AS missed,
       count(*) FILTER (WHERE r.state = 'late') AS late,
       round(count(*) FILTER (WHERE r.state = 'met')::numeric / count(*), 3) AS met_ratio,
       date_trunc('second', max(r.end_delay) FILTER (WHERE r.state IN ('missed', 'late'))) AS worst_delay
FROM slo.slo_performance_report AS r
JOIN slo.application AS a ON a.app_id = r.app_id
WHERE r.business_date >= current_date - 7 AND r.business_date < current_date
  AND r.state IN ('met', 'missed', 'late')
GROUP BY a.app_id, a.name
ORDER BY count(*) FILTER (WHERE r.state IN ('missed', 'late')) DESC, a.app_id;
