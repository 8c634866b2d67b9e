-- ============================================================================
-- auth: clients, tokens, the authorization functions, and the least-privilege
-- roles (slo_api, slo_reader, slo_admin).
-- ============================================================================
\set VERBOSITY terse
-- Fixed tokens for the test (real ones come from `pg-slo token issue`).
\set tok_a '\'pgslo_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\''
\set tok_b '\'pgslo_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\''
\set tok_c '\'pgslo_cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\''

-- ---------------------------------------------------------------------------
-- The hash rule equals slo_core's: SHA-256 of the text.
SELECT encode(slo.token_hash('abc'), 'hex') AS sha256_of_abc;

-- ---------------------------------------------------------------------------
-- Issuing: the client is created with its applications; the token is stored hashed.
SELECT slo.issue_token('sched-east', '{overdrafts}', slo.token_hash(:tok_a), 'pgslo_aaaaaa', NULL, 'regress') AS token_a;
SELECT slo.issue_token('sched-east', '{deposits}', slo.token_hash(:tok_b), 'pgslo_bbbbbb',
                       now() + interval '1 hour') AS token_b_adds_deposits;
SELECT client_id, app_id FROM slo.client_application ORDER BY 1, 2;
SELECT count(*) AS rows_holding_a_token FROM slo.client_token t
WHERE t::text LIKE '%' || :tok_a || '%' OR t::text LIKE '%' || :tok_b || '%';
-- Bad input names the argument and the rule.
SELECT slo.issue_token('', '{overdrafts}', slo.token_hash(:tok_c), 'pgslo_cccccc');
SELECT slo.issue_token('new-client', '{payments}', slo.token_hash(:tok_c), 'pgslo_cccccc');
SELECT slo.issue_token('new-client', '{}', slo.token_hash(:tok_c), 'pgslo_cccccc');
SELECT slo.issue_token('sched-east', '{}', slo.token_hash(:tok_c), 'pgslo_cccccc', '2000-01-01 00:00+00');
SELECT slo.issue_token('sched-east', '{}', slo.token_hash(:tok_a), 'pgslo_aaaaaa');
SELECT slo.issue_token('sched-east', '{}', '\x00'::bytea, 'pgslo_cccccc');

-- ---------------------------------------------------------------------------
-- Authentication and authorization.
SELECT client_id, token_id FROM slo.authenticate(slo.token_hash(:tok_a));
SELECT count(*) AS unknown_token_rows FROM slo.authenticate(slo.token_hash(:tok_c));
SELECT slo.authorize(slo.token_hash(:tok_a), 'overdrafts') AS may_post_overdrafts,
       slo.authorize(slo.token_hash(:tok_a), 'deposits') AS may_post_deposits,
       slo.authorize(slo.token_hash(:tok_c), 'overdrafts') AS unknown_token;
INSERT INTO slo.application (app_id, name) VALUES ('payments', 'Payments');
-- Known applications the client may not post for, sorted; unknown ids are left to the event checks.
SELECT ARRAY(SELECT slo.denied_applications('sched-east', '{payments,overdrafts,no-such-app,deposits}')) AS denied,
       ARRAY(SELECT slo.denied_applications('nobody', '{overdrafts}')) AS unknown_client,
       ARRAY(SELECT slo.denied_applications(NULL, '{overdrafts}')) AS no_client,
       slo.may_post('sched-east', 'overdrafts') AS may_post_overdrafts,
       slo.may_post('sched-east', 'payments') AS may_post_payments;
SELECT * FROM slo.allowed_applications('sched-east') ORDER BY 1;
-- The rule is inlined into the asking statement: no function call at run time.
CREATE FUNCTION pg_temp.plan_calls_a_function(q text) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF line LIKE '%Function Scan%' THEN RETURN true; END IF;
  END LOOP;
  RETURN false;
END
$f$;
SELECT pg_temp.plan_calls_a_function(
  $q$SELECT ARRAY(SELECT * FROM slo.denied_applications('sched-east', '{payments,overdrafts}'))$q$) AS function_called;
-- A disabled client is refused, its tokens with it; enabling it again restores them.
UPDATE slo.client SET active = false WHERE client_id = 'sched-east';
SELECT count(*) AS rows_while_disabled FROM slo.authenticate(slo.token_hash(:tok_a));
SELECT ARRAY(SELECT slo.denied_applications('sched-east', '{overdrafts}')) AS denied_while_disabled;
UPDATE slo.client SET active = true WHERE client_id = 'sched-east';
-- An expired token is refused.
UPDATE slo.client_token SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
WHERE token_hint = 'pgslo_bbbbbb';
SELECT count(*) AS rows_when_expired FROM slo.authenticate(slo.token_hash(:tok_b));
-- A revoked token is refused; revoking again keeps the first time.
SELECT slo.revoke_token(2) = slo.revoke_token(2) AS revoking_twice_keeps_the_time;
SELECT count(*) AS rows_when_revoked FROM slo.authenticate(slo.token_hash(:tok_b));
SELECT slo.revoke_token(999);
SELECT token_id, client_id, token_hint, state, note, app_ids FROM slo.token_list();

-- ---------------------------------------------------------------------------
-- Last use moves forward only, never past now(), in one call for many tokens.
SELECT slo.record_token_use('{1,1,2}', ARRAY[now() - interval '1 hour', now() - interval '2 hours', now()]) AS changed;
SELECT slo.record_token_use('{1}', ARRAY[now() - interval '3 hours']) AS older_changes_nothing;
SELECT slo.record_token_use('{1}', ARRAY[now() + interval '1 day']) AS future_is_clamped;
SELECT token_id, last_used_at <= now() AS not_in_future FROM slo.client_token ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Roles exist, and the API role can do its work and nothing more.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('slo_api', 'slo_reader', 'slo_admin') ORDER BY 1;
-- What the trigger of job_status writes with SQL on the inserting role's behalf runs as the
-- owner, with a pinned search_path; only the API role may call it.
SELECT p.oid::regprocedure AS writes_for_the_trigger, p.prosecdef AS definer,
       p.proconfig::text LIKE '%search_path=%' AS pinned_search_path,
       has_function_privilege('slo_api', p.oid, 'EXECUTE') AS api_may,
       has_function_privilege('slo_reader', p.oid, 'EXECUTE') AS reader_may
FROM pg_proc p
WHERE p.oid IN ('slo.register_jobs(text[], text[])'::regprocedure,
                'slo.raise_instance_alerts(text[], date[], time[], timestamptz)'::regprocedure)
ORDER BY 1;

SET ROLE slo_api;
SELECT slo.authorize(slo.token_hash(:tok_a), 'overdrafts') AS api_asks_authorize;
WITH ins AS (
  INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id, client_id)
  VALUES ('overdrafts', 'od-calc', 'start', '2026-11-17 00:30-05', '2026-11-16', 'r1', 'h1', 'sched-east'),
         ('overdrafts', 'od-first-seen', 'start', '2026-11-17 00:31-05', '2026-11-16', 'r1', 'h1', 'sched-east')
  ON CONFLICT ON CONSTRAINT job_status_event_key DO NOTHING RETURNING 1)
SELECT count(*) AS api_inserted FROM ins;
SELECT count(*) > 0 AS api_reads_applications FROM slo.application;
SELECT * FROM slo.denied_applications('sched-east', '{overdrafts,payments}') AS api_asks_denied;
INSERT INTO slo.application (app_id, name) VALUES ('x', 'X');
INSERT INTO slo.client (client_id) VALUES ('x');
UPDATE slo.slo SET active = false;
DELETE FROM slo.slo_job;
UPDATE slo.slo_performance SET actual_end = now();
DELETE FROM slo.slo_performance;
UPDATE slo.job_status SET host_id = 'h2';
DELETE FROM slo.job_status;
SELECT host_id FROM slo.job_status;
SELECT * FROM slo.client_token;
UPDATE slo.client_token SET revoked_at = NULL;
INSERT INTO slo.client_application VALUES ('sched-east', 'payments');
SELECT slo.issue_token('sched-east', '{payments}', slo.token_hash(:tok_c), 'pgslo_cccccc');
SELECT slo.revoke_token(1);
SELECT slo.evaluate();
RESET ROLE;
SELECT job_id, app_id FROM slo.job WHERE job_id = 'od-first-seen';

-- The other services run as the API role: the Kafka consumer and the notifier.
SELECT t AS service_table,
       has_table_privilege('slo_api', t, 'SELECT') AS sel,
       has_table_privilege('slo_api', t, 'INSERT') AS ins,
       has_table_privilege('slo_api', t, 'UPDATE') AS upd,
       has_table_privilege('slo_api', t, 'DELETE') AS del
FROM unnest(ARRAY['slo.ingest_position', 'slo.ingest_dead_letter', 'slo.alert', 'slo.alert_delivery',
                  'slo.slo_performance']) AS t;

-- BI readers: views only.
SET ROLE slo_reader;
SELECT count(*) >= 0 AS reader_reads_the_report FROM slo.slo_performance_report;
-- Every view of the schema, including those built on functions (the trend views).
DO $$
DECLARE v regclass; n bigint;
BEGIN
  FOR v IN SELECT c.oid::regclass FROM pg_class c
           WHERE c.relnamespace = 'slo'::regnamespace AND c.relkind IN ('v', 'm') ORDER BY 1 LOOP
    EXECUTE format('SELECT count(*) FROM %s', v) INTO n;
  END LOOP;
END $$;
SELECT count(*) >= 0 AS reader_passes_arguments FROM slo.slo_recommendation(rate => 0.99);
SELECT count(*) FROM slo.slo_performance;
SELECT count(*) FROM slo.job_status;
SELECT count(*) FROM slo.client;
SELECT slo.authorize(slo.token_hash(:tok_a), 'overdrafts');
SELECT * FROM slo.denied_applications('sched-east', '{overdrafts}');
RESET ROLE;

-- Administrators: definitions, clients and tokens; never events.
SET ROLE slo_admin;
INSERT INTO slo.application (app_id, name) VALUES ('cards', 'Cards');
SELECT slo.issue_token('sched-west', '{cards}', slo.token_hash(:tok_c), 'pgslo_cccccc') AS admin_issues;
SELECT slo.revoke_client_tokens('sched-west') AS admin_revokes;
SELECT count(*) AS admin_lists FROM slo.token_list('sched-west');
SELECT slo.recompute('2026-11-16', '2026-11-16') >= 0 AS admin_recomputes;
INSERT INTO slo.job_status (app_id, job_id, status, status_time, business_date, run_id, host_id)
VALUES ('cards', 'c1', 'start', '2026-11-17 00:30-05', '2026-11-16', 'r1', 'h1');
DELETE FROM slo.job_status;
RESET ROLE;

-- Deleting a client deletes its grants and tokens.
DELETE FROM slo.client WHERE client_id = 'sched-west';
SELECT count(*) AS left_of_sched_west FROM slo.client_token WHERE client_id = 'sched-west';
