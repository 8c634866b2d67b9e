-- ============================================================================
-- comments: every object of the extension carries a COMMENT, and the tables
-- that hold rows are marked for pg_dump.
-- ============================================================================
-- Objects of schema slo without a comment (expect none).
SELECT 'table' AS kind, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'slo' AND c.relkind IN ('r', 'v', 'm', 'p')
  AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT 'column', c.relname || '.' || a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'slo' AND c.relkind IN ('r', 'v', 'm', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(c.oid, a.attnum) IS NULL
UNION ALL
SELECT 'function', p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'slo' AND obj_description(p.oid, 'pg_proc') IS NULL
UNION ALL
SELECT 'trigger', t.tgname
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'slo' AND NOT t.tgisinternal AND obj_description(t.oid, 'pg_trigger') IS NULL
UNION ALL
SELECT 'index', c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'slo' AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
  AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT 'statistics', s.stxname
FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
WHERE n.nspname = 'slo' AND obj_description(s.oid, 'pg_statistic_ext') IS NULL
UNION ALL
SELECT 'schema', nspname FROM pg_namespace WHERE nspname = 'slo' AND obj_description(oid, 'pg_namespace') IS NULL
ORDER BY 1, 2;

-- Tables and sequences whose rows pg_dump keeps.
SELECT u.c::regclass AS dumped
FROM pg_extension, unnest(extconfig) WITH ORDINALITY AS u(c, i)
WHERE extname = 'pg_slo' ORDER BY u.i;
