-- ============================================================================
-- pg_slo ingest: what the message-bus adapter keeps in the database (issue 8).
--
-- The Kafka consumer (`pg-slo ingest kafka`) stores each poll's events, its
-- consumer position and its dead letters in ONE transaction, and commits the
-- Kafka offset only after that transaction: the position here is the truth, and
-- a consumer that is given a partition starts from it. Nothing is lost (the
-- position never passes an uncommitted message) and nothing is doubled (a
-- message below the position is skipped, and a repeated event is a no-op by
-- job_status_event_key).
-- ============================================================================

CREATE TABLE slo.ingest_position (
  consumer_group text NOT NULL
    CONSTRAINT ingest_position_consumer_group_check CHECK (btrim(consumer_group) <> ''),
  topic          text NOT NULL CONSTRAINT ingest_position_topic_check CHECK (btrim(topic) <> ''),
  partition      int NOT NULL CONSTRAINT ingest_position_partition_check CHECK (partition >= 0),
  next_offset    bigint NOT NULL CONSTRAINT ingest_position_next_offset_check CHECK (next_offset >= 0),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);
COMMENT ON TABLE slo.ingest_position IS
  'Where each Kafka consumer group stands in each partition it ingests: every message before next_offset is '
  'stored in slo.job_status or in slo.ingest_dead_letter. Written in the same transaction as those rows; a consumer '
  'given a partition seeks to next_offset. Kafka''s own committed offset follows it (for lag monitoring).';
COMMENT ON COLUMN slo.ingest_position.consumer_group IS 'The Kafka consumer group (group.id) of the ingest consumers.';
COMMENT ON COLUMN slo.ingest_position.topic IS 'The Kafka topic.';
COMMENT ON COLUMN slo.ingest_position.partition IS 'The partition of the topic.';
COMMENT ON COLUMN slo.ingest_position.next_offset IS
  'The offset of the next message to read: every message before it has been stored or dead-lettered.';
COMMENT ON COLUMN slo.ingest_position.updated_at IS 'When the position last moved.';

CREATE TABLE slo.ingest_dead_letter (
  dead_letter_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  consumer_group   text NOT NULL,
  topic            text NOT NULL,
  partition        int NOT NULL,
  message_offset   bigint NOT NULL,
  message_key      bytea NULL,
  payload          bytea NULL,
  reason           text NOT NULL CONSTRAINT ingest_dead_letter_reason_check CHECK (reason IN (
                     'empty_message', 'not_utf8', 'malformed_json', 'not_one_event', 'invalid_event',
                     'unknown_application', 'job_of_other_application', 'unauthorized', 'database_constraint')),
  problems         jsonb NOT NULL DEFAULT '[]',
  message_time     timestamptz NULL,
  dead_lettered_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ingest_dead_letter_message_key UNIQUE (consumer_group, topic, partition, message_offset)
);
COMMENT ON TABLE slo.ingest_dead_letter IS
  'Kafka messages that cannot be stored as job status (bad JSON, a broken rule, an unknown application, a job of '
  'another application, a client not allowed to post for the application), once each, with the raw bytes and why. '
  'A database outage never puts a message here.';
COMMENT ON COLUMN slo.ingest_dead_letter.dead_letter_id IS 'Database-assigned id, increasing in arrival order.';
COMMENT ON COLUMN slo.ingest_dead_letter.consumer_group IS 'The consumer group that read the message.';
COMMENT ON COLUMN slo.ingest_dead_letter.topic IS 'The Kafka topic of the message.';
COMMENT ON COLUMN slo.ingest_dead_letter.partition IS 'The partition of the message.';
COMMENT ON COLUMN slo.ingest_dead_letter.message_offset IS 'The offset of the message in its partition.';
COMMENT ON COLUMN slo.ingest_dead_letter.message_key IS 'The message key, byte for byte (NULL when it had none).';
COMMENT ON COLUMN slo.ingest_dead_letter.payload IS 'The message value, byte for byte (NULL when it had none).';
COMMENT ON COLUMN slo.ingest_dead_letter.reason IS
  'Why it cannot be stored: empty_message, not_utf8, malformed_json, not_one_event (an array or a scalar), '
  'invalid_event (a rule of the API is broken; see problems), unknown_application, job_of_other_application, '
  'unauthorized (the client the event is posted as may not post for its application: a 403 at the API), '
  'database_constraint (a constraint of the database refused the event''s rows, one the product does not check itself: '
  'a 422 at the API).';
COMMENT ON COLUMN slo.ingest_dead_letter.problems IS
  'Every problem found, as the API lists them: [{"field", "rule", "message"}] (empty for bad bytes).';
COMMENT ON COLUMN slo.ingest_dead_letter.message_time IS 'The message''s Kafka timestamp, when it had one.';
COMMENT ON COLUMN slo.ingest_dead_letter.dead_lettered_at IS 'When the consumer stored it here.';

CREATE INDEX ingest_dead_letter_dead_lettered_at_idx ON slo.ingest_dead_letter (dead_lettered_at);
COMMENT ON INDEX slo.ingest_dead_letter_dead_lettered_at_idx IS 'Lists the latest dead letters first, for operators.';

-- pg_dump keeps dead letters (they are the only copy once Kafka's retention passes) and the
-- positions (restored with slo.job_status, they stay consistent with it).
SELECT pg_catalog.pg_extension_config_dump('slo.ingest_dead_letter', '');
SELECT pg_catalog.pg_extension_config_dump('slo.ingest_dead_letter_dead_letter_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('slo.ingest_position', '');
