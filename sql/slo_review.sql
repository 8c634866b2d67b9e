-- The SLO review: SLOs that are routinely late or routinely early over their last 60 business
-- dates, with the expected end that 95% of those instances would have met and the change
-- ("tighten by 1 hour 55 minutes", "loosen by 25 minutes").
SELECT p.app_id,
       p.slo_id,
       p.slo_name,
       p.classification,
       p.reason,
       p.instances,
       round(p.met_ratio::numeric, 3) AS met_ratio,
       date_trunc('second', p.median_end_delay) AS median_end_delay,
       r.current_expected_end,
       r.suggested_expected_end,
       r.advice
FROM slo.slo_punctuality AS p
JOIN slo.slo_recommendation AS r USING (slo_id)
WHERE p.classification IN ('routinely_late', 'routinely_early')
ORDER BY p.classification DESC, p.met_ratio, p.slo_id;
