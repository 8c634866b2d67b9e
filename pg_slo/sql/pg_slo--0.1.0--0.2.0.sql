-- pg_slo 0.1.0 -> 0.2.0. Run by ALTER EXTENSION pg_slo UPDATE; keeps every row.
--
-- slo.raise_due_alerts also raises the recovered that an evaluation racing the engine's
-- completion of an instance left out (an at_risk committed after the completion).
--
-- slo.raise_due_alerts skips the kinds already raised before building their detail (a call of
-- slo.evaluate with nothing new cost seconds with 2,000 SLOs, re-raising every open alert).
CREATE OR REPLACE FUNCTION slo.raise_due_alerts(as_of timestamptz) RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  ids text[]; dates date[]; periods time[]; kinds text[]; details jsonb[];
  from_date date;
BEGIN
  -- Instances start at most a few weeks after their business date (see slo.evaluate).
  from_date := slo.alert_window_start($1)::date - 45;
  WITH open AS (
    SELECT p, s
    FROM slo.slo_performance p
    JOIN slo.slo s ON s.slo_id = p.slo_id
    WHERE p.business_date >= from_date
      AND p.actual_end IS NULL
      AND p.expected_end >= slo.alert_window_start($1)
      AND p.expected_start <= $1
      AND s.active
  ), timed AS (
    -- Only kinds not raised yet: the worker calls this every 30 seconds, and an instance that is
    -- late stays open for hours.
    SELECT o.p, o.s, k.kind, slo.alert_detail(o.p, o.s, $1) AS detail
    FROM open o CROSS JOIN LATERAL unnest(slo.instance_alert_kinds(o.p, (o.s).slack, $1)) AS k(kind)
    WHERE NOT EXISTS (SELECT 1 FROM slo.alert a
                      WHERE a.slo_id = (o.p).slo_id AND a.business_date = (o.p).business_date
                        AND a.period_start = (o.p).period_start AND a.kind = k.kind)
  ), jobs AS (
    -- For at_risk: each incomplete job of each instance not yet late and not yet at risk, with
    -- its typical duration.
    SELECT o.p, o.s, j.job_id, j.started_at, t.median_duration, t.successful_runs
    FROM open o
    CROSS JOIN LATERAL slo.instance_jobs((o.p).slo_id, (o.p).business_date, (o.p).period_start) AS j
    CROSS JOIN LATERAL slo.job_typical_duration(j.job_id, (o.p).business_date) AS t
    WHERE $1 <= (o.p).expected_end AND j.ended_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM slo.alert a
                      WHERE a.slo_id = (o.p).slo_id AND a.business_date = (o.p).business_date
                        AND a.period_start = (o.p).period_start AND a.kind = 'at_risk')
  ), predicted AS (
    SELECT j.p, j.s,
           -- Incomplete jobs run one after another (as chains do): their remaining typical durations add up.
           $1 + sum(greatest(j.median_duration - coalesce($1 - j.started_at, interval '0'), interval '0')) AS predicted_end,
           bool_and(j.successful_runs >= 3) AS known,
           jsonb_agg(jsonb_build_object(
             'job_id', j.job_id, 'started_at', j.started_at,
             'median_duration_seconds', extract(epoch FROM j.median_duration),
             'successful_runs', j.successful_runs,
             'remaining_seconds',
             extract(epoch FROM greatest(j.median_duration - coalesce($1 - j.started_at, interval '0'), interval '0')))
             ORDER BY j.job_id) AS inputs
    FROM jobs j
    GROUP BY j.p, j.s
  ), at_risk AS (
    SELECT pr.p, pr.s, 'at_risk'::text AS kind,
           slo.alert_detail(pr.p, pr.s, $1) || jsonb_build_object(
             'as_of', $1, 'predicted_end', pr.predicted_end,
             'predicted_delay_seconds', extract(epoch FROM pr.predicted_end - (pr.p).expected_end),
             'jobs', pr.inputs) AS detail
    FROM predicted pr
    WHERE pr.known AND pr.predicted_end > (pr.p).expected_end
  ), recovered AS (
    -- Complete instances with an at_risk alert and no recovered: the engine raises recovered
    -- when it completes an instance that had one (or completes late), but an at_risk committed
    -- by an evaluation that read the instance before it completed comes after that; raised here,
    -- the recovered comes on the next call.
    SELECT p, s, 'recovered'::text AS kind, slo.alert_detail(p, s, $1) AS detail
    FROM slo.slo_performance p
    JOIN slo.slo s ON s.slo_id = p.slo_id
    WHERE (p.slo_id, p.business_date, p.period_start) IN (
            SELECT a.slo_id, a.business_date, a.period_start FROM slo.alert a
            WHERE a.kind = 'at_risk' AND a.raised_at >= from_date)
      AND p.actual_end IS NOT NULL
      AND p.expected_end >= slo.alert_window_start($1)
      AND s.active
      AND NOT EXISTS (SELECT 1 FROM slo.alert r
                      WHERE r.slo_id = p.slo_id AND r.business_date = p.business_date
                        AND r.period_start = p.period_start AND r.kind = 'recovered')
  ), raised AS (
    SELECT * FROM timed UNION ALL SELECT * FROM at_risk UNION ALL SELECT * FROM recovered
  )
  SELECT array_agg((r.p).slo_id), array_agg((r.p).business_date), array_agg((r.p).period_start),
         array_agg(r.kind), array_agg(r.detail)
  INTO ids, dates, periods, kinds, details
  FROM raised r;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN slo.raise_alerts(ids, dates, periods, kinds, details, $1);
END
$$;
COMMENT ON FUNCTION slo.raise_due_alerts(timestamptz) IS
  'Raises, as of as_of, the alerts of incomplete instances inside the alert window: late_start, late, slack_breached, '
  'and at_risk when not yet late but the predicted end (as_of plus the remaining typical duration of each incomplete '
  'job, one after another; needs 3 successful runs of each) is after the expected end; and recovered for a complete '
  'instance with an at_risk alert that has none yet. Called by slo.evaluate.';
