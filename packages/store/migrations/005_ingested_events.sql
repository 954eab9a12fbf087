-- Dedupe keys of the events written so far. A writer inserts an event's key
-- in the same transaction as the event's rows, and writes the rows only if
-- the key was new: an event delivered again (JetStream redelivers what was
-- committed here but not acknowledged there) is never counted twice. The
-- kind is part of the key so that one message carrying both flow records
-- and accounting deltas can be written by both writers.
CREATE TABLE ingested_events (
  event_id    text        NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
  kind        text        NOT NULL CHECK (kind IN ('flows', 'accounting')),
  ingested_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, kind)
);

-- Retention deletes keys older than the flows it keeps.
CREATE INDEX ingested_events_ingested_at ON ingested_events (ingested_at);
