-- Slow hosts: hosts whose runs take longer than the same jobs elsewhere (slo.host_effect), and,
-- for each, the jobs that are slowest there (slo.host_duration).
SELECT h.host_id,
       round(h.median_ratio::numeric, 2) AS host_median_ratio,
       h.compared_runs,
       round(h.failure_ratio::numeric, 3) AS failure_ratio,
       d.job_id,
       d.runs,
       d.median_duration,
       d.job_median,
       round(d.factor::numeric, 2) AS job_factor
FROM slo.host_effect AS h
JOIN slo.host_duration AS d ON d.host_id = h.host_id AND d.slow
WHERE h.slow
ORDER BY h.median_ratio DESC, d.factor DESC, d.job_id;
