-- ============================================================================
-- pg_slo auth: who may post job status (CONTRACT section 7, "Auth").
--
--   1. Clients, the applications each may post for, and their bearer tokens,
--      stored only as SHA-256 hashes (slo_core::token hashes the same way).
--   2. The one authorization rule (slo.allowed_applications), and the functions
--      every writer asks: slo.authenticate, slo.may_post, slo.denied_applications,
--      slo.authorize.
--      The API, the ingest adapters and any later service ask these, so they
--      all get the same answer.
--   3. Token administration: slo.issue_token, slo.revoke_token,
--      slo.revoke_client_tokens, slo.token_list, slo.record_token_use.
--   4. Least-privilege roles slo_api, slo_reader and slo_admin, and their grants.
--
-- Loaded last (`finalize` in lib.rs): the grants and the trigger-function
-- settings at the end cover every object the other files created.
-- ============================================================================

-- ----------------------------------------------------------------------------
-- Clients and tokens
-- ----------------------------------------------------------------------------
CREATE TABLE slo.client (
  client_id   text PRIMARY KEY CONSTRAINT client_client_id_check CHECK (slo.is_identifier(client_id)),
  description text NULL,
  active      boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE slo.client IS
  'A client that posts job status (a scheduler, a job, an ingest adapter), known by its client id. It '
  'authenticates with a token of slo.client_token, or with a signed JWT whose configured claim is the client id.';
COMMENT ON COLUMN slo.client.client_id IS 'Client id, stored on every event the client posts (slo.job_status.client_id).';
COMMENT ON COLUMN slo.client.description IS 'Who the client is, for people.';
COMMENT ON COLUMN slo.client.active IS
  'false: the client is disabled; its tokens are refused and it may post for no application.';
COMMENT ON COLUMN slo.client.created_at IS 'When the client was created.';

CREATE TABLE slo.client_application (
  client_id  text NOT NULL CONSTRAINT client_application_client_id_fkey
               REFERENCES slo.client (client_id) ON DELETE CASCADE,
  app_id     text NOT NULL CONSTRAINT client_application_app_id_fkey
               REFERENCES slo.application (app_id),
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (client_id, app_id)
);
COMMENT ON TABLE slo.client_application IS
  'The applications each client may post job status for. A row here is the only way to be allowed.';
COMMENT ON COLUMN slo.client_application.client_id IS 'The client.';
COMMENT ON COLUMN slo.client_application.app_id IS 'An application the client may post events for.';
COMMENT ON COLUMN slo.client_application.granted_at IS 'When the application was granted.';

CREATE TABLE slo.client_token (
  token_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  client_id    text NOT NULL CONSTRAINT client_token_client_id_fkey
                 REFERENCES slo.client (client_id) ON DELETE CASCADE,
  token_hash   bytea NOT NULL CONSTRAINT client_token_token_hash_key UNIQUE
                 CONSTRAINT client_token_token_hash_check CHECK (octet_length(token_hash) = 32),
  token_hint   text NOT NULL CONSTRAINT client_token_token_hint_check CHECK (token_hint ~ '^pgslo_[0-9a-f]{6}$'),
  note         text NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NULL,
  revoked_at   timestamptz NULL,
  last_used_at timestamptz NULL,
  CONSTRAINT client_token_expires_at_check CHECK (expires_at > created_at)
);
COMMENT ON TABLE slo.client_token IS
  'Bearer tokens of clients. Only the SHA-256 of a token is kept (slo.token_hash); the token itself is shown '
  'once, when it is issued. A token is valid while it is not revoked, not expired and its client is active.';
COMMENT ON COLUMN slo.client_token.token_id IS 'Token id, used to list and revoke the token.';
COMMENT ON COLUMN slo.client_token.client_id IS 'The client the token identifies.';
COMMENT ON COLUMN slo.client_token.token_hash IS 'SHA-256 of the token''s text (slo.token_hash); the token is not stored.';
COMMENT ON COLUMN slo.client_token.token_hint IS
  'The token''s first characters (pgslo_ and 6 hex digits), so that people can tell tokens apart.';
COMMENT ON COLUMN slo.client_token.note IS 'Why or where the token is used, for people.';
COMMENT ON COLUMN slo.client_token.created_at IS 'When the token was issued.';
COMMENT ON COLUMN slo.client_token.expires_at IS 'When the token stops being valid; NULL: it does not expire.';
COMMENT ON COLUMN slo.client_token.revoked_at IS 'When the token was revoked; NULL while it is not.';
COMMENT ON COLUMN slo.client_token.last_used_at IS
  'Last accepted use, as reported by the services that checked the token (slo.record_token_use); they report '
  'in batches, so it may lag by their reporting interval (the API: --token-use-flush-secs, default 60).';

CREATE INDEX client_token_client_id_idx ON slo.client_token (client_id);
COMMENT ON INDEX slo.client_token_client_id_idx IS 'Finds a client''s tokens (listing, revoking, deleting a client).';

-- ----------------------------------------------------------------------------
-- The decision
-- ----------------------------------------------------------------------------
CREATE FUNCTION slo.token_hash(token text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.sha256(pg_catalog.convert_to(token, 'UTF8'));
COMMENT ON FUNCTION slo.token_hash(text) IS
  'The SHA-256 of a token''s text, as stored in slo.client_token.token_hash. Services hash the bearer token '
  'they receive with this rule (or its equal in slo_core) and never send the token itself to the database.';

-- The rule, in one place. A plain SQL set-returning function: PostgreSQL inlines it (and the
-- functions below built on it) into the statement that calls it, so asking costs no function call.
CREATE FUNCTION slo.allowed_applications(client_id text) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT g.app_id
  FROM slo.client_application g
  JOIN slo.client c ON c.client_id = g.client_id
  WHERE g.client_id = allowed_applications.client_id AND c.active
$$;
COMMENT ON FUNCTION slo.allowed_applications(text) IS
  'The authorization rule, in one place: the applications a client may post events for, which are those '
  'granted to it in slo.client_application while it is active (none for an unknown or disabled client, or NULL). '
  'Every other check (slo.may_post, slo.denied_applications, slo.authorize) is built on this one.';

CREATE FUNCTION slo.may_post(client_id text, app_id text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT EXISTS (SELECT 1 FROM slo.allowed_applications(may_post.client_id) AS a(app_id)
                 WHERE a.app_id = may_post.app_id)
$$;
COMMENT ON FUNCTION slo.may_post(text, text) IS
  'Whether the client may post events of the application (slo.allowed_applications).';

CREATE FUNCTION slo.authenticate(token_hash bytea)
RETURNS TABLE (client_id text, token_id bigint, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT t.client_id, t.token_id, t.expires_at
  FROM slo.client_token t
  JOIN slo.client c ON c.client_id = t.client_id
  WHERE t.token_hash = authenticate.token_hash
    AND t.revoked_at IS NULL
    AND (t.expires_at IS NULL OR t.expires_at > now())
    AND c.active;
END;
COMMENT ON FUNCTION slo.authenticate(bytea) IS
  'Who a token is: one row (client, token id, expiry) when the token with this hash is valid (not revoked, '
  'not expired, its client active); no row otherwise. A service may cache the answer for a bound it documents '
  '(the API: --auth-cache-secs), never past expires_at.';

CREATE FUNCTION slo.denied_applications(client_id text, app_ids text[]) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT a.app_id
  FROM slo.application a
  WHERE a.app_id = ANY (denied_applications.app_ids)
    AND NOT EXISTS (SELECT 1 FROM slo.allowed_applications(denied_applications.client_id) AS g(app_id)
                    WHERE g.app_id = a.app_id)
  ORDER BY a.app_id
$$;
COMMENT ON FUNCTION slo.denied_applications(text, text[]) IS
  'The known applications among app_ids that the client may not post for (slo.allowed_applications), sorted; '
  'no row when it may post for all of them. Ids that name no application are not listed: the event''s own '
  'checks refuse them. Writers ask it in the statement that inserts a batch, and store nothing when it has rows.';

CREATE FUNCTION slo.authorize(token_hash bytea, app_id text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
RETURN (
  SELECT a.client_id
  FROM slo.authenticate(authorize.token_hash) a
  WHERE slo.may_post(a.client_id, authorize.app_id));
COMMENT ON FUNCTION slo.authorize(bytea, text) IS
  'The shared question "may the holder of this token post events of this application?": the client id when '
  'the token is valid and its client may post for app_id, NULL otherwise. Store the client id on the event.';

-- ----------------------------------------------------------------------------
-- Administration (administrators; see the roles below)
-- ----------------------------------------------------------------------------
CREATE FUNCTION slo.issue_token(
  client_id text, app_ids text[], token_hash bytea, token_hint text,
  expires_at timestamptz DEFAULT NULL, note text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  unknown text;
  new_client boolean;
  id bigint;
BEGIN
  IF NOT slo.is_identifier(issue_token.client_id) THEN
    RAISE EXCEPTION 'client id %: must be 1 to 128 characters, without control characters or surrounding white space',
      coalesce(quote_literal(issue_token.client_id), 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF issue_token.expires_at IS NOT NULL AND issue_token.expires_at <= now() THEN
    RAISE EXCEPTION 'expires_at %: must be in the future', issue_token.expires_at
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT u.app INTO unknown
  FROM unnest(coalesce(issue_token.app_ids, '{}')) AS u(app)
  WHERE NOT EXISTS (SELECT 1 FROM slo.application a WHERE a.app_id = u.app)
  ORDER BY 1 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'application %: no such application in slo.application', quote_literal(unknown)
      USING ERRCODE = 'foreign_key_violation';
  END IF;

  INSERT INTO slo.client AS c (client_id) VALUES (issue_token.client_id)
  ON CONFLICT ON CONSTRAINT client_pkey DO NOTHING;
  new_client := FOUND;
  IF new_client AND cardinality(coalesce(issue_token.app_ids, '{}')) = 0 THEN
    RAISE EXCEPTION 'client %: a new client needs at least one application', quote_literal(issue_token.client_id)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO slo.client_application (client_id, app_id)
  SELECT DISTINCT issue_token.client_id, u.app FROM unnest(coalesce(issue_token.app_ids, '{}')) AS u(app)
  ON CONFLICT ON CONSTRAINT client_application_pkey DO NOTHING;

  INSERT INTO slo.client_token (client_id, token_hash, token_hint, expires_at, note)
  VALUES (issue_token.client_id, issue_token.token_hash, issue_token.token_hint, issue_token.expires_at,
          issue_token.note)
  RETURNING token_id INTO id;
  RETURN id;
END
$$;
COMMENT ON FUNCTION slo.issue_token(text, text[], bytea, text, timestamptz, text) IS
  'Stores a new token of a client, given its hash and hint (the token is made and shown by the caller, '
  '`pg-slo token issue`), creating the client if needed and granting it app_ids (added to its grants; a new '
  'client needs at least one). Returns the token id. Errors name the argument and the rule.';

CREATE FUNCTION slo.revoke_token(token_id bigint) RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  revoked timestamptz;
BEGIN
  UPDATE slo.client_token t SET revoked_at = coalesce(t.revoked_at, now())
  WHERE t.token_id = revoke_token.token_id
  RETURNING t.revoked_at INTO revoked;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'token %: no such token', revoke_token.token_id USING ERRCODE = 'no_data_found';
  END IF;
  RETURN revoked;
END
$$;
COMMENT ON FUNCTION slo.revoke_token(bigint) IS
  'Revokes a token; returns when it was revoked (the earlier time if it already was). Services that cache '
  'answers refuse it within their cache bound (the API: --auth-cache-secs, default 10 seconds).';

CREATE FUNCTION slo.revoke_client_tokens(client_id text) RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM slo.client c WHERE c.client_id = revoke_client_tokens.client_id) THEN
    RAISE EXCEPTION 'client %: no such client', coalesce(quote_literal(revoke_client_tokens.client_id), 'NULL')
      USING ERRCODE = 'no_data_found';
  END IF;
  UPDATE slo.client_token t SET revoked_at = now()
  WHERE t.client_id = revoke_client_tokens.client_id AND t.revoked_at IS NULL;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION slo.revoke_client_tokens(text) IS
  'Revokes every token of a client that is not revoked yet; returns how many.';

CREATE FUNCTION slo.token_list(client_id text DEFAULT NULL)
RETURNS TABLE (token_id bigint, client_id text, token_hint text, state text, note text,
               created_at timestamptz, expires_at timestamptz, revoked_at timestamptz,
               last_used_at timestamptz, app_ids text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT t.token_id, t.client_id, t.token_hint,
         CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
              WHEN t.expires_at <= now() THEN 'expired'
              WHEN NOT c.active THEN 'client_disabled'
              ELSE 'active' END,
         t.note, t.created_at, t.expires_at, t.revoked_at, t.last_used_at,
         ARRAY(SELECT g.app_id FROM slo.client_application g WHERE g.client_id = t.client_id ORDER BY g.app_id)
  FROM slo.client_token t
  JOIN slo.client c ON c.client_id = t.client_id
  WHERE token_list.client_id IS NULL OR t.client_id = token_list.client_id
  ORDER BY t.client_id, t.token_id;
END;
COMMENT ON FUNCTION slo.token_list(text) IS
  'Tokens (of one client, or all) without their hashes: hint, state (active, revoked, expired, client_disabled), '
  'times, and the applications their client may post for.';

CREATE FUNCTION slo.record_token_use(token_ids bigint[], used_at timestamptz[]) RETURNS int
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n int;
BEGIN
  -- Rows are locked in token order, so that services reporting at once cannot deadlock.
  PERFORM 1 FROM slo.client_token t WHERE t.token_id = ANY (token_ids) ORDER BY t.token_id FOR NO KEY UPDATE;
  UPDATE slo.client_token t SET last_used_at = u.used_at
  FROM (SELECT x.token_id, least(max(x.used_at), now()) AS used_at
        FROM unnest(token_ids, used_at) AS x(token_id, used_at)
        WHERE x.used_at IS NOT NULL
        GROUP BY x.token_id) AS u
  WHERE t.token_id = u.token_id AND (t.last_used_at IS NULL OR t.last_used_at < u.used_at);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION slo.record_token_use(bigint[], timestamptz[]) IS
  'Moves last_used_at of each token forward to the given time (never back, never past now()); returns the rows '
  'changed. Services collect uses in memory and report them in one call per interval, so a request never waits '
  'for a write; several services may report at once.';

-- ----------------------------------------------------------------------------
-- pg_dump keeps clients, grants and token hashes.
-- ----------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('slo.client', '');
SELECT pg_catalog.pg_extension_config_dump('slo.client_application', '');
SELECT pg_catalog.pg_extension_config_dump('slo.client_token', '');
SELECT pg_catalog.pg_extension_config_dump('slo.client_token_token_id_seq', '');

-- ----------------------------------------------------------------------------
-- Roles. They belong to the cluster, not to a database: the first
-- CREATE EXTENSION in the cluster creates them (NOLOGIN group roles), later ones
-- reuse them, and DROP EXTENSION leaves them. Grant them to login roles:
--   CREATE ROLE pg_slo_api LOGIN PASSWORD '...' IN ROLE slo_api;
-- ----------------------------------------------------------------------------
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT * FROM (VALUES
      ('slo_api', 'pg_slo API and ingest adapters: insert job status, read definitions, ask slo.authenticate/slo.authorize.'),
      ('slo_reader', 'pg_slo BI readers: read the views of schema slo, nothing else.'),
      ('slo_admin', 'pg_slo administrators: write definitions, clients and tokens; read everything; never write events.'),
      ('slo_engine', 'pg_slo''s engine: owns the trigger of slo.job_status and writes slo.slo_performance through SQL with '
                     'its own rights only. Never grant it to a login role.')
    ) AS v(name, description)
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, r.description);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- CREATE EXTENSION in another database created it at the same moment
      END;
    ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name AND (rolsuper OR rolbypassrls)) THEN
      RAISE WARNING 'role % exists and is a superuser or bypasses row security: it is used as it is, '
        'and has more than the privileges pg_slo grants it', r.name;
    END IF;
  END LOOP;
END
$$;

GRANT USAGE ON SCHEMA slo TO slo_api, slo_reader, slo_admin;

-- ----------------------------------------------------------------------------
-- What the trigger on slo.job_status writes on behalf of whoever inserts (jobs
-- registered on their first event, alerts) goes through these functions, which
-- run as the extension's owner: the API role may not write those tables itself. search_path is pinned, as for every
-- SECURITY DEFINER function.
-- ----------------------------------------------------------------------------
ALTER FUNCTION slo.register_jobs(text[], text[])
  SECURITY DEFINER SET search_path = pg_catalog, slo, pg_temp;
ALTER FUNCTION slo.raise_instance_alerts(text[], date[], time[], timestamptz)
  SECURITY DEFINER SET search_path = pg_catalog, slo, pg_temp;
REVOKE EXECUTE ON FUNCTION
  slo.register_jobs(text[], text[]),
  slo.raise_instance_alerts(text[], date[], time[], timestamptz)
FROM PUBLIC;
-- The trigger calls them as the inserting role: the API's.
GRANT EXECUTE ON FUNCTION
  slo.register_jobs(text[], text[]),
  slo.raise_instance_alerts(text[], date[], time[], timestamptz)
TO slo_api;

-- Nothing of auth is callable by PUBLIC except the hash rule.
REVOKE EXECUTE ON FUNCTION
  slo.allowed_applications(text), slo.may_post(text, text), slo.authenticate(bytea),
  slo.denied_applications(text, text[]), slo.authorize(bytea, text), slo.record_token_use(bigint[], timestamptz[]),
  slo.issue_token(text, text[], bytea, text, timestamptz, text), slo.revoke_token(bigint),
  slo.revoke_client_tokens(text), slo.token_list(text)
FROM PUBLIC;

-- The API (and ingest adapters): insert events, read definitions, ask who a token is and whether it may post.
GRANT SELECT ON slo.application, slo.job, slo.holiday, slo.calendar, slo.calendar_exception, slo.slo, slo.slo_job
  TO slo_api;
GRANT INSERT ON slo.job_status TO slo_api;
-- ON CONFLICT ON CONSTRAINT job_status_event_key needs to read the key's columns (and only those).
GRANT SELECT (job_id, business_date, run_id, status, status_time) ON slo.job_status TO slo_api;
-- The authorization functions are inlined into the caller's statement, so the caller reads the
-- clients and their grants itself (never the tokens).
GRANT SELECT ON slo.client, slo.client_application TO slo_api;
GRANT EXECUTE ON FUNCTION
  slo.allowed_applications(text), slo.may_post(text, text), slo.authenticate(bytea),
  slo.denied_applications(text, text[]), slo.authorize(bytea, text), slo.record_token_use(bigint[], timestamptz[])
TO slo_api;

-- The other services of the binary, which run as the same role: `pg-slo ingest kafka` (its
-- positions and dead letters) and `pg-slo notify` (reads alerts, records their deliveries).
GRANT SELECT, INSERT, UPDATE ON slo.ingest_position TO slo_api;
GRANT SELECT, INSERT ON slo.ingest_dead_letter TO slo_api;
GRANT USAGE ON SEQUENCE slo.ingest_dead_letter_dead_letter_id_seq TO slo_api;
GRANT SELECT ON slo.alert, slo.alert_mute TO slo_api;
GRANT SELECT, INSERT, UPDATE ON slo.alert_delivery TO slo_api;

-- BI readers: every view of the schema, nothing else.
DO $$
DECLARE
  v regclass;
BEGIN
  FOR v IN
    SELECT c.oid::regclass FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'slo'::regnamespace AND c.relkind IN ('v', 'm')
  LOOP
    EXECUTE format('GRANT SELECT ON %s TO slo_reader', v);
  END LOOP;
END
$$;

-- The trend views call SQL functions, which run with the caller's rights: those functions run as
-- the extension's owner instead (they read events and definitions the BI role may not read
-- itself), pinned search_path, callable by readers and administrators only.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'slo'::regnamespace
      AND p.proname IN ('job_duration_trend', 'job_duration_effect', 'host_duration', 'host_effect',
                        'slo_punctuality', 'slo_recommendation', 'job_runs_in_window',
                        'job_duration_factors', 'slo_instances_in_window')
  LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, slo, pg_temp', f);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO slo_reader, slo_admin', f);
  END LOOP;
END
$$;

-- Administrators: read everything; write definitions, clients, tokens and what their triggers and
-- slo.recompute maintain; events stay append-only, written by the API role alone.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA slo TO slo_admin;
REVOKE INSERT, UPDATE, DELETE ON slo.job_status FROM slo_admin;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA slo TO slo_admin;
REVOKE USAGE ON SEQUENCE slo.job_status_status_id_seq FROM slo_admin;
GRANT EXECUTE ON FUNCTION
  slo.allowed_applications(text), slo.may_post(text, text), slo.authenticate(bytea),
  slo.denied_applications(text, text[]), slo.authorize(bytea, text), slo.issue_token(text, text[], bytea, text, timestamptz, text),
  slo.revoke_token(bigint), slo.revoke_client_tokens(text), slo.token_list(text)
TO slo_admin;

-- ----------------------------------------------------------------------------
-- The engine. The trigger of slo.job_status (Rust, engine.rs) runs as slo_engine, a role that is
-- neither a superuser nor the owner of any table: it reads the definitions and events, and
-- writes slo.slo_performance through SQL with exactly these rights, so a DBA's privileges and
-- row-security policies on slo.slo_performance apply to the engine as to any writer. The API role
-- may insert events, never performance rows.
-- ----------------------------------------------------------------------------
GRANT USAGE ON SCHEMA slo TO slo_engine;
GRANT SELECT ON slo.application, slo.job, slo.holiday, slo.calendar, slo.calendar_exception, slo.slo, slo.slo_job,
  slo.definitions_generation, slo.slo_definition_version, slo.job_status
  TO slo_engine;
GRANT SELECT, INSERT, UPDATE ON slo.slo_performance TO slo_engine;
GRANT EXECUTE ON FUNCTION
  slo.register_jobs(text[], text[]),
  slo.raise_instance_alerts(text[], date[], time[], timestamptz)
TO slo_engine;
ALTER FUNCTION slo.job_status_after_insert()
  SECURITY DEFINER SET search_path = pg_catalog, slo, pg_temp;
ALTER FUNCTION slo.job_status_after_insert() OWNER TO slo_engine;
-- The calendar functions read the generation of the definitions, as the API's role calls them.
GRANT SELECT ON slo.definitions_generation TO slo_api;
