-- ============================================================================
-- ingest: the Kafka consumer's tables (positions, dead letters) and their rules.
-- ============================================================================
\set VERBOSITY terse
-- A dead letter is kept once per (group, topic, partition, offset), raw bytes and all.
INSERT INTO slo.ingest_dead_letter (consumer_group, topic, partition, message_offset, payload, reason)
VALUES ('g', 'events', 0, 7, '\xfffe'::bytea, 'not_utf8');
INSERT INTO slo.ingest_dead_letter (consumer_group, topic, partition, message_offset, payload, reason)
VALUES ('g', 'events', 0, 7, '\xfffe'::bytea, 'not_utf8')
ON CONFLICT ON CONSTRAINT ingest_dead_letter_message_key DO NOTHING;
SELECT consumer_group, topic, partition, message_offset, payload, reason, problems FROM slo.ingest_dead_letter;
-- Only the documented reasons.
INSERT INTO slo.ingest_dead_letter (consumer_group, topic, partition, message_offset, reason)
VALUES ('g', 'events', 0, 8, 'database_down');
-- Positions: one per group, topic and partition; offsets are never negative.
INSERT INTO slo.ingest_position (consumer_group, topic, partition, next_offset) VALUES ('g', 'events', 0, 8);
INSERT INTO slo.ingest_position (consumer_group, topic, partition, next_offset) VALUES ('g', 'events', 0, 9);
INSERT INTO slo.ingest_position (consumer_group, topic, partition, next_offset) VALUES ('g', 'events', 1, -1);
SELECT consumer_group, topic, partition, next_offset FROM slo.ingest_position;
DELETE FROM slo.ingest_position;
DELETE FROM slo.ingest_dead_letter;
