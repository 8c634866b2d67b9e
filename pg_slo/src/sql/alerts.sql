-- ============================================================================
-- pg_slo alerts (CONTRACT section 6).
--
-- An alert is raised in the database, at most once per SLO instance and kind
-- (the unique key alert_once), by whichever path sees it first:
--   * slo.evaluate (the background worker, every 30 s), for what time alone
--     brings: late_start, late, slack_breached, at_risk;
--   * the engine's trigger on slo.job_status, for what events show whatever the
--     time: a first start after the expected start (late_start), a completion
--     after the expected end (late) or after the end plus slack
--     (slack_breached), and the completion of an instance that had a late or
--     at_risk alert, or gets late now (recovered: a pager can resolve every
--     incident it opened).
-- Only recent instances raise alerts (expected end within the setting
-- pg_slo.evaluate_lookback, default 3 days): a backfill of history pages nobody.
--
-- Each new alert is sent with pg_notify('slo_alert', <the alert as JSON>) in
-- the transaction that raises it. `pg-slo notify` delivers alerts out of the
-- database: one structured log line each, and a POST to each configured
-- webhook, with a delivery record per (alert, target) so that a restart neither
-- loses nor repeats a delivery and several notifiers deliver each alert once.
-- An SLO can be muted for a range of business dates (maintenance): its alerts
-- are still recorded, marked muted, and not delivered.
-- ============================================================================

CREATE TABLE slo.alert (
  alert_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slo_id        text NOT NULL CONSTRAINT alert_slo_id_fkey
                  REFERENCES slo.slo (slo_id) ON DELETE CASCADE ON UPDATE CASCADE,
  business_date date NOT NULL,
  period_start  time NOT NULL DEFAULT time '00:00',
  kind          text NOT NULL CONSTRAINT alert_kind_check
                  CHECK (kind IN ('late_start', 'late', 'slack_breached', 'at_risk', 'recovered')),
  raised_at     timestamptz NOT NULL,
  detail        jsonb NOT NULL DEFAULT '{}',
  muted         boolean NOT NULL DEFAULT false,
  CONSTRAINT alert_once UNIQUE (slo_id, business_date, period_start, kind)
);
COMMENT ON TABLE slo.alert IS
  'Alerts, durable: at most one per SLO instance and kind, raised by slo.evaluate or by the engine, whichever sees it '
  'first; each new one is sent with pg_notify(''slo_alert'', json) and delivered by `pg-slo notify`.';
COMMENT ON COLUMN slo.alert.alert_id IS 'Alert id, increasing in the order alerts are raised.';
COMMENT ON COLUMN slo.alert.slo_id IS 'The SLO.';
COMMENT ON COLUMN slo.alert.business_date IS 'The business date of the instance.';
COMMENT ON COLUMN slo.alert.period_start IS 'The period start of an intraday instance; 00:00 for a daily one.';
COMMENT ON COLUMN slo.alert.kind IS
  'late_start (past the expected start, no job started), late (past the expected end, not complete), '
  'slack_breached (past the expected end plus the SLO''s slack, not complete, or completed after it), '
  'at_risk (not yet late, but the predicted end is after the expected end), recovered (an instance that had a late '
  'or at_risk alert completed; raised with late when it completes late, so every incident can be resolved).';
COMMENT ON COLUMN slo.alert.raised_at IS
  'When it was raised: the as_of of slo.evaluate, or the time of the statement that stored the event.';
COMMENT ON COLUMN slo.alert.detail IS
  'What an operator needs: the SLO''s name and application, expected and actual times, delays; for at_risk the '
  'prediction and its inputs.';
COMMENT ON COLUMN slo.alert.muted IS 'True when the SLO was muted for the business date: recorded, not delivered.';

CREATE INDEX alert_raised_at_idx ON slo.alert (raised_at);
COMMENT ON INDEX slo.alert_raised_at_idx IS 'Finds recent alerts (the notifier''s backlog, dashboards).';

CREATE TABLE slo.alert_mute (
  mute_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slo_id     text NOT NULL CONSTRAINT alert_mute_slo_id_fkey
               REFERENCES slo.slo (slo_id) ON DELETE CASCADE ON UPDATE CASCADE,
  from_date  date NOT NULL,
  to_date    date NOT NULL,
  reason     text NOT NULL CONSTRAINT alert_mute_reason_check CHECK (btrim(reason) <> ''),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT alert_mute_dates_check CHECK (to_date >= from_date)
);
COMMENT ON TABLE slo.alert_mute IS
  'Maintenance windows: alerts of the SLO for business dates from_date..to_date are recorded (muted) but not delivered.';
COMMENT ON COLUMN slo.alert_mute.mute_id IS 'Mute id.';
COMMENT ON COLUMN slo.alert_mute.slo_id IS 'The SLO muted.';
COMMENT ON COLUMN slo.alert_mute.from_date IS 'First business date muted.';
COMMENT ON COLUMN slo.alert_mute.to_date IS 'Last business date muted (inclusive).';
COMMENT ON COLUMN slo.alert_mute.reason IS 'Why (a change ticket, a maintenance); required.';
COMMENT ON COLUMN slo.alert_mute.created_at IS 'When the mute was recorded.';
CREATE INDEX alert_mute_slo_id_idx ON slo.alert_mute (slo_id, from_date);
COMMENT ON INDEX slo.alert_mute_slo_id_idx IS 'Finds the mutes of an SLO when an alert is raised.';

CREATE TABLE slo.alert_delivery (
  alert_id        bigint NOT NULL CONSTRAINT alert_delivery_alert_id_fkey
                    REFERENCES slo.alert (alert_id) ON DELETE CASCADE,
  target          text NOT NULL,
  state           text NOT NULL DEFAULT 'pending'
                    CONSTRAINT alert_delivery_state_check CHECK (state IN ('pending', 'delivered', 'failed', 'expired')),
  attempts        int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz NULL,
  last_error      text NULL,
  PRIMARY KEY (alert_id, target)
);
COMMENT ON TABLE slo.alert_delivery IS
  'Delivery of each alert to each target of `pg-slo notify` (the log, each webhook): written by the notifiers, which '
  'claim pending rows with FOR UPDATE SKIP LOCKED, so several notifiers deliver each alert once.';
COMMENT ON COLUMN slo.alert_delivery.alert_id IS 'The alert.';
COMMENT ON COLUMN slo.alert_delivery.target IS 'Where it goes: log, or a webhook URL.';
COMMENT ON COLUMN slo.alert_delivery.state IS
  'pending (to do or to retry), delivered, failed (gave up after the notifier''s maximum attempts), expired (older than '
  'the notifier''s maximum age when first seen).';
COMMENT ON COLUMN slo.alert_delivery.attempts IS 'Attempts so far.';
COMMENT ON COLUMN slo.alert_delivery.next_attempt_at IS 'Not retried before this time (backoff).';
COMMENT ON COLUMN slo.alert_delivery.delivered_at IS 'When the target accepted it.';
COMMENT ON COLUMN slo.alert_delivery.last_error IS 'Why the last attempt failed.';
CREATE INDEX alert_delivery_pending_idx ON slo.alert_delivery (target, next_attempt_at) WHERE state = 'pending';
COMMENT ON INDEX slo.alert_delivery_pending_idx IS 'Finds the deliveries due.';

SELECT pg_catalog.pg_extension_config_dump('slo.alert', '');
SELECT pg_catalog.pg_extension_config_dump('slo.alert_mute', '');
SELECT pg_catalog.pg_extension_config_dump('slo.alert_delivery', '');

-- ---- Raising -----------------------------------------------------------------------------
-- Inserts the alerts given (one per array position), skipping those already raised, marks the
-- muted ones, and sends each new one with pg_notify. Returns how many were new.
CREATE FUNCTION slo.raise_alerts(slo_ids text[], business_dates date[], period_starts time[], kinds text[],
                                 details jsonb[], raised_at timestamptz)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  added int;
BEGIN
  WITH new AS (
    INSERT INTO slo.alert AS a (slo_id, business_date, period_start, kind, raised_at, detail, muted)
    SELECT u.slo_id, u.business_date, u.period_start, u.kind, $6,
           coalesce(u.detail, '{}'),
           EXISTS (SELECT 1 FROM slo.alert_mute m
                   WHERE m.slo_id = u.slo_id AND u.business_date BETWEEN m.from_date AND m.to_date)
    FROM unnest($1, $2, $3, $4, $5) AS u(slo_id, business_date, period_start, kind, detail)
    ORDER BY 1, 2, 3, 4
    ON CONFLICT ON CONSTRAINT alert_once DO NOTHING
    RETURNING a.*
  )
  SELECT count(pg_notify('slo_alert', json_build_object(
           'alert_id', n.alert_id, 'slo_id', n.slo_id, 'business_date', n.business_date,
           'period_start', to_char(n.period_start, 'HH24:MI:SS'), 'kind', n.kind, 'raised_at', n.raised_at,
           'muted', n.muted, 'detail', n.detail)::text))::int
  INTO added
  FROM new n;
  RETURN added;
END
$$;
COMMENT ON FUNCTION slo.raise_alerts(text[], date[], time[], text[], jsonb[], timestamptz) IS
  'Raises the alerts given (once per instance and kind: those already raised are skipped), muted when a mute covers '
  'the business date, and sends each new one with pg_notify(''slo_alert'', json). Returns how many were new.';

-- What an operator needs to know about an instance, for an alert's detail.
CREATE FUNCTION slo.alert_detail(p slo.slo_performance, s slo.slo, as_of timestamptz) RETURNS jsonb
LANGUAGE sql STABLE
RETURN jsonb_build_object(
  'slo_name', s.name, 'app_id', s.app_id,
  'expected_start', p.expected_start, 'expected_end', p.expected_end,
  'actual_start', p.actual_start, 'actual_end', p.actual_end,
  'slack_seconds', extract(epoch FROM s.slack), 'failed_runs', p.failed_runs,
  'start_delay_seconds', extract(epoch FROM CASE WHEN p.actual_start IS NOT NULL THEN p.actual_start - p.expected_start
                                               WHEN as_of > p.expected_start THEN as_of - p.expected_start END),
  'end_delay_seconds', extract(epoch FROM CASE WHEN p.actual_end IS NOT NULL THEN p.actual_end - p.expected_end
                                             WHEN as_of > p.expected_end THEN as_of - p.expected_end END));
COMMENT ON FUNCTION slo.alert_detail(slo.slo_performance, slo.slo, timestamptz) IS
  'The detail of an alert about a performance row: the SLO''s name and application, expected and actual times '
  '(ISO 8601), slack, failed runs, and the start and end delays as of the given time (seconds; negative when early).';

-- The alerts an instance's stored row calls for by itself at as_of (not at_risk, which needs
-- the history of its jobs, nor recovered, which needs the alerts before). With as_of NULL, only
-- what its stored times show, whatever the time now: the engine raises those.
CREATE FUNCTION slo.instance_alert_kinds(p slo.slo_performance, slack interval, as_of timestamptz) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN array_remove(ARRAY[
  CASE WHEN (p.actual_start IS NULL AND as_of > p.expected_start)
         OR p.actual_start > p.expected_start THEN 'late_start' END,
  CASE WHEN (p.actual_end IS NULL AND as_of > p.expected_end)
         OR p.actual_end > p.expected_end THEN 'late' END,
  CASE WHEN (p.actual_end IS NULL AND as_of > p.expected_end + slack)
         OR p.actual_end > p.expected_end + slack THEN 'slack_breached' END], NULL);
COMMENT ON FUNCTION slo.instance_alert_kinds(slo.slo_performance, interval, timestamptz) IS
  'The alert kinds a performance row shows by itself at as_of: late_start (not started past the expected start, or '
  'started after it), late (not complete past the expected end, or completed after it), slack_breached (the same '
  'past the expected end plus slack). With as_of NULL, only what its stored times show (started or completed late).';

-- The start of the alert window at as_of: instances whose expected end is older raise nothing.
CREATE FUNCTION slo.alert_window_start(as_of timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE
RETURN as_of - coalesce(nullif(current_setting('pg_slo.evaluate_lookback', true), ''), '3 days')::interval;
COMMENT ON FUNCTION slo.alert_window_start(timestamptz) IS
  'as_of minus the setting pg_slo.evaluate_lookback (default 3 days): instances whose expected end is older raise no alert.';

-- ---- Raised by the engine ------------------------------------------------------------------
-- Called by the trigger on slo.job_status for instances whose first start or completion it has
-- just written (only those inside the alert window).
CREATE FUNCTION slo.raise_instance_alerts(slo_ids text[], business_dates date[], period_starts time[],
                                          as_of timestamptz)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  ids text[]; dates date[]; periods time[]; kinds text[]; details jsonb[];
BEGIN
  WITH inst AS (
    SELECT p, s, slo.instance_alert_kinds(p, s.slack, NULL) AS kinds,
           -- Recovered: complete, and it had (or gets now) a late or at_risk alert, so that a pager
           -- that opened an incident for it can resolve it.
           p.actual_end IS NOT NULL AND (p.actual_end > p.expected_end OR EXISTS (
             SELECT 1 FROM slo.alert a
             WHERE a.slo_id = p.slo_id AND a.business_date = p.business_date
               AND a.period_start = p.period_start AND a.kind IN ('late', 'at_risk'))) AS had_alert
    FROM unnest($1, $2, $3) AS u(slo_id, business_date, period_start)
    JOIN slo.slo_performance p
      ON p.slo_id = u.slo_id AND p.business_date = u.business_date AND p.period_start = u.period_start
    JOIN slo.slo s ON s.slo_id = p.slo_id
    WHERE s.active AND p.expected_end >= slo.alert_window_start($4)
  ), raised AS (
    SELECT i.p, i.s, k.kind FROM inst i CROSS JOIN LATERAL unnest(i.kinds) AS k(kind)
    UNION ALL
    SELECT i.p, i.s, 'recovered' FROM inst i WHERE i.had_alert
  )
  SELECT array_agg((r.p).slo_id), array_agg((r.p).business_date), array_agg((r.p).period_start),
         array_agg(r.kind), array_agg(slo.alert_detail(r.p, r.s, $4))
  INTO ids, dates, periods, kinds, details
  FROM raised r;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN slo.raise_alerts(ids, dates, periods, kinds, details, $4);
END
$$;
COMMENT ON FUNCTION slo.raise_instance_alerts(text[], date[], time[], timestamptz) IS
  'Raises what the stored times of the given instances show, whatever the time (a start after the expected start: '
  'late_start; a completion after the expected end: late, and after it plus slack: slack_breached; recovered when a '
  'complete instance had a late or at_risk alert or gets late now), for instances inside the alert window at as_of; raised_at is '
  'as_of. Called by the engine''s trigger when an instance gets its first start or completes.';

-- ---- Raised by slo.evaluate ------------------------------------------------------------------
COMMENT ON FUNCTION slo.instance_jobs(text, date, time) IS
  'What each job of the SLO did in the instance (business_date, period_start), by the engine''s rules: its earliest '
  'start, its earliest success, its failed runs; NULL times for a job that has not started or not completed. No rows '
  'for an unknown or inactive SLO.';

-- The typical duration of a job: the median of its last `runs` successful runs (slo.job_run:
-- start to success of one run id) before the given business date.
CREATE FUNCTION slo.job_typical_duration(job_id text, before_date date, runs int DEFAULT 20,
                                         OUT median_duration interval, OUT successful_runs int)
LANGUAGE sql STABLE
AS $$
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration), count(*)::int
  FROM (
    SELECT r.duration
    FROM slo.job_run r
    WHERE r.job_id = $1 AND r.business_date < $2 AND r.business_date >= $2 - 120
      AND r.duration IS NOT NULL
    ORDER BY r.business_date DESC, r.started_at DESC
    LIMIT $3
  ) r
$$;
COMMENT ON FUNCTION slo.job_typical_duration(text, date, int) IS
  'The median duration (start to success of one run id) of the job''s last `runs` successful runs on business dates '
  'in the 120 days before before_date, and how many runs that median is of.';

-- Instances that time alone has made late, and those at risk. Returns how many alerts were new.
CREATE FUNCTION slo.raise_due_alerts(as_of timestamptz) RETURNS int
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
