-- ============================================================================
-- setup: run first, in a database pg_regress has just created.
-- ============================================================================
CREATE EXTENSION pg_slo;
SELECT extname, extversion IS NOT NULL AS has_version, nspname AS schema
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE extname = 'pg_slo';
